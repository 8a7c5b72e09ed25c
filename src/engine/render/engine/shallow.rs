//! Perturbation where it pays at shallow depth. f64 holds a shallow view's pixels, and
//! the shipped kernels' f64 loops are fast; but where every pixel of a view shares a long
//! start with its centre (near a minibrot, thousands of iterations deep), a render by
//! perturbation skips that start for all of them at once (the series) and can be several
//! times faster. Which is faster depends on the view (how many of the pixels' iterations
//! the series and skips save, how many pixels are inside), so with precision auto the
//! engine tries both on a small probe render of the view and takes perturbation only where
//! its probe was clearly faster. The choice is kept for the view (its previews, pans within
//! a span, the same view again), so they all render alike.

use std::sync::Arc;
use std::time::Instant;

use super::super::plan::UnitPlan;
use super::super::pool::Worker;
use super::super::rendered::RenderProgress;
use super::super::request::{RenderRequest, RowRange};
use super::{Engine, JobLimits};
use crate::engine::error::RenderError;
use crate::engine::geometry::{Precision, View};
use crate::engine::kernel::{KernelInfo, ParameterValue};
use crate::engine::sync::lock;

/// Views with a lower iteration limit stay in f64 without a probe (their pixels are few
/// iterations each, and a probe would cost more than perturbation could save).
const MIN_ITERATIONS: u32 = 1000;

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

/// Pixel iterations a probe takes at most where every pixel runs to the limit (about a
/// tenth of a second on one thread): a higher limit is probed on fewer pixels.
const PROBE_ITERATION_BUDGET: u64 = 30_000_000;

/// Views with a higher iteration limit stay in f64 without a probe: their probes would
/// have fewer than `PROBE_PIXELS.0` pixels, too few to time (a probe of 15 pixels
/// predicted 2.9 s for an f64 render of 0.45 s), and their reference can take seconds
/// (a million iterations at 134 bits: 1.4 s).
const MAX_ITERATIONS: u32 = (PROBE_ITERATION_BUDGET / PROBE_PIXELS.0) as u32;

/// The size of a probe of an image of `size_px` at `max_iter`: a 64th of its pixels,
/// within `PROBE_PIXELS` and `PROBE_ITERATION_BUDGET`, its shape.
fn probe_size_px((width_px, height_px): (u32, u32), max_iter: u32) -> (u32, u32) {
    let aspect = f64::from(height_px.max(1)) / f64::from(width_px.max(1));
    let within_budget = PROBE_ITERATION_BUDGET / u64::from(max_iter.max(1));
    let pixels = (u64::from(width_px) * u64::from(height_px) / 64)
        .clamp(PROBE_PIXELS.0, PROBE_PIXELS.1)
        .min(within_budget)
        .max(1);
    let width = (pixels as f64 / aspect).sqrt().round().max(1.0);
    let height = (width * aspect).round().max(1.0);
    (width as u32, height as u32)
}

/// Each probe runs this many times, the fastest counted: a run of a few milliseconds
/// that another process interrupts can take several times as long.
const PROBE_RUNS: usize = 3;

/// The last choice made, with the view it was made for.
pub(super) struct CachedShallowChoice {
    source: Arc<str>,
    parameters: Vec<(String, ParameterValue)>,
    max_iter: u32,
    view: View,
    /// The probes' times, f64's over perturbation's (None: not probed).
    speedup: Option<f64>,
}

impl CachedShallowChoice {
    fn serves(
        &self,
        request: &RenderRequest,
        parameters: &[(String, ParameterValue)],
        view: &View,
        max_iter: u32,
    ) -> bool {
        self.source == request.source
            && self.parameters == parameters
            && self.max_iter == max_iter
            && self.view.is_nearby_at_same_span(view)
    }
}

impl Engine {
    /// For a render f64 can hold and precision auto: how many times faster a probe of the
    /// view rendered by perturbation than in f64, where it was clearly faster (the render
    /// then takes perturbation), else None. Probes only views that could gain (a kernel
    /// with a formula, skips on, a limit from `MIN_ITERATIONS` to `MAX_ITERATIONS`, a series of
    /// `MIN_SERIES_STEPS` or more); the probes are of the whole image (a band of a poster
    /// gets the choice made for the poster), and the reference they compute is the
    /// render's own.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn shallow_perturbation_speedup(
        &self,
        workers: &mut Vec<Worker>,
        request: &RenderRequest,
        (info, parameters): (&KernelInfo, &[(String, ParameterValue)]),
        view: &View,
        max_iter: u32,
        limits: JobLimits<'_>,
        on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<Option<f64>, RenderError> {
        let chosen = |speedup: Option<f64>| speedup.filter(|speedup| *speedup * PAYS_WITHIN >= 1.0);
        let could_gain = info.perturbs()
            && info
                .formula
                .as_ref()
                .is_some_and(|formula| formula.julia.is_none())
            && request.skips
            && (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&max_iter);
        if !could_gain {
            return Ok(None);
        }
        if let Some(cached) = &*lock(&self.perturbation_cache.shallow)
            && cached.serves(request, parameters, view, max_iter)
        {
            return Ok(chosen(cached.speedup));
        }
        let speedup = self.probe_both_ways(
            workers,
            request,
            (info, parameters),
            view,
            max_iter,
            limits,
            on_progress,
        )?;
        *lock(&self.perturbation_cache.shallow) = Some(CachedShallowChoice {
            source: Arc::clone(&request.source),
            parameters: parameters.to_vec(),
            max_iter,
            view: view.clone(),
            speedup,
        });
        Ok(chosen(speedup))
    }

    /// Probe renders of the view, timed, each `PROBE_RUNS` times and the fastest counted (a
    /// first run also compiles the kernel's traces: 9 ms where the second took under 1):
    /// in f64, and where the whole render would take `MIN_F64_SECS` or more at that pace
    /// and the series is long enough, by perturbation too. f64's time over
    /// perturbation's, where it got so far.
    #[allow(clippy::too_many_arguments)]
    fn probe_both_ways(
        &self,
        workers: &mut Vec<Worker>,
        request: &RenderRequest,
        (info, parameters): (&KernelInfo, &[(String, ParameterValue)]),
        view: &View,
        max_iter: u32,
        limits: JobLimits<'_>,
        mut on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<Option<f64>, RenderError> {
        let size_px = (request.width_px, request.height_px);
        let plan_of = |request: &RenderRequest, precision| {
            UnitPlan::new(
                request,
                RowRange {
                    first: 0,
                    count: request.height_px,
                },
                view,
                parameters.to_vec(),
                (info.output, max_iter, info.symmetry),
                precision,
            )
        };
        let (width_px, height_px) = probe_size_px(size_px, max_iter);
        // Every pixel computed, none guessed or mirrored: a small image's guessing blocks
        // fill a different share of it than the render's, and a probe so misled chose
        // perturbation where it was two times slower (at (-1.7499, 0), span 1e-8, 50,000
        // iterations, much of it inside, which f64's kernel finds out quickly).
        let probe_request = RenderRequest {
            view: Some(view.clone()),
            width_px,
            height_px,
            rows: None,
            previous: None,
            guessing: false,
            symmetry: false,
            ..request.clone()
        };
        let whole = plan_of(request, Precision::Perturbation);
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
        if reference_is_cheap && !series_is_long()? {
            return Ok(None);
        }
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
            self.run_plan(
                workers,
                (&request.source, request.threads, request.timeout),
                plan,
                limits,
                None,
            )?;
            Ok(started.elapsed().as_secs_f64())
        };
        let mut f64_secs = f64::INFINITY;
        for _ in 0..PROBE_RUNS {
            f64_secs = f64_secs.min(timed(plan_of(&probe_request, Precision::Double))?);
        }
        let pixels_per_probe_pixel = (f64::from(request.width_px) * f64::from(request.height_px))
            / (f64::from(width_px) * f64::from(height_px));
        if f64_secs * pixels_per_probe_pixel < MIN_F64_SECS {
            return Ok(None);
        }
        if !reference_is_cheap && !series_is_long()? {
            return Ok(None);
        }
        let mut perturbation_secs = f64::INFINITY;
        for run in 1..=PROBE_RUNS {
            perturbation_secs =
                perturbation_secs.min(timed(plan_of(&probe_request, Precision::Perturbation))?);
            // Twice f64's time with its traces compiled (the second run): no third run
            // will make it 1.5 times as fast.
            if run >= 2 && perturbation_secs > 2.0 * f64_secs {
                break;
            }
        }
        Ok(Some(f64_secs / perturbation_secs.max(1e-9)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_keeps_the_image_s_shape_and_takes_fewer_pixels_at_higher_limits() {
        let pixels = |(width, height): (u32, u32)| u64::from(width) * u64::from(height);
        // A 64th of a small image's pixels, at most 1,500.
        let small = probe_size_px((640, 360), 2000);
        assert!((1400..=1600).contains(&pixels(small)), "{small:?}");
        assert!((f64::from(small.0) / f64::from(small.1) - 16.0 / 9.0).abs() < 0.1);
        // Fewer where the limit is high: within 30 million iterations.
        let deep = probe_size_px((1280, 720), 50_000);
        assert!((550..=650).contains(&pixels(deep)), "{deep:?}");
        // The highest limit probed still gets enough pixels to time.
        let highest = probe_size_px((1280, 720), MAX_ITERATIONS);
        assert!((240..=270).contains(&pixels(highest)), "{highest:?}");
    }
}
