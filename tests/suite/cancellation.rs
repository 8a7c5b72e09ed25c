//! Stopping renders: a runaway kernel is stopped by a cancel or a timeout, in every loop
//! shape, even inside LuaJIT's compiled traces (which ignore hooks unless LuaJIT is built
//! with LUAJIT_ENABLE_CHECKHOOK: these tests fail if that flag is ever lost), and the engine
//! keeps working afterwards.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use moonbrot::engine::{CancelToken, Engine, RenderError, RenderRequest};

use crate::support::{request, shipped};

/// Runaway kernels: loops of every shape, in `pixel` and at the top level.
const RUNAWAYS: &[&str] = &[
    "function pixel(x, y) while true do end end",
    "function pixel(x, y) repeat until false end",
    "function pixel(x, y) local s = 0 for i = 1, 1e300 do s = s + i end return s end",
    "local function spin(n) return spin(n + 1) end\nfunction pixel(x, y) return spin(0) end",
    "while true do end\nfunction pixel(x, y) return 1 end",
    "function pixel(x, y) while true do pcall(function() while true do end end) end end",
    "function pixel(x, y) local ok = pcall(function() while true do end end) return 1 end",
];

/// The longest a stop may take in these tests. The engine's target is 100 ms (the hook
/// fires at the next VM instruction or trace loop check); a shared CI machine gets slack.
/// Without the hook flag a runaway never stops, so this bound still catches its loss.
const STOP_BOUND: Duration = Duration::from_secs(2);

/// Renders `request` on another thread, cancels it after `run_for`, and returns the result
/// and how long the render took to return after the cancel.
fn cancel_after(
    engine: &Engine,
    request: RenderRequest,
    run_for: Duration,
) -> (Result<(), RenderError>, Duration) {
    let cancel = CancelToken::new();
    let (done, finished) = mpsc::channel();
    std::thread::scope(|scope| {
        let token = cancel.clone();
        scope.spawn(move || {
            let result = engine.render(&request, &token).map(|_| ());
            let _ = done.send((result, Instant::now()));
        });
        std::thread::sleep(run_for);
        let cancelled_at = Instant::now();
        cancel.cancel();
        let (result, returned_at) = finished
            .recv_timeout(STOP_BOUND + Duration::from_secs(5))
            .expect("the render never returned: the runaway kernel was not stopped");
        (result, returned_at.saturating_duration_since(cancelled_at))
    })
}

#[test]
fn runaway_kernels_of_every_shape_are_stopped_by_cancel() {
    let engine = Engine::default();
    for source in RUNAWAYS {
        let unlimited = RenderRequest {
            timeout: None,
            ..request(source, 32, 32)
        };
        let (result, latency) = cancel_after(&engine, unlimited, Duration::from_millis(150));
        assert_eq!(result, Err(RenderError::Cancelled), "{source}");
        assert!(latency < STOP_BOUND, "{source}: stopped after {latency:?}");
        eprintln!(
            "stopped after {:>8.3} ms: {source:?}",
            latency.as_secs_f64() * 1e3
        );
    }
}

#[test]
fn a_timeout_stops_a_runaway_kernel_with_a_timeout_error() {
    let engine = Engine::default();
    let started = Instant::now();
    let result = engine.render(
        &RenderRequest {
            timeout: Some(Duration::from_millis(200)),
            ..request(RUNAWAYS[0], 16, 16)
        },
        &CancelToken::new(),
    );
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(RenderError::TimedOut { timeout_secs }) if timeout_secs == 0.2),
        "{result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(200) + STOP_BOUND
    );
}

#[test]
fn after_a_stop_the_next_render_equals_a_fresh_engines() {
    let engine = Engine::default();
    let (result, _) = cancel_after(
        &engine,
        request(RUNAWAYS[5], 32, 32),
        Duration::from_millis(100),
    );
    assert_eq!(result, Err(RenderError::Cancelled));
    let good = request(&shipped("julia"), 80, 60);
    let reused = engine
        .render(&good, &CancelToken::new())
        .expect("render after a stop");
    let fresh = Engine::default()
        .render(&good, &CancelToken::new())
        .expect("fresh render");
    assert_eq!(reused.image, fresh.image);
}

#[test]
fn cancelling_a_long_good_render_stops_it_and_keeps_its_kernel_usable() {
    let engine = Engine::default();
    // The plain loop: the shipped kernel finds most inside points at once (cardioid test,
    // periodicity), so it would finish before the cancel.
    let plain = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels/plain/mandelbrot.lua"),
    )
    .expect("the plain kernel");
    let long = RenderRequest {
        max_iter: Some(5_000_000),
        timeout: None,
        ..request(&plain, 200, 200)
    };
    let (result, latency) = cancel_after(&engine, long, Duration::from_millis(100));
    assert_eq!(result, Err(RenderError::Cancelled));
    assert!(latency < STOP_BOUND);
    let short = request(&shipped("mandelbrot"), 40, 30);
    assert!(engine.render(&short, &CancelToken::new()).is_ok());
}

#[test]
fn a_token_cancelled_before_the_render_stops_it_at_once() {
    let cancel = CancelToken::new();
    cancel.cancel();
    let result = Engine::default().render(&request(RUNAWAYS[0], 8, 8), &cancel);
    assert_eq!(result.map(|_| ()), Err(RenderError::Cancelled));
}
