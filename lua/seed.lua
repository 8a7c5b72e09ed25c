-- The workload of the article that started moonbrot ("Python and Lua", 2019): the
-- Mandelbrot iteration z -> z^2 + c with z starting at c, at most 49 iterations, a point
-- escaping when |z|^2 > 4. It returns the iteration at which the point escaped.
max_iter = 49
home = { x = -0.5, y = 0, span = 2 } -- the article's x in [-1.5, 0.5], y in [-1, 1]

function pixel(x, y)
  local zr, zi = x, y
  local zr2, zi2 = x * x, y * y
  for i = 1, max_iter do
    zi = zr * zi * 2 + y
    zr = zr2 - zi2 + x
    zi2 = zi * zi
    zr2 = zr * zr
    if zr2 + zi2 > 4.0 then return i end
  end
  return nil
end
