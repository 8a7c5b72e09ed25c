-- expect: runtime line 4
local trap = setmetatable({}, { __tostring = function() while true do end end })
function pixel(x, y)
  error(trap)
end
