-- expect: syntax line 2
max_iter = 12e
function pixel(x, y) return 1 end
