-- The Mandelbrot set: every point c = x + iy is iterated as z -> z^2 + c from z = 0, and
-- the points whose orbit stays bounded form the set. Outside it we return a smooth escape
-- value, n + 1 - log2(ln|z|), so colour bands blend instead of stepping.
max_iter = 500
home = { x = -0.6, y = 0, span = 2.6 }
-- Symmetric about the real axis: conj(c) has the conjugate orbit of c, so the engine
-- computes one side of the axis and mirrors the other (exactly: negation is exact).
symmetry = "real_axis"

local log = math.log
local inverse_log2 = 1 / log(2)

function pixel(x, y)
  -- The main cardioid and the period-2 bulb are inside: with q = (x - 1/4)^2 + y^2, c is in
  -- the cardioid when q (q + x - 1/4) <= y^2 / 4, and in the bulb when (x + 1)^2 + y^2 <= 1/16.
  local x_quarter, y2 = x - 0.25, y * y
  local q = x_quarter * x_quarter + y2
  if q * (q + x_quarter) <= 0.25 * y2 or (x + 1) * (x + 1) + y2 <= 0.0625 then
    return nil
  end
  local zr, zi, zr2, zi2 = 0.0, 0.0, 0.0, 0.0
  -- Periodicity (Brent): an orbit that comes back exactly to a saved z repeats forever and
  -- never escapes; the saved z moves at doubling intervals, so any cycle is caught.
  local saved_r, saved_i, steps, interval = 0.0, 0.0, 0, 8
  for n = 1, max_iter do
    zi = 2 * zr * zi + y
    zr = zr2 - zi2 + x
    zr2, zi2 = zr * zr, zi * zi
    if zr2 + zi2 > 256 then -- a large bailout radius (16) makes the smoothing accurate
      return n + 1 - log(log(zr2 + zi2) * 0.5) * inverse_log2
    end
    if zr == saved_r and zi == saved_i then return nil end
    steps = steps + 1
    if steps == interval then
      saved_r, saved_i, steps, interval = zr, zi, 0, interval * 2
    end
  end
  return nil -- still bounded: inside the set
end
