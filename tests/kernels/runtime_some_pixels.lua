-- expect: runtime line 4
function pixel(x, y)
  if x > 0.2 and y < -0.1 then
    error("only here")
  end
  return 1
end
