-- expect: syntax line 5
function pixel(x, y)
  if x > 0 then
    return 1
