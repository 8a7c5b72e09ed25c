-- A Julia set: the same iteration z -> z^2 + c as the Mandelbrot set, but c is fixed and
-- the pixel gives the starting point z0 = x + iy. Each c gives a different set; try
-- c = -0.4 + 0.6i, 0.285 + 0.01i or -0.8 + 0.156i (the default). In the window, "pick on
-- the image" sets c from a point of the Mandelbrot set's neighbourhood.
max_iter = 500
home = { x = 0, y = 0, span = 3 }

parameter { name = "c", kind = "complex", default = { -0.8, 0.156 }, label = "constant c" }
-- The iteration, declared for the engine: c is the parameter, z starts at the pixel.
formula { step = function(z, c) return z:sqr() + c end, julia = "c" }

local log = math.log
local inverse_log2 = 1 / log(2)

function pixel(x, y)
  local c = param.c
  local c_re, c_im = c.re, c.im
  local zr, zi = x, y
  local zr2, zi2 = zr * zr, zi * zi
  -- Periodicity (Brent): an orbit that comes back exactly to a saved z repeats forever and
  -- never escapes; the saved z moves at doubling intervals, so any cycle is caught.
  local saved_r, saved_i, steps, interval = zr, zi, 0, 8 -- z0 is on the orbit
  for n = 1, max_iter do
    zi = 2 * zr * zi + c_im
    zr = zr2 - zi2 + c_re
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
-- 1e-10): x and y are dd values; c stays a number (it does not move with the view). The
-- escape test and the smoothing need only the high parts.
local sqr = dd.sqr

function pixel_deep(x, y)
  local c = param.c
  local c_re, c_im = c.re, c.im
  local zr, zi = x, y
  local zr2, zi2 = sqr(zr), sqr(zi)
  -- Periodicity as in pixel, comparing both parts of z.
  local saved_rh, saved_rl, saved_ih, saved_il = zr.hi, zr.lo, zi.hi, zi.lo
  local steps, interval = 0, 8
  for n = 1, max_iter do
    zi = zr * zi * 2 + c_im
    zr = zr2 - zi2 + c_re
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
