-- expect: timeout
function pixel(x, y)
  return xpcall(error, function() while true do end end)
end
