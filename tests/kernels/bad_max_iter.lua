-- expect: bad_setting
max_iter = "lots"
function pixel(x, y) return 1 end
