-- expect: ok
function pixel(x, y)
  return 0 / 0
end
