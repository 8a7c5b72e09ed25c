-- expect: load line 2
local bytecode = string.dump(function() end)
function pixel(x, y) return 1 end
