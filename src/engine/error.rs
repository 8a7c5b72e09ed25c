//! The engine's typed errors: what went wrong with a kernel, a render request, a render or
//! an export, each carrying what the user needs to fix it (the kernel line, the pixel and
//! its complex coordinate, the path). Front ends print them once, as they are.

/// A pixel where a kernel failed: its column and row in the image (0-based, row 0 at the
/// top) and the complex-plane point the kernel was called with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelLocation {
    /// Column in the image, counted from the left.
    pub column: u32,
    /// Row in the image, counted from the top.
    pub row: u32,
    /// Real part of the point passed to `pixel(x, y)`.
    pub x: f64,
    /// Imaginary part of the point passed to `pixel(x, y)`.
    pub y: f64,
}

impl std::fmt::Display for PixelLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pixel ({}, {}) at x = {}, y = {}",
            self.column, self.row, self.x, self.y
        )
    }
}

/// The longest message from a kernel (an error it raised, a line it printed) that moonbrot
/// shows, prints or logs, in characters; the rest is counted, not shown.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `text` cut to at most `max_chars` characters, ending with "… (N more characters)" when
/// it was longer: a kernel can raise an error of 20 MB, and nobody reads that.
pub fn bounded_message(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((cut, _)) => {
            let more = text[cut..].chars().count();
            format!("{}… ({more} more characters)", &text[..cut])
        }
    }
}

/// A duration for people: "2 s", "0.3 s", "1.25 s".
pub fn format_secs(secs: f64) -> String {
    format!("{} s", format_number(secs))
}

/// A number for people: at most 6 significant digits, with an exponent when it is very
/// large or very small ("1e300", "0.3", "12345.7", "1.5e-9"), never hundreds of digits.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs().log10().floor();
    if !(-4.0..15.0).contains(&magnitude) {
        let text = format!("{value:.5e}");
        // "1.50000e300" -> "1.5e300"
        return match text.split_once('e') {
            Some((mantissa, exponent)) => {
                let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
                format!("{mantissa}e{exponent}")
            }
            None => text,
        };
    }
    let decimals = (5.0 - magnitude).clamp(0.0, 20.0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// "kernel line N: " or nothing, for messages whose line may be unknown.
fn line_prefix(line: &Option<u32>) -> String {
    match line {
        Some(line) => format!("kernel line {line}: "),
        None => String::new(),
    }
}

/// " (at pixel ...)" or nothing.
fn pixel_suffix(pixel: &Option<PixelLocation>) -> String {
    match pixel {
        Some(pixel) => format!(" (at {pixel})"),
        None => String::new(),
    }
}

/// Something wrong with the kernel source or with what it does when run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// The source does not parse (or is a binary chunk, which is refused).
    #[error("syntax error: {}{message}", line_prefix(line))]
    Syntax {
        /// Kernel line of the error, when Lua reports one.
        line: Option<u32>,
        /// Lua's message, without its position prefix.
        message: String,
    },
    /// The kernel's top level (run once when it is loaded) raised an error.
    #[error("error while loading the kernel: {}{message}", line_prefix(line))]
    Load {
        /// Kernel line of the error, when known.
        line: Option<u32>,
        /// The error message, without its position prefix.
        message: String,
    },
    /// The declared formula's step does what a formula may not (or failed).
    #[error("formula: {}{message}", line_prefix(line))]
    Formula {
        /// Kernel line of the refused operation, when known.
        line: Option<u32>,
        /// What was refused and what is allowed.
        message: String,
    },
    /// The kernel defines no global `pixel`.
    #[error("the kernel defines no function `pixel(x, y)`")]
    MissingPixel,
    /// The global `pixel` is not a function.
    #[error("`pixel` must be a function, but the kernel set it to a {found}")]
    PixelNotAFunction {
        /// The Lua type `pixel` has.
        found: String,
    },
    /// A kernel setting (`max_iter`, `home`, `output`) has a value moonbrot cannot use.
    #[error("bad `{name}`: {message}")]
    BadSetting {
        /// The global's name.
        name: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// `pixel` raised an error for some pixel.
    #[error("runtime error: {}{message}{}", line_prefix(line), pixel_suffix(pixel))]
    Runtime {
        /// Kernel line of the error, when known.
        line: Option<u32>,
        /// The error message, without its position prefix.
        message: String,
        /// The first failing pixel found, when it could be found again.
        pixel: Option<PixelLocation>,
    },
    /// `pixel` returned something other than the contract allows.
    #[error(
        "wrong return value: {}{message}{}",
        line_prefix(line),
        pixel_suffix(pixel)
    )]
    WrongReturn {
        /// The line where `pixel` is defined.
        line: Option<u32>,
        /// What was returned and what is expected.
        message: String,
        /// The pixel whose call returned it.
        pixel: Option<PixelLocation>,
    },
    /// The kernel's Lua state used more memory than its limit.
    #[error(
        "the kernel ran out of memory: it used more than its limit of {} MiB",
        limit_bytes / (1024 * 1024)
    )]
    MemoryLimit {
        /// The limit per Lua state, in bytes.
        limit_bytes: usize,
    },
}

impl KernelError {
    /// The kernel line this error points at, if any (for the editor's marker).
    pub fn line(&self) -> Option<u32> {
        match self {
            Self::Syntax { line, .. }
            | Self::Load { line, .. }
            | Self::Formula { line, .. }
            | Self::Runtime { line, .. }
            | Self::WrongReturn { line, .. } => *line,
            Self::MissingPixel
            | Self::PixelNotAFunction { .. }
            | Self::BadSetting { .. }
            | Self::MemoryLimit { .. } => None,
        }
    }

    /// The pixel this error happened at, if it names one.
    pub fn pixel(&self) -> Option<&PixelLocation> {
        match self {
            Self::Runtime { pixel, .. } | Self::WrongReturn { pixel, .. } => pixel.as_ref(),
            _ => None,
        }
    }
}

/// A render request that the engine refuses before allocating or running anything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// Width or height is 0 or larger than the maximum.
    #[error("image size {width}x{height} is out of range: each side must be 1 to {max}")]
    Size {
        /// Requested width in pixels, as typed.
        width: i64,
        /// Requested height in pixels, as typed.
        height: i64,
        /// The largest side allowed.
        max: u32,
    },
    /// The image's buffers would take more memory than the engine allows.
    #[error(
        "image size {width}x{height} needs {} MiB of buffers, more than the limit of {} MiB",
        needed_bytes / (1024 * 1024),
        limit_bytes / (1024 * 1024)
    )]
    TooLarge {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
        /// Bytes the render and its colour image would need.
        needed_bytes: u64,
        /// The cap.
        limit_bytes: u64,
    },
    /// Thread count outside 1..=max.
    #[error("thread count {threads} is out of range: it must be 1 to {max}")]
    Threads {
        /// Requested thread count, as typed.
        threads: i64,
        /// The largest thread count allowed.
        max: usize,
    },
    /// The view's centre or span is not usable.
    #[error("invalid view: {0}")]
    View(String),
    /// The span is below what any kernel renders (about 1e-20000): such views are held and
    /// written, not rendered.
    #[error(
        "the span {span} is below 1e-20000, deeper than moonbrot renders; the view is kept, \
         and renders once you zoom out past 1e-20000"
    )]
    SpanBelowRange {
        /// The span, as decimal text.
        span: String,
    },
    /// The pixels are closer together than f64 and double-double can place them (about
    /// 1e-144 apart) and the kernel declares no formula to render by perturbation.
    #[error(
        "the span {span} is deeper than this kernel renders: pixels this close together \
         render only by perturbation, for kernels that declare a formula \
         (formula {{ step = function(z, c) ... end }}); zoom out or use such a kernel"
    )]
    DeeperThanKernel {
        /// The span, as decimal text.
        span: String,
    },
    /// Double-double precision was asked for, but the kernel has no deep entry point.
    #[error(
        "double-double precision needs a kernel with pixel_deep(x, y); this kernel has only \
         pixel(x, y) (use --precision auto or f64)"
    )]
    NoDeepEntry,
    /// Perturbation was asked for a kernel that declares no formula it can follow.
    #[error(
        "perturbation needs a kernel that declares its iteration with formula {{ step = .. }} \
         (reading no parameter inside the step, and returning escape values)"
    )]
    NoFormula,
    /// The reference orbit of a render by perturbation would not fit the memory limit.
    #[error(
        "the reference orbit for max_iter {max_iter} needs more than the memory limit \
         allows ({limit_mib} MiB): lower max_iter or raise --memory-limit"
    )]
    ReferenceTooLong {
        /// The iteration limit asked for.
        max_iter: u32,
        /// The memory limit per Lua state, in MiB.
        limit_mib: usize,
    },
    /// The kernel source is larger than the engine accepts.
    #[error("the kernel source is {} KiB, more than the limit of {} KiB", bytes / 1024, max / 1024)]
    SourceTooLarge {
        /// Its size in bytes.
        bytes: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// max_iter outside 1..=max.
    #[error("max_iter {max_iter} is out of range: it must be 1 to {max}")]
    MaxIter {
        /// Requested iteration limit, as typed.
        max_iter: i64,
        /// The largest limit allowed.
        max: u32,
    },
    /// A timeout that is not a usable number of seconds.
    #[error("timeout {} is not usable: it must be a number of seconds greater than 0", format_number(*secs))]
    Timeout {
        /// The timeout as given.
        secs: f64,
    },
    /// A memory limit per Lua state outside 1..=max MiB.
    #[error("memory limit {mib} MiB is out of range: it must be 1 to {max} MiB")]
    MemoryLimit {
        /// The limit as typed, in MiB.
        mib: i64,
        /// The largest limit allowed, in MiB.
        max: u64,
    },
    /// A supersampling factor outside 1..=max.
    #[error("supersampling {samples} is out of range: it must be 1 to {max} samples per side")]
    Supersample {
        /// The factor as typed.
        samples: i64,
        /// The largest factor.
        max: u32,
    },
    /// A band of rows that is empty or does not lie inside the image.
    #[error("rows {first} to {} are not a band of the image's {height} rows", u64::from(*first) + u64::from(*count))]
    Rows {
        /// The band's first row.
        first: u32,
        /// Its rows.
        count: u32,
        /// The image's height.
        height: u32,
    },
    /// A parameter value the kernel does not take (unknown name, wrong kind, out of range).
    #[error("parameter {name}: {message}")]
    Parameter {
        /// The parameter's name, as given.
        name: String,
        /// What is wrong and what it takes.
        message: String,
    },
    /// A benchmark's runs per cell outside 1..=max.
    #[error("runs per cell {runs} is out of range: it must be 1 to {max}")]
    BenchRuns {
        /// The runs as typed.
        runs: i64,
        /// The most runs allowed.
        max: u32,
    },
}

/// Why a render did not produce an image.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// The request was refused before anything ran.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The kernel failed to compile or to run.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The render was cancelled (a newer request, or the user).
    #[error("the render was cancelled")]
    Cancelled,
    /// The render ran longer than its timeout and was stopped.
    #[error("the render was stopped after its timeout of {}", format_secs(*timeout_secs))]
    TimedOut {
        /// The timeout that expired, in seconds.
        timeout_secs: f64,
    },
    /// A worker did not stop within the grace period after the render was stopped (the
    /// kernel was inside a long call that cannot be interrupted). Its thread was abandoned
    /// and replaced by a fresh one; the engine stays usable.
    #[error(
        "the kernel did not stop within {} of {stopped_by}; it was abandoned (it was {doing}). \
         A fresh thread replaces it; the stuck one uses a CPU core until it ends or moonbrot exits",
        format_secs(*grace_secs)
    )]
    Abandoned {
        /// The grace period, in seconds.
        grace_secs: f64,
        /// What stopped the render: "being cancelled", "its timeout of 2 s", ...
        stopped_by: String,
        /// What the stuck worker was doing: "loading the kernel", "rendering rows 8-15".
        doing: String,
    },
    /// Too many abandoned workers are still stuck; no render starts until they end or
    /// moonbrot is restarted.
    #[error(
        "{count} render threads are stuck in kernels that could not be stopped and still use \
         the CPU; save your work and restart moonbrot to free them"
    )]
    TooManyAbandoned {
        /// Abandoned workers still running.
        count: usize,
    },
    /// A bug inside moonbrot (a worker panicked or its Lua state broke). The engine stays
    /// usable; the message is for a bug report.
    #[error("internal error in the render engine (please report it): {0}")]
    Internal(String),
}
