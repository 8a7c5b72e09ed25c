-- A Julia set: the same iteration z -> z^2 + c as the Mandelbrot set, but c is fixed and
-- the pixel gives the starting point z0 = x + iy. Each c gives a different set; try
-- c = -0.4 + 0.6i, 0.285 + 0.01i or -0.8 + 0.156i (the default). In the window, "pick on
-- the image" sets c from a point of the Mandelbrot set's neighbourhood.
max_iter = 500
home = { x = 0, y = 0, span = 3 }

parameter { name = "c", kind = "complex", default = { -0.8, 0.156 }, label = "constant c" }

local log = math.log
local inverse_log2 = 1 / log(2)

function pixel(x, y)
  local c = param.c
  local c_re, c_im = c.re, c.im
  local zr, zi = x, y
  local zr2, zi2 = zr * zr, zi * zi
  for n = 1, max_iter do
    zi = 2 * zr * zi + c_im
    zr = zr2 - zi2 + c_re
    zr2, zi2 = zr * zr, zi * zi
    if zr2 + zi2 > 256 then
      return n + 1 - log(log(zr2 + zi2) * 0.5) * inverse_log2
    end
  end
  return nil
end
