-- The Burning Ship: z -> (|Re z| + i|Im z|)^2 + c from z = 0. Taking absolute values before
-- squaring folds the plane and grows a ship with masts and flames. The imaginary axis is
-- flipped (c = x - iy) so the ship sails upright.
max_iter = 500
home = { x = -0.45, y = 0.5, span = 2.6 }
-- The iteration, declared for the engine: the fold, the square, and c with its imaginary
-- axis flipped (the conjugate).
formula { step = function(z, c) return z:abs():sqr() + c:conj() end }

local abs, log = math.abs, math.log
local inverse_log2 = 1 / log(2)

function pixel(x, y)
  local c_im = -y
  local zr, zi, zr2, zi2 = 0.0, 0.0, 0.0, 0.0
  -- Periodicity (Brent): an orbit that comes back exactly to a saved z repeats forever and
  -- never escapes; the saved z moves at doubling intervals, so any cycle is caught.
  local saved_r, saved_i, steps, interval = 0.0, 0.0, 0, 8
  for n = 1, max_iter do
    zi = 2 * abs(zr * zi) + c_im
    zr = zr2 - zi2 + x
    zr2, zi2 = zr * zr, zi * zi
    if zr2 + zi2 > 256 then
      return n + 1 - log(log(zr2 + zi2) * 0.5) * inverse_log2
    end
    if zr == saved_r and zi == saved_i then return nil end -- a cycle: never escapes
    steps = steps + 1
    if steps == interval then
      saved_r, saved_i, steps, interval = zr, zi, 0, interval * 2
    end
  end
  return nil
end

-- Deep zoom: the same iteration in double-double (the `dd` library, about 31 digits), which
-- the engine calls instead of `pixel` where f64 runs out of digits (spans below about
-- 1e-10): x and y are dd values. |v| of a dd value negates both parts when it is negative.
-- The escape test and the smoothing need only the high parts.
local sqr = dd.sqr

local function dd_abs(value)
  if value.hi < 0 then return -value end
  return value
end

function pixel_deep(x, y)
  local c_im = -y
  local zero = dd.new(0)
  local zr, zi, zr2, zi2 = zero, zero, zero, zero
  -- Periodicity as in pixel, comparing both parts of z.
  local saved_rh, saved_rl, saved_ih, saved_il, steps, interval = 0, 0, 0, 0, 0, 8
  for n = 1, max_iter do
    zi = dd_abs(zr * zi) * 2 + c_im
    zr = zr2 - zi2 + x
    zr2, zi2 = sqr(zr), sqr(zi)
    local radius2 = zr2.hi + zi2.hi
    if radius2 > 256 then
      return n + 1 - log(log(radius2) * 0.5) * inverse_log2
    end
    local rh, rl, ih, il = zr.hi, zr.lo, zi.hi, zi.lo
    if rh == saved_rh and ih == saved_ih and rl == saved_rl and il == saved_il then
      return nil
    end
    steps = steps + 1
    if steps == interval then
      saved_rh, saved_rl, saved_ih, saved_il, steps, interval = rh, rl, ih, il, 0, interval * 2
    end
  end
  return nil
end
