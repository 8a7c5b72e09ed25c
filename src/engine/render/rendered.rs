//! What a render gives back: the values (`ValueImage`), the view and precision they were
//! computed at, the timings (wall, compile, per thread), and the finished units passed to
//! an observer while it runs (`RenderProgress`: the reference orbit's iterations, then
//! each unit of pixels).

use super::plan::KeptPixels;
use super::request::{RenderRequest, RowRange};
use crate::engine::geometry::{Precision, View};
use crate::engine::kernel::{KernelInfo, OutputMode, ParameterValue};
use std::sync::Arc;

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
    /// The names of a pixel's values when there are several (the kernel's `channels`, or
    /// `DERIVATIVE_CHANNELS`); empty for one value or direct colour.
    pub channel_names: Vec<String>,
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

/// How a render's iteration limit was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxIterChoice {
    /// The one asked for, or the kernel's own.
    #[default]
    Given,
    /// Fitted to the view: no limit was asked for and the kernel renders by
    /// perturbation, so the kernel's own was raised with the depth and where many pixels
    /// reached it. `still_cuts` when the fitting stopped while raising it still let many
    /// pixels escape (more iterations would show more).
    Automatic {
        /// Many pixels reach the limit that a higher one would let escape.
        still_cuts: bool,
        /// A higher limit was not tried: its reference orbit would not fit in the memory
        /// limit (raising it lets the limit go higher).
        memory_bound: bool,
    },
}

impl MaxIterChoice {
    /// True when the limit was chosen automatically.
    pub fn is_automatic(self) -> bool {
        matches!(self, Self::Automatic { .. })
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
    /// How that limit was chosen.
    pub max_iter_choice: MaxIterChoice,
    /// What the kernel declared.
    pub kernel: KernelInfo,
    /// The value of every parameter the kernel declares, as rendered, in its order.
    pub parameters: Vec<(String, ParameterValue)>,
    /// True when solid guessing filled flat regions (asked for, and an escape kernel).
    pub guessed: bool,
    /// The arithmetic the pixels' coordinates were given in.
    pub precision: Precision,
    /// Where precision auto took the formula's interleaved f64 pixels over the kernel's
    /// `pixel`: how many times faster its probe render was.
    pub interleaved: Option<f64>,
    /// The reference orbit a render by perturbation iterated against.
    pub reference: Option<ReferenceSummary>,
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
        let Some(view) = &request.view else {
            return false;
        };
        let size_px = (request.width_px, request.height_px);
        let guess = self.guessed;
        self.precision != Precision::Perturbation
            && self.rows.count == self.image.height_px
            && (self.image.width_px, self.image.height_px) == size_px
            && (request.guessing && self.image.output == OutputMode::ESCAPE) == guess
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
    pub(super) fn keeps_pixels_for(
        &self,
        request: &RenderRequest,
        output: OutputMode,
        (max_iter, precision, interleaved): (u32, Precision, bool),
        parameters: &[(String, ParameterValue)],
    ) -> bool {
        let guess = request.guessing && output == OutputMode::ESCAPE;
        // By perturbation a pixel's value depends (in its last bits) on the reference,
        // which moves with the view: nothing is kept.
        self.precision == precision
            && self.interleaved.is_some() == interleaved
            && precision != Precision::Perturbation
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

/// What a render by perturbation says about its reference orbit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceSummary {
    /// Iterations the orbit holds (it ends where it escapes, or at the iteration limit).
    pub iterations: usize,
    /// The precision it was computed in, in bits.
    pub bits: usize,
    /// The time it took, in seconds (0 when an earlier render's was reused).
    pub secs: f64,
    /// True when an earlier render's reference was used again.
    pub reused: bool,
    /// The iterations of an earlier render's orbit, stopped by its lower limit, that this
    /// one went on from (None when it was computed from the start, or reused).
    pub taken_on_from: Option<usize>,
    /// How many skips (bilinear approximation) its table holds.
    pub skips: usize,
    /// The iterations every pixel skips at its start (series approximation).
    pub series_steps: u32,
    /// The iterations the pixels nearest the reference skip (the series' innermost
    /// stage): more than `series_steps` where it holds longer near the reference.
    pub series_nearest_steps: u32,
    /// Where precision auto chose perturbation at a depth f64 holds: how many times
    /// faster its probe render was than f64's.
    pub faster_than_f64: Option<f64>,
}

impl std::fmt::Display for ReferenceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "reference {} iterations at {} bits",
            self.iterations, self.bits
        )?;
        if self.reused {
            write!(f, ", reused")?;
        } else {
            write!(f, " in {:.3} s", self.secs)?;
        }
        if let Some(iterations) = self.taken_on_from {
            write!(f, " (taken on from {iterations})")?;
        }
        write!(f, ", {} skips", self.skips)?;
        // Every pixel's start, then the nearest pixels' where an inner stage goes farther
        // (only theirs where the series holds for no stage covering the whole view).
        if self.series_steps == 0 && self.series_nearest_steps > 0 {
            write!(
                f,
                ", a series to iteration {} near the reference",
                self.series_nearest_steps
            )?;
        } else if self.series_steps > 0 {
            write!(f, ", a series to iteration {}", self.series_steps)?;
            if self.series_nearest_steps > self.series_steps {
                write!(f, " ({} nearest the reference)", self.series_nearest_steps)?;
            }
        }
        if let Some(speedup) = self.faster_than_f64 {
            write!(f, "; chosen over f64, {speedup:.1}x as fast in a probe")?;
        }
        Ok(())
    }
}

/// What a render reports while it runs, to its observer.
#[derive(Debug)]
pub enum RenderProgress<'a> {
    /// The reference orbit of a render by perturbation is being computed (it can take
    /// seconds at depth): `iterations_done` of at most `max_iter`. Reported every few tens
    /// of milliseconds; a Julia set's second orbit (from the critical point) counts again
    /// from 0.
    Reference {
        /// Iterations computed so far.
        iterations_done: u32,
        /// The most it will compute (it ends sooner where it escapes).
        max_iter: u32,
    },
    /// A unit of pixels is done.
    Unit(UnitProgress<'a>),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_how_far_the_series_takes_every_pixel_and_the_nearest() {
        let summary = |series_steps, series_nearest_steps| {
            ReferenceSummary {
                iterations: 1000,
                bits: 128,
                secs: 0.5,
                reused: false,
                taken_on_from: None,
                skips: 7,
                series_steps,
                series_nearest_steps,
                faster_than_f64: None,
            }
            .to_string()
        };
        assert_eq!(
            summary(0, 0),
            "reference 1000 iterations at 128 bits in 0.500 s, 7 skips"
        );
        assert!(summary(300, 300).ends_with(", 7 skips, a series to iteration 300"));
        assert!(
            summary(300, 340).ends_with(", a series to iteration 300 (340 nearest the reference)")
        );
        assert!(summary(0, 340).ends_with(", a series to iteration 340 near the reference"));
        let taken_on = ReferenceSummary {
            taken_on_from: Some(200),
            ..ReferenceSummary {
                iterations: 3000,
                bits: 356,
                secs: 0.25,
                reused: false,
                taken_on_from: None,
                skips: 0,
                series_steps: 0,
                series_nearest_steps: 0,
                faster_than_f64: None,
            }
        };
        assert_eq!(
            taken_on.to_string(),
            "reference 3000 iterations at 356 bits in 0.250 s (taken on from 200), 0 skips"
        );
    }
}
