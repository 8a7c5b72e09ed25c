-- expect: ok
math.sqrt = function() return 0 end
string.rep = nil
table.insert = error
setmetatable(_G, { __index = function() return 7 end })
function pixel(x, y) return math.sqrt(x * x) end
