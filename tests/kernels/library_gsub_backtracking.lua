-- expect: timeout
-- gsub with a backtracking pattern
local s = string.rep("a", 20000)
function pixel(x, y) return (select(2, s:gsub("(.-)(.-)(.-)b", ""))) end
