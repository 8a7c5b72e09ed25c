-- expect: load line 2
local ffi = require("ffi")
function pixel(x, y) return 1 end
