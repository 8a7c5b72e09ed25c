-- expect: syntax line 3
function pixel(x, y)
  local s = "never closed
  return 1
end
