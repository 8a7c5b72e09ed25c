-- expect: timeout
-- plain find with a long near-miss needle: quadratic in C
local hay = string.rep("a", 2000000)
local needle = string.rep("a", 100000) .. "b"
function pixel(x, y) return hay:find(needle, 1, true) or 0 end
