--[[ sandbox.lua: builds the environment a user kernel runs in.

Trusted code, run once in each fresh Lua state before the kernel is loaded. It returns the
kernel's global table: only the base functions that cannot escape and copies of the math,
string, table and bit libraries. Nothing that reaches the file system, other code, the FFI,
the JIT or the debug library is put in it. A new state is made for every kernel source, so
nothing a kernel does to this table (or to the copies inside it) survives into the next one.

Arguments: print_to_log, the rate-limited `print` supplied by the engine, and the bounded
library (bounded_library.lua): Lua versions of the string and table functions whose C
versions a stop cannot interrupt. They replace those functions in the kernel's copies.
]]
local print_to_log, bounded = ...

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
return environment
