---@meta moonbrot
-- The moonbrot kernel API, for the Lua language server (LuaLS: VS Code's "Lua" extension,
-- Neovim's lua_ls). Written by `moonbrot api --lua-ls`; never run by moonbrot itself.
--
-- A kernel is Lua 5.1 (LuaJIT) that defines `pixel(x, y)`. It runs in a sandbox that keeps
-- only these of the standard library (the language server's own LuaJIT definitions
-- describe them; the `.luarc.json` that `moonbrot api --lua-ls --write DIR` writes turns
-- off the libraries the sandbox leaves out, so using one is flagged):
-- kept: assert error ipairs pairs next select tonumber tostring type unpack pcall xpcall
-- kept: rawequal rawget rawset setmetatable getmetatable _G math string table bit
-- Left out: io, os, package/require, debug, ffi, jit, load/loadstring/dofile/loadfile,
-- getfenv/setfenv, collectgarbage, coroutine, newproxy and string.dump.

-- ---------------------------------------------------------------------------------------
-- What a kernel defines
-- ---------------------------------------------------------------------------------------

---The kernel's value at the centre of a pixel: `x` the real part, `y` the imaginary part.
---Return the escape value (fractions welcome: smooth colouring); `nil`, `false` or a
---negative number mean "inside". With `output = "rgb"`, return r, g, b in [0, 1]; with
---`channels`, return that many values, the escape value first.
---@param x number
---@param y number
---@return number|false|nil escape_value_or_red
---@return number? more
---@return number? more
function pixel(x, y) end

---The same in double-double arithmetic (about 31 digits), called instead of `pixel` where
---doubles run out of digits (spans below about 1e-13) and the kernel has no `formula`.
---@param x dd
---@param y dd
---@return number|false|nil escape_value
function pixel_deep(x, y) end

---The kernel's default iteration limit (1 to 100000000). The engine sets it to the user's
---limit (or the automatic one) before each run, so read it in `pixel`.
---@type integer
max_iter = 256

---The default view: the centre and the span (the image's height in the complex plane).
---@type { x: number, y: number, span: number }
home = { x = -0.5, y = 0, span = 3 }

---`"real_axis"` promises `pixel(x, -y) == pixel(x, y)` for every point and parameter: the
---engine computes one side of the axis and mirrors the other (checked at load).
---@type "real_axis"|nil
symmetry = nil

---`"rgb"`: `pixel` returns r, g, b in [0, 1] (direct colour; the palette does not apply).
---@type "rgb"|nil
output = nil

---Several values per pixel: 1 to 8 distinct names; `pixel` returns that many values, the
---escape value first (`nil` or `false` store "not known").
---@type string[]|nil
channels = nil

-- ---------------------------------------------------------------------------------------
-- Parameters
-- ---------------------------------------------------------------------------------------

---@class moonbrot.ParameterSpec
---@field name string A Lua name: `param.NAME` in `pixel`, `--set NAME=...` on the CLI.
---@field kind "real"|"integer"|"boolean"|"choice"|"complex"
---@field default number|integer|boolean|string|number[] Its value unless set: for "complex", `{ re, im }`.
---@field min? number For "real" and "integer": the smallest value.
---@field max? number For "real" and "integer": the largest value.
---@field options? string[] For "choice": 1 to 32 names.
---@field label? string What the window shows instead of the name (at most 120 bytes).

---Declares a control the window shows and the CLI sets (`--set NAME=VALUE`). Call it at the
---kernel's top level, once per parameter (at most 64); read the value in `pixel` as
---`param.NAME`. A bad declaration fails at its own line.
---@param spec moonbrot.ParameterSpec
function parameter(spec) end

---Each declared parameter's current value, by name: a number, a boolean, a choice's name,
---or for a complex parameter `{ re = .., im = .. }`. Values change per render without
---recompiling the kernel.
---@type table<string, number|boolean|string|{ re: number, im: number }>
param = {}

-- ---------------------------------------------------------------------------------------
-- Formulas: the iteration, declared so the engine can zoom deep by perturbation
-- ---------------------------------------------------------------------------------------

---A complex value while the engine records `step`: arithmetic only (no division, no
---`math.*`, no comparisons, no reading a part to branch on it).
---@class moonbrot.Complex
---@operator add(moonbrot.Complex|number): moonbrot.Complex
---@operator sub(moonbrot.Complex|number): moonbrot.Complex
---@operator mul(moonbrot.Complex|number): moonbrot.Complex
---@operator pow(integer): moonbrot.Complex
---@operator unm: moonbrot.Complex
local Complex = {}

---z * z.
---@return moonbrot.Complex
function Complex:sqr() end

---The complex conjugate.
---@return moonbrot.Complex
function Complex:conj() end

---Both parts folded to their absolute values (the Burning Ship's fold).
---@return moonbrot.Complex
function Complex:abs() end

---The real part folded to its absolute value.
---@return moonbrot.Complex
function Complex:abs_re() end

---The imaginary part folded to its absolute value.
---@return moonbrot.Complex
function Complex:abs_im() end

---@class moonbrot.FormulaSpec
---@field step fun(z: moonbrot.Complex, c: moonbrot.Complex): moonbrot.Complex One step of the iteration.
---@field julia? string The name of a complex parameter that is c (z then starts at the pixel).
---@field start? number|number[] Where z starts otherwise: a number or `{ re, im }` (0).
---@field bailout? number The escape radius (16).

---Declares the iteration `pixel` runs, at the kernel's top level. The engine records `step`
---once and derives from it perturbation, skips, the series and distance estimates.
---@param spec moonbrot.FormulaSpec
function formula(spec) end

-- ---------------------------------------------------------------------------------------
-- Double-double arithmetic
-- ---------------------------------------------------------------------------------------

---A double-double: the unevaluated sum hi + lo of two doubles (about 31 digits).
---@class dd
---@field hi number
---@field lo number
---@operator add(dd|number): dd
---@operator sub(dd|number): dd
---@operator mul(dd|number): dd
---@operator unm: dd
local DoubleDouble = {}

---The square.
---@return dd
function DoubleDouble:sqr() end

---Back to a double.
---@return number
function DoubleDouble:tonumber() end

---Double-double arithmetic, written in Lua so LuaJIT compiles it into the kernel's loop.
dd = {}

---A number as a double-double, or hi + lo (normalised) from two parts.
---@param hi number
---@param lo? number
---@return dd
function dd.new(hi, lo) end

---True when `value` is a double-double.
---@param value any
---@return boolean
function dd.is(value) end

---@param a dd|number
---@param b dd|number
---@return dd
function dd.add(a, b) end

---@param a dd|number
---@param b dd|number
---@return dd
function dd.sub(a, b) end

---@param a dd|number
---@param b dd|number
---@return dd
function dd.mul(a, b) end

---@param a dd
---@return dd
function dd.sqr(a) end

---@param a dd
---@return number
function dd.tonumber(a) end

----1, 0 or 1 as a is below, equal to or above b.
---@param a dd|number
---@param b dd|number
---@return integer
function dd.compare(a, b) end

-- ---------------------------------------------------------------------------------------
-- What the sandbox changes
-- ---------------------------------------------------------------------------------------

---Writes to the run's log (stderr in the CLI, the Kernel output panel in the window): at
---most 200 lines per render, each cut at 1000 bytes.
---@param ... any
function print(...) end

-- ---------------------------------------------------------------------------------------
-- Colourings (a Lua file given to `--colouring`, or the window's Colouring code tab)
-- ---------------------------------------------------------------------------------------

---A pixel's colour from its stored values (the escape value, then a kernel's other
---channels): r, g, b as sRGB components in 0..1. Inside pixels reach it only with
---`colour_inside = true`, with nil as the escape value.
---@param value number|nil
---@param ... number
---@return number r
---@return number g
---@return number b
function colour(value, ...) end

---`true`: `colour` gets inside pixels too.
---@type boolean|nil
colour_inside = nil

---The palette's gradient at `t` turns, as r, g, b in 0..1.
---@param t number
---@return number r
---@return number g
---@return number b
function gradient(t) end
