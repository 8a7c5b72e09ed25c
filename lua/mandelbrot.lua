-- The Mandelbrot set: every point c = x + iy is iterated as z -> z^2 + c from z = 0, and
-- the points whose orbit stays bounded form the set. Outside it we return a smooth escape
-- value, n + 1 - log2(ln|z|), so colour bands blend instead of stepping.
max_iter = 500
home = { x = -0.6, y = 0, span = 2.6 }
-- Symmetric about the real axis: conj(c) has the conjugate orbit of c, so the engine
-- computes one side of the axis and mirrors the other (exactly: negation is exact).
symmetry = "real_axis"
-- The iteration, declared for the engine, which derives from it what deep zoom by
-- perturbation needs (`pixel` below stays the kernel's f64 path).
formula { step = function(z, c) return z:sqr() + c end }

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

-- Deep zoom: the same iteration in double-double (about 31 digits), which the engine calls
-- instead of `pixel` where f64 runs out of digits (spans below about 1e-10): x and y are
-- `dd` values. The arithmetic is written out on plain numbers (z = zr + zrl, a high and a
-- low part) because that runs twice as fast as the dd library's operators, which give the
-- same values: the squares and the product share one Dekker split of each part, and the
-- low parts are summed directly (their error is of the order of the squares' own). The
-- escape test and the smoothing need only the high parts. The cardioid and bulb shortcuts
-- keep a margin, so a point closer to their edge than f64 can tell is iterated instead.
local SPLITTER = 134217729 -- 2^27 + 1: splits a double into two 26-bit halves

function pixel_deep(x, y)
  local xh, yh = x.hi, y.hi
  local x_quarter, y2 = xh - 0.25, yh * yh
  local q = x_quarter * x_quarter + y2
  if q * (q + x_quarter) <= 0.25 * y2 - 1e-9 or (xh + 1) * (xh + 1) + y2 <= 0.0625 - 1e-9 then
    return nil
  end
  local xl, yl = x.lo, y.lo
  local zr, zrl, zi, zil = 0, 0, 0, 0
  local saved_r, saved_rl, saved_i, saved_il, steps, interval = 0, 0, 0, 0, 0, 8
  -- Iteration n tests z_n, then computes z_(n + 1): the squares serve both.
  for n = 0, max_iter do
    -- zr^2, zi^2 and zr zi exactly (Dekker's two-product on the high parts), plus the
    -- low parts' share.
    local t = SPLITTER * zr
    local rh = t - (t - zr)
    local rl = zr - rh
    t = SPLITTER * zi
    local ih = t - (t - zi)
    local il = zi - ih
    local rr = zr * zr
    local rr_e = ((rh * rh - rr) + 2 * rh * rl) + rl * rl + 2 * zr * zrl
    local ii = zi * zi
    local ii_e = ((ih * ih - ii) + 2 * ih * il) + il * il + 2 * zi * zil
    if rr + ii > 256 then
      return n + 1 - log(log(rr + ii) * 0.5) * inverse_log2
    end
    -- zr zi is needed only once z has not escaped.
    local ri = zr * zi
    local ri_e = ((rh * ih - ri) + rh * il + rl * ih) + rl * il + (zr * zil + zrl * zi)
    -- zr = (rr - ii) + x and zi = 2 ri + y, each sum with its rounding error (two-sum).
    local s = rr - ii
    local bb = s - rr
    local e = (rr - (s - bb)) + (-ii - bb) + (rr_e - ii_e)
    local s2 = s + xh
    bb = s2 - s
    e = e + (s - (s2 - bb)) + (xh - bb) + xl
    zr = s2 + e
    zrl = e - (zr - s2)
    s = 2 * ri + yh
    bb = s - 2 * ri
    e = (2 * ri - (s - bb)) + (yh - bb) + 2 * ri_e + yl
    zi = s + e
    zil = e - (zi - s)
    -- Periodicity as in pixel, on both parts.
    if zr == saved_r and zi == saved_i and zrl == saved_rl and zil == saved_il then return nil end
    steps = steps + 1
    if steps == interval then
      saved_r, saved_rl, saved_i, saved_il, steps, interval = zr, zrl, zi, zil, 0, interval * 2
    end
  end
  return nil
end
