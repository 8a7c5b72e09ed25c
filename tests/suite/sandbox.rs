//! The sandbox: what kernel code may and may not reach, and that nothing survives from one
//! kernel into the next.

use moonbrot::engine::{CancelToken, Engine, KernelError};

use crate::support::{engine_with_log, kernel_error, render, request};

/// A kernel whose top level evaluates `expression` and whose pixel returns 1.
fn top_level(expression: &str) -> String {
    format!("local probe = {expression}\nfunction pixel(x, y) return 1 end")
}

/// Asserts that evaluating `expression` in a kernel fails, naming `what`.
fn assert_refused(expression: &str, what: &str) {
    match kernel_error(&top_level(expression)) {
        KernelError::Load { message, line } => {
            assert!(message.contains("nil value"), "{expression}: {message}");
            assert_eq!(line, Some(1), "{expression}");
            assert!(
                message.contains(what),
                "{expression}: {message} should name {what}"
            );
        }
        other => panic!("{expression}: expected a load error, got {other:?}"),
    }
}

#[test]
fn kernels_cannot_reach_files_processes_or_modules() {
    assert_refused("io.open('/etc/passwd')", "io");
    assert_refused("os.execute('true')", "os");
    assert_refused("os.remove('x')", "os");
    assert_refused("require('ffi')", "require");
    assert_refused("package.loaded", "package");
    assert_refused("dofile('/etc/passwd')", "dofile");
    assert_refused("loadfile('/etc/passwd')", "loadfile");
}

#[test]
fn kernels_cannot_load_code_or_touch_the_vm() {
    assert_refused("load('return 1')", "load");
    assert_refused("loadstring('return 1')", "loadstring");
    assert_refused("getfenv(1)", "getfenv");
    assert_refused("setfenv(1, {})", "setfenv");
    assert_refused("debug.getinfo(1)", "debug");
    assert_refused("ffi.new('int[1]')", "ffi");
    assert_refused("jit.off()", "jit");
    assert_refused("collectgarbage('count')", "collectgarbage");
    assert_refused("coroutine.create(print)", "coroutine");
    assert_refused("newproxy(true)", "newproxy");
    assert_refused("string.dump(print)", "dump");
}

#[test]
fn the_shared_string_metatable_is_locked() {
    // getmetatable("") would hand out the real string library of the state.
    let output = render(
        "local mt = getmetatable('')\nfunction pixel(x, y) return mt == false and 1 or 0 end",
    )
    .expect("render");
    assert!(output.image.values.iter().all(|value| *value == 1.0));
    // Methods on strings still work, and use the kernel's own string table.
    let output = render("string.upper = nil\nfunction pixel(x, y) return #(('ab'):upper()) end");
    assert!(matches!(
        output,
        Err(moonbrot::engine::RenderError::Kernel(
            KernelError::Runtime { .. }
        ))
    ));
}

#[test]
fn binary_chunks_are_refused() {
    let binary = "\x1bLJ\x02\x00";
    assert!(matches!(kernel_error(binary), KernelError::Syntax { .. }));
}

#[test]
fn the_allowed_libraries_work() {
    let source = r##"
        local parts = {}
        for i, v in ipairs({ 3, 1, 2 }) do parts[#parts + 1] = v end
        table.sort(parts)
        assert(table.concat(parts, ",") == "1,2,3")
        assert(string.format("%d", 42) == "42" and ("x"):rep(3) == "xxx")
        assert(bit.band(6, 3) == 2 and math.floor(math.pi) == 3)
        assert(select("#", 1, 2) == 2 and tonumber("7") == 7 and tostring(7) == "7")
        assert(pcall(error, "x") == false and type(xpcall) == "function")
        assert(rawequal(parts, parts) and rawget(parts, 1) == 1 and next({}) == nil)
        assert(unpack({ 5 }) == 5 and getmetatable(setmetatable({}, {})) ~= nil)
        function pixel(x, y) return 1 end
    "##;
    render(source).expect("every allowed function is there");
}

#[test]
fn nothing_a_kernel_changes_survives_into_the_next_kernel() {
    let engine = Engine::default();
    let vandal = r#"
        math.sqrt = function() return 42 end
        string.rep = nil
        table.insert = nil
        leaked_global = "leaked"
        setmetatable(_G, { __index = function() return 13 end })
        function pixel(x, y) return 1 end
    "#;
    engine
        .render(&request(vandal, 8, 8), &CancelToken::new())
        .expect("vandal renders");
    let inspector = r#"
        assert(math.sqrt(16) == 4, "math.sqrt was replaced")
        assert(string.rep("a", 2) == "aa", "string.rep is gone")
        assert(table.insert ~= nil, "table.insert is gone")
        assert(rawget(_G, "leaked_global") == nil, "a global leaked")
        assert(getmetatable(_G) == nil, "_G kept a metatable")
        function pixel(x, y) return 2 end
    "#;
    let output = engine
        .render(&request(inspector, 8, 8), &CancelToken::new())
        .expect("the next kernel starts clean");
    assert!(output.image.values.iter().all(|value| *value == 2.0));
}

#[test]
fn print_goes_to_the_log_rate_limited() {
    let (engine, lines) = engine_with_log(5);
    let source =
        "print('hello', 1, nil, true)\nfunction pixel(x, y) print('pixel', x) return 1 end";
    engine
        .render(&request(source, 4, 4), &CancelToken::new())
        .expect("render");
    let lines = lines.lock().expect("log").clone();
    assert_eq!(lines[0], "hello\t1\tnil\ttrue");
    assert_eq!(lines.len(), 6, "5 lines, then one notice: {lines:?}");
    assert!(lines[5].contains("limited to 5 lines"));
}

#[test]
fn the_dd_library_keeps_digits_that_doubles_lose() {
    // With doubles, (x + 1e-20) - x is 0 for every x here; in double-double it is 1e-20.
    let source = r#"
        function pixel(x, y)
          local z = dd.new(x) + 1e-20
          return ((z - x) * 1e20):tonumber()
        end
    "#;
    let output = render(source).expect("renders");
    assert!(
        output
            .image
            .values
            .iter()
            .all(|value| (value - 1.0).abs() < 1e-6),
        "{:?}",
        &output.image.values[..4]
    );
}

#[test]
fn a_kernel_looping_forever_in_dd_arithmetic_is_stopped_by_its_timeout() {
    let source = r#"
        function pixel(x, y)
          local z = dd.new(x, 0)
          while true do z = dd.sqr(z) * 0.5 + dd.new(0.25, 1e-30) end
        end
    "#;
    let result = Engine::default().render(
        &moonbrot::engine::RenderRequest {
            timeout: Some(std::time::Duration::from_millis(300)),
            ..request(source, 8, 8)
        },
        &CancelToken::new(),
    );
    assert!(
        matches!(result, Err(moonbrot::engine::RenderError::TimedOut { .. })),
        "{result:?}"
    );
}
