--[[ formula.lua: a kernel's declared iteration, recorded and differentiated.

Trusted code, loaded once in each fresh Lua state. A kernel may declare the iteration its
`pixel` runs:

  formula { step = function(z, c) return z * z + c end }

The engine runs `step` once on recording values: every operation on them appends a node to
a tape (a list of operations on earlier nodes). Inside `step` the values are complex, with
`+ - *` (complex by complex, or by a real number), unary minus, whole powers `z^k` (a
constant k from 2 to 64), and the methods `z:sqr()`, `z:conj()`, `z:abs()` (both parts
folded to their absolute values, as the Burning Ship does), `z:abs_re()` and `z:abs_im()`.
Constants are numbers (real) or tables `{ re = .., im = .. }` (such as a complex parameter's
value). Anything else (division, `math.*`, a comparison, reading a part of a value to
branch on) is refused, with the line and what is allowed.

From the tape this file writes Lua source for two functions, which the caller compiles:

- the direct step `(zr, zi, cr, ci) -> zr, zi`: the iteration in f64;
- the perturbed step `(Zr, Zi, Cr, Ci, dzr, dzi, dcr, dci) -> dzr, dzi`: the change of
  the step's result when z and c move from the reference (Z, C) by (dz, dc), derived node
  by node by the standard rules, never as f(Z + d) - f(Z) (which loses every digit of a
  small d): add da + db; mul A db + (B + db) da; square (2A + da) da; power k
  da * sum (A + da)^i A^(k-1-i); conj and minus act on the delta; an abs fold by sign
  cases ("diffabs"). The reference's own intermediate values are recomputed in f64 from
  Z and C, so only the orbit Z is stored.

Arguments: debug.getinfo (to find the kernel's line when a step is refused).
]]
local getinfo = ...

local type, tostring, error, setmetatable, getmetatable = type, tostring, error, setmetatable, getmetatable
local rawget, rawset, xpcall, ipairs, floor, huge = rawget, rawset, xpcall, ipairs, math.floor, math.huge
local concat, format = table.concat, string.format

-- The chunk name the engine gives kernel source.
local KERNEL_SOURCE = "=kernel"

local ALLOWED = "inside a formula's step only + - * (complex, or by a real number), unary minus, "
  .. "whole powers z^k (k a constant from 2 to 64), z:sqr(), z:conj(), z:abs(), z:abs_re(), "
  .. "z:abs_im() and constants (numbers, { re = .., im = .. }) are allowed"
local MAX_POWER = 64
local MAX_NODES = 10000

-- A refusal: raised as a table so the caller can tell it from the kernel's own errors and
-- still find the kernel's line in the traceback.
local Refusal = {}
Refusal.__index = Refusal
Refusal.__tostring = function(refusal) return refusal.message end
local function refuse(what)
  error(setmetatable({ message = what .. ": " .. ALLOWED }, Refusal), 3)
end

--[[ The tape: node i is { op = "...", a = index, b = index, k = number, re = .., im = .. }.
Ops: "z", "c" (the inputs), "const" (re, im), "add", "sub", "mul", "neg", "pow" (k),
"sqr", "conj", "abs", "abs_re", "abs_im". ]]
local Value = {}
local tape
-- The recording values handed out, and the node each stands for: kept here, so a value is
-- an empty table whose every field read is refused (its metatable is hidden too).
local index_of = setmetatable({}, { __mode = "k" })

local function node(entry)
  if #tape >= MAX_NODES then refuse("a step of more than " .. MAX_NODES .. " operations") end
  tape[#tape + 1] = entry
  local value = setmetatable({}, Value)
  index_of[value] = #tape
  return value
end

local function is_number(value)
  return type(value) == "number" and value == value and value > -huge and value < huge
end

-- A recorded value, a real constant or a complex constant table, as a node.
local function operand(value, role)
  if index_of[value] then return value end
  if is_number(value) then return node({ op = "const", re = value, im = 0 }) end
  if type(value) == "table" and getmetatable(value) == nil then
    local re, im = rawget(value, "re") or rawget(value, 1), rawget(value, "im") or rawget(value, 2)
    if is_number(re) and is_number(im) then return node({ op = "const", re = re, im = im }) end
  end
  refuse(role .. " is " .. (type(value) == "number" and "not a finite number" or "a " .. type(value)))
end

local function binary(op)
  return function(a, b)
    local left, right = operand(a, "an operand"), operand(b, "an operand")
    return node({ op = op, a = index_of[left], b = index_of[right] })
  end
end

Value.__add = binary("add")
Value.__sub = binary("sub")
Value.__mul = binary("mul")
Value.__unm = function(a) return node({ op = "neg", a = index_of[a] }) end
Value.__pow = function(a, k)
  if not index_of[a] then refuse("a power of a constant") end
  if not is_number(k) or k ~= floor(k) or k < 2 or k > MAX_POWER then
    refuse("the power " .. tostring(k) .. " (not a whole number from 2 to " .. MAX_POWER .. ")")
  end
  return node({ op = "pow", a = index_of[a], k = k })
end
Value.__div = function() refuse("division") end
Value.__mod = function() refuse("the remainder operator %") end
Value.__concat = function() refuse("joining text") end
Value.__lt = function() refuse("a comparison") end
Value.__le = function() refuse("a comparison") end
Value.__eq = function() refuse("a comparison") end
Value.__call = function() refuse("calling a value") end
Value.__newindex = function() refuse("changing a value") end
Value.__tostring = function() refuse("turning a value into text") end

local METHODS = {}
for _, op in ipairs({ "sqr", "conj", "abs", "abs_re", "abs_im" }) do
  METHODS[op] = function(self)
    if not index_of[self] then refuse(op .. " on something that is not a value") end
    return node({ op = op, a = index_of[self] })
  end
end
Value.__index = function(_, key)
  local method = METHODS[key]
  if method then return method end
  refuse("reading ." .. tostring(key) .. " of a value (a branch on it cannot be followed)")
end
Value.__metatable = false

local M = {}

-- The kernel's line in the stack of an error being raised, if any.
local function kernel_line()
  for level = 3, 200 do
    local frame = getinfo(level, "Sl")
    if not frame then return nil end
    if frame.source == KERNEL_SOURCE and frame.currentline > 0 then return frame.currentline end
  end
  return nil
end

--- Records `step` (called as step(z, c)), with the kernel's `environment` (whose `param`
--- reads it watches). Returns the tape, the index of the result's node and whether the
--- step read a parameter value; or nil, the refusal (a table with `.message`; the kernel's own error inside the
--- step becomes one) and the kernel's line where it was raised, else where step begins.
function M.record(step, environment)
  tape = {}
  local line
  -- Parameter values read inside the step become constants of the tape: note whether
  -- any is read, through a stand-in for the kernel's `param` table.
  local parameters = environment and rawget(environment, "param")
  local reads_parameters = false
  if parameters then
    rawset(environment, "param", setmetatable({}, {
      __index = function(_, name)
        reads_parameters = true
        return parameters[name]
      end,
      __newindex = function() refuse("changing a parameter") end,
    }))
  end
  local ok, result = xpcall(function()
    local z = node({ op = "z" })
    local c = node({ op = "c" })
    return operand(step(z, c), "what step returns")
  end, function(problem)
    -- Where the step is (a tail call or a bad result leaves no kernel frame): where it
    -- was defined.
    line = kernel_line() or getinfo(step, "S").linedefined
    if getmetatable(problem) == Refusal then return problem end
    -- The kernel's own error inside the step (such as math.sin given a value): said with
    -- what a step may do.
    return setmetatable({ message = tostring(problem) .. "; " .. ALLOWED }, Refusal)
  end)
  local recorded = tape
  tape = nil
  if parameters then rawset(environment, "param", parameters) end
  if not ok then return nil, result, line end
  return recorded, index_of[result], reads_parameters
end

--- True for a refusal raised by the recording (as opposed to the kernel's own error).
function M.is_refusal(value)
  return getmetatable(value) == Refusal
end

-- Code generation. Each node i gets locals ri, ii (its value) and, where it can change with
-- z or c, dri, dii (its delta).

local function number(value)
  return format("%.17g", value)
end

-- The Lua of `local out_r, out_i = (a_r + i a_i) (b_r + i b_i)`, each part a name; the
-- one complex product every rule and value uses (same order as `Formula::step`).
local function product(out_r, out_i, a_r, a_i, b_r, b_i)
  return format("local %s, %s = %s * %s - %s * %s, %s * %s + %s * %s",
    out_r, out_i, a_r, b_r, a_i, b_i, a_r, b_i, a_i, b_r)
end

-- Emits the line(s) that compute node i's value (locals r<i>, i<i>) from earlier nodes,
-- the same in the direct step and as the reference's values in the perturbed step.
local function emit_value(emit, i, entry)
  local op, a, b = entry.op, entry.a, entry.b
  local r, m = "r" .. i, "i" .. i
  if op == "z" then emit(format("local %s, %s = zr, zi", r, m))
  elseif op == "c" then emit(format("local %s, %s = cr, ci", r, m))
  elseif op == "const" then emit(format("local %s, %s = %s, %s", r, m, number(entry.re), number(entry.im)))
  elseif op == "add" then emit(format("local %s, %s = r%d + r%d, i%d + i%d", r, m, a, b, a, b))
  elseif op == "sub" then emit(format("local %s, %s = r%d - r%d, i%d - i%d", r, m, a, b, a, b))
  elseif op == "neg" then emit(format("local %s, %s = -r%d, -i%d", r, m, a, a))
  elseif op == "mul" then
    emit(product(r, m, "r" .. a, "i" .. a, "r" .. b, "i" .. b))
  elseif op == "sqr" then
    emit(format("local %s, %s = r%d * r%d - i%d * i%d, 2 * r%d * i%d", r, m, a, a, a, a, a, a))
  elseif op == "pow" then
    -- Repeated multiplication, as a kernel would write it.
    emit(format("local %s, %s = r%d, i%d", r, m, a, a))
    for _ = 2, entry.k do
      emit(format("%s, %s = %s * r%d - %s * i%d, %s * i%d + %s * r%d", r, m, r, a, m, a, r, a, m, a))
    end
  elseif op == "conj" then emit(format("local %s, %s = r%d, -i%d", r, m, a, a))
  elseif op == "abs" then emit(format("local %s, %s = abs(r%d), abs(i%d)", r, m, a, a))
  elseif op == "abs_re" then emit(format("local %s, %s = abs(r%d), i%d", r, m, a, a))
  elseif op == "abs_im" then emit(format("local %s, %s = r%d, abs(i%d)", r, m, a, a))
  end
end

--- Lua source of the direct step: `return function(zr, zi, cr, ci) ... return r, i end`.
function M.direct_source(recorded, result)
  local lines = { "return function(zr, zi, cr, ci)" }
  local function emit(text) lines[#lines + 1] = "  " .. text end
  for i, entry in ipairs(recorded) do emit_value(emit, i, entry) end
  emit(format("return r%d, i%d", result, result))
  lines[#lines + 1] = "end"
  return "local abs = math.abs\n" .. concat(lines, "\n") .. "\n"
end

--[[ Interleaved pixels. One pixel's f64 loop is bound by the latency of its step: each
step waits for the one before (z^2 + c: a multiply, a subtract and an add, about 12 cycles
in a row), while the core could issue several times that work. So `span` iterates
INTERLEAVED_LANES pixels of a row at once, each lane an independent chain the processor
overlaps, and a lane that finishes takes the next pixel of the span. Inside the inner loop
there is one test per step for all lanes (the largest |z|^2 against the bailout); the rest
(which lane escaped, the iteration limit, the periodicity check and its saves) is settled
when the loop stops: at an escape, for the lanes that escaped, repeat or passed the limit;
every INTERLEAVED_BLOCK steps, for all of them (with the periodicity saves). Settling
every lane at each escape, and every 64 steps, took 8% more time on the filaments (the
LuaJIT harness: 0.184 s against 0.171 s on one thread, the same values bit for bit). Measured in LuaJIT on
the seahorse valley's filaments (130 iterations a pixel): 1.6 to 1.9 times the pace of one
pixel at a time. Three lanes: three, four and five measured within 5% of each other
(`moonbrot bench --views`, V2: three 3% faster than four), and each lane's z and c take
registers, which x86-64 has 16 of. (In an earlier shape of this loop, with all of a lane's
state in locals, three lanes or more made LuaJIT give up compiling the loop's exits,
"register coalescing too complex", and run them in its interpreter, several times
slower: hence the state in a buffer.)

The values are the kernel's own where its `pixel` iterates the same step: the same
arithmetic in the same order, the escape at the same step (a lane that passed the limit
inside a block counts as inside), and the same smooth value. The periodicity check
compares a lane's z with a saved one only when the loop stops: an orbit that repeats
exactly is still caught (later than checking every step), so an inside pixel costs at
most the limit, as without the check. What the engine loses is the kernel's own
shortcuts, such as the Mandelbrot kernel's cardioid test: the engine takes interleaved
pixels only where a probe of the view shows them faster. ]]
local INTERLEAVED_LANES = 3
local INTERLEAVED_BLOCK = 128
-- Doubles per lane in the lanes' state: c (2), the saved z (2), the span's step count
-- when the pixel was at z0, the step count of its next event (a save, or the limit), the
-- save interval, where its value goes (-1: retired), the start z (2), z (2).
local LANE_DOUBLES = 12

--- The number of doubles the lanes' state buffer of `interleaved_source` needs.
function M.interleaved_state_doubles()
  return LANE_DOUBLES * INTERLEAVED_LANES
end

--- Lua source of the interleaved f64 pixels: `return function(lanes, guess_block) return
--- pixel, span, configure end`. `lanes` is a double buffer of `interleaved_state_doubles()`
--- (the driver's). `pixel(x, y)` is one pixel, as the kernel's would be; `span(out,
--- row_start, left, right, step, skipped, x_origin, x_step, x_center, y)` computes the
--- columns of one row as driver.lua's compute_span does (every `step`-th from `left` to
--- `right`, but not `skipped`, `skipped + guess_block`, ...), storing the escape value or
--- -1 (inside) at out[row_start + column]; given `last_row, row, stride, y_origin, y_step,
--- y_center` too, it goes on with the same columns of the next rows to `last_row` (each
--- `stride` further in `out`, at y = y_origin + (y_center + row) * y_step, the unit loops'
--- expression), skipping the same columns in each; `configure(max_iter, jr, ji)` sets the limit
--- and a Julia set's c for both. Made once per state, not per unit: LuaJIT's traces are
--- specialised to the closures they call, and new closures for every unit (every 32 rows)
--- made it compile new traces until it gave up (40 times slower).
function M.interleaved_source(recorded, result, julia, degree, bailout, start_re, start_im)
  local step_lines = {}
  local function emit(text) step_lines[#step_lines + 1] = "  " .. text end
  for i, entry in ipairs(recorded) do emit_value(emit, i, entry) end
  local lanes = INTERLEAVED_LANES
  local function each_lane(template, separator)
    local parts = {}
    for lane = 1, lanes do
      parts[#parts + 1] = (template:gsub("#", tostring(lane)):gsub("@", tostring((lane - 1) * LANE_DOUBLES)))
    end
    return concat(parts, separator or "\n")
  end
  -- One step of lane # in place (its c read from the lanes' state).
  local lane_step = "do\n  local zr, zi, cr, ci = zr#, zi#, S[@], S[@ + 1]\n"
    .. concat(step_lines, "\n") .. format("\n  zr#, zi# = r%d, i%d\nend", result, result)
  -- A pixel's start: z and c from its point.
  local start = julia and "x, y, jr, ji"
    or format("%s, %s, x, y", number(start_re), number(start_im))
  local lines = {
    "local log, abs, max, huge = math.log, math.abs, math.max, math.huge",
    format("local inverse_log_degree = 1 / log(%s)", number(degree)),
    format("local BAILOUT2 = %s", number(bailout * bailout)),
    format("local BLOCK = %d", INTERLEAVED_BLOCK),
    "local FIRST_SAVE, INSIDE = 8, -1",
    "local function step(zr, zi, cr, ci)",
    concat(step_lines, "\n"),
    format("  return r%d, i%d", result, result),
    "end",
    "return function(S, guess_block)",
    "local max_iter, jr, ji = 0, 0, 0",
    "local function configure(max_iter_, jr_, ji_) max_iter, jr, ji = max_iter_, jr_, ji_ end",
    "local function finish(n, r2) return n + 1 - log(log(r2) * 0.5) * inverse_log_degree end",
    format([==[
-- One pixel, as the kernel's loop: step, escape test, periodicity.
local function pixel(x, y)
  local zr, zi, cr, ci = %s
  local saved_r, saved_i, next_save, interval = zr, zi, FIRST_SAVE, FIRST_SAVE
  for n = 1, max_iter do
    zr, zi = step(zr, zi, cr, ci)
    local r2 = zr * zr + zi * zi
    if r2 > BAILOUT2 then return finish(n, r2) end
    if zr == saved_r and zi == saved_i then return nil end
    if n == next_save then
      interval = 2 * interval
      saved_r, saved_i, next_save = zr, zi, n + interval
    end
  end
  return nil
end
-- The span being computed: where it stores, its rows (the current one, its start in `out`
-- and its y; the last) and the columns of the current row still to take.
local out, row_start, x_origin, x_step, x_center, y, column, right, column_step, skipped, live
local first_skipped
local left, row, last_row, stride, y_origin, y_step, y_center
-- The next column of the span to compute, or nil; past its row's last column, the first
-- of the next row (whose skipped columns are the first row's). Written without a loop: a
-- loop here would be an inner loop of the traces through `take`, which LuaJIT refuses to
-- compile (it ran them in the interpreter, ten times slower). Skipped columns are
-- guess_block apart, so after one the next is never skipped unless the columns are
-- guess_block apart too, and then none is left in the row; the call again for the next
-- row is not made by solid guessing's spans, whose skipped columns (the guessing blocks'
-- edges inside a run of blocks) are never a row's last nor `column_step` apart.
local function next_column()
  local taken = column
  if taken > right then
    if row >= last_row then return nil end
    row, row_start = row + 1, row_start + stride
    y = y_origin + (y_center + row) * y_step
    taken, skipped = left, first_skipped
  end
  column = taken + column_step
  if taken ~= skipped then return taken end
  skipped = skipped + guess_block
  if column_step %% guess_block == 0 then
    column = right + 1
    return next_column()
  end
  taken = column
  if taken > right then return next_column() end
  column = taken + column_step
  return taken
end
-- Starts the lane whose state is at S[at] on the span's next pixel, `steps` steps into the
-- span; returns its z after one step. With no pixel left the lane is retired: it runs its
-- last pixel again from the start (its escapes are ignored and it has no events), so that
-- it stops the loop no more often than a lane that works.
local function take(at, steps)
  local taken = next_column()
  if taken == nil then
    if S[at + 7] >= 0 then live = live - 1 end
    S[at + 2], S[at + 5], S[at + 7] = huge, huge, -1
    return step(S[at + 8], S[at + 9], S[at], S[at + 1])
  end
  local x = x_origin + (x_center + taken) * x_step
  local zr, zi, cr, ci = %s
  local first_save = steps - 1 + FIRST_SAVE
  if max_iter < FIRST_SAVE then first_save = steps - 1 + max_iter end
  S[at], S[at + 1], S[at + 2], S[at + 3], S[at + 4] = cr, ci, zr, zi, steps - 1
  S[at + 5], S[at + 6], S[at + 7], S[at + 8], S[at + 9] = first_save, FIRST_SAVE, row_start + taken, zr, zi
  return step(zr, zi, cr, ci)
end
-- Settles the lane at S[at], whose z is (zr, zi) `steps` steps into the span, when the
-- loop stopped: stores its value if it escaped, reached the limit or repeats, and takes
-- the next pixel; else saves z when due. Returns the lane's z.
local function settle(at, zr, zi, steps)
  local r2 = zr * zr + zi * zi
  if S[at + 7] < 0 then
    if r2 > BAILOUT2 then return step(S[at + 8], S[at + 9], S[at], S[at + 1]) end
    return zr, zi
  end
  local n = steps - S[at + 4]
  if r2 > BAILOUT2 then
    out[S[at + 7]] = n <= max_iter and finish(n, r2) or INSIDE
    return take(at, steps)
  end
  if n >= max_iter or (zr == S[at + 2] and zi == S[at + 3]) then
    out[S[at + 7]] = INSIDE
    return take(at, steps)
  end
  if steps >= S[at + 5] then
    local interval = 2 * S[at + 6]
    local next_event = steps + interval
    if next_event > S[at + 4] + max_iter then next_event = S[at + 4] + max_iter end
    S[at + 2], S[at + 3], S[at + 5], S[at + 6] = zr, zi, next_event, interval
  end
  return zr, zi
end
]==], start, julia and "x, y, jr, ji" or format("%s, %s, x, y", number(start_re), number(start_im))),
    "local function span(out_, row_start_, left_, right_, step_, skipped_, x_origin_, x_step_,",
    "                    x_center_, y_, last_row_, row_, stride_, y_origin_, y_step_, y_center_)",
    "  out, row_start, x_origin, x_step, x_center, y = out_, row_start_, x_origin_, x_step_, x_center_, y_",
    "  left, column, right, column_step, skipped, live = left_, left_, right_, step_, skipped_, " .. lanes,
    "  first_skipped = skipped_",
    "  row, last_row, stride, y_origin, y_step, y_center = row_ or 0, last_row_ or 0, stride_, y_origin_, y_step_, y_center_",
    -- A lane never started runs the start of the span's first pixel when retired.
    each_lane("  S[@ + 7] = 0 S[@], S[@ + 1], S[@ + 8], S[@ + 9] = 0, 0, 0, 0"),
    each_lane("  local zr#, zi# = take(@, 0)"),
    "  if live == 0 then return end",
    "  local steps = 0",
    "  while true do",
    "    local done = BLOCK",
    "    for s = 0, BLOCK - 1 do",
    "      if max(" .. each_lane("zr# * zr# + zi# * zi#", ", ") .. ") > BAILOUT2 then done = s break end",
    each_lane(lane_step),
    "    end",
    "    steps = steps + done",
    -- Every lane through one call site of settle, in a loop: a call site per lane made
    -- LuaJIT compile each of settle's branches once per lane, and a probe render needed
    -- seven runs before its traces were all compiled. Where a lane escaped, only the
    -- lanes that escaped, repeat or reached the limit are settled (their saves wait for
    -- the block's end): settling every lane at each escape was 8% of the filaments' time.
    each_lane("    S[@ + 10], S[@ + 11] = zr#, zi#", " "),
    format("    for at = 0, %d, %d do", (lanes - 1) * LANE_DOUBLES, LANE_DOUBLES),
    "      local zr, zi = S[at + 10], S[at + 11]",
    "      if done == BLOCK or zr * zr + zi * zi > BAILOUT2 or (zr == S[at + 2] and zi == S[at + 3])",
    "          or steps - S[at + 4] >= max_iter then",
    "        S[at + 10], S[at + 11] = settle(at, zr, zi, steps)",
    "      end",
    "    end",
    each_lane("    zr#, zi# = S[@ + 10], S[@ + 11]", " "),
    "    if live == 0 then return end",
    "  end",
    "end",
    "return pixel, span, configure",
    "end",
  }
  return concat(lines, "\n") .. "\n"
end

--- Lua source of the perturbed step: `return function(Zr, Zi, Cr, Ci, dzr, dzi, dcr, dci)
--- ... return dr, di end`, the delta of the step's result. With `c_fixed` (a Julia set: c
--- does not move with the pixel) the c input has no delta. With `scaled` the deltas are
--- given and returned times 2^s, and the function takes u = 2^-s last: the linear terms
--- are the same, and where a delta meets a reference value (A + da) it is u * da (0 once
--- u underflows, when those terms are far below f64's precision anyway).
function M.perturbed_source(recorded, result, c_fixed, scaled)
  local lines = { scaled and "return function(zr, zi, cr, ci, dzr, dzi, dcr, dci, u)"
    or "return function(zr, zi, cr, ci, dzr, dzi, dcr, dci)" }
  -- A delta where it meets a reference value.
  local function unscaled(delta) return scaled and ("u * " .. delta) or delta end
  local function emit(text) lines[#lines + 1] = "  " .. text end
  local moves = {} -- moves[i]: node i's value depends on z (or c, when c moves)
  -- Node i, the square of node a (which moves): (2A + da) da.
  local function emit_square(i, a)
    emit(format("local tr%d, ti%d = 2 * r%d + %s, 2 * i%d + %s", i, i, a, unscaled("dr" .. a), a,
      unscaled("di" .. a)))
    emit(product("dr" .. i, "di" .. i, "tr" .. i, "ti" .. i, "dr" .. a, "di" .. a))
  end
  for i, entry in ipairs(recorded) do
    local op, a, b = entry.op, entry.a, entry.b
    local dr, dm = "dr" .. i, "di" .. i
    -- The reference value, as the direct step computes it.
    emit_value(emit, i, entry)
    -- The delta, by the rules, where the node moves.
    if op == "z" then
      moves[i] = true
      emit(format("local %s, %s = dzr, dzi", dr, dm))
    elseif op == "c" then
      moves[i] = not c_fixed
      if moves[i] then emit(format("local %s, %s = dcr, dci", dr, dm)) end
    elseif op == "add" or op == "sub" then
      moves[i] = moves[a] or moves[b]
      if moves[i] then
        local sign = op == "add" and "+" or "-"
        local ar, ai = moves[a] and "dr" .. a or "0", moves[a] and "di" .. a or "0"
        local br, bi = moves[b] and "dr" .. b or "0", moves[b] and "di" .. b or "0"
        emit(format("local %s, %s = %s %s %s, %s %s %s", dr, dm, ar, sign, br, ai, sign, bi))
      end
    elseif op == "neg" or op == "conj" then
      moves[i] = moves[a]
      if moves[i] then
        if op == "neg" then emit(format("local %s, %s = -dr%d, -di%d", dr, dm, a, a))
        else emit(format("local %s, %s = dr%d, -di%d", dr, dm, a, a)) end
      end
    elseif op == "mul" then
      moves[i] = moves[a] or moves[b]
      if moves[a] and a == b then
        -- z * z: as the square (the rule below would sum four products in a row, 16
        -- cycles of latency a step against the square's 13; 5.0 ns a step against 4.1)
        emit_square(i, a)
      elseif moves[a] and moves[b] then
        -- A db + (B + db) da
        emit(format("local br%d, bi%d = r%d + %s, i%d + %s", i, i, b, unscaled("dr" .. b), b,
          unscaled("di" .. b)))
        -- (Summed as two pairs: four products in a row wait for each other.)
        emit(format("local %s = (r%d * dr%d - i%d * di%d) + (br%d * dr%d - bi%d * di%d)",
          dr, a, b, a, b, i, a, i, a))
        emit(format("local %s = (r%d * di%d + i%d * dr%d) + (br%d * di%d + bi%d * dr%d)",
          dm, a, b, a, b, i, a, i, a))
      elseif moves[a] then -- B da
        emit(product(dr, dm, "r" .. b, "i" .. b, "dr" .. a, "di" .. a))
      elseif moves[b] then -- A db
        emit(product(dr, dm, "r" .. a, "i" .. a, "dr" .. b, "di" .. b))
      end
    elseif op == "sqr" then
      moves[i] = moves[a]
      if moves[i] then emit_square(i, a) end
    elseif op == "pow" then
      moves[i] = moves[a]
      if moves[i] then
        -- da * S_k, S_1 = 1, S_{m+1} = (A + da) S_m + A^m
        emit(format("local pr%d, pi%d = r%d + %s, i%d + %s", i, i, a, unscaled("dr" .. a), a,
          unscaled("di" .. a)))
        emit(format("local sr%d, si%d = 1, 0", i, i))
        emit(format("local qr%d, qi%d = 1, 0", i, i)) -- A^m
        for _ = 1, entry.k - 1 do
          emit(format("qr%d, qi%d = qr%d * r%d - qi%d * i%d, qr%d * i%d + qi%d * r%d",
            i, i, i, a, i, a, i, a, i, a))
          emit(format("sr%d, si%d = pr%d * sr%d - pi%d * si%d + qr%d, pr%d * si%d + pi%d * sr%d + qi%d",
            i, i, i, i, i, i, i, i, i, i, i, i))
        end
        emit(product(dr, dm, "dr" .. a, "di" .. a, "sr" .. i, "si" .. i))
      end
    elseif op == "abs" or op == "abs_re" or op == "abs_im" then
      moves[i] = moves[a]
      if moves[i] then
        local fold = scaled and "sdiffabs(%s%d, d%s%d, u)" or "diffabs(%s%d, d%s%d)"
        local re_part = (op == "abs_im") and format("dr%d", a) or format(fold, "r", a, "r", a)
        local im_part = (op == "abs_re") and format("di%d", a) or format(fold, "i", a, "i", a)
        emit(format("local %s, %s = %s, %s", dr, dm, re_part, im_part))
      end
    end
  end
  if moves[result] then
    emit(format("return dr%d, di%d", result, result))
  else
    emit("return 0, 0")
  end
  lines[#lines + 1] = "end"
  -- |X + x| - |X| without cancellation: by the signs of X and X + x.
  local prelude = [[
local abs = math.abs
local function diffabs(X, x)
  if X >= 0 then
    if X + x >= 0 then return x else return -(2 * X + x) end
  else
    if X + x > 0 then return 2 * X + x else return -x end
  end
end
-- The same for x given times 2^s, u = 2^-s: (|X + u x| - |X|) / u. The sign changes only
-- where |X| < u |x|, so X / u is then finite.
local function sdiffabs(X, x, u)
  local y = X + u * x
  if X > 0 then
    if y >= 0 then return x else return -(2 * X / u + x) end
  elseif X < 0 then
    if y > 0 then return 2 * X / u + x else return -x end
  else
    return abs(x)
  end
end
]]
  return prelude .. concat(lines, "\n") .. "\n"
end

--- Lua source of the wide step: `wide_step(Zr, Zi, Ze, cr, ci, qr, qi, qe, pr, pi, pe)`
--- returning the delta of the step's result as a wide complex number, with the reference
--- point Z and the deltas dz (q) and dc (p) wide too: a complex number (re + i im) 2^e
--- with the larger part within [0.5, 1) (0 is 0, 0, 0), so no value underflows. It walks
--- the tape by the same rules as the perturbed step, with the reference's own values
--- recomputed wide. Slow (a table walk) but needed only where a deep pixel passes a point
--- of the reference nearer 0 than f64 holds (the careful step in `pixel_source`).
local function wide_source(recorded, result, c_fixed)
  local nodes = {}
  for i, entry in ipairs(recorded) do
    nodes[i] = format("{ op = %q, a = %d, b = %d, k = %d, re = %s, im = %s }", entry.op,
      entry.a or 0, entry.b or 0, entry.k or 0, number(entry.re or 0), number(entry.im or 0))
  end
  return format("local TAPE, RESULT, C_FIXED = { %s }, %d, %s\n", concat(nodes, ",\n  "), result,
    tostring(c_fixed and true or false)) .. [[
local abs, ldexp, frexp, max = math.abs, math.ldexp, math.frexp, math.max
local function wnorm(re, im, e)
  local big = max(abs(re), abs(im))
  if big == 0 then return 0, 0, 0 end
  local _, k = frexp(big)
  return ldexp(re, -k), ldexp(im, -k), e + k
end
local function wadd(ar, ai, ae, br, bi, be)
  if ar == 0 and ai == 0 then return br, bi, be end
  if br == 0 and bi == 0 then return ar, ai, ae end
  local e = max(ae, be)
  return wnorm(ldexp(ar, ae - e) + ldexp(br, be - e), ldexp(ai, ae - e) + ldexp(bi, be - e), e)
end
local function wmul(ar, ai, ae, br, bi, be)
  return wnorm(ar * br - ai * bi, ar * bi + ai * br, ae + be)
end
-- |a| < |b|.
local function wless(ar, ai, ae, br, bi, be)
  return ldexp(ar * ar + ai * ai, 2 * (ae - be)) < br * br + bi * bi
end
-- Wide reals: a 2^ae.
local function radd(a, ae, b, be)
  if a == 0 then return b, be end
  if b == 0 then return a, ae end
  local e = max(ae, be)
  local f, k = frexp(ldexp(a, ae - e) + ldexp(b, be - e))
  return f, e + k
end
-- |X + x| - |X| without cancellation, as diffabs.
local function rdiffabs(X, Xe, x, xe)
  local y, ye = radd(X, Xe, x, xe)
  if X >= 0 then
    if y >= 0 then return x, xe end
    local t, te = radd(y, ye, X, Xe)
    return -t, te
  end
  if y > 0 then return radd(y, ye, X, Xe) end
  return -x, xe
end
-- A complex number from wide parts.
local function wparts(re, re_e, im, im_e)
  if re == 0 then return wnorm(0, im, im_e) end
  if im == 0 then return wnorm(re, 0, re_e) end
  local e = max(re_e, im_e)
  return wnorm(ldexp(re, re_e - e), ldexp(im, im_e - e), e)
end
local VR, VI, VE, DR, DI, DE = {}, {}, {}, {}, {}, {}
local function wide_step(Zr, Zi, Ze, cr, ci, qr, qi, qe, pr, pi, pe)
  for i = 1, #TAPE do
    local node = TAPE[i]
    local op, a, b = node.op, node.a, node.b
    local vr, vi, ve, dr, di, de
    if op == "z" then
      vr, vi, ve, dr, di, de = Zr, Zi, Ze, qr, qi, qe
    elseif op == "c" then
      vr, vi, ve = wnorm(cr, ci, 0)
      if C_FIXED then dr, di, de = 0, 0, 0 else dr, di, de = pr, pi, pe end
    elseif op == "const" then
      vr, vi, ve = wnorm(node.re, node.im, 0)
      dr, di, de = 0, 0, 0
    elseif op == "add" or op == "sub" then
      local sign = op == "add" and 1 or -1
      vr, vi, ve = wadd(VR[a], VI[a], VE[a], sign * VR[b], sign * VI[b], VE[b])
      dr, di, de = wadd(DR[a], DI[a], DE[a], sign * DR[b], sign * DI[b], DE[b])
    elseif op == "neg" then
      vr, vi, ve, dr, di, de = -VR[a], -VI[a], VE[a], -DR[a], -DI[a], DE[a]
    elseif op == "conj" then
      vr, vi, ve, dr, di, de = VR[a], -VI[a], VE[a], DR[a], -DI[a], DE[a]
    elseif op == "mul" then
      -- A db + (B + db) da
      local xr, xi, xe = wmul(VR[a], VI[a], VE[a], DR[b], DI[b], DE[b])
      local sr, si, se = wadd(VR[b], VI[b], VE[b], DR[b], DI[b], DE[b])
      local yr, yi, ye = wmul(sr, si, se, DR[a], DI[a], DE[a])
      dr, di, de = wadd(xr, xi, xe, yr, yi, ye)
      vr, vi, ve = wmul(VR[a], VI[a], VE[a], VR[b], VI[b], VE[b])
    elseif op == "sqr" then
      -- (2A + da) da
      local tr, ti, te = wadd(VR[a], VI[a], VE[a] + 1, DR[a], DI[a], DE[a])
      dr, di, de = wmul(tr, ti, te, DR[a], DI[a], DE[a])
      vr, vi, ve = wmul(VR[a], VI[a], VE[a], VR[a], VI[a], VE[a])
    elseif op == "pow" then
      -- da * S_k, S_1 = 1, S_{m+1} = (A + da) S_m + A^m
      local Ar, Ai, Ae = VR[a], VI[a], VE[a]
      local Pr, Pi, Pe = wadd(Ar, Ai, Ae, DR[a], DI[a], DE[a])
      local Sr, Si, Se = 0.5, 0, 1
      local Qr, Qi, Qe = 0.5, 0, 1
      for _ = 1, node.k - 1 do
        Qr, Qi, Qe = wmul(Qr, Qi, Qe, Ar, Ai, Ae)
        local tr, ti, te = wmul(Pr, Pi, Pe, Sr, Si, Se)
        Sr, Si, Se = wadd(tr, ti, te, Qr, Qi, Qe)
      end
      dr, di, de = wmul(DR[a], DI[a], DE[a], Sr, Si, Se)
      vr, vi, ve = wmul(Qr, Qi, Qe, Ar, Ai, Ae)
    else -- the abs folds, part by part
      local re, re_e, im, im_e = DR[a], DE[a], DI[a], DE[a]
      vr, vi, ve = VR[a], VI[a], VE[a]
      if op ~= "abs_im" then re, re_e = rdiffabs(VR[a], VE[a], re, re_e); vr = abs(vr) end
      if op ~= "abs_re" then im, im_e = rdiffabs(VI[a], VE[a], im, im_e); vi = abs(vi) end
      dr, di, de = wparts(re, re_e, im, im_e)
    end
    VR[i], VI[i], VE[i], DR[i], DI[i], DE[i] = vr, vi, ve, dr, di, de
  end
  return DR[RESULT], DI[RESULT], DE[RESULT]
end
-- The exact form of point m in a tiny table (records of index, re, im, exponent, by
-- index; `ReferenceOrbit::tiny`), or nil.
local function tiny_at(T, count, m)
  local low, high = 0, count - 1
  while low <= high do
    local mid = math.floor((low + high) / 2)
    local at = T[4 * mid]
    if at == m then return T[4 * mid + 1], T[4 * mid + 2], T[4 * mid + 3] end
    if at < m then low = mid + 1 else high = mid - 1 end
  end
  return nil
end
return { step = wide_step, norm = wnorm, add = wadd, less = wless, tiny_at = tiny_at }
]]
end

--- The first line of a perturbation pixel: its offset from the reference (dc, or a Julia
--- set's dz) is the origin's plus its own. The origin's, up to 2^21 pixels, and the pixel's
--- own, as far the other way, cancel to within the image; the first sum is then exact, and
--- the part of the origin's offset that f64 leaves out is added to what remains.
local function pixel_start(julia)
  local offset = "(origin[1] + x) + origin[3], (origin[2] + y) + origin[4]"
  if julia then
    return format("    local dzr, dzi, dcr, dci = %s, 0, 0", offset)
  end
  return format("    local dzr, dzi, dcr, dci = 0, 0, %s", offset)
end

--- Lua source of a pixel function factory for rendering by perturbation:
--- `return function(orbit, length, skips, min_level, max_level, critical, critical_length,
--- critical_skips, critical_min, critical_max, cr, ci, origin, max_iter, scaled_skips,
--- critical_scaled_skips, radii, critical_radii, scale, tiny, tiny_count, critical_tiny,
--- critical_tiny_count, series, series_terms, series_length, series_inverse_bound)`
--- returning `function(x, y)`, the pixel at offset (x, y) from a point that is
--- `origin` from the reference (a table: re, im, then the parts of each that f64 leaves
--- out), all in units of 2^-scale.
--- `orbit` holds the reference orbit's points (re, im pairs, read as
--- orbit[2m], orbit[2m + 1]; `length` of them), which started at the reference point
--- (c = (cr, ci) for a Mandelbrot-like formula, z0 for a Julia set); `critical` is the
--- orbit from the critical point that rebasing continues on (the same one when the
--- reference starts there). Rebasing (Zhuoran): when |Z + dz| < |dz|, or at the end of
--- the reference, continue from z = Z + dz on `critical` at index 0.
--- Each orbit has its skips (bilinear approximation, kernel/bla.rs): for each level l
--- from min_level to max_level the skips of 2^l steps from m = 0, 2^l, 2 2^l, ... that
--- end at or before the last point, `entry_len` values each in `skips` (A and B as 2x2
--- matrices row by row), and their radii squared in `radii` (one each, in the same order,
--- after the largest). At an index m, the longest skip that starts there and whose radius
--- |dz| is below is taken (dz -> A dz + B dc), else one perturbed step. The value is the
--- smooth escape value with logarithms to base `degree`, as `Formula::escape_value`.
---
--- Scaled pixels: with `scale` > 0 (views whose pixel steps are below 2^-480) a pixel
--- starts with w = dz 2^s and d = dc 2^s, s = scale, and iterates those (the scaled step,
--- and `scaled_skips`: `scaled_entry_len` values each, the radius squared and A as
--- significands with exponents, B relative to A's exponent) while its |dz| is below
--- 2^-480, keeping |w| within 2^±64 by moving s (a skip moves it by A's exponent). Then
--- it goes on in plain f64 as above.
---
--- Where the reference passes nearer 0 than 2^-450 (less for higher degrees, whose powers of
--- Z underflow sooner), a scaled pixel's step may need more range than f64 has: its result
--- can fall a thousand binary orders below its input, and the reference point itself may
--- be held only in `tiny` (`ReferenceOrbit::tiny`: index, re, im, exponent records,
--- `tiny_count` of them). There it takes the careful step: the rebase test and the step in
--- wide numbers (`wide_source`), whenever the point is held only there, |Z| < 4 |dz|, or
--- the plain scaled step's result falls below 2^-900. The pixel's d is always its start
--- value d0 times 2^(s - scale), so it never underflows on the way down and back up.
---
--- With `series_length` > 0 a pixel starts from the series (kernel/series.rs): `series`
--- holds its stages, 4 + 2 `series_terms` values each: steps, exponent, radius squared and
--- 1 / radius, then the coefficients. With t = (its offset) times `series_inverse_bound`,
--- a pixel takes the last stage whose radius squared |t|^2 is within (none: it starts at
--- 0), starts at its steps with dz = 2^-exponent Σ coefficient[k] (t / radius)^(k+1); a
--- scaled pixel takes the sum as its w and the exponent as its s.
function M.pixel_source(recorded, result, julia, degree, bailout, entry_len, scaled_entry_len)
  local lines = {
    "local step = (function()",
    M.perturbed_source(recorded, result, julia),
    "end)()",
    "local scaled_step = (function()",
    M.perturbed_source(recorded, result, julia, true),
    "end)()",
    "local wide = (function()",
    wide_source(recorded, result, julia),
    "end)()",
    format("local TINY_Z = 2 ^ -%d", math.min(450, floor(900 / math.max(degree - 1, 1)))),
    "local log, floor, band, ldexp, abs = math.log, math.floor, bit.band, math.ldexp, math.abs",
    format("local inverse_log_degree = 1 / log(%s)", number(degree)),
    format("local BAILOUT2 = %s", number(bailout * bailout)),
    format("local ENTRY = %d", entry_len),
    format("local SCALED_ENTRY = %d", scaled_entry_len),
    [[
-- A scaled pixel goes on in plain f64 once |dz| = |w| 2^-s is at least 2^-480.
local PLAIN_SCALE = 480
local PLAIN_DZ2 = 2 ^ (-2 * PLAIN_SCALE)
-- Below LOST_Z the careful step looks the point up in the tiny table (f64 holds it
-- exactly above). A scaled step's result |w| below 2^-900 is not trusted: a term that
-- underflowed (at most about 2^-946, as |w| < 2^64) would be more than 2^-46 of it.
local LOST_Z, TINY_W2 = 2 ^ -999, 2 ^ -1800
-- |w| squared is kept between these by moving s by 64.
local W2_HIGH, W2_LOW, DOWN, UP = 2 ^ 128, 2 ^ -128, 2 ^ -64, 2 ^ 64
-- Where each level's skips start among a table's values (from `first`), by level.
local function starts_of(length, min_level, max_level, entry, first)
  local starts, offset = {}, first
  for level = min_level, max_level do
    starts[level] = offset
    offset = offset + floor((length - 1) / 2 ^ level) * entry
  end
  return starts
end
return function(orbit, length, skips, min_level, max_level, critical, critical_length,
    critical_skips, critical_min, critical_max, cr, ci, origin, max_iter, scaled_skips,
    critical_scaled_skips, radii, critical_radii, scale, tiny, tiny_count, critical_tiny,
    critical_tiny_count, series, series_terms, series_length, series_inverse_bound)
  -- The maps from the first value; the radii (one per skip, read while looking for a
  -- pixel's longest skip) and the scaled entries after the largest radius or one unused.
  local orbit_starts = starts_of(length, min_level, max_level, ENTRY, 0)
  local critical_starts = starts_of(critical_length, critical_min, critical_max, ENTRY, 0)
  local orbit_scaled_starts = starts_of(length, min_level, max_level, SCALED_ENTRY, 1)
  local critical_scaled_starts = starts_of(critical_length, critical_min, critical_max,
    SCALED_ENTRY, 1)
  local orbit_radius_starts = starts_of(length, min_level, max_level, 1, 1)
  local critical_radius_starts = starts_of(critical_length, critical_min, critical_max, 1, 1)
  -- The shortest skip, and the largest radius squared (0 with no skips: none is tried).
  local orbit_shortest, critical_shortest = 2 ^ min_level, 2 ^ critical_min
  local orbit_reach2 = min_level <= max_level and radii[0] or 0
  local critical_reach2 = critical_min <= critical_max and critical_radii[0] or 0
  return function(x, y)]],
  }
  lines[#lines + 1] = pixel_start(julia)
  lines[#lines + 1] = [[
    local Z, L, m, n = orbit, length, 0, 0
    local S, starts, low, high = skips, orbit_starts, min_level, max_level
    local R, rstarts = radii, orbit_radius_starts
    local shortest, reach2 = orbit_shortest, orbit_reach2
    local Zr, Zi = Z[0], Z[1]
    local s = scale
    local tr, ti = dcr * series_inverse_bound, dci * series_inverse_bound
    local first, t2 = -1, tr * tr + ti * ti
    -- The innermost stage whose radius the pixel is inside (the radii shrink).
    for at = 0, series_length - 1, 4 + 2 * series_terms do
      if t2 > series[at + 2] then break end
      first = at
    end
    if first >= 0 then
      -- The pixel is where its stage of the series puts it at the stage's steps: dz is
      -- the series' value at t / the stage's radius (Horner's rule), times 2^-exponent.
      local series_steps, series_exponent = series[first], series[first + 1]
      if series_steps >= max_iter then return nil end
      local series_inverse_bound = series_inverse_bound * series[first + 3]
      tr, ti = tr * series[first + 3], ti * series[first + 3]
      first = first + 4
      local k = first + 2 * (series_terms - 1)
      local pr, pi = series[k], series[k + 1]
      for j = k - 2, first, -2 do
        pr, pi = pr * tr - pi * ti + series[j], pr * ti + pi * tr + series[j + 1]
      end
      dzr, dzi = pr * tr - pi * ti, pr * ti + pi * tr
      m, n = series_steps, series_steps
      Zr, Zi = Z[2 * m], Z[2 * m + 1]
      if s > 0 and series_exponent > 0 then
        -- Scaled on from here: the sum is w, at the series' own exponent.
        s = series_exponent
      else
        -- Plain f64 on from here (dc in units of 2^-scale, as dz was).
        dzr, dzi = ldexp(dzr, -series_exponent), ldexp(dzi, -series_exponent)
        if s > 0 then
          dcr, dci, s = ldexp(dcr, -s), ldexp(dci, -s), 0
        end
      end
    end
    if s > 0 then
      -- Scaled: w = dz 2^s, d = dc 2^(s - scale) (dc given in units of 2^-scale), u = 2^-s.
      local X, xstarts, T, TN = scaled_skips, orbit_scaled_starts, tiny, tiny_count
      local wr, wi, d0r, d0i = dzr, dzi, dcr, dci
      local dr, di = ldexp(d0r, s - scale), ldexp(d0i, s - scale)
      local u = ldexp(1, -s)
      while true do
        if n >= max_iter then return nil end
        local skipped = false
        local skip = shortest
        if m > 0 and low <= high and band(m, skip - 1) == 0
            and m + skip <= L - 1 and n + skip <= max_iter then
          local w2, twice_s = wr * wr + wi * wi, 2 * s
          local e = xstarts[low] + m / skip * SCALED_ENTRY
          if w2 < ldexp(X[e], X[e + 1] + twice_s) then
            local level = low
            while level < high do
              local longer = skip * 2
              if band(m, longer - 1) ~= 0 or m + longer > L - 1 or n + longer > max_iter then
                break
              end
              local f = xstarts[level + 1] + m / longer * SCALED_ENTRY
              if w2 >= ldexp(X[f], X[f + 1] + twice_s) then break end
              level, skip, e = level + 1, longer, f
            end
            -- w -> A w + B d, with A = significands 2^ea: the pixel's s moves by -ea.
            wr, wi = X[e + 2] * wr + X[e + 3] * wi + X[e + 6] * dr + X[e + 7] * di,
              X[e + 4] * wr + X[e + 5] * wi + X[e + 8] * dr + X[e + 9] * di
            s = s - X[e + 10]
            dr, di, u = ldexp(d0r, s - scale), ldexp(d0i, s - scale), ldexp(1, -s)
            m, n, skipped = m + skip, n + skip, true
          end
        end
        if not skipped then
          local zmag = abs(Zr) + abs(Zi)
          if zmag < TINY_Z then
            -- Near 0: the plain scaled step only where it holds, else the careful step.
            local Twr, Twi, Twe
            if zmag < LOST_Z then Twr, Twi, Twe = wide.tiny_at(T, TN, m) end
            local careful = Twr ~= nil or (zmag > 0 and ldexp(zmag, s) < 4 * (abs(wr) + abs(wi)))
            if not careful then
              local nwr, nwi = scaled_step(Zr, Zi, cr, ci, wr, wi, dr, di, u)
              if nwr * nwr + nwi * nwi >= TINY_W2 then
                wr, wi, m, n, skipped = nwr, nwi, m + 1, n + 1, true
              else
                careful = true
              end
            end
            if careful then
              local norm, add = wide.norm, wide.add
              if not Twr then Twr, Twi, Twe = norm(Zr, Zi, 0) end
              local qr, qi, qe = norm(wr, wi, -s)
              local yr, yi, ye = add(Twr, Twi, Twe, qr, qi, qe)
              if m == L - 1 or wide.less(yr, yi, ye, qr, qi, qe) then
                -- Rebase onto the critical orbit: dz = z - Z'_0, all wide.
                Z, L, m = critical, critical_length, 0
                S, starts, low, high = critical_skips, critical_starts, critical_min, critical_max
                R, rstarts = critical_radii, critical_radius_starts
                shortest, reach2 = critical_shortest, critical_reach2
                X, xstarts = critical_scaled_skips, critical_scaled_starts
                T, TN = critical_tiny, critical_tiny_count
                local C0r, C0i = critical[0], critical[1]
                local br, bi, be = norm(-C0r, -C0i, 0)
                qr, qi, qe = add(yr, yi, ye, br, bi, be)
                Twr, Twi, Twe = wide.tiny_at(T, TN, 0)
                if not Twr then Twr, Twi, Twe = norm(C0r, C0i, 0) end
              end
              local pr, pi, pe = norm(d0r, d0i, -scale)
              qr, qi, qe = wide.step(Twr, Twi, Twe, cr, ci, qr, qi, qe, pr, pi, pe)
              -- The result is a significand within [0.5, 1): that is w, and s its exponent.
              if qr ~= 0 or qi ~= 0 then wr, wi, s = qr, qi, -qe else wr, wi = 0, 0 end
              dr, di, u = ldexp(d0r, s - scale), ldexp(d0i, s - scale), ldexp(1, -s)
              m, n, skipped = m + 1, n + 1, true
            end
          end
          if not skipped then
            wr, wi = scaled_step(Zr, Zi, cr, ci, wr, wi, dr, di, u)
            m, n = m + 1, n + 1
          end
        end
        Zr, Zi = Z[2 * m], Z[2 * m + 1]
        local w2 = wr * wr + wi * wi
        if w2 > W2_HIGH then
          wr, wi, s, w2 = wr * DOWN, wi * DOWN, s - 64, w2 * W2_LOW
          dr, di, u = ldexp(d0r, s - scale), ldexp(d0i, s - scale), ldexp(1, -s)
        elseif w2 < W2_LOW and (wr ~= 0 or wi ~= 0) then
          -- Near a point of the reference close to 0, dz can fall to about dz^2, far
          -- enough for w^2 to underflow: scale up until |w| is back near 1.
          repeat
            wr, wi, s = wr * UP, wi * UP, s + 64
          until abs(wr) + abs(wi) >= DOWN
          w2 = wr * wr + wi * wi
          dr, di, u = ldexp(d0r, s - scale), ldexp(d0i, s - scale), ldexp(1, -s)
        end
        if m == L - 1 or Zr * Zr + Zi * Zi < 4 * w2 * u * u then
          -- The end of the reference, or the pixel nearer 0 than its distance from it.
          local fr, fi = Zr + u * wr, Zi + u * wi
          local r2 = fr * fr + fi * fi
          if r2 > BAILOUT2 then
            return n + 1 - log(log(r2) * 0.5) * inverse_log_degree
          end
          if r2 < w2 * u * u or m == L - 1 then
            -- Rebase onto the critical orbit: dz = z - Z'_0.
            local from_r, from_i = Zr, Zi
            Z, L, m = critical, critical_length, 0
            S, starts, low, high = critical_skips, critical_starts, critical_min, critical_max
            R, rstarts = critical_radii, critical_radius_starts
            shortest, reach2 = critical_shortest, critical_reach2
            X, xstarts = critical_scaled_skips, critical_scaled_starts
            T, TN = critical_tiny, critical_tiny_count
            local C0r, C0i = critical[0], critical[1]
            Zr, Zi = C0r, C0i
            local nr, ni = fr - C0r, fi - C0i
            if nr * nr + ni * ni >= PLAIN_DZ2 then
              dzr, dzi, dcr, dci = nr, ni, u * dr, u * di
              break
            end
            -- Still tiny: (Z - Z'_0) / u is finite, as |Z - Z'_0| is about u |w|.
            wr, wi = (from_r - C0r) / u + wr, (from_i - C0i) / u + wi
          end
        end
        if s <= PLAIN_SCALE and w2 * u * u >= PLAIN_DZ2 then
          dzr, dzi, dcr, dci = u * wr, u * wi, u * dr, u * di
          break
        end
      end
    end
    local dz2 = dzr * dzr + dzi * dzi
    while n < max_iter do
      local skipped = false
      -- The shortest skip first (a longer one from m holds no farther out), then longer
      -- ones while they start at m and hold.
      local skip = shortest
      if dz2 < reach2 and m > 0 and band(m, skip - 1) == 0
          and m + skip <= L - 1 and n + skip <= max_iter then
        if dz2 < R[rstarts[low] + m / skip] then
          local level = low
          while level < high do
            local longer = skip * 2
            if band(m, longer - 1) ~= 0 or m + longer > L - 1 or n + longer > max_iter then
              break
            end
            if dz2 >= R[rstarts[level + 1] + m / longer] then break end
            level, skip = level + 1, longer
          end
          local e = starts[level] + m / skip * ENTRY
          dzr, dzi = S[e] * dzr + S[e + 1] * dzi + S[e + 4] * dcr + S[e + 5] * dci,
            S[e + 2] * dzr + S[e + 3] * dzi + S[e + 6] * dcr + S[e + 7] * dci
          m, n, skipped = m + skip, n + skip, true
          Zr, Zi = Z[2 * m], Z[2 * m + 1]
          local fr, fi = Zr + dzr, Zi + dzi
          local r2 = fr * fr + fi * fi
          if r2 > BAILOUT2 then
            return n + 1 - log(log(r2) * 0.5) * inverse_log_degree
          end
          dz2 = dzr * dzr + dzi * dzi
          if r2 < dz2 or m == L - 1 then
            Z, L, m = critical, critical_length, 0
            S, starts, low, high = critical_skips, critical_starts, critical_min, critical_max
            R, rstarts = critical_radii, critical_radius_starts
            shortest, reach2 = critical_shortest, critical_reach2
            Zr, Zi = Z[0], Z[1]
            dzr, dzi = fr - Zr, fi - Zi
            dz2 = dzr * dzr + dzi * dzi
          end
        end
      end
      -- Plain steps, to the next multiple of the shortest skip (where the loop above tries
      -- the skips again), or of 128 of them while |dz| is past every radius (as once a
      -- pixel is leaving the reference, or at a shallow view: a skip is unlikely to hold
      -- soon). Each pass out of this loop and back costs far more than its steps where the
      -- traces fall out of compiled code: at rust-fractal-core's 5e113 location (256x256,
      -- medians of 5) 16 of them took 0.84 s, 128 of them 0.41 s.
      -- Their escape and rebase checks repeat the skip's on purpose: as one loop with the
      -- skip inside, LuaJIT's trace made plain steps 2.2 times slower (`moonbrot bench
      -- --deep`, 1.37 s against 0.62 s). The loop's only exit test is n against a bound set
      -- on entry: a test whose answer flips from step to step (m's alignment, |dz| against
      -- a radius) leaves the trace for a side trace each time it is true, about 36 ns.
      -- rust-fractal-core's 1e50 location at 256x256 (`moonbrot render`, medians of runs
      -- alternately): a test for a skip after every step, |dz| first, 5.2 s; alignment
      -- first 3.4 s, but every render without skips 1.3-1.7 times slower; this 3.0-3.2 s,
      -- and renders without skips as fast as before.
      if not skipped then
        local gap = dz2 < reach2 and shortest or 128 * shortest
        local check_at = n + gap - band(m, gap - 1)
        if check_at > max_iter then check_at = max_iter end
        repeat
          dzr, dzi = step(Zr, Zi, cr, ci, dzr, dzi, dcr, dci)
          m, n = m + 1, n + 1
          Zr, Zi = Z[2 * m], Z[2 * m + 1]
          local fr, fi = Zr + dzr, Zi + dzi
          local r2 = fr * fr + fi * fi
          if r2 > BAILOUT2 then
            return n + 1 - log(log(r2) * 0.5) * inverse_log_degree
          end
          dz2 = dzr * dzr + dzi * dzi
          if r2 < dz2 or m == L - 1 then
            Z, L, m = critical, critical_length, 0
            S, starts, low, high = critical_skips, critical_starts, critical_min, critical_max
            R, rstarts = critical_radii, critical_radius_starts
            shortest, reach2 = critical_shortest, critical_reach2
            Zr, Zi = Z[0], Z[1]
            dzr, dzi = fr - Zr, fi - Zi
            dz2 = dzr * dzr + dzi * dzi
            check_at = n
          end
        until n >= check_at
      end
    end
    return nil
  end
end]]
  return concat(lines, "\n") .. "\n"
end

-- Emits the lines that set locals wr<i>, wi<i> to k a^(k-1), the slope of a^k at node a.
local function emit_power_slope(emit, i, a, k)
  emit(format("local wr%d, wi%d = r%d, i%d", i, i, a, a))
  for _ = 3, k do
    emit(format("wr%d, wi%d = wr%d * r%d - wi%d * i%d, wr%d * i%d + wi%d * r%d",
      i, i, i, a, i, a, i, a, i, a))
  end
  if k == 1 then emit(format("wr%d, wi%d = 1, 0", i, i)) end
  emit(format("wr%d, wi%d = %d * wr%d, %d * wi%d", i, i, k, i, k, i))
end

-- Emits the lines that compute node i's partial derivatives with respect to the pixel's
-- x and y (locals xr<i>, xi<i>, yr<i>, yi<i>: d(re)/dx, d(im)/dx, d(re)/dy, d(im)/dy), by
-- the standard rules (forward mode), from its operands' values and partials. The step may
-- fold parts to absolute values, so the partials form a 2x2 real Jacobian, not a complex
-- derivative.
local function emit_partials(emit, i, entry, c_slope)
  local op, a, b = entry.op, entry.a, entry.b
  local function both(fmt_x, fmt_y)
    emit(format(fmt_x, i, i))
    emit(format(fmt_y, i, i))
  end
  if op == "z" then
    emit(format("local xr%d, xi%d, yr%d, yi%d = jxr, jxi, jyr, jyi", i, i, i, i))
  elseif op == "c" then
    if c_slope then
      emit(format("local xr%d, xi%d, yr%d, yi%d = %s, 0, 0, %s", i, i, i, i, c_slope, c_slope))
    else
      emit(format("local xr%d, xi%d, yr%d, yi%d = 0, 0, 0, 0", i, i, i, i))
    end
  elseif op == "const" then
    emit(format("local xr%d, xi%d, yr%d, yi%d = 0, 0, 0, 0", i, i, i, i))
  elseif op == "add" or op == "sub" then
    local sign = op == "add" and "+" or "-"
    for _, d in ipairs({ "x", "y" }) do
      emit(format("local %sr%d, %si%d = %sr%d %s %sr%d, %si%d %s %si%d",
        d, i, d, i, d, a, sign, d, b, d, a, sign, d, b))
    end
  elseif op == "neg" then
    emit(format("local xr%d, xi%d, yr%d, yi%d = -xr%d, -xi%d, -yr%d, -yi%d", i, i, i, i, a, a, a, a))
  elseif op == "mul" then
    -- d(a b) = da b + a db, as complex products.
    for _, d in ipairs({ "x", "y" }) do
      emit(format("local %sr%d, %si%d = %sr%d * r%d - %si%d * i%d + r%d * %sr%d - i%d * %si%d, "
        .. "%sr%d * i%d + %si%d * r%d + r%d * %si%d + i%d * %sr%d",
        d, i, d, i, d, a, b, d, a, b, a, d, b, a, d, b,
        d, a, b, d, a, b, a, d, b, a, d, b))
    end
  elseif op == "sqr" or op == "pow" then
    -- d(a^k) = k a^(k-1) da: w times each partial (as complex).
    emit_power_slope(emit, i, a, op == "sqr" and 2 or entry.k)
    for _, d in ipairs({ "x", "y" }) do
      emit(format("local %sr%d, %si%d = wr%d * %sr%d - wi%d * %si%d, wr%d * %si%d + wi%d * %sr%d",
        d, i, d, i, i, d, a, i, d, a, i, d, a, i, d, a))
    end
  elseif op == "conj" then
    emit(format("local xr%d, xi%d, yr%d, yi%d = xr%d, -xi%d, yr%d, -yi%d", i, i, i, i, a, a, a, a))
  elseif op == "abs" or op == "abs_re" or op == "abs_im" then
    -- |t| has slope sign(t) (1 at 0, a set of measure zero).
    local fold_re, fold_im = op ~= "abs_im", op ~= "abs_re"
    local sr = fold_re and format("(r%d < 0 and -1 or 1)", a) or "1"
    local si = fold_im and format("(i%d < 0 and -1 or 1)", a) or "1"
    emit(format("local xr%d, xi%d, yr%d, yi%d = %s * xr%d, %s * xi%d, %s * yr%d, %s * yi%d",
      i, i, i, i, sr, a, si, a, sr, a, si, a))
  end
end

-- Emits node i's derivative with respect to the pixel as one complex number (locals
-- dr<i>, di<i>), for steps without folds, where the Jacobian is that of a complex
-- derivative: half the work of `emit_partials`.
local function emit_complex_derivative(emit, i, entry, c_slope)
  local op, a, b = entry.op, entry.a, entry.b
  if op == "z" then
    emit(format("local dr%d, di%d = der, dei", i, i))
  elseif op == "c" then
    emit(format("local dr%d, di%d = %s, 0", i, i, c_slope or "0"))
  elseif op == "const" then
    emit(format("local dr%d, di%d = 0, 0", i, i))
  elseif op == "add" or op == "sub" then
    local sign = op == "add" and "+" or "-"
    emit(format("local dr%d, di%d = dr%d %s dr%d, di%d %s di%d", i, i, a, sign, b, a, sign, b))
  elseif op == "neg" then
    emit(format("local dr%d, di%d = -dr%d, -di%d", i, i, a, a))
  elseif op == "mul" then
    emit(format("local dr%d, di%d = dr%d * r%d - di%d * i%d + r%d * dr%d - i%d * di%d, "
      .. "dr%d * i%d + di%d * r%d + r%d * di%d + i%d * dr%d",
      i, i, a, b, a, b, a, b, a, b, a, b, a, b, a, b, a, b))
  elseif op == "sqr" or op == "pow" then
    emit_power_slope(emit, i, a, op == "sqr" and 2 or entry.k)
    emit(format("local dr%d, di%d = wr%d * dr%d - wi%d * di%d, wr%d * di%d + wi%d * dr%d",
      i, i, i, a, i, a, i, a, i, a))
  end
end

-- What a derivative-carrying loop needs from the recorded step: `step_lines`, the source
-- of `dstep(zr, zi, cr, ci, <state>[, cs])`, which returns the step's value and the new
-- state (the derivative of z with respect to the pixel's c, or for a Julia set its z0:
-- one complex number `der, dei` for a step without folds, else the Jacobian `jxr, jxi,
-- jyr, jyi`, its columns the derivatives along x and y); the state's names; its start;
-- the lines of `finish(n, r2, zr, zi, <state>[, ke])`, which returns the smooth escape
-- value, the distance estimate |z| ln|z| / |grad |z|| in pixels and the unit normal
-- grad |z| / |grad |z||, where grad |z| = J^T z / |z|.
-- In f64 (`deep` false) the state is J in complex units, c's slope is 1, and finish
-- scales J by `pixel_size` (the pixel's width, in scope) before squaring. `deep` (the
-- perturbation pixel, where a pixel can be far narrower than f64 holds) carries K = J
-- times the pixel's width instead, as the state times 2^ke: c's slope is then `cs`, the
-- pixel's width divided by 2^ke, and finish takes ke.
local function derivative_parts(recorded, result, julia, deep)
  local conformal = true
  for _, entry in ipairs(recorded) do
    local op = entry.op
    if op == "abs" or op == "abs_re" or op == "abs_im" or op == "conj" then conformal = false end
  end
  local state = conformal and "der, dei" or "jxr, jxi, jyr, jyi"
  local c_slope = (not julia) and (deep and "cs" or "1") or nil
  local lines = { format("local function dstep(zr, zi, cr, ci, %s%s)", state, deep and ", cs" or "") }
  local function emit(text) lines[#lines + 1] = "  " .. text end
  for i, entry in ipairs(recorded) do
    emit_value(emit, i, entry)
    if conformal then
      emit_complex_derivative(emit, i, entry, c_slope)
    else
      emit_partials(emit, i, entry, c_slope)
    end
  end
  if conformal then
    emit(format("return r%d, i%d, dr%d, di%d", result, result, result, result))
  else
    emit(format("return r%d, i%d, xr%d, xi%d, yr%d, yi%d", result, result, result, result, result, result))
  end
  lines[#lines + 1] = "end"
  -- The derivative of the start with respect to the pixel: 1 for a Julia set's z0 (K:
  -- the pixel's width, `pm` times 2^ke at the start).
  local one = deep and "pm" or "1"
  local start
  if conformal then
    start = julia and (one .. ", 0") or "0, 0"
  else
    start = julia and format("%s, 0, 0, %s", one, one) or "0, 0, 0, 0"
  end
  -- J^T z; for a complex derivative d, J's columns are (d) and (i d).
  local gradient = conformal
    and "local gx, gy = (der * zr + dei * zi) * S, (der * zi - dei * zr) * S"
    or "local gx, gy = (jxr * zr + jxi * zi) * S, (jyr * zr + jyi * zi) * S"
  gradient = gradient:gsub("S", deep and "1" or "pixel_size")
  local finish = format([[
local function finish(n, r2, zr, zi, %s%s)
  local escape = n + 1 - log(log(r2) * 0.5) * inverse_log_degree
  %s
  local g = sqrt(gx * gx + gy * gy)
  if g == 0 or g ~= g or g == 1 / 0 then return escape end
  local distance = r2 * log(sqrt(r2)) / %s
  if distance ~= distance or distance == 1 / 0 then return escape end
  return escape, distance, gx / g, gy / g
end]], state, deep and ", ke" or "", gradient, deep and "math.ldexp(g, ke)" or "g")
  return concat(lines, "\n"), state, start, finish, conformal
end

--- Lua source of the derivative pixel, for colourings that need a pixel's distance to the
--- set or its slope: `return function(max_iter, pixel_size, jr, ji, pixel) return
--- function(x, y) ... end end`. It iterates the step in f64 from the formula's start (or,
--- for a Julia set, from the pixel, with c = jr + i ji) carrying the derivative of z with
--- respect to the pixel (`derivative_parts`), and on escape returns `finish`'s four values.
--- An orbit still bounded after a few steps asks the kernel's own `pixel` whether the
--- point is inside (its shortcuts, such as the cardioid test, are far cheaper than
--- iterating to max_iter).
function M.derivative_pixel_source(recorded, result, julia, degree, bailout, start_re, start_im)
  local step_lines, state, start, finish = derivative_parts(recorded, result, julia, false)
  local start_z = julia and "x, y" or format("%s, %s", number(start_re), number(start_im))
  local start_c = julia and "jr, ji" or "x, y"
  local lines = {
    "local log, sqrt, abs = math.log, math.sqrt, math.abs",
    format("local inverse_log_degree = 1 / log(%s)", number(degree)),
    format("local BAILOUT2 = %s", number(bailout * bailout)),
    -- Steps taken before the kernel's pixel is asked whether the point is inside.
    "local STEPS_BEFORE_ASKING = 32",
    step_lines,
    "return function(max_iter, pixel_size, jr, ji, kernel_pixel)",
    finish,
    format([[
  return function(x, y)
    local zr, zi, cr, ci = %s, %s
    local %s = %s
    for n = 1, max_iter do
      zr, zi, %s = dstep(zr, zi, cr, ci, %s)
      local r2 = zr * zr + zi * zi
      if r2 > BAILOUT2 then return finish(n, r2, zr, zi, %s) end
      if n == STEPS_BEFORE_ASKING and kernel_pixel(x, y) == nil then
        return nil
      end
    end
    return nil
  end
end]], start_z, start_c, state, start, state, state, state),
  }
  return concat(lines, "\n") .. "\n"
end

-- `text` with `old` (found exactly once, as plain text) replaced by `new`.
local function replace_once(text, old, new)
  local first, last = text:find(old, 1, true)
  assert(first and not text:find(old, last + 1, true), "the pixel source changed: " .. old)
  return text:sub(1, first - 1) .. new .. text:sub(last + 1)
end

--- Lua source of the perturbation pixel that also carries the derivative, for colourings
--- that need distance or slope at perturbation depths: `return function(pixel_step,
--- pixel_exponent) <pixel_source's chunk> end`, the pixel's width being pixel_step times
--- 2^pixel_exponent. It is `pixel_source`'s pixel with K, the derivative of the pixel's
--- z with respect to its position in pixels, carried as a state times 2^ke (K is far
--- beyond f64's range at depth; the state is brought back near 1 when it grows): from
--- the series (its derivative in dc), through each skip (K -> A K + B w, the skip's own
--- linear map, w the pixel's width), each step, plain or scaled (the step's derivative at
--- z = Z + dz; near 0, where f64 cannot hold z, the derivative there is taken as f64
--- gives it), and each rebase (which changes neither). On escape it returns `finish`'s
--- four values.
function M.derivative_perturbation_source(recorded, result, julia, degree, bailout, entry_len,
    scaled_entry_len)
  local text = M.pixel_source(recorded, result, julia, degree, bailout, entry_len,
    scaled_entry_len)
  local step_lines, state, start, finish, conformal = derivative_parts(recorded, result, julia, true)
  -- The step's derivative and finish among the chunk's locals, in one table (the pixel's
  -- closure is near LuaJIT's limit of 60 upvalues).
  text = replace_once(text, "local ENTRY = ", format([[
local D = (function()
  local sqrt, pm = math.sqrt, pixel_step
  %s
  %s
  return { step = dstep, finish = finish, pm = pixel_step, pe = pixel_exponent }
end)()
local ENTRY = ]], step_lines, finish))
  -- Brings the state back near 1 when it passes 2^64, moving ke: the slope of c (the
  -- pixel's width over 2^ke) follows.
  local magnitude = conformal and "abs(der) + abs(dei)"
    or "abs(jxr) + abs(jxi) + abs(jyr) + abs(jyi)"
  local scaled_down = conformal and "der, dei = der * DOWN, dei * DOWN"
    or "jxr, jxi, jyr, jyi = jxr * DOWN, jxi * DOWN, jyr * DOWN, jyi * DOWN"
  local function renormalise(indent)
    return format("%sif %s > UP then\n%s  %s\n%s  ke = ke + 64\n%s  cs = ldexp(D.pm, D.pe - ke)\n%send\n",
      indent, magnitude, indent, scaled_down, indent, indent, indent)
  end
  local pm_start = start:gsub("pm", "D.pm")
  local init = pixel_start(julia) .. "\n"
  text = replace_once(text, init, format("%s    local %s = %s\n    local ke, cs = D.pe, D.pm\n",
    init, state, pm_start))
  -- From the series: d(t p(t))/dt = sum (j + 1) a_j t^j, times dt per pixel, at the
  -- series' exponent.
  local from_series = conformal and "der, dei = qr, qi" or "jxr, jxi, jyr, jyi = qr, qi, -qi, qr"
  text = replace_once(text, "      dzr, dzi = pr * tr - pi * ti, pr * ti + pi * tr\n", format([[
      dzr, dzi = pr * tr - pi * ti, pr * ti + pi * tr
      local qr, qi = series_terms * series[k], series_terms * series[k + 1]
      for j = k - 2, first, -2 do
        local weight = (j - first) / 2 + 1
        qr, qi = qr * tr - qi * ti + weight * series[j], qr * ti + qi * tr + weight * series[j + 1]
      end
      qr, qi = qr * series_inverse_bound * D.pm, qi * series_inverse_bound * D.pm
      %s
      ke = -series_exponent
      cs = ldexp(D.pm, D.pe - ke)
]], from_series))
  -- Each skip: K -> A K + B w, as state -> A' state + B' cs where the skip's entries are
  -- A' and B' (a scaled entry's are A and B times 2^-ea, and moves ke by ea).
  local function through_skip(T, a, b, indent)
    local function at(offset) return format("%s[e + %d]", T, offset) end
    local lines
    if conformal then
      lines = { format("der, dei = %s * der + %s * dei%s, %s * der + %s * dei%s",
        at(a), at(a + 1), julia and "" or (" + " .. at(b) .. " * cs"),
        at(a + 2), at(a + 3), julia and "" or (" + " .. at(b + 2) .. " * cs")) }
    else
      lines = {
        format("jxr, jxi = %s * jxr + %s * jxi%s, %s * jxr + %s * jxi%s",
          at(a), at(a + 1), julia and "" or (" + " .. at(b) .. " * cs"),
          at(a + 2), at(a + 3), julia and "" or (" + " .. at(b + 2) .. " * cs")),
        format("jyr, jyi = %s * jyr + %s * jyi%s, %s * jyr + %s * jyi%s",
          at(a), at(a + 1), julia and "" or (" + " .. at(b + 1) .. " * cs"),
          at(a + 2), at(a + 3), julia and "" or (" + " .. at(b + 3) .. " * cs")),
      }
    end
    return indent .. concat(lines, "\n" .. indent) .. "\n"
  end
  -- Scaled skips: w -> A' w + B' d, then s moves by -X[e + 10].
  local scaled_skip = "            wr, wi = X[e + 2] * wr + X[e + 3] * wi + X[e + 6] * dr + X[e + 7] * di,\n"
  text = replace_once(text, scaled_skip, through_skip("X", 2, 6, "            ")
    .. "            ke = ke + X[e + 10]\n            cs = ldexp(D.pm, D.pe - ke)\n"
    .. renormalise("            ") .. scaled_skip)
  -- Scaled steps (plain, or the careful one near 0): the derivative at z before the step.
  local scaled_steps = "        if not skipped then\n          local zmag = abs(Zr) + abs(Zi)\n"
  text = replace_once(text, scaled_steps, format(
    "        if not skipped then\n          local _\n"
      .. "          _, _, %s = D.step(Zr + u * wr, Zi + u * wi, cr + u * dr, ci + u * di, %s, cs)\n%s"
      .. "          local zmag = abs(Zr) + abs(Zi)\n", state, state, renormalise("          ")))
  -- Plain skips.
  text = replace_once(text, "          local e = starts[level] + m / skip * ENTRY\n",
    "          local e = starts[level] + m / skip * ENTRY\n" .. through_skip("S", 0, 4, "          ")
      .. renormalise("          "))
  -- Plain steps.
  text = replace_once(text, "          dzr, dzi = step(Zr, Zi, cr, ci, dzr, dzi, dcr, dci)\n",
    format("          local _\n          _, _, %s = D.step(Zr + dzr, Zi + dzi, cr + dcr, ci + dci, %s, cs)\n%s"
      .. "          dzr, dzi = step(Zr, Zi, cr, ci, dzr, dzi, dcr, dci)\n", state, state,
      renormalise("          ")))
  -- Every escape, scaled or plain.
  local escape = "return n + 1 - log(log(r2) * 0.5) * inverse_log_degree"
  local replaced
  text, replaced = text:gsub((escape:gsub("%p", "%%%0")),
    format("return D.finish(n, r2, fr, fi, %s, ke)", state))
  assert(replaced == 3, "the pixel source changed: its escapes")
  return "return function(pixel_step, pixel_exponent)\n" .. text .. "end\n"
end

return M
