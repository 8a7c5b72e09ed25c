-- expect: timeout
function pixel(x, y)
  while true do end
end
