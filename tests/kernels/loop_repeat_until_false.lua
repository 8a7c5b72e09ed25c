-- expect: timeout
function pixel(x, y)
  repeat local z = x * y until false
end
