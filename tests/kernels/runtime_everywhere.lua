-- expect: runtime line 3
function pixel(x, y)
  return nothing + 1
end
