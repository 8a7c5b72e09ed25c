-- expect: load line 2
local loaded = package.loaded
function pixel(x, y) return 1 end
