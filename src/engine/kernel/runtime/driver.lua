--[[ driver.lua: the trusted loop that calls a kernel's `pixel(x, y)` for every pixel of
one work unit and stores the results, through LuaJIT's FFI, in a buffer the engine owns.

Running the per-pixel loop inside Lua lets LuaJIT compile the loop and the user's `pixel`
into one trace (within a few percent of native code: `moonbrot bench` shows the ratio);
calling `pixel` from Rust once per pixel costs a third more. The FFI module, the debug functions and the
buffer pointer live only in this file's locals: the kernel's environment (sandbox.lua)
never sees them. Every index written is below the `value_count` the engine passes, whatever
the kernel returns.

Arguments: ffi, debug.getinfo, the dd library (double_double.lua's own table, which the
kernel cannot change). Returns the table of driver functions.
]]
local ffi, getinfo, dd = ...

local cast, float_pointer = ffi.cast, ffi.typeof("float *")
local type, pcall, xpcall, error, tostring = type, pcall, xpcall, error, tostring
local floor = math.floor

-- The chunk name the engine gives kernel source: positions in its messages read "kernel:LINE:".
local KERNEL_SOURCE = "=kernel"
local INSIDE = -1
local MAX_STACK_LEVELS = 200

local driver = {}

local function wrong_return(what)
  error("pixel returned " .. what .. "; it must return a number, nil or false", 0)
end

local function wrong_rgb_return(what)
  error("pixel returned " .. what .. "; with output = \"rgb\" it must return three numbers", 0)
end

-- What a pixel's result stores: the number, INSIDE for nil or false, else an error.
local function escape_value(value)
  if type(value) == "number" then return value end
  if value == nil or value == false then return INSIDE end
  wrong_return("a " .. type(value))
end

-- Every unit loop takes the same arguments: the kernel's pixel function; where to store
-- (`value_count` floats at `out_address`, rows `stride` floats apart); the unit's size
-- (`width` pixels by `row_count` rows); and its place on the view's pixel lattice: pixel
-- (column, row) of the unit is at x_origin + (column_index + column + 0.5) * x_step,
-- y_origin + (row_index + row + 0.5) * y_step, the engine's PixelGrid expression, so a
-- pixel's point does not depend on the unit it falls in.
local function check_unit(value_count, stride, width, row_count, channels)
  if width * channels > stride or (row_count - 1) * stride + width * channels > value_count then
    error("driver: unit larger than its buffer", 0)
  end
end

-- Stores one value per pixel; nil or false become INSIDE.
local function escape_loop(pixel, out_address, value_count, stride, width, row_count,
                           x_origin, x_step, column_index, y_origin, y_step, row_index)
  check_unit(value_count, stride, width, row_count, 1)
  local out = cast(float_pointer, out_address)
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  for row = 0, row_count - 1 do
    local y = y_origin + (y_center + row) * y_step
    local index = row * stride
    for column = 0, width - 1 do
      out[index] = escape_value(pixel(x_origin + (x_center + column) * x_step, y))
      index = index + 1
    end
  end
end

-- Solid guessing (Mariani-Silver subdivision), as escape_loop fills the same floats. The
-- unit is cut into blocks on the pixel lattice: columns GUESS_BLOCK + 1 wide that share
-- their edge columns, rows GUESS_BLOCK high (the engine's units start and end on these
-- rows). Fixing blocks to the lattice, not to the image, makes a pixel's value depend only
-- on its block, so a band, a shard or the kept part of a pan equals a whole render. A
-- block's whole border is computed, and when every border pixel has the same value its
-- inside is filled with that value without calling `pixel`; otherwise the block is cut in
-- four (columns again sharing their edge, rows not) down to GUESS_MIN_SIDE, below which
-- every pixel is computed. A whole block's rows are treated symmetrically (halves of equal
-- height, the border's repeats counted around the closed loop), so a block mirrored across
-- the real axis is guessed as the mirror image: the engine's symmetry relies on it.
-- Why the whole border and not corners or samples: measured in LuaJIT on 1024x768 views,
-- whole borders got 0-4 wrong pixels in 786k, corners 72-173 and were slower (a thin
-- filament crossing a block always crosses its border). Escape values are compared as the
-- stored float32, so fractional (smooth) values almost never match and only truly flat
-- regions (the set's inside, integer-valued kernels) are filled. Direct-colour kernels are
-- never guessed: a gradient of colours has no flat regions to gain from.
local GUESS_BLOCK = 32
local GUESS_MIN_SIDE = 4
local new_flags = ffi.typeof("uint8_t[?]")

local function guess_loop(pixel, out_address, value_count, stride, width, row_count,
                          x_origin, x_step, column_index, y_origin, y_step, row_index)
  check_unit(value_count, stride, width, row_count, 1)
  local out = cast(float_pointer, out_address)
  local known = new_flags(width * row_count)
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  local stack, top = {}, 0
  local function push(left, upper, right, lower)
    stack[top + 1], stack[top + 2], stack[top + 3], stack[top + 4] = left, upper, right, lower
    top = top + 4
  end
  -- The first lattice multiple of GUESS_BLOCK in the unit, across and down (Lua's % is
  -- never negative, so this holds for negative indices too).
  local first_column_cut = (-column_index) % GUESS_BLOCK
  local first_row_cut = (-row_index) % GUESS_BLOCK
  local upper = 0
  while upper < row_count do
    local lower = upper + GUESS_BLOCK - 1
    if upper == 0 and first_row_cut > 0 then lower = first_row_cut - 1 end
    if lower > row_count - 1 then lower = row_count - 1 end
    local left = 0
    repeat
      local right = left + GUESS_BLOCK
      if left == 0 and first_column_cut > 0 then right = first_column_cut end
      if right > width - 1 then right = width - 1 end
      push(left, upper, right, lower)
      left = right
    until left >= width - 1
    upper = lower + 1
  end
  -- Every pixel of a rectangle not computed yet, in a straight loop like escape_loop's.
  local function compute_all(left, upper, right, lower)
    for row = upper, lower do
      local y = y_origin + (y_center + row) * y_step
      local flag, index = row * width + left, row * stride + left
      for column = left, right do
        if known[flag] == 0 then
          out[index] = escape_value(pixel(x_origin + (x_center + column) * x_step, y))
          known[flag] = 1
        end
        flag, index = flag + 1, index + 1
      end
    end
  end
  -- Continues a walk around a block's border over `count` stored values from `index`,
  -- `step` apart (defined once per unit: a closure made per block would stop LuaJIT from
  -- compiling this loop).
  local function walk(index, step, count, first, previous, flat, repeats)
    for _ = 1, count do
      local value = out[index]
      if value ~= first then flat = false end
      if value == previous then repeats = repeats + 1 end
      previous, index = value, index + step
    end
    return previous, flat, repeats
  end
  while top > 0 do
    local left, upper, right, lower = stack[top - 3], stack[top - 2], stack[top - 1], stack[top]
    top = top - 4
    if right - left < GUESS_MIN_SIDE or lower - upper < GUESS_MIN_SIDE then
      compute_all(left, upper, right, lower)
    else
      -- The border, then a walk around it clockwise from the top-left corner; `repeats`
      -- counts border pixels equal to the one before: with none, nothing inside can be flat,
      -- and the block is computed straight through instead of being cut up (cutting up
      -- costs where nothing is flat).
      compute_all(left, upper, right, upper)
      compute_all(left, lower, right, lower)
      compute_all(left, upper + 1, left, lower - 1)
      compute_all(right, upper + 1, right, lower - 1)
      local first = out[upper * stride + left]
      local previous, flat, repeats = first, true, 0
      local across, down = right - left, lower - upper
      previous, flat, repeats = walk(upper * stride + left + 1, 1, across, first, previous, flat, repeats)
      previous, flat, repeats = walk((upper + 1) * stride + right, stride, down, first, previous, flat, repeats)
      previous, flat, repeats = walk(lower * stride + right - 1, -1, across, first, previous, flat, repeats)
      previous, flat, repeats = walk((lower - 1) * stride + left, -stride, down - 1, first, previous, flat, repeats)
      if previous == first then repeats = repeats + 1 end -- closes the loop
      -- A block's inside is no other block's border, so nothing in it is known yet and it
      -- needs no flags.
      if flat then
        for row = upper + 1, lower - 1 do
          local index = row * stride
          for column = left + 1, right - 1 do
            out[index + column] = first
          end
        end
      elseif repeats == 0 then
        for row = upper + 1, lower - 1 do
          local y = y_origin + (y_center + row) * y_step
          local index = row * stride + left + 1
          for column = left + 1, right - 1 do
            out[index] = escape_value(pixel(x_origin + (x_center + column) * x_step, y))
            index = index + 1
          end
        end
      else
        local middle_column = left + floor((right - left) / 2)
        local middle_row = upper + floor((lower - upper - 1) / 2) -- last row of the top half
        push(left, upper, middle_column, middle_row)
        push(middle_column, upper, right, middle_row)
        push(left, middle_row + 1, middle_column, lower)
        push(middle_column, middle_row + 1, right, lower)
      end
    end
  end
end

-- As escape_loop, for kernels with output = "rgb": three floats per pixel.
local function rgb_loop(pixel, out_address, value_count, stride, width, row_count,
                        x_origin, x_step, column_index, y_origin, y_step, row_index)
  check_unit(value_count, stride, width, row_count, 3)
  local out = cast(float_pointer, out_address)
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  for row = 0, row_count - 1 do
    local y = y_origin + (y_center + row) * y_step
    local index = row * stride
    for column = 0, width - 1 do
      local r, g, b = pixel(x_origin + (x_center + column) * x_step, y)
      if type(r) ~= "number" or type(g) ~= "number" or type(b) ~= "number" then
        wrong_rgb_return(type(r) .. ", " .. type(g) .. ", " .. type(b))
      end
      out[index], out[index + 1], out[index + 2] = r, g, b
      index = index + 3
    end
  end
end

-- Errors that are userdata come from mlua, never from kernels (which can create no
-- userdata): a Rust panic or error inside a callback. They are raised again untouched, so
-- that mlua resumes the panic in Rust and moonbrot reports its own bug as its own.
local function rethrow_foreign(value)
  if type(value) == "userdata" then error(value, 0) end
end

-- Runs a unit loop protected, once per unit. Returns true, or false and the error if it is
-- a string (LuaJIT's own out-of-memory message among them). A kernel's error object never
-- leaves the driver: an error handler outside (mlua's) would call its __tostring, which
-- is kernel code that may loop or fail; locate_error describes errors without it.
local function protected(loop)
  return function(...)
    local ok, err = pcall(loop, ...)
    if ok then return true end
    rethrow_foreign(err)
    if type(err) == "string" then return false, err end
    return false
  end
end

--- Renders one unit of escape values (see escape_loop); returns true, or false [, message].
driver.render_escape_unit = protected(escape_loop)
--- Renders one unit of direct colour (see rgb_loop); returns true, or false [, message].
driver.render_rgb_unit = protected(rgb_loop)
--- Renders one unit of escape values by solid guessing (see guess_loop).
driver.render_guessed_unit = protected(guess_loop)

--- A kernel's deep entry point as the unit loops call it: those loops compute each pixel's
--- offset from the lattice origin in f64 (they get origin 0), and this adds the origin
--- (hi + lo) in double-double, so `pixel_deep` gets the point to about 106 bits. Made once
--- per unit; the loops, guessing and error location need nothing else to run deep.
function driver.deep_pixel(pixel_deep, x_hi, x_lo, y_hi, y_lo)
  local x_origin, y_origin = dd.new(x_hi, x_lo), dd.new(y_hi, y_lo)
  local add = dd.add
  return function(x_offset, y_offset)
    return pixel_deep(add(x_origin, x_offset), add(y_origin, y_offset))
  end
end

--- The pixel function of one unit rendered by perturbation: `factory` (written by
--- formula.lua from the kernel's formula) given the reference orbits as read-only double
--- pointers. The addresses are Rust buffers that outlive the unit's call; they stay in this
--- function's closure, which only the driver's loops ever call.
local const_double_pointer = ffi.typeof("const double *")
function driver.perturbation_pixel(factory, orbit, length, skips, min_level, max_level,
    critical, critical_length, critical_skips, critical_min, critical_max, cr, ci, ox, oy,
    max_iter, scaled_skips, critical_scaled_skips, radii, critical_radii, scale, tiny,
    tiny_count, critical_tiny, critical_tiny_count, series, series_terms, series_steps,
    series_inverse_bound)
  return factory(cast(const_double_pointer, orbit), length,
    cast(const_double_pointer, skips), min_level, max_level,
    cast(const_double_pointer, critical), critical_length,
    cast(const_double_pointer, critical_skips), critical_min, critical_max,
    cr, ci, ox, oy, max_iter, cast(const_double_pointer, scaled_skips),
    cast(const_double_pointer, critical_scaled_skips),
    cast(const_double_pointer, radii), cast(const_double_pointer, critical_radii), scale,
    cast(const_double_pointer, tiny), tiny_count,
    cast(const_double_pointer, critical_tiny), critical_tiny_count,
    cast(const_double_pointer, series), series_terms, series_steps, series_inverse_bound)
end

--- Calls pixel(x, y) protected, for the engine's sampling of a kernel: returns true and
--- the first result, or false. Like the unit functions, it never lets a kernel's error
--- object reach an outside error handler.
function driver.sample_pixel(pixel, x, y)
  local ok, value = pcall(pixel, x, y)
  if ok then return true, value end
  rethrow_foreign(value)
  return false
end

-- The innermost stack frame running kernel code, as a line number (nil if none).
local function innermost_kernel_line()
  for level = 2, MAX_STACK_LEVELS do
    local frame = getinfo(level, "Sl")
    if frame == nil then return nil end
    if frame.source == KERNEL_SOURCE and frame.currentline and frame.currentline > 0 then
      return frame.currentline
    end
  end
  return nil
end

-- xpcall handler: describe any error value without calling kernel code (no tostring on
-- tables, whose __tostring the kernel could own).
local function describe_error(value)
  local message
  if type(value) == "string" then
    message = value
  elseif type(value) == "number" then
    message = tostring(value)
  elseif value == nil then
    message = "error raised with a nil value"
  else
    message = "error raised with a " .. type(value) .. " value"
  end
  return { message = message, line = innermost_kernel_line(), raw = value }
end

-- Turns the result of an xpcall into (message, line). When the handler did not run (out of
-- memory, or an error inside the handler) the value is the VM's own string.
local function failure(value)
  if type(value) == "table" then
    rethrow_foreign(value.raw)
    return value.message, value.line
  end
  return tostring(value), nil
end

--- Runs a compiled kernel chunk's top level. Returns nil on success, or message, line.
function driver.load_kernel(chunk)
  local ok, err = xpcall(chunk, describe_error)
  if ok then return nil end
  return failure(err)
end

--- Finds the first pixel of a unit whose evaluation fails, calling `pixel` one protected
--- call at a time (slow, only used after the fast loop failed). Returns
--- index, kind ("runtime" or "return"), message, line for that pixel, or nil when no pixel
--- fails on this second pass (a kernel whose results depend on earlier calls).
function driver.locate_error(pixel, rgb, width, row_count,
                             x_origin, x_step, column_index, y_origin, y_step, row_index)
  local defined_at = getinfo(pixel, "S").linedefined
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  local index = 0
  for row = 0, row_count - 1 do
    local y = y_origin + (y_center + row) * y_step
    for column = 0, width - 1 do
      local x = x_origin + (x_center + column) * x_step
      local ok, r, g, b = xpcall(pixel, describe_error, x, y)
      if not ok then
        local message, line = failure(r)
        return index, "runtime", message, line
      end
      if rgb then
        if type(r) ~= "number" or type(g) ~= "number" or type(b) ~= "number" then
          return index, "return", "pixel returned " .. type(r) .. ", " .. type(g) .. ", " .. type(b)
            .. "; with output = \"rgb\" it must return three numbers", defined_at
        end
      elseif type(r) ~= "number" and r ~= nil and r ~= false then
        return index, "return", "pixel returned a " .. type(r) .. "; it must return a number, nil or false",
          defined_at
      end
      index = index + 1
    end
  end
  return nil
end

return driver
