-- expect: runtime line 3
function pixel(x, y)
  error("no position", 0)
end
