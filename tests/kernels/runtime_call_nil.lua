-- expect: runtime line 3
function pixel(x, y)
  return undefined_function(x)
end
