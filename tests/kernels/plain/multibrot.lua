-- A Multibrot set: z -> z^power + c from z = 0, with z^power taken in polar form
-- (r^power, power * angle). power = 2 is the Mandelbrot set; power = d has d - 1-fold
-- symmetry. The smooth escape value uses log base `power` instead of 2.
max_iter = 300
home = { x = 0, y = 0, span = 3 }

parameter { name = "power", kind = "real", min = 1.5, max = 8, default = 3 }

local atan2, cos, sin, log, exp = math.atan2, math.cos, math.sin, math.log, math.exp

function pixel(x, y)
  local power = param.power
  local inverse_log_power = 1 / log(power)
  local zr, zi = 0.0, 0.0
  for n = 1, max_iter do
    local log_radius = 0.5 * log(zr * zr + zi * zi)
    local radius, angle = exp(power * log_radius), power * atan2(zi, zr)
    zr, zi = radius * cos(angle) + x, radius * sin(angle) + y
    local modulus2 = zr * zr + zi * zi
    if modulus2 > 256 then
      return n + 1 - log(log(modulus2) * 0.5) * inverse_log_power
    end
  end
  return nil
end
