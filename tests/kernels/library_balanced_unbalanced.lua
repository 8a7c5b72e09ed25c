-- expect: timeout
-- %b() over long unbalanced text: each start position scans to the end
local s = string.rep("(", 200000)
function pixel(x, y) return #(s:match("%b()") or "") end
