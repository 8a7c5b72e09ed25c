//! What a render is asked for: `RenderRequest` (kernel source, size, threads, view,
//! iteration limit, parameters, precision, rows, a previous render to keep pixels from) and
//! the engine's limits, with the functions that check user-typed values against them
//! (`image_size_from`, `thread_count_from`, ...), shared by the CLI and the window.

use super::plan::GUESS_BLOCK;
use super::rendered::RenderOutput;
use crate::engine::error::RequestError;
use crate::engine::geometry::{Precision, View};
use crate::engine::kernel::{MAX_MAX_ITER, MAX_SOURCE_BYTES, OutputMode, ParameterValues};
use std::sync::Arc;
use std::time::Duration;

/// The largest image side, in pixels.
pub const MAX_SIDE_PX: u32 = 65_535;

/// The most worker threads one render may use.
pub const MAX_THREADS: usize = 64;

/// The most memory a render's buffers (values plus a colour image) may take.
pub const MAX_BUFFER_BYTES: u64 = 1 << 30;

/// Default memory limit per Lua state.
pub const DEFAULT_MEMORY_LIMIT_BYTES: usize = 512 * 1024 * 1024;

/// Bytes per pixel of the colour image a front end makes from the values (RGBA).
const COLOUR_BYTES_PER_PIXEL: u64 = 4;

/// The number of threads a render uses by default: the machine's cores.
pub fn default_thread_count() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().min(MAX_THREADS))
}

/// What to render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderRequest {
    /// The kernel's Lua source.
    pub source: Arc<str>,
    /// The region to render; None for the kernel's home view.
    pub view: Option<View>,
    /// Image width in pixels.
    pub width_px: u32,
    /// Image height in pixels.
    pub height_px: u32,
    /// The iteration limit; None for the kernel's own `max_iter`.
    pub max_iter: Option<u32>,
    /// Worker threads to use (1 to MAX_THREADS).
    pub threads: usize,
    /// Stop the render with `RenderError::TimedOut` after this long.
    pub timeout: Option<Duration>,
    /// Values for the kernel's parameters (the others take their defaults); checked
    /// against its declarations once it is compiled.
    pub parameters: ParameterValues,
    /// What to do with a value the kernel does not take.
    pub parameter_policy: ParameterPolicy,
    /// Solid guessing: fill flat regions from their outline instead of computing every
    /// pixel (escape kernels only; a few pixels in a million may differ). On by default.
    pub guessing: bool,
    /// Use the symmetry the kernel declares (`symmetry = "real_axis"`): rows that mirror
    /// rows across the axis are copied instead of computed. Exact: the image is the same,
    /// bit for bit, either way. On by default.
    pub symmetry: bool,
    /// Take the skips of bilinear approximation where they hold, in a render by
    /// perturbation (on by default; off, every pixel runs every step).
    pub skips: bool,
    /// Also compute each pixel's distance to the set and its slope, from the derivative
    /// the engine carries through the kernel's formula (for distance and slope colourings):
    /// the image then holds `DERIVATIVE_CHANNELS`. Ignored for kernels without a formula.
    pub derivatives: bool,
    /// Render only these rows of the image (a band of a poster); None for all. Any band
    /// holds exactly the pixels of a whole render.
    pub rows: Option<RowRange>,
    /// An earlier render whose pixels this one may keep: when it is a whole render of the
    /// same kernel, size and settings, on the same pixel lattice (a pan by whole pixels),
    /// only the pixels it lacks are computed, and the result is the same as a full render.
    pub previous: Option<Arc<RenderOutput>>,
    /// The arithmetic of the pixels' coordinates; Auto (the default) switches where f64
    /// runs out of digits, and takes perturbation where a probe shows it clearly faster.
    pub precision: PrecisionChoice,
}

/// Which precision a render asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrecisionChoice {
    /// f64, unless the view is so deep that neighbouring pixels' f64 coordinates barely
    /// differ (`View::near_precision_limit`): then perturbation for a kernel with a
    /// formula, else double-double for one with `pixel_deep`. Where f64 holds, the engine
    /// still renders a kernel with a formula by perturbation where a probe render of the
    /// view shows it 1.5 times as fast (views of 1,000 to 117,000 iterations whose pixels all
    /// share a long start; `RenderOutput::reference` then says so).
    #[default]
    Auto,
    /// Always f64 (`pixel`).
    Double,
    /// Always double-double (`pixel_deep`; refused for kernels without it).
    DoubleDouble,
    /// Always perturbation (the declared formula; refused for kernels without one).
    Perturbation,
}

impl PrecisionChoice {
    /// The precision a kernel renders `view` in at this image height: where f64 runs out,
    /// perturbation for a kernel with a formula (`perturbs`), else double-double for one
    /// with `pixel_deep` (`deep`); past double-double's reach (pixels below 2^-480 apart)
    /// perturbation or nothing.
    pub fn resolve(
        self,
        (perturbs, deep): (bool, bool),
        view: &View,
        height_px: u32,
    ) -> Result<Precision, RequestError> {
        let past_f64 = view.near_precision_limit(height_px);
        // Pixel steps written scaled (below 2^-480) are only perturbation's.
        if view.needs_scaled_pixels(height_px) {
            return match self {
                PrecisionChoice::Auto | PrecisionChoice::Perturbation if perturbs => {
                    Ok(Precision::Perturbation)
                }
                _ => Err(RequestError::DeeperThanKernel {
                    span: view.span.to_decimal(),
                }),
            };
        }
        match self {
            PrecisionChoice::Auto if perturbs && past_f64 => Ok(Precision::Perturbation),
            PrecisionChoice::Auto if deep && past_f64 => Ok(Precision::DoubleDouble),
            PrecisionChoice::Auto | PrecisionChoice::Double => Ok(Precision::Double),
            PrecisionChoice::DoubleDouble if deep => Ok(Precision::DoubleDouble),
            PrecisionChoice::DoubleDouble => Err(RequestError::NoDeepEntry),
            PrecisionChoice::Perturbation if perturbs => Ok(Precision::Perturbation),
            PrecisionChoice::Perturbation => Err(RequestError::NoFormula),
        }
    }
}

/// What a render does with a parameter value the kernel does not take (an unknown name,
/// the wrong kind, out of range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParameterPolicy {
    /// Refuse the render, naming the parameter (the CLI: the user typed the value).
    #[default]
    Strict,
    /// Use the default instead (the window: remembered values may outlive an edit of the
    /// kernel that renamed or narrowed a parameter).
    Lenient,
}

impl RenderRequest {
    /// A request for `source` at its home view, with default settings.
    pub fn new(source: impl Into<Arc<str>>, width_px: u32, height_px: u32) -> Self {
        Self {
            source: source.into(),
            view: None,
            width_px,
            height_px,
            max_iter: None,
            threads: default_thread_count(),
            timeout: None,
            parameters: ParameterValues::new(),
            parameter_policy: ParameterPolicy::Strict,
            guessing: true,
            symmetry: true,
            skips: true,
            derivatives: false,
            rows: None,
            previous: None,
            precision: PrecisionChoice::Auto,
        }
    }

    /// Checks everything that can be checked before the kernel is compiled.
    pub fn validate(&self) -> Result<(), RequestError> {
        let (width, height) = (self.width_px, self.height_px);
        image_size_from(i64::from(width), i64::from(height))?;
        let rows = self.row_range()?;
        check_buffer_bytes(width, rows.count, OutputMode::ESCAPE)?;
        thread_count_from(i64::try_from(self.threads).unwrap_or(i64::MAX))?;
        if let Some(max_iter) = self.max_iter {
            max_iter_from(i64::from(max_iter))?;
        }
        if let Some(timeout) = self.timeout {
            timeout_from_secs(timeout.as_secs_f64())?;
        }
        if let Some(view) = &self.view {
            view.validate()?;
        }
        if self.source.len() > MAX_SOURCE_BYTES {
            return Err(RequestError::SourceTooLarge {
                bytes: self.source.len(),
                max: MAX_SOURCE_BYTES,
            });
        }
        Ok(())
    }
}

impl RenderRequest {
    /// The rows to render: the band asked for (checked to lie inside the image), or all.
    pub fn row_range(&self) -> Result<RowRange, RequestError> {
        match self.rows {
            None => Ok(RowRange {
                first: 0,
                count: self.height_px,
            }),
            Some(rows)
                if rows.count > 0
                    && rows
                        .first
                        .checked_add(rows.count)
                        .is_some_and(|end| end <= self.height_px) =>
            {
                Ok(rows)
            }
            Some(rows) => Err(RequestError::Rows {
                first: rows.first,
                count: rows.count,
                height: self.height_px,
            }),
        }
    }
}

// The rules for a request's numbers, taking them as a user typed them (negative or huge
// included), so a front end that reads numbers from text checks them with the engine's
// own rules and messages instead of repeating them.

/// An image size in pixels: each side 1 to `MAX_SIDE_PX`.
pub fn image_size_from(width: i64, height: i64) -> Result<(u32, u32), RequestError> {
    let side = |value: i64| {
        u32::try_from(value)
            .ok()
            .filter(|side| (1..=MAX_SIDE_PX).contains(side))
    };
    match (side(width), side(height)) {
        (Some(width), Some(height)) => Ok((width, height)),
        _ => Err(RequestError::Size {
            width,
            height,
            max: MAX_SIDE_PX,
        }),
    }
}

/// A worker thread count: 1 to `MAX_THREADS`.
pub fn thread_count_from(threads: i64) -> Result<usize, RequestError> {
    usize::try_from(threads)
        .ok()
        .filter(|threads| (1..=MAX_THREADS).contains(threads))
        .ok_or(RequestError::Threads {
            threads,
            max: MAX_THREADS,
        })
}

/// An iteration limit: 1 to `MAX_MAX_ITER`.
pub fn max_iter_from(max_iter: i64) -> Result<u32, RequestError> {
    u32::try_from(max_iter)
        .ok()
        .filter(|max_iter| (1..=MAX_MAX_ITER).contains(max_iter))
        .ok_or(RequestError::MaxIter {
            max_iter,
            max: MAX_MAX_ITER,
        })
}

/// A render timeout: a finite number of seconds above 0 (and below a billion, which is
/// "never" and which `Duration` could not hold for much larger numbers).
pub fn timeout_from_secs(secs: f64) -> Result<Duration, RequestError> {
    if secs.is_finite() && secs > 0.0 && secs < 1e9 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(RequestError::Timeout { secs })
    }
}

/// The largest memory limit per Lua state, in MiB.
pub const MAX_MEMORY_LIMIT_MIB: u64 = 65_536;

/// A memory limit per Lua state given in MiB: 1 to `MAX_MEMORY_LIMIT_MIB`, in bytes.
pub fn memory_limit_from_mib(mib: i64) -> Result<usize, RequestError> {
    u64::try_from(mib)
        .ok()
        .filter(|mib| (1..=MAX_MEMORY_LIMIT_MIB).contains(mib))
        .and_then(|mib| usize::try_from(mib * 1024 * 1024).ok())
        .ok_or(RequestError::MemoryLimit {
            mib,
            max: MAX_MEMORY_LIMIT_MIB,
        })
}

pub(super) fn check_buffer_bytes(
    width: u32,
    height: u32,
    output: OutputMode,
) -> Result<(), RequestError> {
    let bytes_per_pixel = 4 * output.channels() as u64 + COLOUR_BYTES_PER_PIXEL;
    let needed_bytes = u64::from(width) * u64::from(height) * bytes_per_pixel;
    if needed_bytes > MAX_BUFFER_BYTES {
        return Err(RequestError::TooLarge {
            width,
            height,
            needed_bytes,
            limit_bytes: MAX_BUFFER_BYTES,
        });
    }
    Ok(())
}

/// The row step bands of an image should start on so that rendering it band by band
/// computes no more rows than one whole render: any band gives exactly the pixels of a
/// whole render, but with guessing a band starting elsewhere computes the rest of its
/// first and last blocks again.
pub fn band_alignment_rows(guessing: bool) -> u32 {
    if guessing { GUESS_BLOCK } else { 1 }
}

/// A band of rows of an image: `count` rows from row `first` (0 is the top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRange {
    /// The first row.
    pub first: u32,
    /// How many rows.
    pub count: u32,
}

impl RowRange {
    /// The row after the last.
    pub fn end(&self) -> u32 {
        self.first + self.count
    }
}
