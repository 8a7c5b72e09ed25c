-- expect: memory
local huge = string.rep("x", 2 ^ 30)
function pixel(x, y) return 1 end
