//! Kernel errors: each carries what the user needs to fix it, at the right line and pixel,
//! and a failed render never returns an image.

use moonbrot::engine::{CancelToken, Engine, KernelError, RenderError, RenderRequest, View};

use crate::support::{kernel_error, request};

#[test]
fn syntax_errors_report_their_line() {
    let error = kernel_error("max_iter = 10\n\nfunction pixel(x, y)\n  return x +\nend\n");
    let KernelError::Syntax { line, message } = &error else {
        panic!("expected a syntax error, got {error:?}");
    };
    assert_eq!(*line, Some(5));
    assert!(message.contains("unexpected symbol"), "{message}");
    assert_eq!(error.line(), Some(5));
    assert!(error.to_string().contains("kernel line 5"), "{error}");
}

#[test]
fn runtime_errors_report_line_pixel_and_point() {
    let source = "function pixel(x, y)\n  if x > 0 and y < 0 then\n    return nil + 1\n  end\n  return 1\nend";
    let view = View::new(0.0, 0.0, 2.0);
    let result = Engine::default().render(
        &RenderRequest {
            view: Some(view),
            ..request(source, 4, 4)
        },
        &CancelToken::new(),
    );
    let Err(RenderError::Kernel(KernelError::Runtime {
        line,
        message,
        pixel,
    })) = result
    else {
        panic!("expected a runtime error, got {result:?}");
    };
    assert_eq!(line, Some(3));
    assert!(message.contains("arithmetic"), "{message}");
    // The first failing pixel in row order: row 2 (y = -0.25), column 2 (x = 0.25).
    let pixel = pixel.expect("the failing pixel is found");
    assert_eq!((pixel.column, pixel.row), (2, 2));
    assert_eq!((pixel.x, pixel.y), (0.25, -0.25));
}

#[test]
fn errors_raised_with_tables_nil_or_no_position_still_get_a_line() {
    for (source, expected) in [
        (
            "function pixel(x, y)\n  error({ code = 1 })\nend",
            "table value",
        ),
        ("function pixel(x, y)\n  error()\nend", "nil value"),
        ("function pixel(x, y)\n  error('plain', 0)\nend", "plain"),
    ] {
        let KernelError::Runtime { line, message, .. } = kernel_error(source) else {
            panic!("{source}: expected a runtime error");
        };
        assert_eq!(line, Some(2), "{source}");
        assert!(message.contains(expected), "{source}: {message}");
    }
}

#[test]
fn wrong_return_types_name_what_was_returned() {
    for (source, got) in [
        ("function pixel(x, y)\n  return 'red'\nend", "string"),
        ("function pixel(x, y)\n  return {}\nend", "table"),
        ("function pixel(x, y)\n  return true\nend", "boolean"),
        (
            "output = 'rgb'\nfunction pixel(x, y)\n  return 1, 2\nend",
            "nil",
        ),
    ] {
        // One thread: the image's two units (the lattice cuts it at the real axis) are then
        // rendered in order, so the first failing pixel is the one reported. With more
        // threads, whichever unit fails first is reported (both pixels are real failures).
        let result = Engine::default().render(
            &RenderRequest {
                threads: 1,
                ..request(source, 16, 12)
            },
            &CancelToken::new(),
        );
        let Err(RenderError::Kernel(KernelError::WrongReturn { message, pixel, .. })) = result
        else {
            panic!("{source}: expected a wrong-return error, got {result:?}");
        };
        assert!(message.contains(got), "{source}: {message}");
        assert_eq!(pixel.map(|pixel| (pixel.column, pixel.row)), Some((0, 0)));
    }
}

#[test]
fn nan_infinity_nil_and_false_are_drawn_inside() {
    let source = "local values = { 0/0, 1/0, -1/0, false }\n\
                  function pixel(x, y) if x < 0 then return values[1] elseif y < 0 then return nil else return 1 end end";
    let output = crate::support::render(source).expect("render");
    let inside = output
        .image
        .values
        .iter()
        .filter(|value| !value.is_finite() || **value < 0.0)
        .count();
    assert!(inside > 0 && inside < output.image.values.len());
}

#[test]
fn a_missing_or_misdefined_pixel_is_named() {
    assert_eq!(kernel_error("max_iter = 3"), KernelError::MissingPixel);
    assert!(
        matches!(kernel_error("pixel = 5"), KernelError::PixelNotAFunction { found } if found == "integer" || found == "number")
    );
}

#[test]
fn bad_settings_are_explained() {
    for (source, name) in [
        ("max_iter = -3\nfunction pixel() return 1 end", "max_iter"),
        ("max_iter = 2.5\nfunction pixel() return 1 end", "max_iter"),
        (
            "home = { x = 0, y = 0 }\nfunction pixel() return 1 end",
            "home",
        ),
        (
            "home = { x = 0, y = 0, span = -1 }\nfunction pixel() return 1 end",
            "home",
        ),
        ("output = 'cmyk'\nfunction pixel() return 1 end", "output"),
    ] {
        match kernel_error(source) {
            KernelError::BadSetting { name: got, .. } => assert_eq!(got, name, "{source}"),
            other => panic!("{source}: expected a bad setting, got {other:?}"),
        }
    }
}

#[test]
fn errors_in_the_top_level_report_their_line() {
    let KernelError::Load { line, message } =
        kernel_error("local a = 1\nlocal b = a.field\nfunction pixel() return 1 end")
    else {
        panic!("expected a load error");
    };
    assert_eq!(line, Some(2));
    assert!(message.contains("index"), "{message}");
}

#[test]
fn the_memory_limit_stops_a_memory_bomb_with_a_clear_error() {
    let engine = Engine::new(moonbrot::engine::EngineOptions {
        memory_limit_bytes: 32 * 1024 * 1024,
        ..Default::default()
    });
    for bomb in [
        "local t = {}\nwhile true do t[#t + 1] = { 1, 2, 3 } end",
        "local s = 'x'\nwhile true do s = s .. s end",
        "function pixel(x, y)\n  local t = {}\n  for i = 1, 1e9 do t[i] = i end\nend",
    ] {
        match engine.render(&request(bomb, 8, 8), &CancelToken::new()) {
            Err(RenderError::Kernel(KernelError::MemoryLimit { limit_bytes })) => {
                assert_eq!(limit_bytes, 32 * 1024 * 1024);
            }
            other => panic!(
                "{bomb}: expected the memory limit, got {:?}",
                other.map(|o| o.view)
            ),
        }
    }
    let after = engine.render(
        &request("function pixel() return 3 end", 8, 8),
        &CancelToken::new(),
    );
    assert!(after.is_ok(), "the engine works after a memory bomb");
}

#[test]
fn a_panic_in_a_worker_becomes_an_error_for_that_run_and_the_engine_keeps_working() {
    // A log sink that panics stands in for a bug in moonbrot: a kernel's print reaches it
    // inside a worker thread, in the middle of a render.
    let engine = Engine::new(moonbrot::engine::EngineOptions {
        log: std::sync::Arc::new(moonbrot::engine::KernelLog::new(10, |line| {
            assert!(!line.contains("boom"), "a bug in a log sink");
        })),
        ..Default::default()
    });
    let source = "function pixel(x, y) if x > 0 then print('boom') end return 1 end";
    match engine.render(&request(source, 16, 16), &CancelToken::new()) {
        Err(RenderError::Internal(message)) => {
            assert!(message.contains("a bug in a log sink"), "{message}")
        }
        other => panic!(
            "expected an internal error, got {:?}",
            other.map(|output| output.view)
        ),
    }
    let good = engine.render(
        &request(&crate::support::shipped("julia"), 32, 24),
        &CancelToken::new(),
    );
    let fresh = Engine::default().render(
        &request(&crate::support::shipped("julia"), 32, 24),
        &CancelToken::new(),
    );
    assert_eq!(
        good.expect("the engine still renders").image,
        fresh.expect("fresh").image
    );
}
