-- expect: runtime line 4
local settings = nil
function pixel(x, y)
  return settings.depth
end
