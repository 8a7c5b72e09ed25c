-- expect: wrong_return line 2
function pixel(x, y)
  return { 1 }
end
