//! `moonbrot render`: renders one image to a PNG, with a progress bar on a terminal when the
//! render is long, and a timing summary on stderr.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, choose_kernel, stderr_engine};
use crate::engine::export::{ExportMetadata, write_png};
use crate::engine::kernel::MAX_MAX_ITER;
use crate::engine::kernel::default_kernel;
use crate::engine::palette::{Gradient, Palette};
use crate::engine::render::{MAX_SIDE_PX, MAX_THREADS, default_thread_count};
use crate::engine::{CancelToken, RenderOutput, RenderRequest, View};

/// Show a progress bar only once a render has taken this long.
const PROGRESS_BAR_DELAY: Duration = Duration::from_millis(400);

#[derive(Args, Debug)]
pub(crate) struct RenderArgs {
    /// Kernel: a Lua file, or a shipped kernel's name (mandelbrot, julia, burning_ship,
    /// tricorn, multibrot, newton, seed). Default: mandelbrot.
    #[arg(long, value_name = "FILE|NAME")]
    kernel: Option<PathBuf>,
    /// Image size in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1280x720", value_parser = parse_size)]
    size: (i64, i64),
    /// Centre of the view in the complex plane, X,Y. Default: the kernel's home.
    #[arg(long, value_name = "X,Y", value_parser = parse_point, allow_hyphen_values = true)]
    center: Option<(f64, f64)>,
    /// Height of the view in the complex plane. Default: the kernel's home span.
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    span: Option<f64>,
    /// Iteration limit passed to the kernel as `max_iter`. Default: the kernel's own.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_iter: Option<i64>,
    /// Worker threads, one Lua state each. Default: the machine's cores.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<i64>,
    /// Palette: classic, fire, ocean, grayscale, rainbow or twilight.
    #[arg(long, value_name = "NAME", default_value = "classic")]
    palette: String,
    /// Memory limit of each Lua state (one per thread), in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    memory_limit: u64,
    /// Stop the render with an error after this many seconds.
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    timeout: Option<f64>,
    /// The PNG file to write (replaced atomically if it exists).
    #[arg(short = 'o', long = "output", value_name = "OUT.png")]
    output: PathBuf,
}

/// "WxH" into a pair; whether the numbers are usable is the engine's check.
fn parse_size(text: &str) -> Result<(i64, i64), String> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, like 1280x720, got {text:?}"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<i64>()
            .map_err(|_| format!("expected WIDTHxHEIGHT with whole numbers, got {text:?}"))
    };
    Ok((number(width)?, number(height)?))
}

/// "X,Y" into a pair of numbers.
fn parse_point(text: &str) -> Result<(f64, f64), String> {
    match super::parse_list::<f64>(text)?.as_slice() {
        [x, y] => Ok((*x, *y)),
        _ => Err(format!("expected X,Y, like -0.75,0.1, got {text:?}")),
    }
}

/// Converts a size as typed (possibly negative or huge) into pixels, or says what is wrong
/// with the numbers the user typed.
pub(crate) fn side_px(size: (i64, i64)) -> Result<(u32, u32), CliError> {
    let side = |value: i64| {
        u32::try_from(value)
            .ok()
            .filter(|side| (1..=MAX_SIDE_PX).contains(side))
    };
    match (side(size.0), side(size.1)) {
        (Some(width), Some(height)) => Ok((width, height)),
        _ => Err(CliError::Input(format!(
            "image size {}x{} is out of range: each side must be 1 to {MAX_SIDE_PX}",
            size.0, size.1
        ))),
    }
}

/// Converts a thread count as typed, or says what is wrong with it.
pub(crate) fn thread_count(threads: i64) -> Result<usize, CliError> {
    usize::try_from(threads)
        .ok()
        .filter(|threads| (1..=MAX_THREADS).contains(threads))
        .ok_or_else(|| {
            CliError::Input(format!(
                "thread count {threads} is out of range: it must be 1 to {MAX_THREADS}"
            ))
        })
}

/// Converts --max-iter as typed, or says what is wrong with it.
fn max_iter_from(max_iter: i64) -> Result<u32, CliError> {
    u32::try_from(max_iter)
        .ok()
        .filter(|max_iter| (1..=MAX_MAX_ITER).contains(max_iter))
        .ok_or_else(|| {
            CliError::Input(format!(
                "max_iter {max_iter} is out of range: it must be 1 to {MAX_MAX_ITER}"
            ))
        })
}

pub(crate) fn run(args: &RenderArgs) -> Result<(), CliError> {
    let kernel = choose_kernel(args.kernel.as_ref(), default_kernel())?;
    let gradient = Gradient::from_name(&args.palette).ok_or_else(|| {
        let names: Vec<&str> = Gradient::ALL
            .iter()
            .map(|gradient| gradient.name())
            .collect();
        CliError::Input(format!(
            "unknown palette {:?}: choose one of {}",
            args.palette,
            names.join(", ")
        ))
    })?;
    let palette = Palette {
        gradient,
        ..Palette::default()
    };
    let (width_px, height_px) = side_px(args.size)?;
    let threads = args
        .threads
        .map_or(Ok(default_thread_count()), thread_count)?;
    let max_iter = args.max_iter.map(max_iter_from).transpose()?;
    let timeout = match args.timeout {
        None => None,
        Some(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Some(Duration::from_secs_f64(secs))
        }
        Some(secs) => {
            return Err(CliError::Input(format!(
                "--timeout {secs} must be a number of seconds greater than 0"
            )));
        }
    };
    if !(1..=65_536).contains(&args.memory_limit) {
        return Err(CliError::Input(format!(
            "--memory-limit {} must be 1 to 65536 MiB",
            args.memory_limit
        )));
    }
    let engine = stderr_engine((args.memory_limit * 1024 * 1024) as usize);
    let cancel = CancelToken::new();
    // The view: the kernel's home, with whatever the user gave replacing its parts.
    let view = match (args.center, args.span) {
        (None, None) => None,
        (center, span) => {
            let home = engine.inspect(&kernel.source, &cancel)?.home_or_default();
            let (center_x, center_y) = center.unwrap_or((home.center_x, home.center_y));
            Some(View::new(center_x, center_y, span.unwrap_or(home.span)))
        }
    };
    let request = RenderRequest {
        view,
        max_iter,
        threads,
        timeout,
        ..RenderRequest::new(kernel.source.clone(), width_px, height_px)
    };
    request.validate()?;

    let started = Instant::now();
    let progress = LateProgressBar::new();
    let output = engine.render_with_progress(&request, &cancel, &mut |unit| {
        progress.update(started, unit.units_done, unit.units_total);
    });
    progress.finish();
    let output = output?;

    let image = palette.colourize(&output.image);
    let metadata = ExportMetadata::new(&kernel.source, output.view, output.max_iter, palette);
    write_png(&args.output, &image, &metadata)?;
    eprintln!("{}", summary(&kernel.name, &output, &args.output));
    Ok(())
}

/// The timing summary printed after a render.
fn summary(kernel_name: &str, output: &RenderOutput, path: &std::path::Path) -> String {
    let timings = &output.timings;
    let pixels = u64::from(output.image.width_px) * u64::from(output.image.height_px);
    let per_thread: Vec<String> = timings
        .threads
        .iter()
        .map(|thread| format!("{:.3} s/{} units", thread.busy_secs, thread.units))
        .collect();
    format!(
        "rendered {} {}x{} (max_iter {}) in {:.3} s, compile {:.4} s, {:.2} Mpx/s on {} threads \
         [busy: {}]; wrote {}",
        kernel_name,
        output.image.width_px,
        output.image.height_px,
        output.max_iter,
        timings.wall_secs,
        timings.compile_secs,
        timings.pixels_per_sec(pixels) / 1e6,
        timings.threads.len(),
        per_thread.join(", "),
        path.display()
    )
}

/// A progress bar on stderr that appears only for long renders on a terminal.
pub(crate) struct LateProgressBar {
    bar: Option<ProgressBar>,
}

impl LateProgressBar {
    pub(crate) fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self { bar }
    }

    pub(crate) fn update(&self, started: Instant, done: usize, total: usize) {
        let Some(bar) = &self.bar else { return };
        if bar.is_hidden() && started.elapsed() >= PROGRESS_BAR_DELAY {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
