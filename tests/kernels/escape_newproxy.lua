-- expect: load line 2
local proxy = newproxy(true)
function pixel(x, y) return 1 end
