//! Small helpers that keep each test short.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonbrot::engine::kernel::shipped_kernel;
use moonbrot::engine::{
    CancelToken, Engine, EngineOptions, KernelError, KernelLog, RenderError, RenderOutput,
    RenderRequest,
};

/// For the tests that need Xvfb, xdotool or a (software) GPU, when what they need is
/// missing: they fail and say what to install, unless `MOONBROT_SKIP_GUI_TESTS=1` asks to
/// skip them. A skip is never silent: it is printed, and the variable had to be set.
pub fn cannot_run_gui_test(why: &str) {
    if std::env::var_os("MOONBROT_SKIP_GUI_TESTS").is_some_and(|value| value == "1") {
        eprintln!("SKIPPED (MOONBROT_SKIP_GUI_TESTS=1): {why}");
        return;
    }
    panic!(
        "{why}. Install what the window tests need (README, \"Tests\"), or set \
         MOONBROT_SKIP_GUI_TESTS=1 to skip them"
    );
}

/// The source of a shipped kernel.
pub fn shipped(name: &str) -> Arc<str> {
    Arc::from(shipped_kernel(name).expect("shipped kernel").source)
}

/// A request for `source` at its home view, `width`x`height`, 2 threads, a 10 s timeout
/// (a test never hangs on a kernel).
pub fn request(source: &str, width: u32, height: u32) -> RenderRequest {
    RenderRequest {
        threads: 2,
        timeout: Some(Duration::from_secs(10)),
        ..RenderRequest::new(source, width, height)
    }
}

/// Renders `source` small on a fresh engine.
pub fn render(source: &str) -> Result<RenderOutput, RenderError> {
    Engine::default().render(&request(source, 16, 12), &CancelToken::new())
}

/// The kernel error `source` produces when rendered small, or a panic saying what it did.
pub fn kernel_error(source: &str) -> KernelError {
    match render(source) {
        Err(RenderError::Kernel(error)) => error,
        other => panic!("expected a kernel error, got {other:?}"),
    }
}

/// An engine whose kernels' print output is collected into the returned vector.
pub fn engine_with_log(max_lines_per_run: u32) -> (Engine, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let engine = Engine::new(EngineOptions {
        log: Arc::new(KernelLog::new(max_lines_per_run, move |line| {
            sink.lock().expect("log").push(line.to_owned());
        })),
        ..EngineOptions::default()
    });
    (engine, lines)
}
