-- expect: load line 2
local co = coroutine.create(function() end)
function pixel(x, y) return 1 end
