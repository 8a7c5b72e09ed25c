-- expect: timeout
function pixel(x, y)
  if x > 0.3 then while true do end end
  return 1
end
