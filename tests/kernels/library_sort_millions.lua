-- expect: timeout
-- table.sort of millions of numbers in one C call
local t = {}
for i = 1, 1500000 do t[i] = (i * 7919) % 1000003 end
while true do table.sort(t) table.sort(t, function(a, b) return a > b end) end
function pixel(x, y) return 1 end
