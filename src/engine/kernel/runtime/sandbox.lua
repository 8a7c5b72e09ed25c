--[[ sandbox.lua: builds the environment a user kernel runs in.

Trusted code, run once in each fresh Lua state before the kernel is loaded. It returns the
kernel's global table: only the base functions that cannot escape and copies of the math,
string, table and bit libraries. Nothing that reaches the file system, other code, the FFI,
the JIT or the debug library is put in it. A new state is made for every kernel source, so
nothing a kernel does to this table (or to the copies inside it) survives into the next one.

Arguments: print_to_log, the rate-limited `print` supplied by the engine, the bounded
library (bounded_library.lua): Lua versions of the string and table functions whose C
versions a stop cannot interrupt, which replace those functions in the kernel's copies, and
the double-double library (double_double.lua), given to kernels as `dd`.

It also gives kernels `parameter { ... }`, which declares a control (checked here, so a bad
declaration fails at its own line), and the table `param` holding each parameter's current
value. It returns the environment and the list of declarations (private to this file: the
kernel cannot change what the engine reads).
]]
local print_to_log, bounded, double_double = ...

local pairs, ipairs, select, tostring, concat = pairs, ipairs, select, tostring, table.concat

local SAFE_BASE_FUNCTIONS = {
  "assert", "error", "ipairs", "pairs", "next", "select", "tonumber", "tostring", "type",
  "unpack", "pcall", "xpcall", "rawequal", "rawget", "rawset", "setmetatable", "getmetatable",
}

local function shallow_copy(library)
  local copy = {}
  for name, value in pairs(library) do copy[name] = value end
  return copy
end

local environment = {}
for _, name in ipairs(SAFE_BASE_FUNCTIONS) do
  environment[name] = _G[name]
end
-- print(...) as in Lua (tab-separated tostring of each argument), but to the run's log.
environment.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  print_to_log(concat(parts, "\t"))
end
environment.math = shallow_copy(math)
environment.table = shallow_copy(table)
environment.table.sort = bounded.sort
environment.table.insert = bounded.insert
environment.bit = shallow_copy(bit)
environment.dd = shallow_copy(double_double)

-- string.dump would hand out bytecode; bytecode cannot be loaded here, but there is no
-- reason for a kernel to hold it.
local string_library = shallow_copy(string)
string_library.dump = nil
string_library.find = bounded.find
string_library.match = bounded.match
string_library.gmatch = bounded.gmatch
string_library.gsub = bounded.gsub
environment.string = string_library

-- All strings share one metatable whose __index is the real string library. Point it at
-- the kernel's copy, so `("x"):rep(3)` and `string.rep("x", 3)` are the same function, and
-- lock it: getmetatable("") returns false and the kernel cannot replace it.
local string_metatable = getmetatable("")
string_metatable.__index = string_library
string_metatable.__metatable = false

environment._G = environment
-- Parameters: `parameter { name = "c", kind = "complex", default = { -0.8, 0.156 } }`.
local MAX_PARAMETERS = 64
local MAX_NAME_BYTES = 64
local MAX_LABEL_BYTES = 120
local MAX_CHOICES = 32
local LARGEST_NUMBER = 1e300
local KINDS = { real = true, integer = true, boolean = true, choice = true, complex = true }
local declared, declared_names, values = {}, {}, {}
-- The real functions, taken now: the kernel may replace its own copies.
local type, floor, rawget, error = type, math.floor, rawget, error
-- Where `parameter` is called from (the kernel never gets the debug library itself).
local getinfo = debug.getinfo
local find, match, format = string.find, string.match, string.format
environment.param = values

local function is_number(value)
  return type(value) == "number" and value == value and value > -LARGEST_NUMBER
    and value < LARGEST_NUMBER
end

local function describe(value)
  if type(value) == "string" then
    if #value > 40 then return "a string of " .. #value .. " bytes" end
    return format("%q", value)
  end
  if type(value) == "number" then return format("%.17g", value) end
  return "a " .. type(value)
end

environment.parameter = function(spec)
  -- Level 3 (fail or bad, then this function, then its caller): the message names the
  -- kernel's line that called `parameter`.
  local function fail(message) error(message, 3) end
  if type(spec) ~= "table" then
    fail("parameter expects a table like { name = \"c\", kind = \"real\", ... }, got "
      .. describe(spec))
  end
  local name = rawget(spec, "name")
  if type(name) ~= "string" or #name > MAX_NAME_BYTES or not match(name, "^[%a_][%w_]*$") then
    fail("parameter name must be a Lua name of at most " .. MAX_NAME_BYTES
      .. " bytes, got " .. describe(name))
  end
  local function bad(message) error("parameter " .. name .. ": " .. message, 3) end
  if declared_names[name] then
    -- Level 2 is the caller: the kernel's main chunk at its top level, else a function
    -- (pixel, called for every pixel, declares again at its second call).
    local caller = getinfo(2, "S")
    if caller and caller.what ~= "main" then
      bad("declared inside a function (pixel calls it for every pixel): declare parameters "
        .. "once, at the kernel's top level, and read them in pixel as param." .. name)
    end
    bad("declared twice")
  end
  if #declared >= MAX_PARAMETERS then
    bad("a kernel may declare at most " .. MAX_PARAMETERS .. " parameters")
  end
  local kind = rawget(spec, "kind")
  if type(kind) ~= "string" or not KINDS[kind] then
    bad("kind must be \"real\", \"integer\", \"boolean\", \"choice\" or \"complex\", got "
      .. describe(kind))
  end
  local label = rawget(spec, "label")
  if label ~= nil and (type(label) ~= "string" or #label > MAX_LABEL_BYTES) then
    bad("label must be a string of at most " .. MAX_LABEL_BYTES .. " bytes, got "
      .. describe(label))
  end
  local default = rawget(spec, "default")
  local entry = { name = name, kind = kind, label = label }
  local value
  if kind == "real" or kind == "integer" then
    local min, max = rawget(spec, "min"), rawget(spec, "max")
    if not is_number(min) or not is_number(max) then
      bad("min and max must be finite numbers, got " .. describe(min) .. " and " .. describe(max))
    end
    if kind == "integer" and (floor(min) ~= min or floor(max) ~= max
        or min < -2^31 or max > 2^31) then
      bad("an integer parameter's min and max must be whole numbers within +-2^31")
    end
    if not (min < max) then bad("min (" .. describe(min) .. ") must be below max ("
      .. describe(max) .. ")") end
    if not is_number(default) or default < min or default > max
        or (kind == "integer" and floor(default) ~= default) then
      bad("default must be a" .. (kind == "integer" and " whole" or "") .. " number from "
        .. describe(min) .. " to " .. describe(max) .. ", got " .. describe(default))
    end
    entry.min, entry.max, value = min, max, default
  elseif kind == "boolean" then
    if type(default) ~= "boolean" then bad("default must be true or false, got "
      .. describe(default)) end
    value = default
  elseif kind == "choice" then
    local options = rawget(spec, "options")
    if type(options) ~= "table" then bad("options must be a list of names") end
    local count = #options
    if count < 1 or count > MAX_CHOICES then
      bad("options must list 1 to " .. MAX_CHOICES .. " names, got " .. count)
    end
    local copy, seen = {}, {}
    for index = 1, count do
      local option = rawget(options, index)
      if type(option) ~= "string" or option == "" or #option > MAX_NAME_BYTES
          or find(option, "[%c,=]") then
        bad("option " .. index .. " must be a name of 1 to " .. MAX_NAME_BYTES
          .. " bytes without commas or =, got " .. describe(option))
      end
      if seen[option] then bad("option " .. describe(option) .. " is listed twice") end
      seen[option], copy[index] = true, option
    end
    if type(default) ~= "string" or not seen[default] then
      bad("default must be one of the options, got " .. describe(default))
    end
    entry.options, value = copy, default
  else -- complex
    local re = type(default) == "table" and (rawget(default, "re") or rawget(default, 1))
    local im = type(default) == "table" and (rawget(default, "im") or rawget(default, 2))
    if not is_number(re) or not is_number(im) then
      bad("default must be two finite numbers, { re, im }, got " .. describe(default))
    end
    value = { re = re, im = im }
    entry.default_re, entry.default_im = re, im
  end
  if kind ~= "complex" then entry.default = value end
  declared[#declared + 1] = entry
  declared_names[name] = true
  values[name] = value
end

-- The iteration: `formula { step = function(z, c) return z:sqr() + c end }`, with optional
-- `julia = "name"` (a complex parameter is c; z starts at the pixel), `start` (where z
-- starts otherwise: a number or { re, im }; 0 by default) and `bailout` (the escape radius,
-- 16 by default). Checked here; the step itself is recorded by the engine (formula.lua).
local formula_declaration = {}
local FORMULA_FIELDS = { step = true, julia = true, start = true, bailout = true }
environment.formula = function(spec)
  local function bad(message) error("formula: " .. message, 3) end
  if type(spec) ~= "table" then
    bad("expects a table like { step = function(z, c) return z:sqr() + c end }, got "
      .. describe(spec))
  end
  if formula_declaration.step then bad("declared twice") end
  for key in pairs(spec) do
    if not FORMULA_FIELDS[key] then
      bad("has no field " .. describe(key) .. " (it takes step, julia, start and bailout)")
    end
  end
  local step, julia, start, bailout = rawget(spec, "step"), rawget(spec, "julia"),
    rawget(spec, "start"), rawget(spec, "bailout")
  if type(step) ~= "function" then bad("step must be a function(z, c), got " .. describe(step)) end
  if julia ~= nil then
    local entry
    for _, declaration in ipairs(declared) do
      if declaration.name == julia then entry = declaration end
    end
    if not entry or entry.kind ~= "complex" then
      bad("julia must name a complex parameter declared before the formula, got "
        .. describe(julia))
    end
  end
  if start ~= nil then
    local re = type(start) == "table" and (rawget(start, "re") or rawget(start, 1)) or start
    local im = type(start) == "table" and (rawget(start, "im") or rawget(start, 2)) or 0
    if not is_number(re) or not is_number(im) then
      bad("start must be a number or { re, im }, got " .. describe(start))
    end
  end
  if bailout ~= nil and (not is_number(bailout) or bailout <= 0) then
    bad("bailout must be a number greater than 0, got " .. describe(bailout))
  end
  formula_declaration.step, formula_declaration.julia = step, julia
  formula_declaration.start, formula_declaration.bailout = start, bailout
end

return environment, declared, formula_declaration
