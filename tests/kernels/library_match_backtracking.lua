-- expect: timeout
-- string.match with a backtracking pattern (LuaJIT's C matcher ran for minutes)
local s = string.rep("a", 20000)
function pixel(x, y) return #(s:match("(.-)(.-)(.-)(.-)b") or "") end
