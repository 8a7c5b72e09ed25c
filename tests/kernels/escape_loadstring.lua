-- expect: load line 2
loadstring("os.exit()")()
function pixel(x, y) return 1 end
