-- expect: timeout
-- table.insert at position -2^31: the C version shifts 2^31 times without a stop
local t = { 1, 2, 3 }
table.insert(t, -2147483648, 0)
function pixel(x, y) return 1 end
