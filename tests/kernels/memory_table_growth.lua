-- expect: memory
local t = {}
function pixel(x, y)
  for i = 1, 1e9 do t[#t + 1] = string.rep("z", 1048576) .. i end
end
