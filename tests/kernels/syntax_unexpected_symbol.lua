-- expect: syntax line 3
function pixel(x, y)
  return x + * y
end
