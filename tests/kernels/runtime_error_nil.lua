-- expect: runtime line 3
function pixel(x, y)
  error(nil)
end
