-- expect: timeout
function pixel(x, y)
  while true do
    pcall(function() while true do end end)
  end
end
