-- expect: load line 3
local ok = true
local broken = nil .. "x"
function pixel(x, y) return 1 end
