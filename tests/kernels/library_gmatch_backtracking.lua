-- expect: timeout
-- gmatch with a backtracking pattern
local s = string.rep("a", 20000)
function pixel(x, y)
  for a in s:gmatch("(.-)(.-)(.-)b") do return 1 end
  return 0
end
