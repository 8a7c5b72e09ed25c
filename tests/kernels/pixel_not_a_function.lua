-- expect: not_a_function
pixel = 42
