-- expect: runtime line 3
function pixel(x, y)
  error({ code = 42 })
end
