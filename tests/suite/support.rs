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

/// Runs the moonbrot binary with `args`.
pub fn moonbrot(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_moonbrot"))
        .args(args)
        .output()
        .expect("run moonbrot")
}

/// Bytes a process wrote, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A path as the text a command line takes.
pub fn path_text(path: &std::path::Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Runs `moonbrot render ARGS -o dir/name`, asserting success; returns the file and what
/// the command printed on stderr.
pub fn render_file(
    dir: &std::path::Path,
    name: &str,
    args: &[&str],
) -> (std::path::PathBuf, String) {
    let out = dir.join(name);
    let mut full = vec!["render"];
    full.extend_from_slice(args);
    full.extend(["-o", path_text(&out)]);
    let output = moonbrot(&full);
    assert!(output.status.success(), "{}", text(&output.stderr));
    (out, text(&output.stderr))
}

/// The pixels of a PNG file.
pub fn pixels(path: &std::path::Path) -> image::RgbImage {
    image::open(path).expect("a PNG").to_rgb8()
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

/// How many different values (bit patterns) an image holds: a few for a blocky or flat
/// image, thousands for one with detail.
pub fn distinct_values(values: &[f32]) -> usize {
    values
        .iter()
        .map(|value| value.to_bits())
        .collect::<std::collections::HashSet<u32>>()
        .len()
}

/// Pixels whose values are not bit-identical in two renders of the same size.
pub fn differing_pixels(a: &RenderOutput, b: &RenderOutput) -> usize {
    assert_eq!(a.image.values.len(), b.image.values.len());
    a.image
        .values
        .iter()
        .zip(&b.image.values)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count()
}

/// Writes `request` coloured with `palette` to `path` as moonbrot's exports do (the window's
/// Export, `moonbrot render -o`): a poster at one sample per pixel.
pub fn export_png(
    request: &RenderRequest,
    palette: moonbrot::engine::output::Palette,
    path: &std::path::Path,
) -> Result<moonbrot::engine::output::PosterOutput, moonbrot::engine::output::PosterError> {
    use moonbrot::engine::output::{DEFAULT_BAND_BYTES, PosterFormat, PosterJob, render_poster};
    let job = PosterJob {
        request: request.clone(),
        palette,
        colouring: moonbrot::engine::output::Colouring::Smooth,
        supersample: 1,
        rows: None,
        band_bytes: DEFAULT_BAND_BYTES,
        format: PosterFormat::Png,
    };
    render_poster(
        &Engine::default(),
        &job,
        path,
        &CancelToken::new(),
        &mut |_| {},
    )
}
