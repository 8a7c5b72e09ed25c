-- Bands by the escape value's square root, darker every other band.
function colour(v)
  local r, g, b = gradient(0.1 * math.sqrt(v))
  local shade = math.floor(v) % 2 == 0 and 1 or 0.8
  return r * shade, g * shade, b * shade
end
