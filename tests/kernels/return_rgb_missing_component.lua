-- expect: wrong_return line 3
output = "rgb"
function pixel(x, y)
  return 1, 0
end
