-- expect: ok
function pixel(x, y)
  if x > 0 then return 1 / 0 end
  return -1 / 0
end
