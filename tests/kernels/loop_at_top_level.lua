-- expect: timeout
local n = 0
while true do n = n + 1 end
function pixel(x, y) return 1 end
