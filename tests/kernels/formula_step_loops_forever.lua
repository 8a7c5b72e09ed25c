-- expect: timeout
-- A formula's step is the kernel's code, run when the kernel loads: an endless one is
-- stopped like any other.
function pixel(x, y) return 1 end
formula { step = function(z, c) while true do end end }
