-- expect: load line 2
setfenv(1, {})
function pixel(x, y) return 1 end
