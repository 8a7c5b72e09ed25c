-- expect: load line 2
dofile("/etc/passwd")
function pixel(x, y) return 1 end
