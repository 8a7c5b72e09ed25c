-- expect: load line 2
load("return 1")
function pixel(x, y) return 1 end
