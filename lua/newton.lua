-- Newton's method for z^3 = 1: each pixel is a starting guess z0 = x + iy, improved by
-- z -> z - (z^3 - 1) / (3 z^2) until it lands near one of the three cube roots of unity.
-- Direct colour (output = "rgb"): the hue names the root reached, the shade how fast.
-- `damping` scales each step (1 is Newton's method; below 1 the basins' borders smooth
-- out, above 1 they break up); `shading` chooses whether slow points are drawn darker.
output = "rgb"
max_iter = 60
home = { x = 0, y = 0, span = 3 }

parameter { name = "damping", kind = "real", min = 0.2, max = 1.8, default = 1 }
parameter { name = "shading", kind = "boolean", default = true }

local sqrt3_over_2 = math.sqrt(3) / 2
local ROOTS = { { 1, 0 }, { -0.5, sqrt3_over_2 }, { -0.5, -sqrt3_over_2 } }
local COLOURS = { { 0.90, 0.30, 0.25 }, { 0.25, 0.75, 0.35 }, { 0.25, 0.45, 0.90 } }
local TOLERANCE2 = 1e-12

function pixel(x, y)
  local damping, shading = param.damping, param.shading
  local zr, zi = x, y
  for n = 1, max_iter do
    local zr2, zi2 = zr * zr, zi * zi
    -- z - (z^3 - 1) / (3 z^2)  =  (2 z^3 + 1) / (3 z^2)
    local z3r, z3i = zr * (zr2 - 3 * zi2), zi * (3 * zr2 - zi2)
    local nr, ni = 2 * z3r + 1, 2 * z3i          -- numerator 2 z^3 + 1
    local dr, di = 3 * (zr2 - zi2), 6 * zr * zi   -- denominator 3 z^2
    local modulus2 = dr * dr + di * di
    if modulus2 == 0 then return 0, 0, 0 end -- z = 0: Newton's step is undefined
    local scale = 1 / modulus2
    local next_r, next_i = (nr * dr + ni * di) * scale, (ni * dr - nr * di) * scale
    zr, zi = zr + damping * (next_r - zr), zi + damping * (next_i - zi)
    for k = 1, 3 do
      local root = ROOTS[k]
      local er, ei = zr - root[1], zi - root[2]
      if er * er + ei * ei < TOLERANCE2 then
        local colour, shade = COLOURS[k], 1
        if shading then shade = 1 - 0.75 * math.min(1, (n - 1) / 24) end
        return colour[1] * shade, colour[2] * shade, colour[3] * shade
      end
    end
  end
  return 0, 0, 0
end
