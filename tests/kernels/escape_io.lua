-- expect: load line 2
local f = io.open("/tmp/moonbrot-escape-marker", "w")
function pixel(x, y) return 1 end
