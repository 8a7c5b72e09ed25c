//! Tests of the engine's own Lua libraries that kernels get: the stoppable pattern, sort
//! and insert functions (runtime/bounded_library.lua) against LuaJIT's own, and `dd`
//! (runtime/double_double.lua) against exact big-integer arithmetic.

use mlua::{Function, Table};

use super::lua_unsafe::new_lua_state;
use super::state::{DOUBLE_DOUBLE_LUA, load_bounded_library};

/// Runs `script` in a state holding the C libraries as globals and the bounded library
/// as `bounded`; returns what the script returns (a list of mismatches).
fn differences(script: &str) -> Vec<String> {
    let lua = new_lua_state();
    let bounded = load_bounded_library(&lua).expect("library loads");
    lua.globals().set("bounded", bounded).expect("set");
    lua.load(script)
        .set_name("=test")
        .call(())
        .expect("script runs")
}

/// Compares every call's results and errors, C against Lua, for each case; the script
/// fragment `CASES` defines them.
const COMPARE: &str = r##"
    local mismatches = {}
    local function pack(...) return { n = select('#', ...), ... } end
    local function show(r)
      local parts = {}
      for i = 1, r.n do parts[i] = type(r[i]) == "string" and ("%q"):format(r[i]) or tostring(r[i]) end
      return table.concat(parts, ", ")
    end
    local function compare(name, ...)
      local c = pack(pcall(string[name] or table[name], ...))
      local lua = pack(pcall(bounded[name], ...))
      if show(c) ~= show(lua) then
        mismatches[#mismatches + 1] = name .. "(" .. show(pack(...)) .. "): C " .. show(c) .. " | Lua " .. show(lua)
      end
    end
    local function gmatch_all(s, p)
      local out = {}
      for a, b in string.gmatch(s, p) do out[#out + 1] = tostring(a) .. "/" .. tostring(b) end
      return table.concat(out, ",")
    end
    local function compare_gmatch(s, p)
      local c = pack(pcall(gmatch_all, s, p))
      local saved = string.gmatch
      string.gmatch = bounded.gmatch
      local lua = pack(pcall(gmatch_all, s, p))
      string.gmatch = saved
      if show(c) ~= show(lua) then
        mismatches[#mismatches + 1] = "gmatch(" .. s .. ", " .. p .. "): C " .. show(c) .. " | Lua " .. show(lua)
      end
    end
"##;

#[test]
fn bounded_patterns_agree_with_luajit_on_chosen_cases() {
    let script = format!(
        "{COMPARE}{}",
        r##"
        local subjects = { "", "a", "hello world", "  x = 12.5e3, y = -4 ", "(a(b)c)(d", "aaa",
          "THE (quick) fox", "a\0b\0c", "key=value; other=thing", "[[x]]", "%d%%" }
        local patterns = { "", "a", "l+", "o", "(o)(r)", "()ll()", "^h", "d$", "%a+", "%d+%.?%d*",
          "[%w_]+", "[^%s=]+", "%b()", "%f[%w]%w+", "(a*(.)%w(%s*))", "(h)(e)(l)(l)(o)",
          "%s*(%S+)%s*", "[a-c]+", "[%]]", "a-b", "x?y?", ".-", "(.-)(.-)b", "%", "[a", "%b",
          "%fx", "(()", "%1", "(a)%1", "((a)", ")", "%g+", "%Z", "[^]]", "a\0c", "%c", "%x+", "%p",
          "%u%l*", "$", "^", "^$", "%z", "(%d+)=(%d+)", "[%a-z]", "[a-]", "[-a]", "((((((((((" }
        for _, s in ipairs(subjects) do
          for _, p in ipairs(patterns) do
            compare("find", s, p)
            compare("find", s, p, 3)
            compare("find", s, p, -2)
            compare("find", s, p, 1, true)
            compare("match", s, p)
            compare("match", s, p, 2)
            compare("gsub", s, p, "<%0>")
            compare("gsub", s, p, "%1-%2", 2)
            compare("gsub", s, p, { l = "L", hello = false, a = 3 })
            compare("gsub", s, p, function(a, b) return b end)
            compare("gsub", s, p, "%")
            compare_gmatch(s, p)
          end
        end
        -- arguments of every wrong kind, and numbers as strings
        compare("find", nil, "a") compare("find", "a") compare("find", 12345, 3)
        compare("find", "abc", "b", "2") compare("find", "abc", "b", "x") compare("find", "abc", "b", 1e10)
        compare("match", {}, "a") compare("gsub", "abc", "b") compare("gsub", "abc", "b", true)
        compare("gsub", "abc", "b", "x", "y") compare("gsub", "abc", "b", function() return {} end)
        compare("gsub", "abc", "(b)", "%2") compare("gsub", 12.5, "%.", "!")
        compare("sort", nil) compare("sort", {}, 3) compare("insert", {}) compare("insert", nil, 1)
        compare("insert", {}, 1, 2, 3) compare("insert", {}, "x", 1)
        return mismatches
        "##
    );
    let mismatches = differences(&script);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn bounded_patterns_agree_with_luajit_on_random_cases() {
    let script = format!(
        "{COMPARE}{}",
        r##"
        math.randomseed(20261123)
        local letters = { "a", "b", "(", ")", " ", "1" }
        local items = { "a", "b", ".", "%a", "%d", "%s", "[ab]", "[^a]", "(", ")", "()", "%1",
          "%b()", "%f[%a]", "^", "$", "*", "+", "-", "?", "%", "[" }
        local function random_text(pool, max)
          local parts = {}
          for i = 1, math.random(0, max) do parts[i] = pool[math.random(#pool)] end
          return table.concat(parts)
        end
        for _ = 1, 20000 do
          local s, p = random_text(letters, 10), random_text(items, 6)
          compare("find", s, p)
          compare("match", s, p, math.random(-3, 4))
          compare("gsub", s, p, "[%0]", math.random(0, 3))
          compare_gmatch(s, p)
        end
        return mismatches
        "##
    );
    let mismatches = differences(&script);
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

#[test]
fn bounded_sort_and_insert_agree_with_luajit() {
    let script = format!(
        "{COMPARE}{}",
        r##"
        math.randomseed(7)
        local function copy(t) local c = {} for i = 1, #t do c[i] = t[i] end return c end
        local function same(a, b) if #a ~= #b then return false end
          for i = 1, #a do if a[i] ~= b[i] then return false end end return true end
        local comparators = {
          false,
          function(a, b) return a > b end,
          function(a, b) return a % 7 < b % 7 end,     -- many equal keys
          function(a, b) return math.random() < 0.5 end, -- inconsistent
          function(a, b) return true end,               -- invalid
        }
        for round = 1, 400 do
          local t = {}
          for i = 1, math.random(0, 60) do t[i] = math.random(1, 30) end
          local which = comparators[math.random(#comparators)]
          local seed = math.random(1, 1e6)
          local a, b = copy(t), copy(t)
          math.randomseed(seed)
          local ok_c, err_c = pcall(table.sort, a, which or nil)
          math.randomseed(seed)
          local ok_l, err_l = pcall(bounded.sort, b, which or nil)
          if ok_c ~= ok_l or tostring(err_c) ~= tostring(err_l) or not same(a, b) then
            mismatches[#mismatches + 1] = "sort round " .. round .. ": " .. tostring(err_c) .. " | " .. tostring(err_l)
          end
        end
        local ok_c, err_c = pcall(table.sort, { 3, "x", 1 })
        local ok_l, err_l = pcall(bounded.sort, { 3, "x", 1 })
        if err_c ~= err_l then mismatches[#mismatches + 1] = "mixed: " .. err_c .. " | " .. err_l end
        for _, position in ipairs({ 1, 2, 5, 0, -3, 2.7, "3" }) do
          local a, b = { 1, 2, 3, 4 }, { 1, 2, 3, 4 }
          table.insert(a, position, "v")
          bounded.insert(b, position, "v")
          for k, v in pairs(a) do if b[k] ~= v then mismatches[#mismatches + 1] = "insert " .. position end end
        end
        -- long shifts take the Lua path and give the same table
        local a, b = {}, {}
        for i = 1, 250000 do a[i] = i b[i] = i end
        table.insert(a, 3, "v") bounded.insert(b, 3, "v")
        if not same(a, b) then mismatches[#mismatches + 1] = "long insert" end
        return mismatches
        "##
    );
    let mismatches = differences(&script);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn long_plain_finds_take_the_linear_path_and_agree() {
    let mismatches = differences(&format!(
        "{COMPARE}{}",
        r##"
        local hay = string.rep("ab", 200000) .. "abc" .. string.rep("ab", 1000)
        for _, needle in ipairs({ string.rep("ab", 5000) .. "c", "abc", string.rep("ab", 3000) .. "x", "" }) do
          for _, init in ipairs({ 1, 7, -50, 400000 }) do
            compare("find", hay, needle, init, true)
            compare("find", hay, needle, init)
          end
        end
        return mismatches
        "##
    ));
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// `x` exactly, as an integer times 2^-1200 (every finite double is a whole multiple
/// of 2^-1074).
fn exact(x: f64) -> num_bigint::BigInt {
    use num_bigint::BigInt;
    if x == 0.0 {
        return BigInt::from(0);
    }
    let bits = x.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1_u64 << 52) - 1);
    let (mantissa, exponent) = if exponent_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1_u64 << 52), exponent_bits - 1075)
    };
    let magnitude = BigInt::from(mantissa) << usize::try_from(exponent + 1200).expect("small");
    if x < 0.0 { -magnitude } else { magnitude }
}

/// True when `got` (hi, lo) is within 2^-102 of `exact_scaled` (scaled by 2^-`scale`)
/// relative to it.
fn close(got: (f64, f64), exact_scaled: &num_bigint::BigInt, scale: usize) -> bool {
    let got_scaled = (exact(got.0) + exact(got.1)) << (scale - 1200);
    let error = (got_scaled - exact_scaled).magnitude().clone();
    (error << 102_usize) <= *exact_scaled.magnitude()
}

#[test]
fn the_dd_library_adds_and_multiplies_to_within_2_to_the_minus_102() {
    let lua = new_lua_state();
    let dd: Table = lua
        .load(DOUBLE_DOUBLE_LUA)
        .call(())
        .expect("the library loads");
    let new: Function = dd.get("new").expect("new");
    let call = |name: &str, a: (f64, f64), b: (f64, f64)| -> (f64, f64) {
        let a: Table = new.call(a).expect("a");
        let b: Table = new.call(b).expect("b");
        let result: Table = dd
            .get::<Function>(name)
            .expect("the operation")
            .call((a, b))
            .expect("it runs");
        (result.get("hi").expect("hi"), result.get("lo").expect("lo"))
    };
    // A fixed pseudo-random sequence: values of all signs and magnitudes 2^-40..2^3,
    // each with a low part.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1_u64 << 53) as f64 - 0.5
    };
    let mut checked = 0;
    for _ in 0..2000 {
        let mut value = || {
            let hi = next() * 16.0 * 2_f64.powi((next() * 80.0) as i32 - 40);
            (hi, hi * next() * 2_f64.powi(-53))
        };
        let (a, b) = (value(), value());
        let (ea, eb) = (exact(a.0) + exact(a.1), exact(b.0) + exact(b.1));
        let sum = &ea + &eb;
        if sum.magnitude().bits() > 0 {
            assert!(close(call("add", a, b), &sum, 1200), "add {a:?} {b:?}");
        }
        let difference = &ea - &eb;
        if difference.magnitude().bits() > 0 {
            assert!(
                close(call("sub", a, b), &difference, 1200),
                "sub {a:?} {b:?}"
            );
        }
        assert!(
            close(call("mul", a, b), &(&ea * &eb), 2400),
            "mul {a:?} {b:?}"
        );
        assert!(close(call("sqr", a, a), &(&ea * &ea), 2400), "sqr {a:?}");
        // A plain number as the second operand.
        let number: Table = new.call(a).expect("a");
        let by_number: Table = dd
            .get::<Function>("mul")
            .expect("mul")
            .call((number, b.0))
            .expect("runs");
        let got = (
            by_number.get("hi").expect("hi"),
            by_number.get("lo").expect("lo"),
        );
        assert!(close(got, &(&ea * exact(b.0)), 2400), "mul by {}", b.0);
        checked += 1;
    }
    assert_eq!(checked, 2000);
}

#[test]
fn dd_values_have_operators_comparisons_and_clear_errors() {
    let lua = new_lua_state();
    let dd: Table = lua
        .load(DOUBLE_DOUBLE_LUA)
        .call(())
        .expect("the library loads");
    lua.globals().set("dd", dd).expect("set");
    let results: (bool, bool, bool, f64, f64, String, String) = lua
        .load(
            r#"
            local third = dd.new(1) * dd.new(1 / 3)            -- not exactly 1/3 * 1
            local a, b = dd.new(1, 1e-20), dd.new(1)
            local z = (a - b) * 1e20                            -- the low part survives
            local ok, message = pcall(dd.add, a, "x")
            return a > b, b < a, -a == dd.new(-1, -1e-20), z:tonumber(),
                   dd.compare(a, 1), tostring(b), message
            "#,
        )
        .call(())
        .expect("runs");
    assert!(results.0 && results.1 && results.2);
    assert!((results.3 - 1.0).abs() < 1e-12, "{}", results.3);
    assert_eq!(results.4, 1.0);
    assert_eq!(results.5, "dd(1, 0)");
    assert!(
        results.6.contains("expects numbers or dd values"),
        "{}",
        results.6
    );
}
