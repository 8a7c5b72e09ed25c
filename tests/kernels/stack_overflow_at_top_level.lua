-- expect: load
local function deep(n) return 1 + deep(n + 1) end
deep(0)
function pixel(x, y) return 1 end
