-- expect: load line 2
local registry = debug.getregistry()
function pixel(x, y) return 1 end
