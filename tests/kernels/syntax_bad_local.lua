-- expect: syntax line 4
function pixel(x, y)
  local a = 1
  local 2b = 3
end
