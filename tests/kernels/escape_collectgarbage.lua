-- expect: load line 2
collectgarbage("stop")
function pixel(x, y) return 1 end
