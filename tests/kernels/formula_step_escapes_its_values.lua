-- expect: formula line 6
-- A step that tries to reach the recording values' machinery (their metatable is hidden)
-- and then to branch on one is refused at its line.
function pixel(x, y) return 1 end
formula { step = function(z, c)
  if getmetatable(z) or z.index then return z end
  return z
end }
