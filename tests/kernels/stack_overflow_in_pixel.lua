-- expect: runtime
local function deep(n) return 1 + deep(n + 1) end
function pixel(x, y)
  return deep(0)
end
