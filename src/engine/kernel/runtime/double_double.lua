--[[ double_double.lua: the `dd` library kernels get, double-double arithmetic in Lua.

A double-double is an unevaluated sum hi + lo of two doubles with |lo| <= ulp(hi) / 2:
about 106 bits (31 decimal digits), enough for escape-time fractals down to a span of about
1e-24 where doubles stop at about 1e-13. It is written in Lua so LuaJIT compiles it into the
kernel's own traces: values are small tables with operator metamethods, and LuaJIT sinks
their allocations in a loop like `z = z * z + c`. It runs inside the sandbox like any
kernel code (it only does arithmetic), so a stop reaches it like any other kernel code.

The algorithms are the classic error-free transformations (Knuth's two-sum, Dekker's split
and two-product) as in the QD library (Hida, Li, Bailey): sums and products are accurate to
a few units in 2^-104 relative. Trusted code, run once per Lua state; it returns the table
the sandbox puts in the kernel's environment as `dd`.
]]
local setmetatable, getmetatable, type, error = setmetatable, getmetatable, type, error
local format = string.format

-- 2^27 + 1: Dekker's splitting constant for 53-bit doubles.
local SPLITTER = 134217729

local DD = {}
DD.__index = DD

local function make(hi, lo)
  return setmetatable({ hi = hi, lo = lo }, DD)
end

-- a + b = s + err exactly (Knuth).
local function two_sum(a, b)
  local s = a + b
  local bb = s - a
  return s, (a - (s - bb)) + (b - bb)
end

-- a + b = s + err exactly, when |a| >= |b|.
local function quick_two_sum(a, b)
  local s = a + b
  return s, b - (s - a)
end

-- a * b = p + err exactly (Dekker): each factor is split into two 26-bit halves.
local function two_prod(a, b)
  local p = a * b
  local t = SPLITTER * a
  local a_hi = t - (t - a)
  local a_lo = a - a_hi
  t = SPLITTER * b
  local b_hi = t - (t - b)
  local b_lo = b - b_hi
  return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
end

-- A number or a double-double as its two parts.
local function parts(value, operation)
  if type(value) == "number" then return value, 0 end
  if getmetatable(value) == DD then return value.hi, value.lo end
  error("dd." .. operation .. " expects numbers or dd values, got " .. type(value), 3)
end

-- (a_hi + a_lo) + (b_hi + b_lo), accurate (QD's "ieee" sum: no loss when they cancel).
local function sum_of_parts(a_hi, a_lo, b_hi, b_lo)
  local s, e = two_sum(a_hi, b_hi)
  local t, f = two_sum(a_lo, b_lo)
  e = e + t
  s, e = quick_two_sum(s, e)
  e = e + f
  return make(quick_two_sum(s, e))
end

-- (a_hi + a_lo) + b for a number b: one two-sum fewer.
local function sum_with_number(a_hi, a_lo, b)
  local s, e = two_sum(a_hi, b)
  e = e + a_lo
  return make(quick_two_sum(s, e))
end

local function add(a, b)
  if type(b) == "number" then
    local a_hi, a_lo = parts(a, "add")
    return sum_with_number(a_hi, a_lo, b)
  end
  if type(a) == "number" then
    local b_hi, b_lo = parts(b, "add")
    return sum_with_number(b_hi, b_lo, a)
  end
  local a_hi, a_lo = parts(a, "add")
  local b_hi, b_lo = parts(b, "add")
  return sum_of_parts(a_hi, a_lo, b_hi, b_lo)
end

local function sub(a, b)
  if type(b) == "number" then
    local a_hi, a_lo = parts(a, "sub")
    return sum_with_number(a_hi, a_lo, -b)
  end
  local a_hi, a_lo = parts(a, "sub")
  local b_hi, b_lo = parts(b, "sub")
  return sum_of_parts(a_hi, a_lo, -b_hi, -b_lo)
end

local function mul(a, b)
  if type(b) == "number" then
    local a_hi, a_lo = parts(a, "mul")
    local p, e = two_prod(a_hi, b)
    return make(quick_two_sum(p, e + a_lo * b))
  end
  if type(a) == "number" then
    local b_hi, b_lo = parts(b, "mul")
    local p, e = two_prod(b_hi, a)
    return make(quick_two_sum(p, e + b_lo * a))
  end
  local a_hi, a_lo = parts(a, "mul")
  local b_hi, b_lo = parts(b, "mul")
  local p, e = two_prod(a_hi, b_hi)
  e = e + (a_hi * b_lo + a_lo * b_hi)
  return make(quick_two_sum(p, e))
end

local function sqr(a)
  local a_hi, a_lo = parts(a, "sqr")
  -- two_prod(a_hi, a_hi), splitting a_hi once.
  local p = a_hi * a_hi
  local t = SPLITTER * a_hi
  local h = t - (t - a_hi)
  local l = a_hi - h
  local e = ((h * h - p) + 2 * h * l) + l * l
  e = e + 2 * a_hi * a_lo
  return make(quick_two_sum(p, e))
end

local function to_number(a)
  local hi, lo = parts(a, "tonumber")
  return hi + lo
end

-- -1, 0 or 1 as a < b, a == b, a > b.
local function compare(a, b)
  local a_hi, a_lo = parts(a, "compare")
  local b_hi, b_lo = parts(b, "compare")
  if a_hi ~= b_hi then return a_hi < b_hi and -1 or 1 end
  if a_lo ~= b_lo then return a_lo < b_lo and -1 or 1 end
  return 0
end

DD.__add = add
DD.__sub = sub
DD.__mul = mul
DD.__unm = function(a) return make(-a.hi, -a.lo) end
DD.__eq = function(a, b) return a.hi == b.hi and a.lo == b.lo end
DD.__lt = function(a, b) return compare(a, b) < 0 end
DD.__le = function(a, b) return compare(a, b) <= 0 end
DD.__tostring = function(a) return format("dd(%.17g, %.17g)", a.hi, a.lo) end
DD.sqr = sqr
DD.tonumber = to_number

local library = {
  add = add,
  sub = sub,
  mul = mul,
  sqr = sqr,
  tonumber = to_number,
  compare = compare,
}

--- dd.new(hi [, lo]): the double-double hi + lo (normalised), or a number as one.
function library.new(hi, lo)
  if type(hi) ~= "number" or (lo ~= nil and type(lo) ~= "number") then
    error("dd.new expects one or two numbers", 2)
  end
  return make(two_sum(hi, lo or 0))
end

--- dd.is(value): true when value is a double-double.
function library.is(value)
  return getmetatable(value) == DD
end

return library
