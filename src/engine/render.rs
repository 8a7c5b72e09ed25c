//! The render engine: a pool of worker threads, each owning one Lua state per kernel source
//! (as in the seed article: one Lua state per thread), that split an image into small units
//! of rows and take them as they become free, so the thread that gets the heavy middle of
//! the set does not hold the others up.
//!
//! A render runs on the calling thread's behalf: `Engine::render` blocks, hands the job to
//! the workers, collects finished units (passing each to an observer as it arrives, for
//! progressive display), and returns the whole image with its timings, or an error. It can
//! be stopped from any thread through a `CancelToken`, or by its timeout, within
//! milliseconds even while a kernel is stuck in an endless loop.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::{KernelError, RenderError, RequestError};
use super::kernel::{KernelInfo, MAX_MAX_ITER, MAX_SOURCE_BYTES, OutputMode, Symmetry};
use super::lua_unsafe::StopSwitch;
use super::parameters::{ParameterValue, ParameterValues, resolve, resolve_leniently};
use super::plan::{GUESS_BLOCK, KeptPixels, MirroredRows, rows_to_compute, units_of};
use super::sandbox::{KernelLog, LuaKernel, RunFailure, StopContext, UnitRect};
use super::sync::lock;
use super::view::{PixelGrid, Precision, View};

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
/// How often the rendering thread reports finished units to its observer. Workers never
/// wake it per unit: on these machines a cross-thread wake-up per unit cost 5% of a render.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(5);
/// How long a stopped render waits for its workers before abandoning the ones that have
/// not stopped (a kernel inside a long call that cannot be interrupted).
pub const STOP_GRACE: Duration = Duration::from_secs(1);
/// Abandoned workers still running, across the process, beyond which no render starts.
/// Each may hold a CPU core and up to its memory limit until its call ends.
pub const MAX_ABANDONED_WORKERS: usize = 8;

/// Abandoned workers whose call has not ended yet (they end, and free their Lua state, as
/// soon as it does).
static ABANDONED_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// How many abandoned workers are still running in this process.
pub fn abandoned_worker_count() -> usize {
    ABANDONED_WORKERS.load(Ordering::SeqCst)
}

/// The number of threads a render uses by default: the machine's cores.
pub fn default_thread_count() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().min(MAX_THREADS))
}

/// Engine-wide settings.
pub struct EngineOptions {
    /// Memory limit per Lua state (per worker thread), in bytes.
    pub memory_limit_bytes: usize,
    /// Where kernels' `print` output goes.
    pub log: Arc<KernelLog>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
            log: Arc::new(KernelLog::discard()),
        }
    }
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
    /// Render only these rows of the image (a band of a poster); None for all. Any band
    /// holds exactly the pixels of a whole render.
    pub rows: Option<RowRange>,
    /// An earlier render whose pixels this one may keep: when it is a whole render of the
    /// same kernel, size and settings, on the same pixel lattice (a pan by whole pixels),
    /// only the pixels it lacks are computed, and the result is the same as a full render.
    pub previous: Option<Arc<RenderOutput>>,
    /// The arithmetic of the pixels' coordinates; Auto (the default) switches to
    /// double-double where f64 runs out of digits, for kernels with `pixel_deep`.
    pub precision: PrecisionChoice,
}

/// Which precision a render asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrecisionChoice {
    /// f64, unless the view is so deep that neighbouring pixels' f64 coordinates barely
    /// differ (`View::near_precision_limit`) and the kernel has `pixel_deep`.
    #[default]
    Auto,
    /// Always f64 (`pixel`).
    Double,
    /// Always double-double (`pixel_deep`; refused for kernels without it).
    DoubleDouble,
}

impl PrecisionChoice {
    /// The precision a kernel renders `view` in at this image height.
    pub fn resolve(
        self,
        kernel_is_deep: bool,
        view: &View,
        height_px: u32,
    ) -> Result<Precision, RequestError> {
        match self {
            PrecisionChoice::Auto if kernel_is_deep && view.near_precision_limit(height_px) => {
                Ok(Precision::DoubleDouble)
            }
            PrecisionChoice::Auto | PrecisionChoice::Double => Ok(Precision::Double),
            PrecisionChoice::DoubleDouble if kernel_is_deep => Ok(Precision::DoubleDouble),
            PrecisionChoice::DoubleDouble => Err(RequestError::NoDeepEntry),
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
        check_buffer_bytes(width, rows.count, OutputMode::Escape)?;
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

fn check_buffer_bytes(width: u32, height: u32, output: OutputMode) -> Result<(), RequestError> {
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

/// A rendered image before colouring: `output.channels()` floats per pixel, row by row
/// from the top. Escape values below 0, NaN or infinite mean "inside".
#[derive(Debug, Clone, PartialEq)]
pub struct ValueImage {
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
    /// What the values are.
    pub output: OutputMode,
    /// The values.
    pub values: Vec<f32>,
}

/// One worker thread's share of a render.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThreadTiming {
    /// Time the thread spent on this render (compiling and rendering units), in seconds.
    pub busy_secs: f64,
    /// Time it spent compiling the kernel (0 when its state was reused), in seconds.
    pub compile_secs: f64,
    /// Work units it rendered.
    pub units: usize,
}

/// How long a render took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderTimings {
    /// From the call to the returned image, in seconds.
    pub wall_secs: f64,
    /// Time spent compiling before units could start (0 when every state was reused).
    pub compile_secs: f64,
    /// One entry per worker thread used.
    pub threads: Vec<ThreadTiming>,
    /// Pixels kept from the request's `previous` render instead of computed (0 for none).
    pub kept_pixels: u64,
    /// Pixels copied from their mirrors across the real axis instead of computed (0 when
    /// the kernel declares no symmetry or the axis is not in view).
    pub mirrored_pixels: u64,
}

impl RenderTimings {
    /// Pixels rendered per second of wall time.
    pub fn pixels_per_sec(&self, pixel_count: u64) -> f64 {
        pixel_count as f64 / self.wall_secs.max(1e-9)
    }
}

/// A finished render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOutput {
    /// The values.
    pub image: ValueImage,
    /// The view rendered (the kernel's home when the request had none).
    pub view: View,
    /// The iteration limit the kernel ran with.
    pub max_iter: u32,
    /// What the kernel declared.
    pub kernel: KernelInfo,
    /// The value of every parameter the kernel declares, as rendered, in its order.
    pub parameters: Vec<(String, ParameterValue)>,
    /// True when solid guessing filled flat regions (asked for, and an escape kernel).
    pub guessed: bool,
    /// The arithmetic the pixels' coordinates were given in.
    pub precision: Precision,
    /// The rows of the image it holds (all of them unless the request asked for a band).
    pub rows: RowRange,
    /// The kernel source rendered.
    pub source: Arc<str>,
    /// How long it took.
    pub timings: RenderTimings,
}

impl RenderOutput {
    /// True when a render of `request` will probably keep pixels of this one (same
    /// kernel, size and guessing, and a view on the same lattice, moved less than the
    /// image): a cheap check before the kernel is compiled. The render itself also checks
    /// the iteration limit and the parameters, and keeps nothing when they differ.
    pub fn may_keep_pixels_for(&self, request: &RenderRequest) -> bool {
        let Some(view) = request.view else {
            return false;
        };
        let size_px = (request.width_px, request.height_px);
        let guess = self.guessed;
        self.rows.count == self.image.height_px
            && (self.image.width_px, self.image.height_px) == size_px
            && (request.guessing && self.image.output == OutputMode::Escape) == guess
            && request.rows.is_none()
            && self.source == request.source
            && KeptPixels::between(
                &self.view.pixel_grid(size_px.0, size_px.1),
                &view.pixel_grid(size_px.0, size_px.1),
                size_px,
                guess,
            )
            .is_some()
    }

    /// True when this whole render's pixels can stand in a render of `request`, given
    /// that its kernel produces `output` and runs with `max_iter` and `parameters`: same
    /// kernel, size and settings (the view may differ; the caller compares lattices).
    fn keeps_pixels_for(
        &self,
        request: &RenderRequest,
        output: OutputMode,
        (max_iter, precision): (u32, Precision),
        parameters: &[(String, ParameterValue)],
    ) -> bool {
        let guess = request.guessing && output == OutputMode::Escape;
        self.precision == precision
            && self.rows.first == 0
            && self.rows.count == self.image.height_px
            && (self.image.width_px, self.image.height_px) == (request.width_px, request.height_px)
            && self.image.output == output
            && self.max_iter == max_iter
            && self.guessed == guess
            && self.parameters == parameters
            && (Arc::ptr_eq(&self.source, &request.source) || self.source == request.source)
    }
}

/// A unit (a rectangle of pixels) that has just been rendered, as passed to a render's
/// observer. Whole rows, unless the render keeps an earlier one's pixels.
#[derive(Debug)]
pub struct UnitProgress<'a> {
    /// What the values are (one float per pixel, or three for direct colour).
    pub output: OutputMode,
    /// Its first row (counted from the first row asked for).
    pub first_row: u32,
    /// How many rows it covers.
    pub row_count: u32,
    /// Its first column.
    pub first_column: u32,
    /// How many columns it covers.
    pub column_count: u32,
    /// Its values (`channels` floats per pixel, `column_count` pixels per row).
    pub values: &'a [f32],
    /// Units finished so far, this one included.
    pub units_done: usize,
    /// Units in the whole render.
    pub units_total: usize,
}

/// Stops the renders it was passed to, from any thread. Once cancelled it stays cancelled.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    jobs: Mutex<Vec<Weak<Job>>>,
}

impl CancelToken {
    /// A token that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops every render using this token; they return `RenderError::Cancelled`.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let jobs = std::mem::take(&mut *lock(&self.inner.jobs));
        for job in jobs.iter().filter_map(Weak::upgrade) {
            job.stop(StopReason::Cancelled);
        }
    }

    /// True once `cancel` has been called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    fn attach(&self, job: &Arc<Job>) {
        {
            let mut jobs = lock(&self.inner.jobs);
            jobs.retain(|job| job.strong_count() > 0);
            jobs.push(Arc::downgrade(job));
        }
        // Checked after registering: a cancel either drained this job or is seen here.
        if self.is_cancelled() {
            job.stop(StopReason::Cancelled);
        }
    }
}

/// Why a job stopped early; the first reason wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum StopReason {
    Running = 0,
    Cancelled = 1,
    TimedOut = 2,
    /// A worker failed; the others stop.
    Failed = 3,
}

/// How the image is cut into units.
struct UnitPlan {
    width_px: u32,
    /// The rows of the image asked for (all of them unless a band was asked for).
    rows: RowRange,
    /// The rows the job's buffer holds: `rows`, widened to whole guessing blocks.
    buffer_rows: Range<u32>,
    units: Vec<UnitRect>,
    grid: PixelGrid,
    max_iter: Option<u32>,
    /// Every declared parameter's value (checked), set in each worker's state.
    parameters: Vec<(String, ParameterValue)>,
    /// Render units by solid guessing.
    guess: bool,
    /// The arithmetic of the pixels' coordinates.
    precision: Precision,
    output: OutputMode,
    channels: usize,
    /// Pixels of an earlier render this one keeps (a pan), copied in before units start.
    kept: Option<(KeptPixels, Arc<RenderOutput>)>,
    /// Rows copied from their mirrors across the real axis as their mirrors finish.
    mirrored: Option<MirroredRows>,
}

impl UnitPlan {
    /// The plan for `request`'s `rows`, at `view`, once the kernel is known to produce
    /// `output` and take `parameters`, run with `max_iter` iterations.
    fn new(
        request: &RenderRequest,
        rows: RowRange,
        view: &View,
        parameters: Vec<(String, ParameterValue)>,
        (output, max_iter, symmetry): (OutputMode, u32, Symmetry),
        precision: Precision,
    ) -> Self {
        let (width_px, height_px) = (request.width_px, request.height_px);
        let guess = request.guessing && output == OutputMode::Escape;
        let grid = view.pixel_grid(width_px, height_px);
        let buffer_rows = rows_to_compute(rows.first..rows.end(), height_px, &grid, guess);
        let kept = request
            .previous
            .as_ref()
            .filter(|previous| {
                rows.count == height_px
                    && previous.keeps_pixels_for(
                        request,
                        output,
                        (max_iter, precision),
                        &parameters,
                    )
            })
            .and_then(|previous| {
                let earlier = previous.view.pixel_grid(width_px, height_px);
                KeptPixels::between(&earlier, &grid, (width_px, height_px), guess)
                    .map(|kept| (kept, Arc::clone(previous)))
            });
        let rects = match &kept {
            Some((kept, _)) => kept.rects_to_compute((width_px, height_px), guess),
            None => vec![UnitRect {
                left: 0,
                top: buffer_rows.start,
                width: width_px,
                height: buffer_rows.len() as u32,
            }],
        };
        let mirrored = (request.symmetry && symmetry == Symmetry::RealAxis)
            .then(|| MirroredRows::within(buffer_rows.clone(), &grid, guess))
            .flatten();
        let mut units = Vec::new();
        for rect in rects {
            match &mirrored {
                Some(mirrored) => {
                    for part in mirrored.rects_to_compute(rect) {
                        units_of(part, &grid, guess, &mut units);
                    }
                }
                None => units_of(rect, &grid, guess, &mut units),
            }
        }
        Self {
            width_px,
            rows,
            buffer_rows,
            units,
            grid,
            max_iter: request.max_iter,
            parameters,
            guess,
            precision,
            output,
            channels: output.channels(),
            kept,
            mirrored,
        }
    }

    /// Values per row of the buffer.
    fn stride(&self) -> usize {
        self.width_px as usize * self.channels
    }

    /// How many values the job's buffer holds.
    fn buffer_len(&self) -> usize {
        self.buffer_rows.len() * self.stride()
    }

    /// The index in the buffer of pixel (column, row) of the image.
    fn buffer_index(&self, column: u32, row: u32) -> usize {
        (row - self.buffer_rows.start) as usize * self.stride() + column as usize * self.channels
    }

    /// The range of the buffer from `rect`'s first pixel to its last.
    fn rect_value_range(&self, rect: &UnitRect) -> Range<usize> {
        let start = self.buffer_index(rect.left, rect.top);
        let last_row_start = self.buffer_index(rect.left, rect.top + rect.height - 1);
        start..last_row_start + rect.width as usize * self.channels
    }

    /// The buffer as it starts: the kept pixels of an earlier render, zeros elsewhere.
    fn initial_buffer(&self) -> Vec<u32> {
        let mut buffer = vec![0_u32; self.buffer_len()];
        if let Some((kept, previous)) = &self.kept {
            let previous_values = &previous.image.values;
            let run = kept.columns.len() * self.channels;
            for row in kept.rows.clone() {
                let earlier_row = (i64::from(row) + kept.shift.1) as usize;
                let earlier_column = (i64::from(kept.columns.start) + kept.shift.0) as usize;
                let from = (earlier_row * self.width_px as usize + earlier_column) * self.channels;
                let to = self.buffer_index(kept.columns.start, row);
                if let (Some(source), Some(target)) = (
                    previous_values.get(from..from + run),
                    buffer.get_mut(to..to + run),
                ) {
                    for (target, value) in target.iter_mut().zip(source) {
                        *target = value.to_bits();
                    }
                }
            }
            // Copied rows are in no unit: their kept part comes from their kept mirrors.
            if let Some(mirrored) = &self.mirrored {
                for row in mirrored.target.clone() {
                    let source_row = mirrored.mirror_of(row);
                    if kept.rows.contains(&source_row) {
                        let from = self.buffer_index(kept.columns.start, source_row);
                        let to = self.buffer_index(kept.columns.start, row);
                        buffer.copy_within(from..from + run, to);
                    }
                }
            }
        }
        buffer
    }

    /// Copies the part of `rect` (a finished unit) that copied rows mirror into those
    /// rows of `image`, and returns the rectangle it filled.
    fn mirror_unit(&self, rect: &UnitRect, image: &[AtomicU32]) -> Option<UnitRect> {
        let mirrored = self.mirrored.as_ref()?;
        let source = mirrored.source();
        let top = rect.top.max(source.start);
        let bottom = (rect.top + rect.height).min(source.end);
        if top >= bottom {
            return None;
        }
        let run = rect.width as usize * self.channels;
        for row in top..bottom {
            let from = self.buffer_index(rect.left, row);
            let to = self.buffer_index(rect.left, mirrored.mirror_of(row));
            // The copied rows are in no unit, so no worker writes them.
            for (target, value) in image[to..to + run].iter().zip(&image[from..from + run]) {
                target.store(value.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        let mirror_top = mirrored.mirror_of(bottom - 1);
        Some(UnitRect {
            top: mirror_top,
            height: bottom - top,
            ..*rect
        })
    }

    /// Where the rows asked for lie in the finished buffer.
    fn rows_asked_for(&self) -> BufferSlice {
        let skip = (self.rows.first - self.buffer_rows.start) as usize * self.stride();
        BufferSlice {
            skip,
            len: self.rows.count as usize * self.stride(),
        }
    }

    /// How many pixels were kept from an earlier render.
    fn kept_pixel_count(&self) -> u64 {
        self.kept.as_ref().map_or(0, |(kept, _)| kept.pixel_count())
    }

    /// How many pixels of the rows asked for are copied from their mirrors.
    fn mirrored_pixel_count(&self) -> u64 {
        self.mirrored.as_ref().map_or(0, |mirrored| {
            let top = mirrored.target.start.max(self.rows.first);
            let bottom = mirrored.target.end.min(self.rows.end());
            u64::from(bottom.saturating_sub(top)) * u64::from(self.width_px)
        })
    }
}

/// A run of values in a job's buffer.
struct BufferSlice {
    skip: usize,
    len: usize,
}

impl BufferSlice {
    /// Those values of `buffer`, in place.
    fn of(&self, mut buffer: Vec<f32>) -> Vec<f32> {
        buffer.truncate(self.skip + self.len);
        buffer.drain(..self.skip.min(buffer.len()));
        buffer
    }
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

/// What a job asks of its workers.
enum JobWork {
    /// Compile the kernel (and keep its state) to learn what it declares.
    CompileOnly,
    /// Compile if needed, then render the plan's units.
    Render(Box<UnitPlan>),
}

impl JobWork {
    fn plan(&self) -> Option<&UnitPlan> {
        match self {
            Self::CompileOnly => None,
            Self::Render(plan) => Some(plan),
        }
    }
}

/// One render (or one compile) shared by the workers running it.
struct Job {
    id: u64,
    source: Arc<str>,
    memory_limit_bytes: usize,
    log: Arc<KernelLog>,
    work: JobWork,
    next_unit: AtomicUsize,
    stop_reason: AtomicU8,
    workers: Vec<Arc<WorkerShared>>,
    /// The image being rendered, `channels` f32 bit patterns per pixel. Each unit's range
    /// is written by the one worker that took the unit (through the driver's FFI pointer)
    /// and read only after that worker listed it in `finished_units`.
    image: Box<[AtomicU32]>,
    finished_units: Mutex<Vec<usize>>,
    events: Sender<WorkerEvent>,
}

impl Job {
    fn is_stopped(&self) -> bool {
        self.stop_reason.load(Ordering::SeqCst) != StopReason::Running as u8
    }

    fn stop_reason(&self) -> StopReason {
        match self.stop_reason.load(Ordering::SeqCst) {
            1 => StopReason::Cancelled,
            2 => StopReason::TimedOut,
            3 => StopReason::Failed,
            _ => StopReason::Running,
        }
    }

    /// Records why the job stops (if it is the first reason) and interrupts every worker
    /// still running Lua for it.
    fn stop(&self, reason: StopReason) {
        let first = self
            .stop_reason
            .compare_exchange(
                StopReason::Running as u8,
                reason as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok();
        if first {
            self.trip_workers();
        }
    }

    /// Sets the stop hook on every worker still armed for this job. Called again on every
    /// tick of a stopped job: a hook set while LuaJIT was updating its own hook mask or
    /// dispatch table can be undone by the rest of that update (see `StopSwitch`), and
    /// asserting it again repairs that.
    fn trip_workers(&self) {
        for worker in &self.workers {
            worker.switch.trip(self.id);
        }
    }
}

/// What workers tell the rendering thread (finished units go through `Job::finished_units`).
enum WorkerEvent {
    Finished { worker: usize, report: WorkerReport },
}

/// A worker's account of one job.
struct WorkerReport {
    timing: ThreadTiming,
    info: Option<KernelInfo>,
    failure: Option<RunFailure>,
}

/// What a worker's thread shares with the engine.
#[derive(Default)]
struct WorkerShared {
    switch: StopSwitch,
    /// What the worker is doing, for the message when it has to be abandoned.
    activity: AtomicU64,
    /// Set when the engine gave up waiting for the worker: it ends after its current call.
    abandoned: AtomicBool,
}

/// `WorkerShared::activity`: idle, loading the kernel, or rendering unit N (as N + 2).
const ACTIVITY_IDLE: u64 = 0;
const ACTIVITY_LOADING: u64 = 1;

impl WorkerShared {
    fn set_unit(&self, unit: usize) {
        self.activity.store(unit as u64 + 2, Ordering::SeqCst);
    }

    /// What the worker is doing, in words, for `job`.
    fn describe_activity(&self, job: &Job) -> String {
        match self.activity.load(Ordering::SeqCst) {
            ACTIVITY_IDLE => "between calls".to_owned(),
            ACTIVITY_LOADING => {
                "preparing the kernel (running its top level or sample calls of pixel)".to_owned()
            }
            unit => match job.work.plan() {
                Some(plan) => match plan.units.get((unit - 2) as usize) {
                    Some(rect) => format!(
                        "rendering rows {}-{}, columns {}-{}",
                        rect.top,
                        rect.top + rect.height - 1,
                        rect.left,
                        rect.left + rect.width - 1
                    ),
                    None => "rendering".to_owned(),
                },
                None => "rendering".to_owned(),
            },
        }
    }
}

struct Worker {
    jobs: Sender<Arc<Job>>,
    shared: Arc<WorkerShared>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn spawn(index: usize) -> Result<Self, RenderError> {
        let (jobs, receiver) = mpsc::channel();
        let shared = Arc::new(WorkerShared::default());
        let worker_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("moonbrot-render-{index}"))
            .spawn(move || worker_main(index, &receiver, &worker_shared))
            .map_err(|error| {
                RenderError::Internal(format!("cannot start a render thread: {error}"))
            })?;
        Ok(Self {
            jobs,
            shared,
            thread: Some(thread),
        })
    }

    /// Gives up on this worker: it is marked abandoned and its thread detached (never
    /// joined). When its current call ends it drops its Lua state and exits.
    fn abandon(mut self) {
        self.shared.abandoned.store(true, Ordering::SeqCst);
        ABANDONED_WORKERS.fetch_add(1, Ordering::SeqCst);
        drop(self.thread.take());
    }
}

fn worker_main(index: usize, jobs: &Receiver<Arc<Job>>, shared: &WorkerShared) {
    let mut kernel: Option<LuaKernel> = None;
    while let Ok(job) = jobs.recv() {
        let started = Instant::now();
        let report = catch_unwind(AssertUnwindSafe(|| work_on_job(&job, &mut kernel, shared)))
            .unwrap_or_else(|panic| {
                kernel = None; // its state may be half-updated
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a render thread panicked".to_owned());
                job.stop(StopReason::Failed);
                WorkerReport {
                    timing: ThreadTiming::default(),
                    info: None,
                    failure: Some(RunFailure::Internal(message)),
                }
            });
        let report = WorkerReport {
            timing: ThreadTiming {
                busy_secs: started.elapsed().as_secs_f64(),
                ..report.timing
            },
            ..report
        };
        shared.activity.store(ACTIVITY_IDLE, Ordering::SeqCst);
        if shared.abandoned.load(Ordering::SeqCst) {
            // Nobody waits for this report; the engine has a fresh worker in this place.
            ABANDONED_WORKERS.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        // Let go of the job before reporting, so that once every worker has reported the
        // rendering thread owns the image alone and can take it without a copy.
        let events = job.events.clone();
        drop(job);
        let _ = events.send(WorkerEvent::Finished {
            worker: index,
            report,
        });
    }
}

/// A worker's part of a job: compile the kernel unless its cached state was compiled from
/// the same source, then take units until none are left or the job stops.
fn work_on_job(job: &Job, cached: &mut Option<LuaKernel>, shared: &WorkerShared) -> WorkerReport {
    let switch = &shared.switch;
    let mut report = WorkerReport {
        timing: ThreadTiming::default(),
        info: None,
        failure: None,
    };
    let is_stopped = || job.is_stopped();
    let stop = StopContext {
        switch,
        job_id: job.id,
        is_stopped: &is_stopped,
    };
    if job.is_stopped() {
        return report;
    }
    let compile_started = Instant::now();
    if !cached
        .as_ref()
        .is_some_and(|kernel| kernel.is_compiled_from(&job.source, job.memory_limit_bytes))
    {
        *cached = None;
        shared.activity.store(ACTIVITY_LOADING, Ordering::SeqCst);
        match LuaKernel::compile(
            Arc::clone(&job.source),
            job.memory_limit_bytes,
            &job.log,
            &stop,
        ) {
            Ok(kernel) => *cached = Some(kernel),
            Err(failure) => {
                report.failure = Some(failure);
                job.stop(StopReason::Failed);
                return report;
            }
        }
        report.timing.compile_secs = compile_started.elapsed().as_secs_f64();
    }
    let Some(kernel) = cached.as_ref() else {
        return report;
    };
    report.info = Some(kernel.info().clone());
    let Some(plan) = job.work.plan() else {
        return report;
    };
    let max_iter = kernel.info().effective_max_iter(plan.max_iter);
    if let Err(failure) = kernel.configure(max_iter, &plan.parameters) {
        report.failure = Some(failure);
        job.stop(StopReason::Failed);
        return report;
    }
    while !job.is_stopped() {
        let unit = job.next_unit.fetch_add(1, Ordering::SeqCst);
        let Some(rect) = plan.units.get(unit) else {
            break;
        };
        shared.set_unit(unit);
        let out = &job.image[plan.rect_value_range(rect)];
        let settings = (plan.guess, plan.precision);
        match kernel.render_unit(*rect, &plan.grid, (out, plan.stride()), settings, &stop) {
            Ok(()) => {
                report.timing.units += 1;
                lock(&job.finished_units).push(unit);
            }
            Err(RunFailure::Stopped) => {
                // Stopping sets the hook from another thread, and LuaJIT's lua_sethook also
                // aborts any trace being recorded with an unsynchronised write: a state
                // stopped mid-call is never trusted again. Recompiling costs ~1 ms.
                *cached = None;
                break;
            }
            Err(failure) => {
                *cached = None; // a failed kernel's state is not reused
                report.failure = Some(failure);
                job.stop(StopReason::Failed);
                break;
            }
        }
    }
    report
}

/// Renders Lua kernels on a pool of worker threads. Cheap to share: `render` takes `&self`
/// and may be called from any thread; renders run one at a time.
pub struct Engine {
    options: EngineOptions,
    workers: Mutex<Vec<Worker>>,
    next_job_id: AtomicU64,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(EngineOptions::default())
    }
}

/// When a job must stop early: on cancel, or at its deadline.
#[derive(Clone, Copy)]
struct JobLimits<'a> {
    cancel: &'a CancelToken,
    deadline: Option<Instant>,
}

/// Collected results of one dispatched job.
struct JobResults {
    reports: Vec<Option<WorkerReport>>,
    units_done: usize,
    /// The image as the workers left it.
    image: Vec<f32>,
    /// What each abandoned worker was doing (empty when every worker stopped in time).
    abandoned: Vec<String>,
}

impl Engine {
    /// An engine with no worker threads yet (they start with the first render).
    pub fn new(options: EngineOptions) -> Self {
        Self {
            options,
            workers: Mutex::new(Vec::new()),
            next_job_id: AtomicU64::new(1),
        }
    }

    /// Compiles `source` (in a worker's state, which is kept for the next render) and
    /// returns what it declares, or why it does not compile.
    pub fn inspect(
        &self,
        source: &Arc<str>,
        cancel: &CancelToken,
    ) -> Result<KernelInfo, RenderError> {
        self.inspect_within(source, cancel, None)
    }

    /// As `inspect`, stopped with `RenderError::TimedOut` after `timeout` (for kernels
    /// from files, whose top level may never end).
    pub fn inspect_within(
        &self,
        source: &Arc<str>,
        cancel: &CancelToken,
        timeout: Option<Duration>,
    ) -> Result<KernelInfo, RenderError> {
        Self::check_abandoned_workers()?;
        let limits = JobLimits {
            cancel,
            deadline: timeout.map(|timeout| Instant::now() + timeout),
        };
        let timed_out = |error| match error {
            RenderError::TimedOut { .. } => RenderError::TimedOut {
                timeout_secs: timeout.unwrap_or_default().as_secs_f64(),
            },
            other => other,
        };
        let mut workers = self.lock_workers(limits).map_err(timed_out)?;
        self.options.log.start_run();
        self.compile_on_first_worker(&mut workers, source, limits, timeout)
            .map(|(info, _)| info)
            .map_err(timed_out)
    }

    /// Renders `request`, blocking until the image is complete or the render fails.
    pub fn render(
        &self,
        request: &RenderRequest,
        cancel: &CancelToken,
    ) -> Result<RenderOutput, RenderError> {
        self.render_observed(request, cancel, None)
    }

    /// As `render`, calling `on_unit` on this thread for each unit of rows as it completes
    /// (batched: every few milliseconds, in the order the units finished).
    pub fn render_with_progress(
        &self,
        request: &RenderRequest,
        cancel: &CancelToken,
        on_unit: &mut dyn FnMut(&UnitProgress<'_>),
    ) -> Result<RenderOutput, RenderError> {
        self.render_observed(request, cancel, Some(on_unit))
    }

    fn render_observed(
        &self,
        request: &RenderRequest,
        cancel: &CancelToken,
        on_unit: Option<&mut (dyn FnMut(&UnitProgress<'_>) + '_)>,
    ) -> Result<RenderOutput, RenderError> {
        let started = Instant::now();
        request.validate()?;
        Self::check_abandoned_workers()?;
        let deadline = request.timeout.map(|timeout| started + timeout);
        let timed_out = || RenderError::TimedOut {
            timeout_secs: request.timeout.unwrap_or_default().as_secs_f64(),
        };
        let limits = JobLimits { cancel, deadline };
        let mut workers = self.lock_workers(limits).map_err(|error| match error {
            RenderError::TimedOut { .. } => timed_out(),
            other => other,
        })?;
        self.options.log.start_run();
        let (info, first_compile_secs) = self
            .compile_on_first_worker(&mut workers, &request.source, limits, request.timeout)
            .map_err(|error| match error {
                RenderError::TimedOut { .. } => timed_out(),
                other => other,
            })?;
        let view = request.view.unwrap_or_else(|| info.home_or_default());
        view.validate()?;
        let rows = request.row_range()?;
        check_buffer_bytes(request.width_px, rows.count, info.output)?;
        let parameters = match request.parameter_policy {
            ParameterPolicy::Strict => resolve(&info.parameters, &request.parameters)?,
            ParameterPolicy::Lenient => resolve_leniently(&info.parameters, &request.parameters),
        };
        let max_iter = info.effective_max_iter(request.max_iter);
        let precision = request
            .precision
            .resolve(info.deep, &view, request.height_px)?;
        let plan = UnitPlan::new(
            request,
            rows,
            &view,
            parameters.clone(),
            (info.output, max_iter, info.symmetry),
            precision,
        );
        let units_total = plan.units.len();
        let kept_pixels = plan.kept_pixel_count();
        let mirrored_pixels = plan.mirrored_pixel_count();
        let rows_asked_for = plan.rows_asked_for();
        let job = self.start_job(
            &mut workers,
            &request.source,
            JobWork::Render(Box::new(plan)),
            request.threads,
            limits,
        );
        let (results, reason) = collect_job(&mut workers, job, limits.deadline, on_unit);
        let threads =
            collect_failure(results.reports, reason, request.timeout, &results.abandoned)?;
        if results.units_done != units_total {
            return Err(RenderError::Internal(format!(
                "{} of {units_total} units were rendered",
                results.units_done
            )));
        }
        let values = rows_asked_for.of(results.image);
        let compile_secs = first_compile_secs
            + threads
                .iter()
                .map(|timing| timing.compile_secs)
                .fold(0.0, f64::max);
        Ok(RenderOutput {
            image: ValueImage {
                width_px: request.width_px,
                height_px: rows.count,
                output: info.output,
                values,
            },
            view,
            max_iter,
            guessed: request.guessing && info.output == OutputMode::Escape,
            precision,
            rows,
            source: Arc::clone(&request.source),
            kernel: info,
            parameters,
            timings: RenderTimings {
                wall_secs: started.elapsed().as_secs_f64(),
                compile_secs,
                threads,
                kept_pixels,
                mirrored_pixels,
            },
        })
    }

    /// Takes the worker pool for one render, waiting for a render in progress on another
    /// thread to finish, unless this one is cancelled or times out first.
    fn lock_workers(
        &self,
        JobLimits { cancel, deadline }: JobLimits<'_>,
    ) -> Result<MutexGuard<'_, Vec<Worker>>, RenderError> {
        loop {
            match self.workers.try_lock() {
                Ok(workers) => return Ok(workers),
                Err(TryLockError::Poisoned(poisoned)) => return Ok(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(RenderError::TimedOut { timeout_secs: 0.0 });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Compiles the source on worker 0 only, to learn what the kernel declares before the
    /// image is planned. The state stays cached there for the render.
    fn compile_on_first_worker(
        &self,
        workers: &mut Vec<Worker>,
        source: &Arc<str>,
        limits: JobLimits<'_>,
        timeout: Option<Duration>,
    ) -> Result<(KernelInfo, f64), RenderError> {
        let job = self.start_job(workers, source, JobWork::CompileOnly, 1, limits);
        let (results, reason) = collect_job(workers, job, limits.deadline, None);
        let report = results.reports.into_iter().next().flatten();
        let compile_secs = report
            .as_ref()
            .map_or(0.0, |report| report.timing.compile_secs);
        let info = report.as_ref().and_then(|report| report.info.clone());
        collect_failure(vec![report], reason, timeout, &results.abandoned)?;
        info.map(|info| (info, compile_secs)).ok_or_else(|| {
            RenderError::Internal("the kernel compiled but reported nothing".to_owned())
        })
    }

    /// Sends a job to the first `threads` workers (starting the ones missing). A job that
    /// could not be given to any worker comes back already failed, with its reason.
    fn start_job(
        &self,
        workers: &mut Vec<Worker>,
        source: &Arc<str>,
        work: JobWork,
        threads: usize,
        limits: JobLimits<'_>,
    ) -> StartedJob {
        let (events, receiver) = mpsc::channel();
        let initial_buffer = work.plan().map_or_else(Vec::new, UnitPlan::initial_buffer);
        let mut started = StartedJob {
            job: None,
            receiver,
            threads,
            pending: 0,
            start_failure: None,
        };
        if let Err(error) = ensure_workers(workers, threads) {
            started.start_failure = Some(error.to_string());
            return started;
        }
        // Zeroed u32s become atomics in place (same layout): no second pass over the image.
        let image: Box<[AtomicU32]> = initial_buffer.into_iter().map(AtomicU32::new).collect();
        let job = Arc::new(Job {
            id: self.next_job_id.fetch_add(1, Ordering::Relaxed),
            source: Arc::clone(source),
            memory_limit_bytes: self.options.memory_limit_bytes,
            log: Arc::clone(&self.options.log),
            work,
            next_unit: AtomicUsize::new(0),
            stop_reason: AtomicU8::new(StopReason::Running as u8),
            workers: workers[..threads]
                .iter()
                .map(|worker| Arc::clone(&worker.shared))
                .collect(),
            image,
            finished_units: Mutex::new(Vec::new()),
            events,
        });
        limits.cancel.attach(&job);
        for (index, worker) in workers[..threads].iter_mut().enumerate() {
            if worker.jobs.send(Arc::clone(&job)).is_err() {
                // The thread is gone (it cannot panic out of its loop, but be safe): replace it.
                match Worker::spawn(index) {
                    Ok(fresh) => *worker = fresh,
                    Err(_) => continue,
                }
                if worker.jobs.send(Arc::clone(&job)).is_err() {
                    continue;
                }
            }
            started.pending += 1;
        }
        started.job = Some(job);
        started
    }

    /// Refuses to start while too many abandoned workers are still stuck.
    fn check_abandoned_workers() -> Result<(), RenderError> {
        let count = abandoned_worker_count();
        if count >= MAX_ABANDONED_WORKERS {
            return Err(RenderError::TooManyAbandoned { count });
        }
        Ok(())
    }
}

/// A job handed to the workers, for `collect_job`.
struct StartedJob {
    /// None when no worker could be started (`start_failure` says why).
    job: Option<Arc<Job>>,
    receiver: Receiver<WorkerEvent>,
    threads: usize,
    /// Workers that took the job and have not reported yet.
    pending: usize,
    start_failure: Option<String>,
}

/// Waits for the workers' reports, passing finished units to `on_unit` as they come in,
/// stopping the job at its deadline and abandoning workers that outlast the stop by
/// `STOP_GRACE`; returns the reports and the image.
fn collect_job(
    workers: &mut Vec<Worker>,
    started: StartedJob,
    deadline: Option<Instant>,
    mut on_unit: Option<&mut (dyn FnMut(&UnitProgress<'_>) + '_)>,
) -> (JobResults, StopReason) {
    let mut results = JobResults {
        reports: (0..started.threads).map(|_| None).collect(),
        units_done: 0,
        image: Vec::new(),
        abandoned: Vec::new(),
    };
    let Some(job) = started.job else {
        results.reports[0] = Some(WorkerReport {
            timing: ThreadTiming::default(),
            info: None,
            failure: started.start_failure.map(RunFailure::Internal),
        });
        return (results, StopReason::Failed);
    };
    let mut pending = started.pending;
    let mut unit_values = Vec::new();
    let mut stopped_since: Option<Instant> = None;
    while pending > 0 {
        // Wake at the deadline, but never with a zero wait: once the job is stopped this
        // loop re-asserts the stop once per tick, and spinning would flood the workers with
        // stop signals (each one rebuilds LuaJIT's dispatch table).
        let wait = match deadline {
            Some(deadline) if !job.is_stopped() => PROGRESS_INTERVAL
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_micros(100)),
            _ => PROGRESS_INTERVAL,
        };
        match started.receiver.recv_timeout(wait) {
            Ok(WorkerEvent::Finished { worker, report }) => {
                if let Some(slot) = results.reports.get_mut(worker) {
                    *slot = Some(report);
                }
                pending -= 1;
            }
            Err(RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    job.stop(StopReason::TimedOut);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if job.is_stopped() {
            job.trip_workers();
            let since = *stopped_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= STOP_GRACE {
                results.abandoned = abandon_unreported(workers, &results.reports, &job);
                break;
            }
        }
        report_finished_units(
            &job,
            &mut results.units_done,
            &mut unit_values,
            on_unit.as_deref_mut(),
        );
    }
    let reason = job.stop_reason();
    if results.abandoned.is_empty() {
        results.image = take_image(job);
    }
    (results, reason)
}

/// Replaces every worker of the job that has not reported with a fresh one and abandons
/// the old one (the grace period after the stop has passed). Returns what each was doing.
fn abandon_unreported(
    workers: &mut Vec<Worker>,
    reports: &[Option<WorkerReport>],
    job: &Job,
) -> Vec<String> {
    let mut abandoned = Vec::new();
    for (index, _) in reports.iter().enumerate().filter(|(_, r)| r.is_none()) {
        let Some(stuck) = workers.get(index) else {
            continue;
        };
        abandoned.push(stuck.shared.describe_activity(job));
        let Ok(fresh) = Worker::spawn(index) else {
            // No thread to put in its place: shorten the pool from here (the next render
            // starts the workers it needs again, or reports why it cannot). Only workers
            // that did not report are abandoned; the others are idle and end when their
            // job channel closes.
            for (offset, worker) in workers.drain(index..).enumerate() {
                if matches!(reports.get(index + offset), Some(None)) {
                    if offset > 0 {
                        abandoned.push(worker.shared.describe_activity(job));
                    }
                    worker.abandon();
                }
            }
            break;
        };
        std::mem::replace(&mut workers[index], fresh).abandon();
    }
    abandoned
}

/// The finished job's image as floats. Every worker has reported and dropped its handle
/// (a worker that never got the job holds none either), so this is usually the last one
/// and the buffer is reused in place. But a cancel arriving just as the render ends holds
/// the job for a moment (`CancelToken::cancel` upgrades its weak handle to stop it); then
/// the image is copied, which is just as correct since no worker writes to it any more.
fn take_image(job: Arc<Job>) -> Vec<f32> {
    match Arc::try_unwrap(job) {
        Ok(job) => job
            .image
            .into_vec()
            .into_iter()
            .map(|bits| f32::from_bits(bits.into_inner()))
            .collect(),
        Err(shared) => shared
            .image
            .iter()
            .map(|bits| f32::from_bits(bits.load(Ordering::SeqCst)))
            .collect(),
    }
}

/// Passes the units finished since the last call to `on_unit`, in the order they finished.
fn report_finished_units(
    job: &Job,
    units_done: &mut usize,
    unit_values: &mut Vec<f32>,
    mut on_unit: Option<&mut (dyn FnMut(&UnitProgress<'_>) + '_)>,
) {
    let finished = std::mem::take(&mut *lock(&job.finished_units));
    let Some(plan) = job.work.plan() else {
        return;
    };
    for unit in finished {
        *units_done += 1;
        let Some(rect) = plan.units.get(unit) else {
            continue;
        };
        let mirrored = plan.mirror_unit(rect, &job.image);
        let Some(on_unit) = on_unit.as_deref_mut().filter(|_| !job.is_stopped()) else {
            continue;
        };
        for rect in std::iter::once(rect).chain(mirrored.as_ref()) {
            // Only the rows asked for (a widened band computes a few more).
            let top = rect.top.max(plan.rows.first);
            let bottom = (rect.top + rect.height).min(plan.rows.end());
            if top >= bottom {
                continue;
            }
            unit_values.clear();
            for row in top..bottom {
                let start = plan.buffer_index(rect.left, row);
                let run = rect.width as usize * plan.channels;
                unit_values.extend(
                    job.image[start..start + run]
                        .iter()
                        .map(|bits| f32::from_bits(bits.load(Ordering::Relaxed))),
                );
            }
            on_unit(&UnitProgress {
                output: plan.output,
                first_row: top - plan.rows.first,
                row_count: bottom - top,
                first_column: rect.left,
                column_count: rect.width,
                values: unit_values,
                units_done: *units_done,
                units_total: plan.units.len(),
            });
        }
    }
}

fn ensure_workers(workers: &mut Vec<Worker>, threads: usize) -> Result<(), RenderError> {
    while workers.len() < threads {
        workers.push(Worker::spawn(workers.len())?);
    }
    Ok(())
}

/// Turns the workers' reports into their timings, or the render's error: a cancel or a
/// timeout first, then the first kernel error, then an internal error.
fn collect_failure(
    reports: Vec<Option<WorkerReport>>,
    reason: StopReason,
    timeout: Option<Duration>,
    abandoned: &[String],
) -> Result<Vec<ThreadTiming>, RenderError> {
    let timeout_secs = timeout.unwrap_or_default().as_secs_f64();
    let abandoned_error = |stopped_by: String| RenderError::Abandoned {
        grace_secs: STOP_GRACE.as_secs_f64(),
        stopped_by,
        doing: abandoned.join(" and "),
    };
    match reason {
        StopReason::Cancelled if !abandoned.is_empty() => {
            return Err(abandoned_error("being cancelled".to_owned()));
        }
        StopReason::TimedOut if !abandoned.is_empty() => {
            return Err(abandoned_error(format!(
                "its timeout of {}",
                super::error::format_secs(timeout_secs)
            )));
        }
        StopReason::Cancelled => return Err(RenderError::Cancelled),
        StopReason::TimedOut => return Err(RenderError::TimedOut { timeout_secs }),
        StopReason::Failed | StopReason::Running => {}
    }
    let mut kernel_error: Option<KernelError> = None;
    let mut internal_error: Option<String> = None;
    let mut timings = Vec::with_capacity(reports.len());
    for report in reports {
        let Some(report) = report else {
            if abandoned.is_empty() {
                internal_error.get_or_insert_with(|| "a render thread did not report".to_owned());
            }
            continue;
        };
        timings.push(report.timing);
        match report.failure {
            Some(RunFailure::Kernel(error)) => {
                kernel_error.get_or_insert(error);
            }
            Some(RunFailure::Internal(message)) => {
                internal_error.get_or_insert(message);
            }
            Some(RunFailure::Stopped) | None => {}
        }
    }
    if let Some(error) = kernel_error {
        return Err(RenderError::Kernel(error));
    }
    if !abandoned.is_empty() {
        return Err(abandoned_error("another thread's error".to_owned()));
    }
    if let Some(message) = internal_error {
        return Err(RenderError::Internal(message));
    }
    if reason == StopReason::Failed {
        return Err(RenderError::Internal(
            "the render stopped without an error".to_owned(),
        ));
    }
    Ok(timings)
}

impl Drop for Engine {
    fn drop(&mut self) {
        let workers = std::mem::take(&mut *lock(&self.workers));
        let threads: Vec<JoinHandle<()>> = workers
            .into_iter()
            .filter_map(|mut worker| worker.thread.take())
            .collect();
        // The workers' job channels closed when `workers` was dropped; each thread ends
        // after its current job (none runs: a render holds `&self`, and a worker stuck past
        // the grace period was abandoned, not kept here). Still, never wait without a
        // limit: threads that have not ended within the grace period are left to end alone.
        let started = Instant::now();
        while threads.iter().any(|thread| !thread.is_finished()) && started.elapsed() < STOP_GRACE {
            std::thread::sleep(Duration::from_millis(1));
        }
        for thread in threads.into_iter().filter(JoinHandle::is_finished) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_with_image(values: &[f32]) -> Arc<Job> {
        let (events, _receiver) = mpsc::channel();
        Arc::new(Job {
            id: 1,
            source: Arc::from(""),
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
            log: Arc::new(KernelLog::discard()),
            work: JobWork::CompileOnly,
            next_unit: AtomicUsize::new(0),
            stop_reason: AtomicU8::new(StopReason::Running as u8),
            workers: Vec::new(),
            image: values
                .iter()
                .map(|value| AtomicU32::new(value.to_bits()))
                .collect(),
            finished_units: Mutex::new(Vec::new()),
            events,
        })
    }

    #[test]
    fn the_image_is_taken_whole_when_the_job_is_no_longer_shared() {
        let job = job_with_image(&[1.0, -1.0, 2.5]);
        assert_eq!(take_image(job), vec![1.0, -1.0, 2.5]);
    }

    #[test]
    fn the_image_is_taken_whole_while_a_late_cancel_still_holds_the_job() {
        // Found by the stress test in CI: a cancel that upgraded its weak handle just as
        // the render ended made a complete render fail with an internal error.
        let job = job_with_image(&[1.0, -1.0, 2.5]);
        let held_by_cancel = Arc::clone(&job);
        assert_eq!(take_image(job), vec![1.0, -1.0, 2.5]);
        drop(held_by_cancel);
    }
}
