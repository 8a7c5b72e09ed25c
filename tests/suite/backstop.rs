//! The backstop: a worker that does not stop within the grace period after a stop is
//! abandoned, the render ends with a clear error, a fresh worker takes its place, and the
//! engine goes on rendering. The test build's `moonbrot_test_stall(seconds)` (cargo feature
//! `testing`) is a call no stop can reach, like a long library call the audit missed.

use std::process::Command;
use std::time::{Duration, Instant};

use moonbrot::engine::render::STOP_GRACE;
use moonbrot::engine::{CancelToken, Engine, RenderError, RenderRequest};

use crate::support::{request, shipped};

/// A kernel whose every pixel sits in a call that ignores stops for `seconds`.
fn stalling_kernel(seconds: u32) -> String {
    format!("function pixel(x, y) moonbrot_test_stall({seconds}) return 1 end")
}

#[test]
fn a_worker_that_ignores_the_stop_is_abandoned_and_the_next_render_works() {
    let engine = Engine::default();
    let started = Instant::now();
    let result = engine.render(
        &RenderRequest {
            threads: 2,
            timeout: Some(Duration::from_millis(200)),
            ..RenderRequest::new(stalling_kernel(5), 16, 16)
        },
        &CancelToken::new(),
    );
    let elapsed = started.elapsed();
    let Err(error @ RenderError::Abandoned { .. }) = &result else {
        panic!("expected an abandoned worker, got {result:?}");
    };
    let message = error.to_string();
    assert!(
        message.contains("did not stop within 1 s of its timeout of 0.2 s")
            && (message.contains("preparing the kernel") || message.contains("rendering rows")),
        "{message}"
    );
    // Well before the stall would have ended on its own (5 s): the engine did not wait.
    assert!(
        elapsed < Duration::from_secs(4),
        "returned after {elapsed:?}"
    );
    assert!(elapsed >= Duration::from_millis(200) + STOP_GRACE);

    // The same engine, with the same thread count, renders a good kernel exactly.
    let good = request(&shipped("julia"), 48, 32);
    let fresh = Engine::default()
        .render(&good, &CancelToken::new())
        .expect("reference");
    let after = engine
        .render(&good, &CancelToken::new())
        .expect("renders after");
    assert_eq!(after.image, fresh.image);
    assert_eq!(after.timings.threads.len(), 2);
}

#[test]
fn abandoned_workers_end_once_their_call_returns() {
    let engine = Engine::default();
    let result = engine.render(
        &RenderRequest {
            threads: 1,
            timeout: Some(Duration::from_millis(100)),
            ..RenderRequest::new(stalling_kernel(2), 4, 4)
        },
        &CancelToken::new(),
    );
    assert!(
        matches!(result, Err(RenderError::Abandoned { .. })),
        "{result:?}"
    );
    // This engine's own count: other tests abandon workers of their own meanwhile.
    assert_eq!(
        engine.abandoned_workers_running(),
        1,
        "abandoned while it stalls"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.abandoned_workers_running() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        engine.abandoned_workers_running(),
        0,
        "the worker ended when its 2 s stall returned"
    );
}

#[test]
fn a_cancel_also_ends_within_the_grace_period() {
    let engine = Engine::default();
    let cancel = CancelToken::new();
    let token = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        token.cancel();
        Instant::now()
    });
    let result = engine.render(
        &RenderRequest {
            timeout: None,
            ..request(&stalling_kernel(5), 8, 8)
        },
        &cancel,
    );
    let returned = Instant::now();
    let cancelled_at = canceller.join().expect("canceller");
    let Err(error) = result else {
        panic!("a stalled render returned an image")
    };
    assert!(
        error.to_string().contains("within 1 s of being cancelled"),
        "{error}"
    );
    assert!(returned - cancelled_at < Duration::from_secs(3));
}

#[test]
fn the_cli_exits_within_its_timeout_and_a_second_whatever_the_kernel_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernel = dir.path().join("stall.lua");
    std::fs::write(&kernel, stalling_kernel(30)).expect("write kernel");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_moonbrot"))
        .current_dir(dir.path())
        .arg("render")
        .arg("--kernel")
        .arg(&kernel)
        .args(["--size", "16x16", "--timeout", "0.5", "-o", "out.png"])
        .output()
        .expect("run moonbrot");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not stop within 1 s"), "{stderr}");
    assert!(!dir.path().join("out.png").exists());
    // 0.5 s + 1 s, and slack for a loaded machine; the stall itself lasts 30 s.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}
