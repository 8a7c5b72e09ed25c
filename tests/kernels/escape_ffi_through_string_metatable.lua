-- expect: load line 2
local lib = getmetatable("").__index
function pixel(x, y) return 1 end
