//! The seed article's benchmark, shared by `moonbrot bench` and the window's Benchmark
//! action: render N×N images of a kernel at its home view for each size and thread count,
//! several runs each, with the native twin beside it when the kernel has one, and keep the
//! best and median time per cell. Also holds the article's published figures, and the
//! comparisons `bench` runs (guessing, panning, the standard views, the two precisions).
//!
//! Benchmarks use the engine; they are not part of it: nothing in the engine uses them.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::error::{RenderError, RequestError};
use crate::engine::geometry::View;
use crate::engine::render::{CancelToken, Engine, PrecisionChoice, RenderOutput, RenderRequest};

pub use native::{NativeKernel, NativeRenderer};
pub use reference_timing::{REFERENCE_ITERATIONS, ReferenceRow, time_reference_orbits};

mod native;
mod reference_timing;

/// The article's table: image sizes N (N×N images).
pub const ARTICLE_SIZES: [u32; 3] = [320, 640, 1280];
/// The article's table: thread counts.
pub const ARTICLE_THREADS: [usize; 5] = [1, 2, 4, 8, 16];
/// The article's published lupa/LuaJIT times in seconds (Core i7 laptop, Python 3.7,
/// 2019), by size then thread count.
pub const ARTICLE_LUPA_SECS: [[f64; 5]; 3] = [
    [0.22, 0.11, 0.07, 0.06, 0.04],
    [0.68, 0.38, 0.26, 0.21, 0.17],
    [2.71, 1.50, 1.05, 0.81, 0.66],
];

/// The most timed runs per cell.
pub const MAX_BENCH_RUNS: u32 = 1000;

/// Runs per cell as typed: 1 to `MAX_BENCH_RUNS`.
pub fn bench_runs_from(runs: i64) -> Result<u32, RequestError> {
    u32::try_from(runs)
        .ok()
        .filter(|runs| (1..=MAX_BENCH_RUNS).contains(runs))
        .ok_or(RequestError::BenchRuns {
            runs,
            max: MAX_BENCH_RUNS,
        })
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// The kernel's source.
    pub source: Arc<str>,
    /// Its name, for the results.
    pub kernel_name: String,
    /// Image sizes N.
    pub sizes: Vec<u32>,
    /// Thread counts.
    pub threads: Vec<usize>,
    /// Timed runs per cell.
    pub runs: u32,
}

impl BenchPlan {
    /// The article's matrix for `source`, with `runs` runs per cell.
    pub fn article(source: Arc<str>, kernel_name: &str, runs: u32) -> Self {
        Self {
            source,
            kernel_name: kernel_name.to_owned(),
            sizes: ARTICLE_SIZES.to_vec(),
            threads: ARTICLE_THREADS.to_vec(),
            runs,
        }
    }

    /// Timed renders the plan makes (both engines when there is a native twin).
    pub fn step_count(&self) -> usize {
        let engines = if NativeKernel::twin_of(&self.source).is_some() {
            2
        } else {
            1
        };
        self.sizes.len() * self.threads.len() * self.runs as usize * engines
    }
}

/// Which engine a cell measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchEngine {
    /// The Lua kernel through moonbrot's engine.
    Lua,
    /// The kernel's native Rust twin.
    Native,
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchCell {
    /// Which engine.
    pub engine: BenchEngine,
    /// The kernel's name.
    pub kernel: String,
    /// Image size N (N×N).
    pub size: u32,
    /// Threads used.
    pub threads: usize,
    /// Timed runs.
    pub runs: u32,
    /// The fastest run, in seconds.
    pub best_secs: f64,
    /// The median run, in seconds.
    pub median_secs: f64,
    /// Pixels per second of the fastest run.
    pub pixels_per_sec: f64,
}

impl BenchCell {
    fn from_runs(
        engine: BenchEngine,
        kernel: &str,
        size: u32,
        threads: usize,
        mut secs: Vec<f64>,
    ) -> Self {
        let count = secs.len();
        let (best_secs, median_secs) = best_and_median(&mut secs);
        Self {
            engine,
            kernel: kernel.to_owned(),
            size,
            threads,
            runs: count as u32,
            best_secs,
            median_secs,
            pixels_per_sec: f64::from(size) * f64::from(size) / best_secs,
        }
    }
}

/// The fastest and the median of `secs` (NaN for none); sorts them.
fn best_and_median(secs: &mut [f64]) -> (f64, f64) {
    secs.sort_by(f64::total_cmp);
    let best = secs.first().copied().unwrap_or(f64::NAN);
    let median = match secs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => secs[n / 2],
        n => (secs[n / 2 - 1] + secs[n / 2]) / 2.0,
    };
    (best, median)
}

/// Renders each of `requests` once untimed (compiling and warming the kernel's states),
/// then `runs` rounds of all of them in turn, so that every request sees the same machine
/// load. Returns each request's wall times and its last output; `step` is called after
/// every render.
fn alternate_runs(
    engine: &Engine,
    requests: &[RenderRequest],
    runs: u32,
    cancel: &CancelToken,
    step: &mut dyn FnMut(),
) -> Result<Vec<(Vec<f64>, RenderOutput)>, RenderError> {
    let mut measured: Vec<(Vec<f64>, Option<RenderOutput>)> =
        requests.iter().map(|_| (Vec::new(), None)).collect();
    for round in 0..=runs {
        for (request, (secs, last)) in requests.iter().zip(&mut measured) {
            let output = engine.render(request, cancel)?;
            step();
            if round > 0 {
                secs.push(output.timings.wall_secs);
            }
            *last = Some(output);
        }
    }
    measured
        .into_iter()
        .map(|(secs, last)| {
            last.map(|output| (secs, output))
                .ok_or_else(|| RenderError::Internal("a benchmark render is missing".to_owned()))
        })
        .collect()
}

/// The source of the shipped kernel a benchmark view renders.
fn shipped_source(name: &str) -> Result<Arc<str>, RenderError> {
    crate::engine::kernel::shipped_kernel(name)
        .map(|kernel| Arc::from(kernel.source))
        .ok_or_else(|| RenderError::Internal(format!("no shipped kernel {name}")))
}

/// Pixels whose values are not bit-identical in `a` and `b`.
fn inexact_pixel_count(a: &[f32], b: &[f32]) -> u64 {
    a.iter()
        .zip(b)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count() as u64
}

/// The cell for `engine`, `size` and `threads`, if measured.
pub fn find_cell(
    cells: &[BenchCell],
    engine: BenchEngine,
    size: u32,
    threads: usize,
) -> Option<&BenchCell> {
    cells
        .iter()
        .find(|cell| cell.engine == engine && cell.size == size && cell.threads == threads)
}

/// The article's published time for a cell, if the article measured it.
pub fn article_secs(size: u32, threads: usize) -> Option<f64> {
    let size_index = ARTICLE_SIZES.iter().position(|&article| article == size)?;
    let thread_index = ARTICLE_THREADS
        .iter()
        .position(|&article| article == threads)?;
    Some(ARTICLE_LUPA_SECS[size_index][thread_index])
}

/// Runs the plan. One untimed render first compiles the kernel's states and warms LuaJIT's
/// traces, as they are in the app after its first render. `on_step` is called after each
/// timed render with (steps done, steps in all).
pub fn run_bench(
    engine: &Engine,
    plan: &BenchPlan,
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<BenchCell>, RenderError> {
    let twin = NativeKernel::twin_of(&plan.source);
    let max_threads = plan.threads.iter().copied().max().unwrap_or(1);
    // Every pixel computed, as the article and the native twins do: the shortcuts
    // (guessing, symmetry) have their own comparisons (`compare_guessing`, `compare_views`).
    let warm_up = RenderRequest {
        threads: max_threads,
        guessing: false,
        symmetry: false,
        ..RenderRequest::new(plan.source.clone(), 64, 64)
    };
    let warmed = engine.render(&warm_up, cancel)?;
    let (view, max_iter) = (warmed.view, warmed.max_iter);

    let total = plan.step_count();
    let mut done = 0;
    let mut cells = Vec::new();
    for &threads in &plan.threads {
        let native = twin.map(|_| NativeRenderer::new(threads)).transpose()?;
        for &size in &plan.sizes {
            let request = RenderRequest {
                view: Some(view.clone()),
                threads,
                guessing: false,
                symmetry: false,
                ..RenderRequest::new(plan.source.clone(), size, size)
            };
            let mut lua_secs = Vec::new();
            for _ in 0..plan.runs {
                lua_secs.push(engine.render(&request, cancel)?.timings.wall_secs);
                done += 1;
                on_step(done, total);
            }
            cells.push(BenchCell::from_runs(
                BenchEngine::Lua,
                &plan.kernel_name,
                size,
                threads,
                lua_secs,
            ));
            if let (Some(twin), Some(native)) = (twin, &native) {
                let mut native_secs = Vec::new();
                for _ in 0..plan.runs {
                    if cancel.is_cancelled() {
                        return Err(RenderError::Cancelled);
                    }
                    native_secs.push(native.render(twin, &view, (size, size), max_iter).1);
                    done += 1;
                    on_step(done, total);
                }
                cells.push(BenchCell::from_runs(
                    BenchEngine::Native,
                    &plan.kernel_name,
                    size,
                    threads,
                    native_secs,
                ));
            }
        }
    }
    Ok(cells)
}

/// True when two escape values would not be drawn alike: one is inside and the other not,
/// or they are more than 0.1% apart.
pub fn visibly_different(a: f32, b: f32) -> bool {
    let inside = |value: f32| !value.is_finite() || value < 0.0;
    match (inside(a), inside(b)) {
        (true, true) => false,
        (false, false) => (a - b).abs() > 1e-3 * a.abs().max(1.0),
        _ => true,
    }
}

/// A view solid guessing is measured on.
#[derive(Debug, Clone)]
pub struct GuessingView {
    /// Its name in the table.
    pub name: &'static str,
    /// The shipped kernel it renders.
    pub kernel: &'static str,
    /// The view; None for the kernel's home.
    pub view: Option<View>,
}

/// The views `moonbrot bench --guessing` measures: the Mandelbrot home, a seahorse-valley
/// close-up, a view full of filaments near the tip of the needle, and a Julia set.
pub fn guessing_views() -> Vec<GuessingView> {
    vec![
        GuessingView {
            name: "mandelbrot home",
            kernel: "mandelbrot",
            view: None,
        },
        GuessingView {
            name: "seahorse valley",
            kernel: "mandelbrot",
            view: Some(View::new(-0.7453, 0.1127, 0.0065)),
        },
        GuessingView {
            name: "filaments",
            kernel: "mandelbrot",
            view: Some(View::new(-1.7687, 0.0017, 0.0035)),
        },
        GuessingView {
            name: "julia home",
            kernel: "julia",
            view: None,
        },
    ]
}

/// One view's times with and without guessing, and how many pixels differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuessingRow {
    /// The view's name.
    pub view: String,
    /// Best wall time with every pixel computed, in seconds.
    pub full_secs: f64,
    /// Best wall time with solid guessing, in seconds.
    pub guessed_secs: f64,
    /// Pixels whose value differs visibly between the two: inside in one and not in the
    /// other, or escape values more than 0.1% apart.
    pub differing_pixels: u64,
    /// Pixels whose values are not bit-identical (most differ in the last bits only: the
    /// same arithmetic in another compiled trace).
    pub inexact_pixels: u64,
    /// Pixels in the image.
    pub pixels: u64,
}

/// Renders each of `views` at `size_px`, `runs` times with and `runs` times without
/// guessing (symmetry off), alternating (so both see the same machine load), after one
/// warm-up of each.
pub fn compare_guessing(
    engine: &Engine,
    views: &[GuessingView],
    size_px: (u32, u32),
    threads: usize,
    runs: u32,
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<GuessingRow>, RenderError> {
    let total = views.len() * (2 + 2 * runs as usize);
    let mut done = 0;
    let mut rows = Vec::new();
    for view in views {
        let source = shipped_source(view.kernel)?;
        // Symmetry off in both, so the table shows what guessing alone is worth
        // (`compare_views` shows the two together).
        let request = |guessing: bool| RenderRequest {
            view: view.view.clone(),
            threads,
            guessing,
            symmetry: false,
            ..RenderRequest::new(Arc::clone(&source), size_px.0, size_px.1)
        };
        let measured = alternate_runs(
            engine,
            &[request(false), request(true)],
            runs,
            cancel,
            &mut || {
                done += 1;
                on_step(done, total);
            },
        )?;
        let [(mut full_secs, full), (mut guessed_secs, guessed)] = <[_; 2]>::try_from(measured)
            .map_err(|_| RenderError::Internal("a comparison render is missing".to_owned()))?;
        let (full, guessed) = (&full.image.values, &guessed.image.values);
        let differing_pixels = full
            .iter()
            .zip(guessed)
            .filter(|(a, b)| visibly_different(**a, **b))
            .count() as u64;
        let inexact_pixels = inexact_pixel_count(full, guessed);
        rows.push(GuessingRow {
            view: view.name.to_owned(),
            full_secs: best_and_median(&mut full_secs).0,
            guessed_secs: best_and_median(&mut guessed_secs).0,
            differing_pixels,
            inexact_pixels,
            pixels: u64::from(size_px.0) * u64::from(size_px.1),
        });
    }
    Ok(rows)
}

/// One view's times for a pan: a full render of the panned view against a render that
/// keeps the pixels of the view before the pan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PanRow {
    /// The view's name.
    pub view: String,
    /// Best wall time of a full render of the panned view, in seconds.
    pub full_secs: f64,
    /// Best wall time of the render that keeps pixels, in seconds.
    pub kept_secs: f64,
    /// Pixels kept from the render before the pan.
    pub kept_pixels: u64,
    /// Pixels that differ between the two renders (0: panning is exact).
    pub differing_pixels: u64,
    /// Pixels in the image.
    pub pixels: u64,
}

/// Renders each of `views` at `size_px`, then its view panned by `pan_px` (whole pixels)
/// `runs` times in full and `runs` times keeping the first render's pixels, alternating,
/// after one warm-up of each; guessing as a user gets it (on).
pub fn compare_panning(
    engine: &Engine,
    views: &[GuessingView],
    size_px: (u32, u32),
    pan_px: (f64, f64),
    (threads, runs): (usize, u32),
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<PanRow>, RenderError> {
    let total = views.len() * (3 + 2 * runs as usize);
    let mut done = 0;
    let mut step = || {
        done += 1;
        on_step(done, total);
    };
    let mut rows = Vec::new();
    for view in views {
        let source = shipped_source(view.kernel)?;
        let request = |view: Option<View>| RenderRequest {
            view,
            threads,
            ..RenderRequest::new(Arc::clone(&source), size_px.0, size_px.1)
        };
        let before = Arc::new(engine.render(&request(view.view.clone()), cancel)?);
        step();
        let panned = before.view.panned_by_pixels(pan_px, size_px.1);
        let kept_request = RenderRequest {
            previous: Some(Arc::clone(&before)),
            ..request(Some(panned.clone()))
        };
        let measured = alternate_runs(
            engine,
            &[request(Some(panned)), kept_request],
            runs,
            cancel,
            &mut step,
        )?;
        let [(mut full_secs, full), (mut kept_secs, kept)] = <[_; 2]>::try_from(measured)
            .map_err(|_| RenderError::Internal("a pan render is missing".to_owned()))?;
        let differing_pixels = inexact_pixel_count(&full.image.values, &kept.image.values);
        rows.push(PanRow {
            view: view.name.to_owned(),
            full_secs: best_and_median(&mut full_secs).0,
            kept_secs: best_and_median(&mut kept_secs).0,
            kept_pixels: kept.timings.kept_pixels,
            differing_pixels,
            pixels: u64::from(size_px.0) * u64::from(size_px.1),
        });
    }
    Ok(rows)
}

/// A view of the standard-views benchmark: the views a peer explorer was measured on
/// (MandelbRust: its home, a filament close-up, a view mostly inside the set) and a
/// Julia set.
#[derive(Debug, Clone)]
pub struct StandardView {
    /// Its name in the table.
    pub name: &'static str,
    /// The shipped kernel it renders (with its default parameters).
    pub kernel: &'static str,
    /// The view.
    pub view: View,
    /// The iteration limit.
    pub max_iter: u32,
}

/// The views `moonbrot bench --views` measures, V1 to V3 and a Julia set.
pub fn standard_views() -> Vec<StandardView> {
    vec![
        StandardView {
            name: "V1 home",
            kernel: "mandelbrot",
            view: View::new(-0.6, 0.0, 2.6),
            max_iter: 500,
        },
        StandardView {
            name: "V2 filaments",
            kernel: "mandelbrot",
            view: View::new(-0.743_643_887, 0.131_825_904, 0.000_12),
            max_iter: 2000,
        },
        StandardView {
            name: "V3 mostly inside",
            kernel: "mandelbrot",
            view: View::new(-0.1, 0.0, 0.5),
            max_iter: 2000,
        },
        StandardView {
            name: "V4 julia",
            kernel: "julia",
            view: View::new(0.0, 0.0, 3.0),
            max_iter: 500,
        },
    ]
}

/// The shortcut settings each standard view is rendered with: both on (what a user gets),
/// each one alone, and none (every pixel computed).
pub const SHORTCUT_SETTINGS: [(bool, bool); 4] =
    [(true, true), (true, false), (false, true), (false, false)];

/// One view at one thread count with one setting of the shortcuts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewsRow {
    /// The view's name.
    pub view: String,
    /// Worker threads.
    pub threads: usize,
    /// Solid guessing on.
    pub guessing: bool,
    /// Mirroring across the real axis on (where the kernel declares it).
    pub symmetry: bool,
    /// The fastest render, in seconds.
    pub best_secs: f64,
    /// The median render, in seconds.
    pub median_secs: f64,
    /// Millions of pixels per second of the fastest render.
    pub megapixels_per_sec: f64,
    /// Pixels copied from their mirrors.
    pub mirrored_pixels: u64,
    /// Pixels not bit-identical to the render with both shortcuts off (symmetry is exact;
    /// guessing may differ in a few pixels in a million).
    pub inexact_pixels: u64,
    /// Pixels in the image.
    pub pixels: u64,
}

/// Renders each of `views` at `size_px` on each of `thread_counts`, with every setting of
/// `SHORTCUT_SETTINGS` in turn, `runs` rounds after one warm-up round.
pub fn compare_views(
    engine: &Engine,
    views: &[StandardView],
    size_px: (u32, u32),
    (thread_counts, runs): (&[usize], u32),
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<ViewsRow>, RenderError> {
    let settings = SHORTCUT_SETTINGS.len();
    let total = views.len() * thread_counts.len() * settings * (1 + runs as usize);
    let mut done = 0;
    let mut rows = Vec::new();
    for view in views {
        let source = shipped_source(view.kernel)?;
        for &threads in thread_counts {
            let requests: Vec<RenderRequest> = SHORTCUT_SETTINGS
                .iter()
                .map(|&(guessing, symmetry)| RenderRequest {
                    view: Some(view.view.clone()),
                    max_iter: Some(view.max_iter),
                    threads,
                    guessing,
                    symmetry,
                    ..RenderRequest::new(Arc::clone(&source), size_px.0, size_px.1)
                })
                .collect();
            let measured = alternate_runs(engine, &requests, runs, cancel, &mut || {
                done += 1;
                on_step(done, total);
            })?;
            let plain = measured
                .last()
                .map(|(_, output)| output.image.values.clone())
                .unwrap_or_default();
            for ((guessing, symmetry), (mut secs, output)) in
                SHORTCUT_SETTINGS.into_iter().zip(measured)
            {
                let (best_secs, median_secs) = best_and_median(&mut secs);
                let pixels = u64::from(size_px.0) * u64::from(size_px.1);
                rows.push(ViewsRow {
                    view: view.name.to_owned(),
                    threads,
                    guessing,
                    symmetry,
                    best_secs,
                    median_secs,
                    megapixels_per_sec: pixels as f64 / best_secs.max(1e-9) / 1e6,
                    mirrored_pixels: output.timings.mirrored_pixels,
                    inexact_pixels: inexact_pixel_count(&output.image.values, &plain),
                    pixels,
                });
            }
        }
    }
    Ok(rows)
}

/// The deep case's view: the seahorse valley at a span where f64 is still exact, so both
/// precisions compute the same orbits (every pixel escapes, after 1,000 to 2,400
/// iterations: no shortcut or periodicity check skews the count).
pub const DEEP_CASE_VIEW: (f64, f64, f64) =
    (-0.743_643_887_037_158_7, 0.131_825_904_205_311_97, 1e-9);
/// The deep case's iteration limit (above every pixel's count).
pub const DEEP_CASE_MAX_ITER: u32 = 5000;

/// One precision's time in the deep case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeepRow {
    /// "f64", "double-double" or "perturbation".
    pub precision: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Fastest run, in seconds.
    pub best_secs: f64,
    /// Median run, in seconds.
    pub median_secs: f64,
    /// Iterations computed (from the escape values: each pixel escaped after about its
    /// value plus one).
    pub iterations: u64,
    /// Nanoseconds of one thread per iteration (best run): the cost of one z^2 + c.
    pub ns_per_iteration: f64,
    /// Pixels whose value differs from the f64 render's by more than 0.01.
    pub differing_pixels: u64,
}

/// The shipped Mandelbrot kernel at `DEEP_CASE_VIEW`, in f64 (`pixel`), in double-double
/// (`pixel_deep`) and by perturbation (its formula; the time includes the reference
/// orbit's), alternating, `runs` rounds after a warm-up, without guessing or symmetry
/// (every pixel computed): the cost of a deep iteration against an f64 one on the same
/// kernel, measured in one run.
pub fn compare_precisions(
    engine: &Engine,
    size_px: (u32, u32),
    (threads, runs): (usize, u32),
    cancel: &CancelToken,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<DeepRow>, RenderError> {
    let source = shipped_source("mandelbrot")?;
    let (x, y, span) = DEEP_CASE_VIEW;
    let choices = [
        PrecisionChoice::Double,
        PrecisionChoice::DoubleDouble,
        PrecisionChoice::Perturbation,
    ];
    let requests: Vec<RenderRequest> = choices
        .iter()
        .map(|&precision| RenderRequest {
            view: Some(View::new(x, y, span)),
            max_iter: Some(DEEP_CASE_MAX_ITER),
            threads,
            guessing: false,
            symmetry: false,
            precision,
            ..RenderRequest::new(Arc::clone(&source), size_px.0, size_px.1)
        })
        .collect();
    let total = choices.len() * (1 + runs as usize);
    let mut done = 0;
    let measured = alternate_runs(engine, &requests, runs, cancel, &mut || {
        done += 1;
        on_step(done, total);
    })?;
    let f64_values = measured
        .first()
        .map(|(_, output)| output.image.values.clone())
        .unwrap_or_default();
    let iterations: u64 = f64_values
        .iter()
        .map(|value| {
            if *value < 0.0 {
                u64::from(DEEP_CASE_MAX_ITER)
            } else {
                value.floor() as u64 + 1
            }
        })
        .sum();
    Ok(measured
        .into_iter()
        .map(|(mut secs, output)| {
            let (best_secs, median_secs) = best_and_median(&mut secs);
            let differing_pixels = output
                .image
                .values
                .iter()
                .zip(&f64_values)
                .filter(|(a, b)| (**a - **b).abs() > 0.01)
                .count() as u64;
            DeepRow {
                precision: output.precision.label(),
                threads,
                best_secs,
                median_secs,
                iterations,
                ns_per_iteration: best_secs * threads as f64 * 1e9 / iterations.max(1) as f64,
                differing_pixels,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_the_best_and_the_median() {
        let cell = BenchCell::from_runs(BenchEngine::Lua, "k", 10, 2, vec![0.3, 0.1, 0.2, 0.4]);
        assert_eq!(
            (cell.best_secs, cell.median_secs, cell.runs),
            (0.1, 0.25, 4)
        );
        assert_eq!(cell.pixels_per_sec, 1000.0);
    }

    #[test]
    fn the_articles_figures_are_looked_up_by_size_and_threads() {
        assert_eq!(article_secs(1280, 1), Some(2.71));
        assert_eq!(article_secs(320, 16), Some(0.04));
        assert_eq!(article_secs(100, 1), None);
    }
}
