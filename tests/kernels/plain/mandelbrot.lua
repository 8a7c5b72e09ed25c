-- The Mandelbrot set: every point c = x + iy is iterated as z -> z^2 + c from z = 0, and
-- the points whose orbit stays bounded form the set. Outside it we return a smooth escape
-- value, n + 1 - log2(ln|z|), so colour bands blend instead of stepping.
max_iter = 500
home = { x = -0.6, y = 0, span = 2.6 }

local log = math.log
local inverse_log2 = 1 / log(2)

function pixel(x, y)
  local zr, zi, zr2, zi2 = 0.0, 0.0, 0.0, 0.0
  for n = 1, max_iter do
    zi = 2 * zr * zi + y
    zr = zr2 - zi2 + x
    zr2, zi2 = zr * zr, zi * zi
    if zr2 + zi2 > 256 then -- a large bailout radius (16) makes the smoothing accurate
      return n + 1 - log(log(zr2 + zi2) * 0.5) * inverse_log2
    end
  end
  return nil -- still bounded: inside the set
end
