-- expect: load line 2
local f = rawget(_G, "ffi").C
function pixel(x, y) return 1 end
