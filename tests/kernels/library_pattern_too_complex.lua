-- expect: load line 4
-- a pattern that nests too deeply is an error at its line, not a crash
local s = string.rep("a", 300)
local m = s:match(string.rep("a?", 300) .. "b")
function pixel(x, y) return 1 end
