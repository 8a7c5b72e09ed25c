-- expect: timeout
local function spin(n) return spin(n + 1) end
function pixel(x, y)
  return spin(0)
end
