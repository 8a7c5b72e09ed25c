//! The kernel contract's data: what a compiled kernel declares about itself (output mode,
//! default iteration limit, home view) and the kernels shipped in lua/.
//!
//! The contract itself (README.md, "The kernel contract"): a kernel is Lua 5.1 source that
//! defines a global `pixel(x, y)` returning an escape value, or three colour components
//! when it sets `output = "rgb"`; it may set `max_iter`, `home` and `symmetry`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::error::{MAX_MESSAGE_CHARS, bounded_message};
use crate::engine::geometry::View;

/// What `pixel` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputMode {
    /// An escape value per pixel (negative means inside), and, for a kernel that declares
    /// `channels`, its other values after it: `channels` floats per pixel in all.
    Escape {
        /// Values per pixel, 1 to `MAX_CHANNELS`.
        channels: u8,
    },
    /// Direct colour: three components in [0, 1] per pixel (`output = "rgb"`).
    Rgb,
}

/// The most values a kernel may return per pixel (`channels`).
pub const MAX_CHANNELS: usize = 8;

/// The kernel API in the Lua language server's annotation format (`moonbrot api --lua-ls`):
/// every global the sandbox gives kernels and colourings, and what a kernel defines.
pub const LUA_LS_DEFINITIONS: &str = include_str!("../../../lua/api/moonbrot.lua");

/// The values of a render with derivatives (`RenderRequest::derivatives`): the escape
/// value; the distance estimate to the set, in pixels; the unit normal of the escape
/// potential, x and y (the direction relief lighting shades by).
pub const DERIVATIVE_CHANNELS: [&str; 4] = ["iterations", "distance", "normal_x", "normal_y"];

impl OutputMode {
    /// One escape value per pixel (a kernel that declares no `channels`).
    pub const ESCAPE: Self = Self::Escape { channels: 1 };

    /// Floats stored per pixel.
    pub fn channels(self) -> usize {
        match self {
            Self::Escape { channels } => usize::from(channels.max(1)),
            Self::Rgb => 3,
        }
    }

    /// True for escape values (one or several per pixel), false for direct colour.
    pub fn is_escape(self) -> bool {
        matches!(self, Self::Escape { .. })
    }
}

/// A symmetry a kernel declares (`symmetry = "real_axis"`), which the engine uses to
/// compute one side of the image and mirror the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Symmetry {
    /// None declared: every pixel is computed.
    #[default]
    None,
    /// `pixel(x, -y)` returns exactly what `pixel(x, y)` returns, for every point and
    /// every parameter value (the Mandelbrot set and its conjugate-symmetric kin).
    RealAxis,
}

/// What a compiled kernel declares at its top level.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelInfo {
    /// Escape values or direct colour.
    pub output: OutputMode,
    /// The symmetry it declares.
    pub symmetry: Symmetry,
    /// The kernel's own `max_iter`, if it sets one.
    pub default_max_iter: Option<u32>,
    /// The kernel's `home` view, if it sets one.
    pub home: Option<View>,
    /// The parameters it declares, in order.
    pub parameters: Vec<super::parameters::ParameterSpec>,
    /// True when it has a deep entry point, `pixel_deep(x, y)` on double-double
    /// coordinates, which the engine uses where f64 runs out of digits.
    pub deep: bool,
    /// The iteration it declares with `formula { step = .. }`, recorded, if it declares one.
    pub formula: Option<super::formula::Formula>,
    /// The names of the values `pixel` returns, when it declares `channels` (the first is
    /// the escape value); empty when it returns one.
    pub channel_names: Vec<String>,
}

/// The iteration limit used when neither the kernel nor the user sets one.
pub const FALLBACK_MAX_ITER: u32 = 256;

/// The largest `max_iter` accepted (kernels loop up to it per pixel).
pub const MAX_MAX_ITER: u32 = 100_000_000;

impl KernelInfo {
    /// True when the engine can render it by perturbation: it declares a formula (one
    /// that reads parameter values is recorded with the values rendered, and may have none
    /// at some of them) and returns escape values.
    pub fn perturbs(&self) -> bool {
        self.output.is_escape() && self.formula.is_some()
    }

    /// The kernel's home view, or the engine's default when it sets none.
    pub fn home_or_default(&self) -> View {
        self.home
            .clone()
            .unwrap_or_else(crate::engine::geometry::default_home)
    }

    /// The iteration limit to run with: the user's, else the kernel's, else the fallback.
    pub fn effective_max_iter(&self, requested: Option<u32>) -> u32 {
        requested
            .or(self.default_max_iter)
            .unwrap_or(FALLBACK_MAX_ITER)
    }

    /// The iteration limit to run with at `view`, and whether it is automatic: the user's
    /// when given; else, for a kernel that renders by perturbation (an escape-time
    /// formula), the kernel's own raised with the depth (`automatic_max_iter`; a render
    /// by perturbation then fits it to the image); else the
    /// kernel's own. A pure function of the view, so every pass, band and preview of one
    /// view iterates alike.
    pub fn max_iter_at(&self, requested: Option<u32>, view: &View) -> (u32, bool) {
        let floor = self.effective_max_iter(requested);
        if requested.is_some() || !self.perturbs() {
            return (floor, false);
        }
        let depth = self.home_or_default().span.log2() - view.span.log2();
        let automatic = automatic_max_iter(floor, depth * std::f64::consts::LOG10_2);
        (automatic, automatic > floor)
    }
}

/// The iteration limit for a view `zoom_log10` decades below the kernel's home: the
/// kernel's `floor` times 1 + zoom^1.5 (deep-zoom programs' rule of thumb that detail
/// needs iterations growing faster than the depth: 1e20 gives 90 times, 1e50 354 times,
/// 1e300 5,200 times), rounded to two significant digits, within `MAX_MAX_ITER`.
pub fn automatic_max_iter(floor: u32, zoom_log10: f64) -> u32 {
    if !zoom_log10.is_finite() || zoom_log10 <= 1.0 {
        return floor;
    }
    two_significant_digits(f64::from(floor) * (1.0 + zoom_log10.powf(1.5))).max(floor)
}

/// `value` rounded to two significant digits (a limit a reader takes in at a glance),
/// within 1..=`MAX_MAX_ITER`.
pub fn two_significant_digits(value: f64) -> u32 {
    if value.is_nan() || value < 1.0 {
        return 1;
    }
    let magnitude = 10_f64.powf((value.log10().floor() - 1.0).max(0.0));
    let rounded = (value / magnitude).round() * magnitude;
    rounded.min(f64::from(MAX_MAX_ITER)) as u32
}

/// A kernel shipped with moonbrot (the files in lua/).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippedKernel {
    /// Its name: the file name without `.lua`.
    pub name: &'static str,
    /// Its Lua source.
    pub source: &'static str,
}

/// All shipped kernels, the default first.
pub const SHIPPED_KERNELS: &[ShippedKernel] = &[
    ShippedKernel {
        name: "mandelbrot",
        source: include_str!("../../../lua/mandelbrot.lua"),
    },
    ShippedKernel {
        name: "julia",
        source: include_str!("../../../lua/julia.lua"),
    },
    ShippedKernel {
        name: "burning_ship",
        source: include_str!("../../../lua/burning_ship.lua"),
    },
    ShippedKernel {
        name: "tricorn",
        source: include_str!("../../../lua/tricorn.lua"),
    },
    ShippedKernel {
        name: "multibrot",
        source: include_str!("../../../lua/multibrot.lua"),
    },
    ShippedKernel {
        name: "newton",
        source: include_str!("../../../lua/newton.lua"),
    },
    ShippedKernel {
        name: "seed",
        source: include_str!("../../../lua/seed.lua"),
    },
];

/// The shipped kernel with this name.
pub fn shipped_kernel(name: &str) -> Option<&'static ShippedKernel> {
    SHIPPED_KERNELS.iter().find(|kernel| kernel.name == name)
}

/// The default kernel (mandelbrot).
pub fn default_kernel() -> &'static ShippedKernel {
    &SHIPPED_KERNELS[0]
}

/// The largest kernel source accepted, in bytes. Kernels are small programs; a bigger file
/// is almost certainly the wrong file.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

/// Why a kernel file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KernelFileError {
    /// The file could not be opened or read.
    #[error("cannot read kernel file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file could not be written; any previous version is untouched.
    #[error("cannot save kernel file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than MAX_SOURCE_BYTES.
    #[error("kernel file {} is {} KiB, more than the limit of {} KiB: is it really a Lua kernel?", path.display(), bytes / 1024, MAX_SOURCE_BYTES / 1024)]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The path is not a regular file (a device, a pipe) and gives more than
    /// MAX_SOURCE_BYTES.
    #[error("{} is not a regular file and gives more than {} KiB: is it really a Lua kernel?", path.display(), MAX_SOURCE_BYTES / 1024)]
    EndlessStream {
        /// The path.
        path: PathBuf,
    },
    /// The file is not UTF-8 text.
    #[error("kernel file {} is not UTF-8 text (byte {valid_up_to} is not valid UTF-8)", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// How many leading bytes are valid UTF-8.
        valid_up_to: usize,
    },
}

/// Reads a kernel's source from a file, refusing files that are too large or not UTF-8.
pub fn read_kernel_file(path: &Path) -> Result<String, KernelFileError> {
    use std::io::Read;
    let io_error = |source| KernelFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    // Read one byte past the limit rather than trusting the size in the metadata (a pipe
    // or /dev/zero has none).
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() > MAX_SOURCE_BYTES {
        // A device or a pipe has no size to report (its metadata says 0).
        return Err(match std::fs::metadata(path) {
            Ok(metadata) if metadata.is_file() => KernelFileError::TooLarge {
                path: path.to_owned(),
                bytes: metadata.len().max(bytes.len() as u64),
            },
            _ => KernelFileError::EndlessStream {
                path: path.to_owned(),
            },
        });
    }
    String::from_utf8(bytes).map_err(|error| KernelFileError::NotText {
        path: path.to_owned(),
        valid_up_to: error.utf8_error().valid_up_to(),
    })
}

/// Writes a kernel's source to `path` atomically: to a temporary file in the same folder,
/// synced, then renamed over the target, so a failed save never leaves a half-written
/// file and never destroys the previous version.
pub fn write_kernel_file(path: &Path, source: &str) -> Result<(), KernelFileError> {
    crate::engine::atomic_file::write_atomically(path, source.as_bytes()).map_err(|source| {
        KernelFileError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Splits Lua's "kernel:LINE: message" into the line and the bare message.
pub(crate) fn split_kernel_position(message: &str) -> (Option<u32>, String) {
    let (line, text) = split_position(message);
    (line, bounded_message(text, MAX_MESSAGE_CHARS))
}

fn split_position(message: &str) -> (Option<u32>, &str) {
    let Some(rest) = message.strip_prefix("kernel:") else {
        return (None, message);
    };
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    match (
        rest[..digits_end].parse::<u32>(),
        rest[digits_end..].strip_prefix(": "),
    ) {
        (Ok(line), Some(text)) => (Some(line), text),
        _ => (None, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_kernel_messages_are_cut_and_counted() {
        let huge = format!("kernel:3: {}", "x".repeat(20_000_000));
        let (line, message) = split_kernel_position(&huge);
        assert_eq!(line, Some(3));
        assert_eq!(
            message,
            format!("{}… (19998000 more characters)", "x".repeat(2000))
        );
    }

    #[test]
    fn kernel_positions_are_split_from_messages() {
        assert_eq!(
            split_kernel_position("kernel:12: attempt to call a nil value"),
            (Some(12), "attempt to call a nil value".to_owned())
        );
        assert_eq!(split_kernel_position("boom"), (None, "boom".to_owned()));
        assert_eq!(
            split_kernel_position("kernel:x: odd"),
            (None, "kernel:x: odd".to_owned())
        );
    }

    #[test]
    fn every_shipped_kernel_opens_with_a_comment_and_defines_pixel() {
        for kernel in SHIPPED_KERNELS {
            assert!(
                kernel.source.starts_with("-- "),
                "{} has no opening comment",
                kernel.name
            );
            assert!(
                kernel.source.contains("function pixel(x, y)"),
                "{}",
                kernel.name
            );
        }
        assert_eq!(default_kernel().name, "mandelbrot");
        assert!(shipped_kernel("seed").is_some() && shipped_kernel("nope").is_none());
    }

    #[test]
    fn the_automatic_iteration_limit_grows_with_the_depth_from_the_kernels_own() {
        assert_eq!(
            automatic_max_iter(500, 0.0),
            500,
            "at home: the kernel's own"
        );
        assert_eq!(automatic_max_iter(500, 20.0), 45_000);
        assert_eq!(automatic_max_iter(500, 50.0), 180_000);
        assert_eq!(automatic_max_iter(500, 300.0), 2_600_000);
        assert_eq!(automatic_max_iter(500, 1e9), MAX_MAX_ITER);
        assert_eq!(automatic_max_iter(500, f64::NAN), 500);
    }

    #[test]
    fn two_significant_digits_round_and_stay_in_range() {
        assert_eq!(two_significant_digits(46_874.0), 47_000);
        assert_eq!(two_significant_digits(8.4), 8);
        assert_eq!(two_significant_digits(0.0), 1);
        assert_eq!(two_significant_digits(f64::NAN), 1);
        assert_eq!(two_significant_digits(1e12), MAX_MAX_ITER);
    }
}
