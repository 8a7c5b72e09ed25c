-- expect: runtime line 4
-- a malformed pattern is reported at the line that uses it
function pixel(x, y)
  local found = ("x"):find("[a")
  return found
end
