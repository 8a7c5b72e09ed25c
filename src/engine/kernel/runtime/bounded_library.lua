--[[ bounded_library.lua: the library functions whose C versions can run for a long time
without a stop being able to reach them, rewritten in Lua so that the engine's stop hook
(which fires between Lua instructions, also in compiled code) can end them at any moment.

Trusted code, run once per Lua state before the kernel's environment is built. Errors it
raises name the kernel's line, as the C functions' errors do; the one VM error that can
arise in its own code (comparing values of different types in `sort`) loses its position
inside this file, as the C function's error has none.

- string.find, match, gmatch, gsub with patterns: a port of LuaJIT's lib_string.c matcher
  (same results, captures, errors and limits: 32 captures, nesting depth 200). The C
  matcher backtracks without end on patterns like "(.-)(.-)(.-)b"; this one is just as
  slow but can be stopped.
- string.find with a plain needle: LuaJIT's C search is quadratic in the worst case. When
  (haystack length x needle length) is small it is still used (bounded); otherwise a
  rolling-hash search in Lua runs in linear time.
- table.sort: a port of LuaJIT's auxsort (the same order of comparisons, so the same
  result, even for inconsistent comparators, and the same errors).
- table.insert(t, pos, v): the C version shifts every element above pos (and loops 2^31
  times for pos = -2^31); long shifts are done in Lua.

Everything else in the whitelisted libraries is constant time, or linear in values a kernel
can only make within its memory limit (see SECURITY.md for the audit).

Arguments: the original string and table libraries, debug.getinfo. Returns a table of
replacements: find, match, gmatch, gsub, sort, insert.
]]
local string_library, table_library, getinfo = ...

local byte, sub = string_library.byte, string_library.sub
local c_find, c_gsub = string_library.find, string_library.gsub
local concat, c_insert = table_library.concat, table_library.insert
local type, tostring, tonumber, select, error, pcall = type, tostring, tonumber, select, error, pcall
local rawget, rawset, setmetatable, pairs = rawget, rawset, setmetatable, pairs
local floor, ceil = math.floor, math.ceil

local LIBRARY_SOURCE = "=library"
local LIBRARY_POSITION = "^library:%d+: "

-- Raises `message` at the first caller outside this file, as LuaJIT's lj_err_caller does:
-- "kernel:LINE: message" when the caller is kernel code, no position when it is C.
local function raise(message)
  local level = 2
  while true do
    local frame = getinfo(level, "S")
    if frame == nil or frame.source ~= LIBRARY_SOURCE then break end
    level = level + 1
  end
  error(message, level)
end

-- C's (int32_t) conversion of a number, as lj_lib_checkint does on x86-64.
local function to_int32(number)
  if number ~= number or number >= 2147483648 or number < -2147483648 then
    return -2147483648
  end
  if number >= 0 then return floor(number) end
  return ceil(number)
end

--------------------------------------------------------------------------------------------
-- Pattern matching (lib_string.c)

local MAX_CAPTURES = 32
local MAX_DEPTH = 200 -- LJ_MAX_XLEVEL
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local ESC, LEFT_BRACKET, RIGHT_BRACKET, CARET = 37, 91, 93, 94

-- Character classes by their letter (%a ...), as lj_char.c defines them (ASCII, "C" locale).
local class_sets = {}
do
  local function set_of(test)
    local set = {}
    for c = 0, 255 do set[c] = test(c) end
    return set
  end
  local function between(c, low, high) return c >= low and c <= high end
  local function is_alpha(c) return between(c, 65, 90) or between(c, 97, 122) end
  local function is_digit(c) return between(c, 48, 57) end
  local function is_graph(c) return between(c, 33, 126) end
  local tests = {
    a = is_alpha,
    c = function(c) return c < 32 or c == 127 end,
    d = is_digit,
    g = is_graph,
    l = function(c) return between(c, 97, 122) end,
    p = function(c) return is_graph(c) and not is_alpha(c) and not is_digit(c) end,
    s = function(c) return between(c, 9, 13) or c == 32 end,
    u = function(c) return between(c, 65, 90) end,
    w = function(c) return is_alpha(c) or is_digit(c) end,
    x = function(c) return is_digit(c) or between(c, 97, 102) or between(c, 65, 70) end,
    z = function(c) return c == 0 end,
  }
  for letter, test in pairs(tests) do
    local lower, upper = byte(letter), byte(letter) - 32
    class_sets[lower] = set_of(test)
    class_sets[upper] = set_of(function(c) return not test(c) end)
  end
end

local function match_class(c, class)
  local set = class_sets[class]
  if set then return set[c] end
  return class == c
end

-- A match in progress: the subject S (length s_len), the pattern P up to its first NUL
-- (length p_len), the captures and the recursion depth. Positions are 1-based; a subject
-- position s_len + 1 is the end.
local State = {}
State.__index = State

local function new_state(subject, pattern)
  local nul = c_find(pattern, "\0", 1, true)
  if nul then pattern = sub(pattern, 1, nul - 1) end
  return setmetatable({
    S = subject, s_len = #subject, P = pattern, p_len = #pattern,
    level = 0, depth = 0, capture_start = {}, capture_len = {},
  }, State)
end

-- The pattern byte at p, or 0 past its end (C reads the terminating NUL).
function State:pat(p)
  if p > self.p_len then return 0 end
  return byte(self.P, p)
end

function State:class_end(p)
  local c = self:pat(p)
  p = p + 1
  if c == ESC then
    if p > self.p_len then raise("malformed pattern (ends with '%')") end
    return p + 1
  elseif c == LEFT_BRACKET then
    if self:pat(p) == CARET then p = p + 1 end
    repeat
      if p > self.p_len then raise("malformed pattern (missing ']')") end
      local cc = byte(self.P, p)
      p = p + 1
      if cc == ESC and p <= self.p_len then p = p + 1 end
    until self:pat(p) == RIGHT_BRACKET
    return p + 1
  end
  return p
end

-- p at '[', class_last at its ']'.
function State:match_bracket_class(c, p, class_last)
  local matched = true
  if self:pat(p + 1) == CARET then
    matched = false
    p = p + 1
  end
  p = p + 1
  while p < class_last do
    local pc = self:pat(p)
    if pc == ESC then
      p = p + 1
      if match_class(c, self:pat(p)) then return matched end
    elseif self:pat(p + 1) == 45 and p + 2 < class_last then -- a range "x-y"
      p = p + 2
      if self:pat(p - 2) <= c and c <= self:pat(p) then return matched end
    elseif pc == c then
      return matched
    end
    p = p + 1
  end
  return not matched
end

function State:single_match(c, p, ep)
  local pc = self:pat(p)
  if pc == 46 then return true -- '.'
  elseif pc == ESC then return match_class(c, self:pat(p + 1))
  elseif pc == LEFT_BRACKET then return self:match_bracket_class(c, p, ep - 1)
  end
  return pc == c
end

local do_match

function State:match_balance(s, p)
  if p > self.p_len or p + 1 > self.p_len then raise("unbalanced pattern") end
  if s > self.s_len or byte(self.S, s) ~= self:pat(p) then return nil end
  local open, close, depth = self:pat(p), self:pat(p + 1), 1
  s = s + 1
  while s <= self.s_len do
    local c = byte(self.S, s)
    if c == close then
      depth = depth - 1
      if depth == 0 then return s + 1 end
    elseif c == open then
      depth = depth + 1
    end
    s = s + 1
  end
  return nil
end

function State:max_expand(s, p, ep)
  local count = 0
  while s + count <= self.s_len and self:single_match(byte(self.S, s + count), p, ep) do
    count = count + 1
  end
  while count >= 0 do
    local result = do_match(self, s + count, ep + 1)
    if result then return result end
    count = count - 1
  end
  return nil
end

function State:min_expand(s, p, ep)
  while true do
    local result = do_match(self, s, ep + 1)
    if result then return result end
    if s <= self.s_len and self:single_match(byte(self.S, s), p, ep) then
      s = s + 1
    else
      return nil
    end
  end
end

function State:start_capture(s, p, what)
  local level = self.level
  if level >= MAX_CAPTURES then raise("too many captures") end
  self.capture_start[level] = s
  self.capture_len[level] = what
  self.level = level + 1
  local result = do_match(self, s, p)
  if result == nil then self.level = self.level - 1 end
  return result
end

function State:end_capture(s, p)
  local level = self.level - 1
  while level >= 0 and self.capture_len[level] ~= CAP_UNFINISHED do level = level - 1 end
  if level < 0 then raise("invalid pattern capture") end
  self.capture_len[level] = s - self.capture_start[level]
  local result = do_match(self, s, p)
  if result == nil then self.capture_len[level] = CAP_UNFINISHED end
  return result
end

function State:match_capture(s, digit)
  local index = digit - 49 -- '1'
  if index < 0 or index >= self.level or self.capture_len[index] == CAP_UNFINISHED then
    raise("invalid capture index")
  end
  local len = self.capture_len[index]
  if len < 0 or self.s_len + 1 - s < len then return nil end -- a position never matches
  local start = self.capture_start[index]
  if sub(self.S, start, start + len - 1) == sub(self.S, s, s + len - 1) then return s + len end
  return nil
end

-- The end (exclusive) of a match of the pattern from p at subject position s, or nil.
do_match = function(self, s, p)
  local depth = self.depth + 1
  if depth > MAX_DEPTH then raise("pattern too complex") end
  self.depth = depth
  while true do
    local pc = self:pat(p)
    if pc == 40 then -- '('
      if self:pat(p + 1) == 41 then
        s = self:start_capture(s, p + 2, CAP_POSITION)
      else
        s = self:start_capture(s, p + 1, CAP_UNFINISHED)
      end
      break
    elseif pc == 41 then -- ')'
      s = self:end_capture(s, p + 1)
      break
    elseif pc == 0 then -- end of pattern
      break
    elseif pc == 36 and self:pat(p + 1) == 0 then -- '$' at the end
      if s ~= self.s_len + 1 then s = nil end
      break
    elseif pc == ESC and self:pat(p + 1) == 98 then -- %b
      s = self:match_balance(s, p + 2)
      if s == nil then break end
      p = p + 4
    elseif pc == ESC and self:pat(p + 1) == 102 then -- %f
      p = p + 2
      if self:pat(p) ~= LEFT_BRACKET then raise("missing '[' after '%f' in pattern") end
      local ep = self:class_end(p)
      local previous = s == 1 and 0 or byte(self.S, s - 1)
      local current = s <= self.s_len and byte(self.S, s) or 0
      if self:match_bracket_class(previous, p, ep - 1)
        or not self:match_bracket_class(current, p, ep - 1) then
        s = nil
        break
      end
      p = ep
    elseif pc == ESC and self:pat(p + 1) >= 48 and self:pat(p + 1) <= 57 then -- %0-%9
      s = self:match_capture(s, self:pat(p + 1))
      if s == nil then break end
      p = p + 2
    else -- a single-character class, perhaps with a quantifier
      local ep = self:class_end(p)
      local matched = s <= self.s_len and self:single_match(byte(self.S, s), p, ep)
      local quantifier = self:pat(ep)
      if quantifier == 63 then -- '?'
        local result = matched and do_match(self, s + 1, ep + 1)
        if result then
          s = result
          break
        end
        p = ep + 1
      elseif quantifier == 42 then -- '*'
        s = self:max_expand(s, p, ep)
        break
      elseif quantifier == 43 then -- '+'
        s = matched and self:max_expand(s + 1, p, ep) or nil
        break
      elseif quantifier == 45 then -- '-'
        s = self:min_expand(s, p, ep)
        break
      elseif matched then
        s = s + 1
        p = ep
      else
        s = nil
        break
      end
    end
  end
  self.depth = depth - 1
  return s
end

function State:capture(index, s, e)
  if index >= self.level then
    if index == 0 then return sub(self.S, s, e - 1) end
    raise("invalid capture index")
  end
  local len = self.capture_len[index]
  if len == CAP_UNFINISHED then raise("unfinished capture") end
  local start = self.capture_start[index]
  if len == CAP_POSITION then return start end
  return sub(self.S, start, start + len - 1)
end

-- All captures of a match from s to e (exclusive); the whole match when there are none
-- and s is given.
local function captures(state, s, e, index, count)
  if index == nil then
    index, count = 0, (state.level == 0 and s) and 1 or state.level
  end
  if index >= count then return end
  return state:capture(index, s, e), captures(state, s, e, index + 1, count)
end

-- lj_str_haspattern: does the text hold a character that makes it a pattern?
local function has_pattern(text)
  return c_find(text, "[%^%$%*%+%?%.%(%[%%%-]") ~= nil
end

-- Above this many (haystack x needle) bytes, plain finds run in Lua: the C search compares
-- up to that many bytes (a few milliseconds) before a stop can reach it.
local PLAIN_FIND_C_BUDGET = 2 ^ 24
local HASH_BASE, HASH_MODULUS = 257, 2147483647

-- The first occurrence of needle in haystack at or after `first` (1-based), in linear
-- time: Rabin-Karp with a rolling hash, each hash hit checked by comparing the text.
local function plain_find_linear(haystack, needle, first)
  local h_len, n_len = #haystack, #needle
  local last = h_len - n_len + 1
  if first > last then return nil end
  local needle_hash, window_hash, top_power = 0, 0, 1
  for i = 1, n_len do
    needle_hash = (needle_hash * HASH_BASE + byte(needle, i)) % HASH_MODULUS
    window_hash = (window_hash * HASH_BASE + byte(haystack, first + i - 1)) % HASH_MODULUS
    if i > 1 then top_power = top_power * HASH_BASE % HASH_MODULUS end
  end
  local start = first
  while true do
    if window_hash == needle_hash and sub(haystack, start, start + n_len - 1) == needle then
      return start, start + n_len - 1
    end
    if start >= last then return nil end
    local outgoing = byte(haystack, start) * top_power % HASH_MODULUS
    window_hash = ((window_hash - outgoing + HASH_MODULUS) * HASH_BASE
      + byte(haystack, start + n_len)) % HASH_MODULUS
    start = start + 1
  end
end

-- Arguments of find/match as the C function would take them, or nil if the C function
-- would raise an argument error (then it is called, to raise exactly that error).
local function subject_and_pattern(s, p)
  local ts, tp = type(s), type(p)
  if (ts ~= "string" and ts ~= "number") or (tp ~= "string" and tp ~= "number") then
    return nil
  end
  return tostring(s), tostring(p)
end

local function optional_int(value, default)
  if value == nil then return default end
  local number = tonumber(value)
  if number == nil then return nil end
  return to_int32(number)
end

-- True when s, p (and init) are what find, match and gmatch accept. Otherwise the C
-- function is called with exactly the caller's arguments, to raise exactly its error
-- ("got no value" and "got nil" differ).
local function valid_arguments(s, p, init)
  return subject_and_pattern(s, p) ~= nil and (init == nil or tonumber(init) ~= nil)
end

-- find (is_find) or match, on valid arguments.
local function find_aux(is_find, s, p, init, plain)
  local subject, pattern = subject_and_pattern(s, p)
  local start = optional_int(init, 1)
  local s_len = #subject
  if start < 0 then start = start + s_len else start = start - 1 end
  if start < 0 then start = 0 end
  if start > s_len then start = s_len end
  if is_find and (plain or not has_pattern(pattern)) then
    if (s_len - start) * #pattern <= PLAIN_FIND_C_BUDGET then
      return c_find(subject, pattern, start + 1, true)
    end
    return plain_find_linear(subject, pattern, start + 1)
  end
  local state = new_state(subject, pattern)
  local p_first, anchored = 1, state:pat(1) == CARET
  if anchored then p_first = 2 end
  local s_first = start + 1
  while true do
    state.level, state.depth = 0, 0
    local e = do_match(state, s_first, p_first)
    if e then
      if is_find then return s_first, e - 1, captures(state, nil, nil) end
      return captures(state, s_first, e)
    end
    if s_first > s_len or anchored then return nil end
    s_first = s_first + 1
  end
end

local library = {}

function library.find(...)
  local s, p, init, plain = ...
  if not valid_arguments(s, p, init) then return string_library.find(...) end
  return find_aux(true, s, p, init, plain)
end

function library.match(...)
  local s, p, init = ...
  if not valid_arguments(s, p, init) then return string_library.match(...) end
  return find_aux(false, s, p, init)
end

function library.gmatch(...)
  local s, p = ...
  if not valid_arguments(s, p) then return string_library.gmatch(...) end
  local subject, pattern = subject_and_pattern(s, p)
  local state = new_state(subject, pattern)
  local position = 1
  return function()
    local src = position
    while src <= state.s_len + 1 do
      state.level, state.depth = 0, 0
      local e = do_match(state, src, 1)
      if e then
        position = e == src and e + 1 or e -- an empty match still moves on
        return captures(state, src, e)
      end
      src = src + 1
    end
  end
end

local GSUB_REPLACEMENT_TYPES = { number = true, string = true, ["function"] = true, table = true }

-- The text to put in place of the match from s to e (exclusive).
local function replacement(state, s, e, repl, repl_type)
  local value
  if repl_type == "string" or repl_type == "number" then
    local text = tostring(repl)
    if not c_find(text, "%", 1, true) then return text end
    local parts, i, len = {}, 1, #text
    while i <= len do
      local c = byte(text, i)
      if c ~= ESC then
        parts[#parts + 1] = sub(text, i, i)
      else
        i = i + 1
        local d = i <= len and byte(text, i) or 0
        if d < 48 or d > 57 then
          parts[#parts + 1] = i <= len and sub(text, i, i) or "\0"
        elseif d == 48 then
          parts[#parts + 1] = sub(state.S, s, e - 1)
        else
          parts[#parts + 1] = tostring(state:capture(d - 49, s, e))
        end
      end
      i = i + 1
    end
    return concat(parts)
  elseif repl_type == "function" then
    value = repl(captures(state, s, e))
  else
    value = repl[state:capture(0, s, e)]
  end
  if not value then return sub(state.S, s, e - 1) end
  local value_type = type(value)
  if value_type ~= "string" and value_type ~= "number" then
    raise("invalid replacement value (a " .. value_type .. ")")
  end
  return tostring(value)
end

function library.gsub(...)
  local s, p, repl, max_n = ...
  local repl_type = type(repl)
  if not valid_arguments(s, p, max_n) or not GSUB_REPLACEMENT_TYPES[repl_type] then
    return string_library.gsub(...) -- raises exactly the C function's argument error
  end
  local subject, pattern = subject_and_pattern(s, p)
  local max_replacements = optional_int(max_n, #subject + 1)
  local state = new_state(subject, pattern)
  local p_first, anchored = 1, state:pat(1) == CARET
  if anchored then p_first = 2 end
  local parts, src, kept_from, count = {}, 1, 1, 0
  while count < max_replacements do
    state.level, state.depth = 0, 0
    local e = do_match(state, src, p_first)
    if e then
      count = count + 1
      parts[#parts + 1] = sub(subject, kept_from, src - 1)
      parts[#parts + 1] = replacement(state, src, e, repl, repl_type)
      kept_from = e > src and e or src
    end
    if e and e > src then
      src = e
    elseif src <= state.s_len then
      src = src + 1 -- the character at src stays (it is kept from kept_from on)
    else
      break
    end
    if anchored then break end
  end
  parts[#parts + 1] = sub(subject, kept_from, state.s_len)
  return concat(parts), count
end

--------------------------------------------------------------------------------------------
-- table.sort (lib_table.c's auxsort) and table.insert

local function less_than(a, b) return a < b end

local function aux_sort(t, l, u, lt)
  while l < u do
    -- sort t[l], t[(l + u) / 2] and t[u]
    local a_l, a_u = rawget(t, l), rawget(t, u)
    if lt(a_u, a_l) then rawset(t, l, a_u); rawset(t, u, a_l) end
    if u - l == 1 then break end
    local i = floor((l + u) / 2)
    local a_i
    a_i, a_l = rawget(t, i), rawget(t, l)
    if lt(a_i, a_l) then
      rawset(t, i, a_l); rawset(t, l, a_i)
    else
      a_u = rawget(t, u)
      if lt(a_u, a_i) then rawset(t, i, a_u); rawset(t, u, a_i) end
    end
    if u - l == 2 then break end
    local pivot = rawget(t, i)
    rawset(t, i, rawget(t, u - 1)); rawset(t, u - 1, pivot)
    local j
    i, j = l, u - 1
    while true do -- invariant: t[l..i] <= pivot <= t[j..u]
      i = i + 1
      a_i = rawget(t, i)
      while lt(a_i, pivot) do
        if i >= u then raise("invalid order function for sorting") end
        i = i + 1
        a_i = rawget(t, i)
      end
      j = j - 1
      local a_j = rawget(t, j)
      while lt(pivot, a_j) do
        if j <= l then raise("invalid order function for sorting") end
        j = j - 1
        a_j = rawget(t, j)
      end
      if j < i then break end
      rawset(t, i, a_j); rawset(t, j, a_i)
    end
    local a_last = rawget(t, u - 1)
    rawset(t, u - 1, rawget(t, i)); rawset(t, i, a_last)
    -- recurse into the smaller half, loop on the larger
    if i - l < u - i then
      j, i, l = l, i - 1, i + 1
    else
      j, i, u = i + 1, u, i - 1
    end
    aux_sort(t, j, i, lt)
  end
end

function library.sort(...)
  local t, comp = ...
  if type(t) ~= "table" or (comp ~= nil and type(comp) ~= "function") then
    return table_library.sort(...) -- raises exactly the C function's argument error
  end
  -- One pcall per sort (not per comparison): an error is raised again unchanged, except
  -- that a comparison error from `less_than` loses its position in this file.
  local ok, err = pcall(aux_sort, t, 1, #t, comp or less_than)
  if ok then return end
  if type(err) == "string" and c_find(err, LIBRARY_POSITION) then
    err = c_gsub(err, LIBRARY_POSITION, "", 1)
  end
  error(err, 0)
end

-- Inserts that move more elements than this run in Lua (the C loop takes ~1 ms for it).
local INSERT_C_SHIFT_LIMIT = 100000

function library.insert(t, ...)
  if select("#", ...) == 2 and type(t) == "table" then
    local position = tonumber((...))
    if position then
      position = to_int32(position)
      local len = #t
      if len + 1 - position > INSERT_C_SHIFT_LIMIT then
        for i = len + 1, position + 1, -1 do rawset(t, i, rawget(t, i - 1)) end
        rawset(t, position, (select(2, ...)))
        return
      end
    end
  end
  return c_insert(t, ...)
end

return library
