-- expect: bad_setting
home = { x = 0, y = 0, span = 0 / 0 }
function pixel(x, y) return 1 end
