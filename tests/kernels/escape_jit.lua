-- expect: load line 2
jit.off()
function pixel(x, y) return 1 end
