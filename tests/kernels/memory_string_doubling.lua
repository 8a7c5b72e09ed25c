-- expect: memory
local s = "x"
while true do s = s .. s end
function pixel(x, y) return 1 end
