-- expect: timeout
-- the same at the top level, through find
local s = string.rep("a", 20000)
local found = s:find("(.-)(.-)(.-)(.-)b")
function pixel(x, y) return 1 end
