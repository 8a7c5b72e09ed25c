-- expect: runtime line 3
function pixel(x, y)
  return "a" + x
end
