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
-- The most values a pixel may return (`channels`) and carry to a colouring.
local MAX_CHANNELS = 8
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

local new_flags = ffi.typeof("uint8_t[?]")
local fill_bytes, copy_bytes = ffi.fill, ffi.copy
local FLOAT_BYTES = 4

-- Lattice rows and columns per guessing block (see guess_loop).
local GUESS_BLOCK = 32

-- Computes the pixels of one row from column `left` to `right`, `step` apart, storing one
-- value each (nil or false become INSIDE), except columns `skipped`, `skipped` +
-- GUESS_BLOCK and so on (pass -1 to skip none): those are edge columns of guessing blocks,
-- already computed. Every loop below computes its pixels here, so `pixel` has one call
-- site: LuaJIT compiles the return from `pixel` into the caller once, and the trace
-- shaping's warm-up, which runs escape_loop, shapes it for guessing too. With a call site
-- per loop, a return went through a chain of side traces, one link per site, and solid
-- guessing cost 8-12% even where it filled nothing. (A byte mask of columns to skip cost
-- escape_loop 1-2%; a counter costs nothing measurable.)
--
-- A pixel function made by `interleaved_pixel` computes its spans itself, several pixels at
-- a time (see formula.lua's interleaved_source): compute_span hands them over whole.
local interleaved_spans = setmetatable({}, { __mode = "k" })
local function compute_span(pixel, out, row_start, left, right, step, skipped,
                            x_origin, x_step, x_center, y)
  local interleaved = interleaved_spans[pixel]
  if interleaved ~= nil and left < right then
    return interleaved(out, row_start, left, right, step, skipped, x_origin, x_step, x_center, y)
  end
  for column = left, right, step do
    if column ~= skipped then
      out[row_start + column] = escape_value(pixel(x_origin + (x_center + column) * x_step, y))
    else
      skipped = skipped + GUESS_BLOCK
    end
  end
end

-- Rows first_row to last_row of a unit, the same columns of each (as compute_span takes
-- them), by the span function of interleaved pixels in one call: its lanes go on from one
-- row into the next, where row by row they would wait at each row's end for its slowest
-- pixel.
local function interleaved_rows(span, out, stride, first_row, last_row, left, right, step,
                                skipped, x_origin, x_step, x_center, y_origin, y_step, y_center)
  return span(out, first_row * stride, left, right, step, skipped, x_origin, x_step, x_center,
              y_origin + (y_center + first_row) * y_step, last_row, first_row, stride,
              y_origin, y_step, y_center)
end

-- Stores one value per pixel; nil or false become INSIDE.
local function escape_loop(pixel, out_address, value_count, stride, width, row_count,
                           x_origin, x_step, column_index, y_origin, y_step, row_index)
  check_unit(value_count, stride, width, row_count, 1)
  local out = cast(float_pointer, out_address)
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  -- Interleaved pixels take the whole unit at once.
  local interleaved = interleaved_spans[pixel]
  if interleaved ~= nil then
    return interleaved_rows(interleaved, out, stride, 0, row_count - 1, 0, width - 1, 1, -1,
                            x_origin, x_step, x_center, y_origin, y_step, y_center)
  end
  for row = 0, row_count - 1 do
    compute_span(pixel, out, row * stride, 0, width - 1, 1, -1,
                 x_origin, x_step, x_center, y_origin + (y_center + row) * y_step)
  end
end

local function wrong_extra_return(position, what)
  error("pixel returned " .. what .. " as value " .. position
    .. "; the values after the escape value must be numbers, nil or false", 0)
end

-- What one of a pixel's values after the first stores: the number, NaN (unknown) for nil
-- or false, else an error.
local NOT_KNOWN = 0 / 0
local function extra_value(value, position)
  if type(value) == "number" then return value end
  if value == nil or value == false then return NOT_KNOWN end
  wrong_extra_return(position, "a " .. type(value))
end

-- Solid guessing (Mariani-Silver subdivision), as escape_loop fills the same floats. The
-- unit is cut into blocks on the pixel lattice: columns GUESS_BLOCK + 1 wide that share
-- their edge columns, rows GUESS_BLOCK high (the engine's units start and end on these
-- rows). Fixing blocks to the lattice, not to the image, makes a pixel's value depend only
-- on its block, so a band, a shard or the kept part of a pan equals a whole render. A
-- block whose top and bottom rows have no two neighbouring pixels alike can be neither
-- flat nor worth cutting, and is computed in full. Of the others the whole border is
-- computed, and when every border pixel has the same value the inside is filled with
-- that value without calling `pixel`; otherwise the block is cut in four (columns again
-- sharing their edge, rows not) down to GUESS_MIN_SIDE, below which every pixel is
-- computed. A whole block's rows are treated symmetrically (halves of equal
-- height, the border's repeats counted around the closed loop), so a block mirrored across
-- the real axis is guessed as the mirror image: the engine's symmetry relies on it.
-- Why the whole border and not corners or samples: measured in LuaJIT on 1024x768 views,
-- whole borders got 0-4 wrong pixels in 786k, corners 72-173 and were slower (a thin
-- filament crossing a block always crosses its border). Escape values are compared as the
-- stored float32, so fractional (smooth) values almost never match and only truly flat
-- regions (the set's inside, integer-valued kernels) are filled. Direct-colour kernels are
-- never guessed: a gradient of colours has no flat regions to gain from.
--
-- Why row by row: on views where guessing fills nothing (no two neighbouring border pixels
-- alike in most blocks) it must cost next to nothing, and on views mostly inside the
-- cardioid, where a pixel costs a few nanoseconds, filling must cost less than computing.
-- So a row of blocks is computed as escape_loop computes rows: its top and bottom rows
-- straight across; then the edge columns of the blocks whose top or bottom row has two
-- neighbouring pixels alike (only those can be flat), which are classified; then the
-- inside rows straight across each run of neighbouring blocks not filled or cut
-- (compute_span skipping the edges already computed), a filled inside by copying its
-- first row. Where nothing is flat, that is escape_loop's order, edge columns and all. Measured on one thread
-- (`moonbrot bench --guessing` and `--views`): guessing cost 8% on the Mandelbrot and
-- Julia homes and 11% on the mostly-inside view block by block, with a `pixel` call site
-- per border side and inside loop; 0-3% on the homes and a 1.5x gain on that view now.
local GUESS_MIN_SIDE = 4
local FILLED, STRAIGHT, CUT = 1, 2, 3

local function guess_loop(pixel, out_address, value_count, stride, width, row_count,
                          x_origin, x_step, column_index, y_origin, y_step, row_index)
  check_unit(value_count, stride, width, row_count, 1)
  local out = cast(float_pointer, out_address)
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  -- The edge columns of the blocks across the unit, left to right: block k spans edges[k]
  -- to edges[k + 1]. The first lattice multiple of GUESS_BLOCK in the unit, across and
  -- down, is where the first block ends (Lua's % is never negative, so this holds for
  -- negative indices too).
  local first_column_cut = (-column_index) % GUESS_BLOCK
  local first_row_cut = (-row_index) % GUESS_BLOCK
  local edges, edge_count = { 0 }, 1
  while edges[edge_count] < width - 1 do
    local left = edges[edge_count]
    local right = left + GUESS_BLOCK
    if left == 0 and first_column_cut > 0 then right = first_column_cut end
    if right > width - 1 then right = width - 1 end
    edge_count = edge_count + 1
    edges[edge_count] = right
  end
  -- Per row of blocks, the runs of neighbouring blocks whose insides are computed
  -- straight across, as triples in one array: the first column of the first block's
  -- inside, the last column of the last block's inside, and the first edge column inside
  -- the run (edges inside a run are GUESS_BLOCK apart), or -1.
  local runs = {}
  -- Pixels known in blocks cut up, whose quarters share borders; made at the first cut.
  local known
  local stack, top = {}, 0
  local function push(left, upper, right, lower)
    stack[top + 1], stack[top + 2], stack[top + 3], stack[top + 4] = left, upper, right, lower
    top = top + 4
  end
  local function compute_row(row, left, right, step, skipped)
    compute_span(pixel, out, row * stride, left, right, step, skipped,
                 x_origin, x_step, x_center, y_origin + (y_center + row) * y_step)
  end
  -- The same columns of rows first_row to last_row (the edge columns of a row of blocks,
  -- a run's insides). Interleaved pixels take them in one call (row by row, on one thread
  -- guessing cost 2.3% on the filaments, V2, where it fills nothing; 1.7% in one call).
  local interleaved = interleaved_spans[pixel]
  local function compute_rows(first_row, last_row, left, right, step, skipped)
    if last_row < first_row then return end
    if interleaved ~= nil then
      return interleaved_rows(interleaved, out, stride, first_row, last_row, left, right, step,
                              skipped, x_origin, x_step, x_center, y_origin, y_step, y_center)
    end
    for row = first_row, last_row do compute_row(row, left, right, step, skipped) end
  end
  -- Every pixel of a rectangle inside a block cut up that is not known yet.
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
  local function mark_known(left, upper, right, lower)
    for row = upper, lower do
      fill_bytes(known + row * width + left, right - left + 1, 1)
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
  -- Decides what a block whose border is computed needs: when every border pixel has
  -- the same value, fills its inside and returns FILLED; when no two neighbouring border
  -- pixels are alike, returns STRAIGHT (nothing inside can be flat, and cutting up costs
  -- where nothing is flat); else pushes its four quarters (whose own borders the stack's
  -- loop computes) and returns CUT.
  local function classify(left, upper, right, lower)
    -- A walk around the border clockwise from the top-left corner; `repeats` counts
    -- border pixels equal to the one before.
    local first = out[upper * stride + left]
    local previous, flat, repeats = first, true, 0
    local across, down = right - left, lower - upper
    previous, flat, repeats = walk(upper * stride + left + 1, 1, across, first, previous, flat, repeats)
    previous, flat, repeats = walk((upper + 1) * stride + right, stride, down, first, previous, flat, repeats)
    previous, flat, repeats = walk(lower * stride + right - 1, -1, across, first, previous, flat, repeats)
    previous, flat, repeats = walk((lower - 1) * stride + left, -stride, down - 1, first, previous, flat, repeats)
    if previous == first then repeats = repeats + 1 end -- closes the loop
    if flat then
      -- One row of the inside filled, then copied to the others (a loop nest here cost
      -- more than computing the pixels of a view that is mostly inside the cardioid).
      local first_index, inside_width = (upper + 1) * stride + left + 1, right - left - 1
      for index = first_index, first_index + inside_width - 1 do
        out[index] = first
      end
      local first_row = out + first_index
      for row = upper + 2, lower - 1 do
        copy_bytes(out + row * stride + left + 1, first_row, inside_width * FLOAT_BYTES)
      end
      return FILLED
    end
    if repeats == 0 then return STRAIGHT end
    local middle_column = left + floor((right - left) / 2)
    local middle_row = upper + floor((lower - upper - 1) / 2) -- last row of the top half
    push(left, upper, middle_column, middle_row)
    push(middle_column, upper, right, middle_row)
    push(left, middle_row + 1, middle_column, lower)
    push(middle_column, middle_row + 1, right, lower)
    return CUT
  end
  local function too_small(left, upper, right, lower)
    return right - left < GUESS_MIN_SIDE or lower - upper < GUESS_MIN_SIDE
  end
  -- Whether a block's top or bottom row has two neighbouring pixels alike: only such a
  -- block can be flat or worth cutting up, so only its edge columns are computed on their
  -- own and its whole border walked (`walked`, by block); the others are computed
  -- straight across, edge columns and all, as escape_loop computes rows. (Their edge
  -- columns on their own cost about 2% of a render on views where guessing fills nothing,
  -- and 3% on two threads.)
  local function rows_repeat(left, upper, right, lower)
    local top_row, bottom_row = upper * stride, lower * stride
    for column = left, right - 1 do
      if out[top_row + column] == out[top_row + column + 1]
          or out[bottom_row + column] == out[bottom_row + column + 1] then
        return true
      end
    end
    return false
  end
  local walked = {}
  -- Edge column k (block k's left, block k - 1's right) is computed on its own when a
  -- block beside it is walked.
  local function edge_computed(k)
    return walked[k - 1] == true or walked[k] == true
  end
  local upper = 0
  while upper < row_count do
    local lower = upper + GUESS_BLOCK - 1
    if upper == 0 and first_row_cut > 0 then lower = first_row_cut - 1 end
    if lower > row_count - 1 then lower = row_count - 1 end
    -- The top and bottom rows of the whole row of blocks, then the edge columns beside
    -- the blocks walked, in runs of columns GUESS_BLOCK apart.
    compute_row(upper, 0, width - 1, 1, -1)
    if lower > upper then compute_row(lower, 0, width - 1, 1, -1) end
    for block = 1, edge_count - 1 do
      local left, right = edges[block], edges[block + 1]
      walked[block] = not too_small(left, upper, right, lower)
        and rows_repeat(left, upper, right, lower)
    end
    -- A unit one column wide has that one edge and no block.
    if edge_count == 1 then compute_rows(upper + 1, lower - 1, 0, 0, 1, -1) end
    local edge = 1
    while edge <= edge_count do
      if edge_computed(edge) then
        local first = edge
        while edge < edge_count and edge_computed(edge + 1)
            and edges[edge + 1] - edges[edge] == GUESS_BLOCK do
          edge = edge + 1
        end
        compute_rows(upper + 1, lower - 1, edges[first], edges[edge], GUESS_BLOCK, -1)
      end
      edge = edge + 1
    end
    -- Runs of neighbouring blocks computed straight: each block takes its inside columns,
    -- and its left edge column where that was not computed on its own (the last block its
    -- right one too). A run skips the edge columns computed on their own from its first
    -- such on (compute_span skips every GUESS_BLOCK-th column from there), so one not
    -- computed after one that was starts a new run.
    local run_count, run_end = 0, -1
    for block = 1, edge_count - 1 do
      local left, right = edges[block], edges[block + 1]
      local verdict = walked[block] and classify(left, upper, right, lower) or STRAIGHT
      if verdict == STRAIGHT then
        local left_computed = edge_computed(block)
        local last_column = right - 1
        if block == edge_count - 1 and not edge_computed(block + 1) then last_column = right end
        local continues = run_count > 0 and run_end == block - 1
        if continues and left_computed then
          runs[3 * run_count - 1] = last_column
          if runs[3 * run_count] == -1 then runs[3 * run_count] = left end
        elseif continues and runs[3 * run_count] == -1 then
          runs[3 * run_count - 1] = last_column
        else
          run_count = run_count + 1
          runs[3 * run_count - 2] = left_computed and left + 1 or left
          runs[3 * run_count - 1], runs[3 * run_count] = last_column, -1
        end
        run_end = block
      elseif verdict == CUT then
        -- Its quarters share its border and their own: from here on, pixels are flagged.
        known = known or new_flags(width * row_count)
        mark_known(left, upper, right, upper)
        mark_known(left, lower, right, lower)
        mark_known(left, upper + 1, left, lower - 1)
        mark_known(right, upper + 1, right, lower - 1)
      end
    end
    -- The insides computed straight, row by row across the unit.
    for run = 1, run_count do
      compute_rows(upper + 1, lower - 1, runs[3 * run - 2], runs[3 * run - 1], 1, runs[3 * run])
    end

    -- The blocks cut up, quarter by quarter.
    while top > 0 do
      local left, upper, right, lower = stack[top - 3], stack[top - 2], stack[top - 1], stack[top]
      top = top - 4
      compute_all(left, upper, right, upper)
      compute_all(left, lower, right, lower)
      compute_all(left, upper + 1, left, lower - 1)
      compute_all(right, upper + 1, right, lower - 1)
      if too_small(left, upper, right, lower) or classify(left, upper, right, lower) == STRAIGHT then
        compute_all(left, upper + 1, right, lower - 1)
      end
    end
    upper = lower + 1
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

local const_float_pointer = ffi.typeof("const float *")
local double_pointer = ffi.typeof("double *")

local function wrong_colour_return(what)
  error("colour returned " .. what .. "; it must return three numbers (r, g, b in 0..1)", 0)
end

-- Colours `count` pixels with a colouring's `colour(v1, v2, ...)`: reads `channels`
-- floats per pixel from `values_address` (`value_count` floats) and writes r, g, b for
-- each to `out_address` (`out_count` floats). A pixel whose first value is negative, NaN
-- or infinite is inside: it is skipped (the engine gives it the inside colour) unless
-- `with_inside`, and then colour gets nil as its first value. `progress_address` (one
-- double) holds the index of the pixel being coloured, so a failure names its pixel.
local function colour_loop(colour, values_address, value_count, out_address, out_count,
                           progress_address, count, channels, with_inside)
  if channels < 1 or channels > MAX_CHANNELS or count * channels > value_count
      or count * 3 > out_count then
    error("driver: colouring larger than its buffers", 0)
  end
  local values = cast(const_float_pointer, values_address)
  local out = cast(float_pointer, out_address)
  local progress = cast(double_pointer, progress_address)
  local huge = math.huge
  for index = 0, count - 1 do
    progress[0] = index
    local base = index * channels
    local first = values[base]
    local outside = first >= 0 and first < huge
    if outside or with_inside then
      if not outside then first = nil end
      local r, g, b
      if channels == 1 then
        r, g, b = colour(first)
      elseif channels == 2 then
        r, g, b = colour(first, values[base + 1])
      elseif channels == 3 then
        r, g, b = colour(first, values[base + 1], values[base + 2])
      else
        r, g, b = colour(first, values[base + 1], values[base + 2], values[base + 3],
          channels > 4 and values[base + 4] or nil, channels > 5 and values[base + 5] or nil,
          channels > 6 and values[base + 6] or nil, channels > 7 and values[base + 7] or nil)
      end
      if type(r) ~= "number" or type(g) ~= "number" or type(b) ~= "number" then
        wrong_colour_return(type(r) .. ", " .. type(g) .. ", " .. type(b))
      end
      local at = 3 * index
      out[at], out[at + 1], out[at + 2] = r, g, b
    end
  end
end

--- A colouring's `gradient(t)`: the palette's gradient at t turns (whole turns wrap), as
--- r, g, b in 0..1, from its table of `entries` + 1 colours at `table_address` (which the
--- engine keeps alive as long as this state).
function driver.gradient_lookup(table_address, entries)
  local colours = cast(const_float_pointer, table_address)
  return function(t)
    if type(t) ~= "number" then
      error("gradient(t) takes a number, got a " .. type(t), 2)
    end
    t = t - floor(t)
    if t ~= t then t = 0 end
    local scaled = t * entries
    local index = floor(scaled)
    if index >= entries then index = entries - 1 end
    local blend = scaled - index
    local at = 3 * index
    local r, g, b = colours[at], colours[at + 1], colours[at + 2]
    return r + (colours[at + 3] - r) * blend, g + (colours[at + 4] - g) * blend,
      b + (colours[at + 5] - b) * blend
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
--- Colours pixels with a colouring (see colour_loop); returns true, or false [, message].
driver.render_colour_unit = protected(colour_loop)
--- Renders one unit of escape values by solid guessing (see guess_loop).
driver.render_guessed_unit = protected(guess_loop)

--- The unit loop of a kernel that declares `channels` (2 to MAX_CHANNELS values per
--- pixel): as escape_loop, storing the escape value and the values after it, `channels`
--- floats per pixel. Such kernels are never guessed (guessing compares one value).
function driver.values_unit(channels)
  if channels < 2 or channels > MAX_CHANNELS then
    error("driver: a values loop takes 2 to " .. MAX_CHANNELS .. " values", 0)
  end
  return protected(function(pixel, out_address, value_count, stride, width, row_count,
                            x_origin, x_step, column_index, y_origin, y_step, row_index)
    check_unit(value_count, stride, width, row_count, channels)
    local out = cast(float_pointer, out_address)
    local x_center, y_center = column_index + 0.5, row_index + 0.5
    for row = 0, row_count - 1 do
      local y = y_origin + (y_center + row) * y_step
      local index = row * stride
      for column = 0, width - 1 do
        local v1, v2, v3, v4, v5, v6, v7, v8 = pixel(x_origin + (x_center + column) * x_step, y)
        out[index] = escape_value(v1)
        out[index + 1] = extra_value(v2, 2)
        if channels > 2 then
          out[index + 2] = extra_value(v3, 3)
          if channels > 3 then
            out[index + 3] = extra_value(v4, 4)
            if channels > 4 then out[index + 4] = extra_value(v5, 5) end
            if channels > 5 then out[index + 5] = extra_value(v6, 6) end
            if channels > 6 then out[index + 6] = extra_value(v7, 7) end
            if channels > 7 then out[index + 7] = extra_value(v8, 8) end
          end
        end
        index = index + channels
      end
    end
  end)
end


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
--- function's closure, which only the driver's loops ever call. The lattice origin's offset
--- from the reference comes in double-double (ox + ox_low, oy + oy_low), as one table.
local const_double_pointer = ffi.typeof("const double *")
function driver.perturbation_pixel(factory, orbit, length, skips, min_level, max_level,
    critical, critical_length, critical_skips, critical_min, critical_max, cr, ci, ox, oy,
    ox_low, oy_low, max_iter, scaled_skips, critical_scaled_skips, radii, critical_radii,
    scale, tiny, tiny_count, critical_tiny, critical_tiny_count, series, series_terms,
    series_length, series_inverse_bound)
  return factory(cast(const_double_pointer, orbit), length,
    cast(const_double_pointer, skips), min_level, max_level,
    cast(const_double_pointer, critical), critical_length,
    cast(const_double_pointer, critical_skips), critical_min, critical_max,
    cr, ci, { ox, oy, ox_low, oy_low }, max_iter, cast(const_double_pointer, scaled_skips),
    cast(const_double_pointer, critical_scaled_skips),
    cast(const_double_pointer, radii), cast(const_double_pointer, critical_radii), scale,
    cast(const_double_pointer, tiny), tiny_count,
    cast(const_double_pointer, critical_tiny), critical_tiny_count,
    cast(const_double_pointer, series), series_terms, series_length, series_inverse_bound)
end

--- Makes the interleaved pixels of a formula: `factory` is formula.lua's
--- interleaved_source compiled. Returns its one-pixel function, whose spans compute_span
--- hands to the span function, and its `configure(max_iter, jr, ji)`.
local new_doubles = ffi.typeof("double[?]")
function driver.interleaved_pixel(factory, state_doubles)
  local pixel, span, configure = factory(new_doubles(state_doubles), GUESS_BLOCK)
  interleaved_spans[pixel] = span
  return pixel, configure
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
function driver.locate_error(pixel, rgb, channels, width, row_count,
                             x_origin, x_step, column_index, y_origin, y_step, row_index)
  local defined_at = getinfo(pixel, "S").linedefined
  local x_center, y_center = column_index + 0.5, row_index + 0.5
  local index = 0
  for row = 0, row_count - 1 do
    local y = y_origin + (y_center + row) * y_step
    for column = 0, width - 1 do
      local x = x_origin + (x_center + column) * x_step
      local results = { xpcall(pixel, describe_error, x, y) }
      local ok, r, g, b = results[1], results[2], results[3], results[4]
      if not ok then
        local message, line = failure(r)
        return index, "runtime", message, line
      end
      for position = 2, rgb and 1 or channels do
        local value = results[position + 1]
        if type(value) ~= "number" and value ~= nil and value ~= false then
          return index, "return", "pixel returned a " .. type(value) .. " as value " .. position
            .. "; the values after the escape value must be numbers, nil or false", defined_at
        end
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
