-- expect: load line 2
local env = getfenv(0)
function pixel(x, y) return 1 end
