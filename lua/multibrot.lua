-- A Multibrot set: z -> z^power + c from z = 0, with z^power taken in polar form
-- (r^power, power * angle). power = 2 is the Mandelbrot set; power = d has d - 1-fold
-- symmetry. The smooth escape value uses log base `power` instead of 2.
max_iter = 300
home = { x = 0, y = 0, span = 3 }
-- Symmetric about the real axis: conj(c) has the conjugate orbit of c (in polar form the
-- angle's sign flips), so the engine computes one side and mirrors the other.
symmetry = "real_axis"

parameter { name = "power", kind = "real", min = 1.5, max = 8, default = 3 }
-- The iteration, declared for the engine, for whole powers (a formula's powers are whole
-- numbers; the polar form below takes any power).
formula { step = function(z, c) return z ^ param.power + c end }

local atan2, cos, sin, log, exp = math.atan2, math.cos, math.sin, math.log, math.exp

function pixel(x, y)
  local power = param.power
  local inverse_log_power = 1 / log(power)
  local zr, zi = 0.0, 0.0
  -- Periodicity (Brent): an orbit that comes back exactly to a saved z repeats forever and
  -- never escapes; the saved z moves at doubling intervals, so any cycle is caught.
  local saved_r, saved_i, steps, interval = 0.0, 0.0, 0, 8
  for n = 1, max_iter do
    local log_radius = 0.5 * log(zr * zr + zi * zi)
    local radius, angle = exp(power * log_radius), power * atan2(zi, zr)
    zr, zi = radius * cos(angle) + x, radius * sin(angle) + y
    local modulus2 = zr * zr + zi * zi
    if modulus2 > 256 then
      return n + 1 - log(log(modulus2) * 0.5) * inverse_log_power
    end
    if zr == saved_r and zi == saved_i then return nil end -- a cycle: never escapes
    steps = steps + 1
    if steps == interval then
      saved_r, saved_i, steps, interval = zr, zi, 0, interval * 2
    end
  end
  return nil
end

-- Deep zoom, in double-double (the `dd` library, about 31 digits), which the engine calls
-- instead of `pixel` where f64 runs out of digits (spans below about 1e-10): x and y are dd
-- values. A whole power is taken by repeated complex multiplication, all in dd; a
-- fractional power needs logarithms and angles that dd does not have, so it is taken in
-- polar form on the high parts (and those images blur below a span of about 1e-13, as in
-- f64). The escape test and the smoothing need only the high parts.
local floor = math.floor

function pixel_deep(x, y)
  local power = param.power
  local inverse_log_power = 1 / log(power)
  local whole = power == floor(power)
  local zero = dd.new(0)
  local zr, zi = zero, zero
  -- Periodicity as in pixel, comparing both parts of z.
  local saved_rh, saved_rl, saved_ih, saved_il, steps, interval = 0, 0, 0, 0, 0, 8
  for n = 1, max_iter do
    local pr, pi
    if whole then
      pr, pi = zr, zi
      for _ = 2, power do
        pr, pi = pr * zr - pi * zi, pr * zi + pi * zr
      end
    else
      local zr_hi, zi_hi = zr.hi, zi.hi
      local log_radius = 0.5 * log(zr_hi * zr_hi + zi_hi * zi_hi)
      local radius, angle = exp(power * log_radius), power * atan2(zi_hi, zr_hi)
      pr, pi = dd.new(radius * cos(angle)), dd.new(radius * sin(angle))
    end
    zr, zi = pr + x, pi + y
    local zr_hi, zi_hi = zr.hi, zi.hi
    local modulus2 = zr_hi * zr_hi + zi_hi * zi_hi
    if modulus2 > 256 then
      return n + 1 - log(log(modulus2) * 0.5) * inverse_log_power
    end
    local rh, rl, ih, il = zr_hi, zr.lo, zi_hi, zi.lo
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
