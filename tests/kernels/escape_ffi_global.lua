-- expect: load line 2
ffi.cdef("int system(const char *);")
function pixel(x, y) return 1 end
