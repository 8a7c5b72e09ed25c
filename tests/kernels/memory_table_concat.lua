-- expect: memory
local parts = {}
for i = 1, 1e4 do parts[i] = string.rep("chunk ", 100) .. i end
local all = table.concat(parts)
while true do all = table.concat({ all, all }) end
function pixel(x, y) return 1 end
