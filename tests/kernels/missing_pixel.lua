-- expect: missing_pixel
max_iter = 10
local function pixel(x, y) return 1 end
