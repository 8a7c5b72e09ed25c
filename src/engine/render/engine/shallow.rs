//! How a view f64 can hold is rendered, where there is a choice. f64 holds a shallow
//! view's pixels, and the shipped kernels' f64 loops are fast; but a kernel with a formula
//! can be rendered two other ways, each faster on some views:
//!
//! - **interleaved pixels**: the formula's step written out for several pixels a loop
//!   (formula.lua's `interleaved_source`), which the processor overlaps: up to twice as
//!   fast where most pixels escape after many iterations (the filaments of the seahorse
//!   valley), slower where many are inside (they lose the kernel's own shortcuts, such as
//!   the cardioid test);
//! - **perturbation**: where every pixel of a view shares a long start with its centre
//!   (near a minibrot, thousands of iterations deep), the series skips that start for all
//!   of them at once, and can be several times faster.
//!
//! Which is fastest depends on the view, so with precision auto the engine tries them on a
//! small probe render of the view and takes another way than the kernel's `pixel` only
//! where its probe was clearly faster. The choice is kept for the view at its size (pans
//! within a span, the same view again, the bands of a poster), so they all render alike; a
//! window's quarter-size preview makes its own, as its render is too short to gain.

use std::sync::Arc;
use std::time::Instant;

use super::super::plan::UnitPlan;
use super::super::pool::Worker;
use super::super::rendered::RenderProgress;
use super::super::request::{RenderRequest, RowRange};
use super::{Engine, JobLimits};
use crate::engine::error::RenderError;
use crate::engine::geometry::{Precision, View};
use crate::engine::kernel::{KernelInfo, OutputMode, ParameterValue};
use crate::engine::sync::lock;

/// Views with a lower iteration limit stay with the kernel's `pixel` without a probe
/// (their pixels are few iterations each, and the probes, a few milliseconds at every new
/// span of a zoom, would cost more than the other ways could save).
const MIN_ITERATIONS: u32 = 1000;

/// Interleaved pixels are taken where their probe took at most this share of the
/// kernel's time (their images are the same where the kernel iterates its formula, so a
/// smaller margin than perturbation's will do).
const INTERLEAVED_PAYS_WITHIN: f64 = 1.0 / 1.15;

/// Nor are interleaved pixels probed where the kernel's render would take less than this,
/// by its probe: too little to gain from.
const MIN_INTERLEAVED_F64_SECS: f64 = 0.02;

/// Nor in images of fewer pixels than this (a window's quarter-size preview of 1280x720 is
/// 57,600): they render in a few milliseconds, about as long as the probes take, and
/// their probes' timings (a fixed cost per render that is a large share of them, and
/// whatever else the machine does meanwhile) decided either way from run to run.
const MIN_INTERLEAVED_PIXELS: u64 = 100_000;

/// Where the kernel's render would take this long or more, by its probe, interleaved
/// pixels not clearly faster in their probe get a second one (see `probe_the_ways`).
const SECOND_ROUND_F64_SECS: f64 = 0.2;

/// Nor where more of the kernel's probe pixels than this were inside. The interleaved
/// pixels lose the kernel's shortcuts for the inside (the cardioid test), and look for a
/// repeating orbit only when their loop stops, not at every step; and where much is inside,
/// solid guessing, which the probes leave out, fills most of it: at the Burning Ship's
/// home, 2,000 iterations, their probe was 1.8 times as fast, the render with guessing
/// 1.3 times slower.
const MAX_INTERLEAVED_INSIDE_SHARE: f64 = 0.02;

/// Nor is a view probed where the series skips fewer iterations of every pixel than this
/// (the seahorse valley's filaments at span 1.2e-4: 44; perturbation was 1.7 times slower).
const MIN_SERIES_STEPS: u32 = 100;

/// A reference of at most this many iterations takes a few milliseconds at these depths.
const CHEAP_REFERENCE_ITERATIONS: u32 = 10_000;

/// Nor is one whose f64 render would take less than this, by its probe (every pixel
/// computed; the render guesses some): the reference alone can cost tens of
/// milliseconds, as at (-1.7499, 0), span 1e-8, 50,000 iterations, where f64 took 86 ms.
const MIN_F64_SECS: f64 = 0.25;

/// Perturbation is taken where its probe took at most this share of f64's time: clearly
/// faster, so that the noise of two short timings does not decide.
const PAYS_WITHIN: f64 = 1.0 / 1.5;

/// The pixels a probe renders, at most and at least: a few milliseconds of f64 at these
/// limits, enough to time.
const PROBE_PIXELS: (u64, u64) = (256, 1500);

/// The pixels of the probes that compare interleaved pixels with the kernel's, at most:
/// where they pay, pixels escape after a few hundred iterations at most, and with 1,500
/// the filaments' probes took about 0.5 ms on two threads, too short to tell them apart.
const INTERLEAVED_PROBE_PIXELS: u64 = 6000;

/// Pixel iterations a probe takes at most where every pixel runs to the limit (about a
/// tenth of a second on one thread): a higher limit is probed on fewer pixels.
const PROBE_ITERATION_BUDGET: u64 = 30_000_000;

/// Views with a higher iteration limit stay in f64 without a probe: their probes would
/// have fewer than `PROBE_PIXELS.0` pixels, too few to time (a probe of 15 pixels
/// predicted 2.9 s for an f64 render of 0.45 s), and their reference can take seconds
/// (a million iterations at 134 bits: 1.4 s).
const MAX_ITERATIONS: u32 = (PROBE_ITERATION_BUDGET / PROBE_PIXELS.0) as u32;

/// The size of a probe of an image of `size_px` at `max_iter`: a 64th of its pixels,
/// from `PROBE_PIXELS.0` to `most_pixels` and within `PROBE_ITERATION_BUDGET`, its shape.
fn probe_size_px((width_px, height_px): (u32, u32), max_iter: u32, most_pixels: u64) -> (u32, u32) {
    let aspect = f64::from(height_px.max(1)) / f64::from(width_px.max(1));
    let within_budget = PROBE_ITERATION_BUDGET / u64::from(max_iter.max(1));
    let pixels = (u64::from(width_px) * u64::from(height_px) / 64)
        .clamp(PROBE_PIXELS.0, most_pixels.max(PROBE_PIXELS.0))
        .min(within_budget)
        .max(1);
    let width = (pixels as f64 / aspect).sqrt().round().max(1.0);
    let height = (width * aspect).round().max(1.0);
    (width as u32, height as u32)
}

/// Each probe runs this many times, the fastest counted: a run of a few milliseconds
/// that another process interrupts can take several times as long.
const PROBE_RUNS: usize = 3;

/// The interleaved pixels' probe runs up to this many times (fewer once a run is 1.3
/// times as fast as the kernel's): LuaJIT compiles the paths out of their loop as the runs
/// take them, and on the filaments' probe (6,000 pixels) the first run took 7.8 ms, the
/// second 1.5 and the fourth 1.0, against 1.3 for the kernel.
const INTERLEAVED_PROBE_RUNS: usize = 6;

/// How a view f64 holds is rendered (with precision auto).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ShallowChoice {
    /// The kernel's own `pixel`.
    Kernel,
    /// The formula's interleaved pixels, `speedup` times as fast as the kernel's in a
    /// probe.
    Interleaved { speedup: f64 },
    /// Perturbation, `speedup` times as fast as the kernel's pixels in a probe.
    Perturbation { speedup: f64 },
}

/// The last choice made, with the view it was made for.
pub(super) struct CachedShallowChoice {
    source: Arc<str>,
    parameters: Vec<(String, ParameterValue)>,
    max_iter: u32,
    derivatives: bool,
    /// The image's size: a render that is too short to gain from the other ways (a
    /// window's quarter-size preview) must not decide for the full image after it.
    size_px: (u32, u32),
    view: View,
    choice: ShallowChoice,
}

impl CachedShallowChoice {
    fn serves(
        &self,
        request: &RenderRequest,
        parameters: &[(String, ParameterValue)],
        view: &View,
        (max_iter, derivatives): (u32, bool),
    ) -> bool {
        self.source == request.source
            && self.parameters == parameters
            && self.max_iter == max_iter
            && self.derivatives == derivatives
            && self.size_px == (request.width_px, request.height_px)
            && self.view.is_nearby_at_same_span(view)
    }
}

impl Engine {
    /// For a render f64 can hold and precision auto: how to render it (see the module's
    /// doc). Probes only views that could gain: a kernel with a formula, one escape value
    /// a pixel, a limit from `MIN_ITERATIONS` to `MAX_ITERATIONS`; interleaved pixels
    /// in images of `MIN_INTERLEAVED_PIXELS` or more where the kernel's render would take
    /// `MIN_INTERLEAVED_F64_SECS` or more and
    /// derivatives are not asked for (they have pixels of their own); perturbation with
    /// skips on, no Julia set, and a series of `MIN_SERIES_STEPS` or more. The probes are
    /// of the whole image (a band of a poster gets the choice made for the poster), and
    /// the reference they compute is the render's own.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn shallow_choice(
        &self,
        workers: &mut Vec<Worker>,
        request: &RenderRequest,
        (info, parameters): (&KernelInfo, &[(String, ParameterValue)]),
        view: &View,
        (max_iter, derivatives): (u32, bool),
        limits: JobLimits<'_>,
        on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<ShallowChoice, RenderError> {
        let could_gain = info.output == OutputMode::ESCAPE
            && info.formula.is_some()
            && (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&max_iter);
        if !could_gain {
            return Ok(ShallowChoice::Kernel);
        }
        if let Some(cached) = &*lock(&self.perturbation_cache.shallow)
            && cached.serves(request, parameters, view, (max_iter, derivatives))
        {
            return Ok(cached.choice);
        }
        let choice = self.probe_the_ways(
            workers,
            request,
            (info, parameters),
            view,
            (max_iter, derivatives),
            limits,
            on_progress,
        )?;
        *lock(&self.perturbation_cache.shallow) = Some(CachedShallowChoice {
            source: Arc::clone(&request.source),
            parameters: parameters.to_vec(),
            max_iter,
            derivatives,
            size_px: (request.width_px, request.height_px),
            view: view.clone(),
            choice,
        });
        Ok(choice)
    }

    /// Probe renders of the view, timed, each `PROBE_RUNS` times and the fastest counted (a
    /// first run also compiles the kernel's traces: 9 ms where the second took under 1):
    /// with the kernel's pixel; where the whole render would take
    /// `MIN_INTERLEAVED_F64_SECS` or more at that pace, with interleaved pixels; and where
    /// it would take `MIN_F64_SECS` or more and the series is long enough, by
    /// perturbation. The fastest, where it was clearly faster than the kernel's.
    #[allow(clippy::too_many_arguments)]
    fn probe_the_ways(
        &self,
        workers: &mut Vec<Worker>,
        request: &RenderRequest,
        (info, parameters): (&KernelInfo, &[(String, ParameterValue)]),
        view: &View,
        (max_iter, derivatives): (u32, bool),
        limits: JobLimits<'_>,
        mut on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<ShallowChoice, RenderError> {
        let could_perturb = info.perturbs()
            && info
                .formula
                .as_ref()
                .is_some_and(|formula| formula.julia.is_none())
            && request.skips;
        let size_px = (request.width_px, request.height_px);
        let plan_of = |request: &RenderRequest, precision, interleaved| {
            let mut plan = UnitPlan::new(
                request,
                RowRange {
                    first: 0,
                    count: request.height_px,
                },
                view,
                parameters.to_vec(),
                (info.output, max_iter, info.symmetry),
                (precision, interleaved),
            );
            plan.derivatives = derivatives;
            plan
        };
        // Every pixel computed, none guessed or mirrored: a small image's guessing blocks
        // fill a different share of it than the render's, and a probe so misled chose
        // perturbation where it was two times slower (at (-1.7499, 0), span 1e-8, 50,000
        // iterations, much of it inside, which f64's kernel finds out quickly).
        let probe_of = |most_pixels| {
            let (width_px, height_px) = probe_size_px(size_px, max_iter, most_pixels);
            RenderRequest {
                view: Some(view.clone()),
                width_px,
                height_px,
                rows: None,
                previous: None,
                guessing: false,
                symmetry: false,
                ..request.clone()
            }
        };
        let probe_request = probe_of(PROBE_PIXELS.1);
        let whole = plan_of(request, Precision::Perturbation, false);
        let on_axis = whole.mirrors();
        // The reference and its series, for the whole image: first where they are cheap
        // (they end the probing at once where the series is short, as at the filaments),
        // else once f64's probe has said the render is long enough to gain.
        let mut series_is_long = || -> Result<bool, RenderError> {
            let (_, summary) = self.perturbation_reference(
                info,
                (view, &whole.grid, size_px, on_axis),
                (parameters, true),
                max_iter,
                limits,
                on_progress.take(),
            )?;
            Ok(summary.series_steps >= MIN_SERIES_STEPS)
        };
        let reference_is_cheap = max_iter <= CHEAP_REFERENCE_ITERATIONS;
        let mut could_perturb = could_perturb;
        if could_perturb && reference_is_cheap && !series_is_long()? {
            could_perturb = false;
        }
        if derivatives && !could_perturb {
            return Ok(ShallowChoice::Kernel);
        }
        // The share of the last probe's pixels that were inside.
        let inside_share = std::cell::Cell::new(0.0);
        let mut timed = |mut plan: UnitPlan| -> Result<f64, RenderError> {
            if plan.precision == Precision::Perturbation {
                let (reference, _) = self.perturbation_reference(
                    info,
                    (view, &plan.grid, size_px, on_axis),
                    (parameters, true),
                    max_iter,
                    limits,
                    None,
                )?;
                plan.perturbation = Some(Arc::new(reference));
            }
            let started = Instant::now();
            let (values, _) = self.run_plan(
                workers,
                (&request.source, request.threads, request.timeout),
                plan,
                limits,
                None,
            )?;
            let secs = started.elapsed().as_secs_f64();
            inside_share.set(
                values
                    .iter()
                    .filter(|value| value.is_nan() || **value < 0.0)
                    .count() as f64
                    / values.len().max(1) as f64,
            );
            Ok(secs)
        };
        // The fastest of `runs` runs, or of fewer where, from the `give_up_after`-th, the
        // fastest took more than `give_up_past` seconds (twice the time to beat with its
        // traces compiled: no further run will make it clearly faster), or from the
        // second, less than `enough` seconds (it is clearly faster already).
        let mut fastest =
            |plan_of: &dyn Fn() -> UnitPlan,
             runs,
             (give_up_after, give_up_past, enough): (usize, f64, f64)| {
                let mut secs = f64::INFINITY;
                for run in 1..=runs {
                    secs = secs.min(timed(plan_of())?);
                    if (run >= give_up_after && secs > give_up_past) || (run >= 2 && secs < enough)
                    {
                        break;
                    }
                }
                Ok::<f64, RenderError>(secs)
            };
        let f64_secs = fastest(
            &|| plan_of(&probe_request, Precision::Double, false),
            PROBE_RUNS,
            (PROBE_RUNS, f64::INFINITY, 0.0),
        )?;
        let f64_inside_share = inside_share.get();
        let pixels_per_probe_pixel = (f64::from(request.width_px) * f64::from(request.height_px))
            / (f64::from(probe_request.width_px) * f64::from(probe_request.height_px));
        let f64_render_secs = f64_secs * pixels_per_probe_pixel;
        let mut choice = ShallowChoice::Kernel;
        if !derivatives
            && f64_render_secs >= MIN_INTERLEAVED_F64_SECS
            && u64::from(request.width_px) * u64::from(request.height_px) >= MIN_INTERLEAVED_PIXELS
            && f64_inside_share <= MAX_INTERLEAVED_INSIDE_SHARE
        {
            // A larger probe, each way (the same where the image is small).
            let larger = probe_of(INTERLEAVED_PROBE_PIXELS);
            // The kernel's probe; the interleaved one, against the kernel's time.
            let mut probe_larger = |interleaved: bool, kernel_secs: f64| {
                if interleaved {
                    fastest(
                        &|| plan_of(&larger, Precision::Double, true),
                        INTERLEAVED_PROBE_RUNS,
                        (3, 2.0 * kernel_secs, kernel_secs / 1.3),
                    )
                } else {
                    fastest(
                        &|| plan_of(&larger, Precision::Double, false),
                        PROBE_RUNS,
                        (PROBE_RUNS, f64::INFINITY, 0.0),
                    )
                }
            };
            let mut kernel_secs = if larger.width_px == probe_request.width_px {
                f64_secs
            } else {
                probe_larger(false, 0.0)?
            };
            let mut interleaved_secs = probe_larger(true, kernel_secs)?;
            // Not clearly faster, but not hopeless, on a render long enough that a wrong
            // choice costs far more than probing again: a second round of both, the
            // fastest of all counted. These runs take a millisecond each, and something
            // else on the machine for a few milliseconds can hide a gain of two times: at
            // the filaments (V2) about 1 probe in 30 chose the kernel's pixel, and its
            // render took twice as long.
            let hopeful =
                interleaved_secs < 2.0 * kernel_secs && f64_render_secs >= SECOND_ROUND_F64_SECS;
            if interleaved_secs > kernel_secs * INTERLEAVED_PAYS_WITHIN && hopeful {
                kernel_secs = kernel_secs.min(probe_larger(false, 0.0)?);
                interleaved_secs = interleaved_secs.min(probe_larger(true, kernel_secs)?);
            }
            if interleaved_secs <= kernel_secs * INTERLEAVED_PAYS_WITHIN {
                choice = ShallowChoice::Interleaved {
                    speedup: kernel_secs / interleaved_secs.max(1e-9),
                };
            }
        }
        if !could_perturb || f64_render_secs < MIN_F64_SECS {
            return Ok(choice);
        }
        if !reference_is_cheap && !series_is_long()? {
            return Ok(choice);
        }
        let perturbation_secs = fastest(
            &|| plan_of(&probe_request, Precision::Perturbation, false),
            PROBE_RUNS,
            (2, 2.0 * f64_secs, 0.0),
        )?;
        // Clearly faster than the kernel's pixel (the margin is for the noise of short
        // timings), and faster than the interleaved pixels where they were chosen (their
        // speedups compared: their probes were of different sizes).
        let speedup = f64_secs / perturbation_secs.max(1e-9);
        let beats_interleaved = match choice {
            ShallowChoice::Interleaved {
                speedup: interleaved,
            } => speedup > interleaved,
            _ => true,
        };
        if perturbation_secs <= f64_secs * PAYS_WITHIN && beats_interleaved {
            choice = ShallowChoice::Perturbation { speedup };
        }
        Ok(choice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_keeps_the_image_s_shape_and_takes_fewer_pixels_at_higher_limits() {
        let pixels = |(width, height): (u32, u32)| u64::from(width) * u64::from(height);
        // A 64th of a small image's pixels, at most 1,500 (6,000 for the interleaved
        // pixels' probes).
        let small = probe_size_px((640, 360), 2000, PROBE_PIXELS.1);
        assert!((1400..=1600).contains(&pixels(small)), "{small:?}");
        assert!((f64::from(small.0) / f64::from(small.1) - 16.0 / 9.0).abs() < 0.1);
        let larger = probe_size_px((640, 360), 2000, INTERLEAVED_PROBE_PIXELS);
        assert!((3500..=3700).contains(&pixels(larger)), "{larger:?}");
        let large = probe_size_px((1920, 1080), 2000, INTERLEAVED_PROBE_PIXELS);
        assert!((5800..=6200).contains(&pixels(large)), "{large:?}");
        // Fewer where the limit is high: within 30 million iterations.
        let deep = probe_size_px((1280, 720), 50_000, PROBE_PIXELS.1);
        assert!((550..=650).contains(&pixels(deep)), "{deep:?}");
        // The highest limit probed still gets enough pixels to time.
        let highest = probe_size_px((1280, 720), MAX_ITERATIONS, PROBE_PIXELS.1);
        assert!((240..=270).contains(&pixels(highest)), "{highest:?}");
    }
}
