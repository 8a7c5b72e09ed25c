//! Rendering by perturbation, the engine's side: the reference orbit a render's pixels
//! iterate against (computed in arbitrary precision on the calling thread, with its
//! progress reported, or the last one reused nearby, or taken on to a higher limit), and
//! the iteration limit fitted to the view by probe renders (`iteration_limit` decides;
//! this runs the probes), both kept for the next render nearby.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::super::iteration_limit::{FittedLimit, Probe, fitted_limit};
use super::super::plan::UnitPlan;
use super::super::pool::Worker;
use super::super::rendered::{ReferenceSummary, RenderProgress};
use super::super::request::{RenderRequest, RowRange};
use super::shallow::CachedShallowChoice;
use super::{Engine, JobLimits, REFERENCE_PROGRESS_INTERVAL};
use crate::engine::error::{RenderError, RequestError};
use crate::engine::geometry::{BigFloat, Dd, PixelGrid, Precision, View, WideFloat};
use crate::engine::kernel::{
    BlaSkips, BlaTable, Formula, KernelInfo, OrbitStop, ParameterValue, PerturbationReference,
    ReferenceOrbit, SeriesBuilder, SeriesSkip, bits_for_step_log2, build_series,
    continue_reference_orbit, follow_series, reference_orbit, two_significant_digits,
};
use crate::engine::sync::lock;

/// What renders by perturbation keep for the next one nearby.
#[derive(Default)]
pub(super) struct PerturbationCache {
    /// The last reference orbit computed.
    reference: Mutex<Option<CachedReference>>,
    /// The last iteration limit fitted.
    limit: Mutex<Option<CachedLimit>>,
    /// The last choice between f64 and perturbation at a shallow view.
    pub(super) shallow: Mutex<Option<CachedShallowChoice>>,
}

/// A reference orbit kept for reuse, with what it was computed for.
struct CachedReference {
    formula: Formula,
    julia_c: Option<(f64, f64)>,
    /// The iteration limit it was computed to.
    max_iter: u32,
    reference: PerturbationReference,
    /// The series as followed to the orbit's end, for the largest |dc| of its skips, to go
    /// on along the orbit taken on to a higher limit (None once the skips were made again
    /// for other pixels, or made without a series).
    series_builder: Option<SeriesBuilder>,
}

/// An iteration limit fitted to a view, with what it was fitted for.
struct CachedLimit {
    source: Arc<str>,
    parameters: Vec<(String, ParameterValue)>,
    /// The limit the depth gave, which the fitting started from.
    depth_limit: u32,
    view: View,
    fitted: FittedLimit,
}

/// The width of a probe render, in pixels, at most and at least (an eighth of the image's
/// width between): enough pixels to count a share of one percent.
const PROBE_WIDTH_PX: (u32, u32) = (48, 160);

/// The fewest pixels a probe renders.
const PROBE_MIN_PIXELS: u64 = 64;

/// Pixel iterations a probe takes at most where every pixel runs to the limit (about a
/// second on two cores): a high limit is probed on fewer pixels, so a view inside the
/// set costs little to try.
const PROBE_ITERATION_BUDGET: u64 = 100_000_000;

/// Steps an octave of depth at the first limit probed: a pixel a span from the reference
/// point grows away from it at most fourfold a step (|2Z| <= 4 within the set's disc), so
/// none escapes in fewer than half a step an octave; about c = i, 0.8.
const FIRST_PROBE_STEPS_PER_OCTAVE: f64 = 1.0;

/// The lowest first limit probed.
const FIRST_PROBE_MIN_LIMIT: u32 = 1000;

/// The limit the fitting's first probe tries (it climbs from there to the depth's limit
/// while pixels reach it): a step an octave of the view's depth.
fn first_probe_limit(view: &View) -> u32 {
    let octaves = (-view.span.log2()).max(0.0);
    two_significant_digits(FIRST_PROBE_STEPS_PER_OCTAVE * octaves).max(FIRST_PROBE_MIN_LIMIT)
}

/// The size of a probe of an image of `size_px` at `limit` iterations: an eighth of its
/// width (within `PROBE_WIDTH_PX`), fewer pixels where the limit is high, its shape.
fn probe_size_px((width_px, height_px): (u32, u32), limit: u32) -> (u32, u32) {
    let aspect = f64::from(height_px.max(1)) / f64::from(width_px.max(1));
    let widest = (width_px / 8).clamp(PROBE_WIDTH_PX.0, PROBE_WIDTH_PX.1);
    let most_pixels = (f64::from(widest) * f64::from(widest) * aspect).max(1.0) as u64;
    let pixels = (PROBE_ITERATION_BUDGET / u64::from(limit.max(1)))
        .clamp(PROBE_MIN_PIXELS, most_pixels.max(PROBE_MIN_PIXELS));
    let width = (pixels as f64 / aspect).sqrt().round().max(1.0);
    let height = (width * aspect).round().max(1.0);
    (width as u32, height as u32)
}

impl Engine {
    /// The reference orbit(s) of a render by perturbation: the last render's when they
    /// still serve (same formula and constant, enough bits, long enough, their point
    /// within a span of the view's centre), or the last render's taken on from where its
    /// lower limit stopped it, else computed from the view's centre (on the real axis
    /// when the render mirrors rows across it), in the precision the pixel step needs,
    /// stopped by a cancel or the deadline, and within the memory limit.
    pub(super) fn perturbation_reference(
        &self,
        info: &KernelInfo,
        (view, grid, (width_px, height_px), on_axis): (&View, &PixelGrid, (u32, u32), bool),
        (parameters, skips): (&[(String, ParameterValue)], bool),
        max_iter: u32,
        limits: JobLimits<'_>,
        mut on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<(PerturbationReference, ReferenceSummary), RenderError> {
        let Some(formula) = &info.formula else {
            return Err(RequestError::NoFormula.into());
        };
        let julia_c = match &formula.julia {
            None => None,
            Some(name) => match parameters.iter().find(|(declared, _)| declared == name) {
                Some((_, ParameterValue::Complex { re, im })) => Some((*re, *im)),
                _ => return Err(RequestError::NoFormula.into()),
            },
        };
        let bits = bits_for_step_log2(view.pixel_step_log2(height_px));
        let scaled = grid.scale_exponent > 0;
        let complete = |orbit: &ReferenceOrbit, computed_to: u32| {
            computed_to >= max_iter || orbit.escaped_before(computed_to)
        };
        // A reference the last render stopped at its limit, which this one takes on (out
        // of the cache, so that its points are not copied).
        let mut to_continue = None;
        let mut cache = lock(&self.perturbation_cache.reference);
        if let Some(cached) = cache.as_mut() {
            let reference = &cached.reference;
            let near = |a: &BigFloat, b: &BigFloat| (a - b).abs() <= view.span;
            let same_orbit = cached.formula == *formula
                && cached.julia_c == julia_c
                && reference.orbit.bits >= bits
                && near(&reference.point.0, &view.center_x)
                && near(&reference.point.1, &view.center_y)
                && (!on_axis || reference.point.1.is_zero());
            let serves = same_orbit
                && complete(&reference.orbit, cached.max_iter)
                && reference
                    .critical
                    .as_ref()
                    .is_none_or(|critical| complete(critical, cached.max_iter));
            if serves {
                let mut summary = ReferenceSummary {
                    iterations: reference.orbit.len() - 1,
                    bits: reference.orbit.bits,
                    secs: 0.0,
                    reused: true,
                    taken_on_from: None,
                    skips: 0,
                    series_steps: 0,
                    series_nearest_steps: 0,
                    faster_than_f64: None,
                };
                let dc_bound = dc_bound_of(view, &reference.point, (width_px, height_px));
                let mut reused = PerturbationReference {
                    max_iter,
                    origin_offset: origin_offset(grid, &reference.point),
                    scale_exponent: grid.scale_exponent,
                    ..reference.clone()
                };
                // The skips were made for pixels within some distance of the reference:
                // farther ones need their own (the orbit serves as it is), as does a
                // render that takes none, or some after one that took none.
                let dc_bound = if julia_c.is_some() {
                    WideFloat::ZERO
                } else {
                    dc_bound
                };
                let lacks_scaled = scaled && !reused.bla.scaled;
                if reused.bla.enabled != skips
                    || reused.bla.dc_bound.less_than(dc_bound)
                    || lacks_scaled
                {
                    let mut bla = self.bla_table(
                        formula,
                        &reused.orbit,
                        reused.c,
                        (dc_bound, scaled),
                        skips,
                        limits,
                    )?;
                    if skips {
                        bla.series =
                            self.series_skip(formula, &reused.orbit, reused.c, dc_bound, limits)?;
                    }
                    reused.bla = Arc::new(bla);
                    if let Some(critical) = &reused.critical {
                        reused.critical_bla = Some(Arc::new(self.bla_table(
                            formula,
                            critical,
                            reused.c,
                            (dc_bound, scaled),
                            skips,
                            limits,
                        )?));
                    }
                    // Kept for the next render nearby, which then need not make it again.
                    cached.reference.bla = Arc::clone(&reused.bla);
                    cached.series_builder = None;
                    cached
                        .reference
                        .critical_bla
                        .clone_from(&reused.critical_bla);
                }
                summary.skips = reused.bla.table.entries();
                summary.series_steps = reused.bla.series.steps;
                summary.series_nearest_steps = reused.bla.series.nearest_steps;
                return Ok((reused, summary));
            }
            if same_orbit {
                to_continue = cache
                    .take()
                    .map(|cached| (cached.reference, cached.series_builder));
            }
        }
        drop(cache);
        let started = Instant::now();
        // A continued reference keeps its point (and its precision, at least this view's).
        let point = match &to_continue {
            Some((reference, _)) => reference.point.clone(),
            None => (
                view.center_x.clone(),
                if on_axis {
                    BigFloat::zero()
                } else {
                    view.center_y.clone()
                },
            ),
        };
        let bits = to_continue
            .as_ref()
            .map_or(bits, |(reference, _)| reference.orbit.bits);
        let start = (
            BigFloat::from_f64(formula.start.0),
            BigFloat::from_f64(formula.start.1),
        );
        let julia_c_exact =
            julia_c.map(|(re, im)| (BigFloat::from_f64(re), BigFloat::from_f64(im)));
        let (z0, c) = match &julia_c_exact {
            Some((re, im)) => ((&point.0, &point.1), (re, im)),
            None => ((&start.0, &start.1), (&point.0, &point.1)),
        };
        let memory_limit_bytes = self.options.memory_limit_bytes;
        // Two f64s a point, within the memory a worker's Lua state may use.
        let max_points = (memory_limit_bytes / 16).max(2);
        let mut last_report = Instant::now();
        let is_stopped = || limits.is_stopped();
        let c_f64 = (c.0.to_f64(), c.1.to_f64());
        // A Julia set's pixels differ from the reference in z only (dc is 0).
        let dc_bound = match julia_c {
            Some(_) => WideFloat::ZERO,
            None => dc_bound_of(view, &point, (width_px, height_px)),
        };
        // An orbit from z0, or the given one taken on from where its limit stopped it, with
        // its series, from the start or going on with the given builder.
        let mut orbit_from = |z0,
                              continued: Option<Arc<ReferenceOrbit>>,
                              series_from: Option<SeriesBuilder>,
                              with_series: bool| {
            // The series follows the orbit on a thread of its own as its points come: on
            // two cores it costs no time where the orbit takes longer (0.5 s at 1e50).
            let first_point = series_from.as_ref().map_or(0, SeriesBuilder::steps);
            let (orbit, series) = std::thread::scope(|scope| {
                let (sender, receiver) = std::sync::mpsc::channel::<Vec<f64>>();
                let follower = with_series.then(|| {
                    let is_stopped = &is_stopped;
                    scope.spawn(move || {
                        follow_series(
                            (formula, c_f64, dc_bound),
                            series_from,
                            &receiver,
                            is_stopped,
                        )
                    })
                });
                let (mut following, mut sent) = (follower.is_some(), 2 * first_point);
                let mut checkpoint = |iterations_done, points: &[f64]| {
                    if following {
                        following = sender.send(points[sent..].to_vec()).is_ok();
                        sent = points.len();
                    }
                    if let Some(on_progress) = on_progress.as_deref_mut()
                        && last_report.elapsed() >= REFERENCE_PROGRESS_INTERVAL
                    {
                        last_report = Instant::now();
                        on_progress(&RenderProgress::Reference {
                            iterations_done,
                            max_iter,
                        });
                    }
                    is_stopped()
                };
                let orbit = match continued {
                    Some(orbit) => continue_reference_orbit(
                        formula,
                        orbit,
                        c,
                        max_iter,
                        max_points,
                        &mut checkpoint,
                    ),
                    None => {
                        reference_orbit(formula, z0, c, max_iter, bits, max_points, &mut checkpoint)
                    }
                };
                if let Ok(orbit) = &orbit
                    && following
                {
                    let _ = sender.send(orbit.points[sent..].to_vec());
                }
                drop(sender);
                // A follower that failed (it never should) leaves the pixels without a
                // series; one that saw a stop says so.
                let series = follower.map(|follower| {
                    follower
                        .join()
                        .map(|followed| followed.map(|(series, builder)| (series, Some(builder))))
                        .unwrap_or_else(|_| Some((SeriesSkip::default(), None)))
                });
                (orbit, series)
            });
            let orbit = orbit.map(Arc::new).map_err(|stop| match stop {
                OrbitStop::Stopped => limits.stop_error(),
                OrbitStop::TooLong => RequestError::ReferenceTooLong {
                    max_iter,
                    limit_mib: memory_limit_bytes / (1024 * 1024),
                }
                .into(),
            })?;
            match series {
                Some(None) => Err(limits.stop_error()),
                Some(Some((series, builder))) => Ok((orbit, series, builder)),
                None => Ok((orbit, SeriesSkip::default(), None)),
            }
        };
        let taken_on_from = to_continue
            .as_ref()
            .filter(|(reference, _)| reference.orbit.end.is_some())
            .map(|(reference, _)| reference.orbit.len() - 1);
        // The old skips go now; the orbits are taken on.
        let (continued, continued_critical, series_from) = match to_continue {
            Some((reference, builder)) => (
                Some(reference.orbit),
                reference.critical,
                // The series goes on only for the same pixels' bound.
                builder.filter(|builder| builder.dc_bound() == dc_bound),
            ),
            None => (None, None, None),
        };
        let (orbit, series, series_builder) =
            orbit_from(z0, continued, series_from, skips && julia_c.is_none())?;
        // A Julia set's pixels rebase onto the orbit from the critical point.
        let critical = match julia_c {
            Some(_) => Some(orbit_from((&start.0, &start.1), continued_critical, None, false)?.0),
            None => None,
        };
        let c = c_f64;
        let mut bla = self.bla_table(formula, &orbit, c, (dc_bound, scaled), skips, limits)?;
        bla.series = series;
        let bla = Arc::new(bla);
        let critical_bla = match &critical {
            Some(critical) => Some(Arc::new(self.bla_table(
                formula,
                critical,
                c,
                (dc_bound, scaled),
                skips,
                limits,
            )?)),
            None => None,
        };
        let reference = PerturbationReference {
            orbit,
            critical,
            bla,
            critical_bla,
            origin_offset: origin_offset(grid, &point),
            scale_exponent: grid.scale_exponent,
            c,
            point,
            max_iter,
        };
        let summary = ReferenceSummary {
            iterations: reference.orbit.len() - 1,
            bits,
            secs: started.elapsed().as_secs_f64(),
            reused: false,
            taken_on_from,
            skips: reference.bla.table.entries(),
            series_steps: reference.bla.series.steps,
            series_nearest_steps: reference.bla.series.nearest_steps,
            faster_than_f64: None,
        };
        *lock(&self.perturbation_cache.reference) = Some(CachedReference {
            formula: formula.clone(),
            julia_c,
            max_iter,
            reference: reference.clone(),
            series_builder,
        });
        Ok((reference, summary))
    }

    /// The skips of `orbit` for pixels with |dc| up to `dc_bound` (in scaled form too when
    /// `scaled`), within a quarter of the memory limit, stoppable.
    fn bla_table(
        &self,
        formula: &Formula,
        orbit: &ReferenceOrbit,
        c: (f64, f64),
        (dc_bound, scaled): (WideFloat, bool),
        skips: bool,
        limits: JobLimits<'_>,
    ) -> Result<BlaSkips, RenderError> {
        let is_stopped = || limits.is_stopped();
        if !skips {
            return Ok(BlaSkips {
                table: BlaTable::default(),
                dc_bound: WideFloat::new(f64::INFINITY, 0),
                scaled: true,
                enabled: false,
                series: SeriesSkip::default(),
            });
        }
        let max_values = self.options.memory_limit_bytes / 4 / std::mem::size_of::<f64>();
        match BlaTable::build(
            formula,
            &orbit.points,
            c,
            (dc_bound, scaled),
            max_values,
            &is_stopped,
        ) {
            Some(table) => Ok(BlaSkips {
                table,
                dc_bound,
                scaled,
                enabled: true,
                series: SeriesSkip::default(),
            }),
            None => Err(limits.stop_error()),
        }
    }

    /// The series every pixel of a view within `dc_bound` of `orbit`'s point starts from,
    /// stoppable.
    fn series_skip(
        &self,
        formula: &Formula,
        orbit: &ReferenceOrbit,
        c: (f64, f64),
        dc_bound: WideFloat,
        limits: JobLimits<'_>,
    ) -> Result<SeriesSkip, RenderError> {
        let is_stopped = || limits.is_stopped();
        build_series(formula, &orbit.points, c, dc_bound, usize::MAX, &is_stopped)
            .ok_or_else(|| limits.stop_error())
    }

    /// The iteration limit for a render of `request` by perturbation with no limit asked
    /// for, fitted from `depth_limit` by probe renders of the view (`probe_size_px`; no
    /// guessing, no mirroring), whose reference orbits are the render's
    /// own (the render reuses the last). The last fitting is used again for the same
    /// kernel, parameters and depth within a span of its view, so the bands, previews and
    /// pans of one view agree. Also gives the seconds spent computing reference orbits.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fitted_max_iter(
        &self,
        workers: &mut Vec<Worker>,
        request: &RenderRequest,
        (info, parameters): (&KernelInfo, &[(String, ParameterValue)]),
        (view, on_axis): (&View, bool),
        depth_limit: u32,
        limits: JobLimits<'_>,
        mut on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<(FittedLimit, f64), RenderError> {
        if let Some(cached) = &*lock(&self.perturbation_cache.limit)
            && cached.source == request.source
            && cached.parameters == parameters
            && cached.depth_limit == depth_limit
            && cached.view.is_nearby_at_same_span(view)
        {
            return Ok((cached.fitted, 0.0));
        }
        let mut reference_secs = 0.0;
        // A reference orbit holds two f64s a step, within the memory limit.
        let max_points = (self.options.memory_limit_bytes / 16).max(2);
        let mut probe = |limit: u32| -> Result<Option<Probe>, RenderError> {
            if limit as usize >= max_points {
                return Ok(None);
            }
            let (width_px, height_px) = probe_size_px((request.width_px, request.height_px), limit);
            let probe_request = RenderRequest {
                view: Some(view.clone()),
                width_px,
                height_px,
                rows: None,
                guessing: false,
                symmetry: false,
                previous: None,
                ..request.clone()
            };
            let rows = RowRange {
                first: 0,
                count: height_px,
            };
            let mut plan = UnitPlan::new(
                &probe_request,
                rows,
                view,
                parameters.to_vec(),
                (info.output, limit, info.symmetry),
                (Precision::Perturbation, false),
            );
            // The render's own reference: the bits of its pixel step, its point.
            let (reference, summary) = self.perturbation_reference(
                info,
                (
                    view,
                    &plan.grid,
                    (request.width_px, request.height_px),
                    on_axis,
                ),
                (parameters, request.skips),
                limit,
                limits,
                on_progress.as_deref_mut(),
            )?;
            if !summary.reused {
                reference_secs += summary.secs;
            }
            let reference_escaped_at = reference
                .orbit
                .escaped_before(limit)
                .then(|| (reference.orbit.len() - 1) as u32);
            // The series holds for every pixel to within a sixteenth of the limit.
            let pixels_follow_reference =
                u64::from(summary.series_steps) * 16 >= u64::from(limit) * 15;
            plan.perturbation = Some(Arc::new(reference));
            let (values, _) = self.run_plan(
                workers,
                (&request.source, request.threads, request.timeout),
                plan,
                limits,
                None,
            )?;
            let inside = values.iter().filter(|value| **value < 0.0).count();
            Ok(Some(Probe {
                inside_share: inside as f64 / values.len().max(1) as f64,
                reference_escaped_at,
                pixels_follow_reference,
            }))
        };
        let fitted = fitted_limit(first_probe_limit(view), depth_limit, &mut probe)?;
        *lock(&self.perturbation_cache.limit) = Some(CachedLimit {
            source: Arc::clone(&request.source),
            parameters: parameters.to_vec(),
            depth_limit,
            view: view.clone(),
            fitted,
        });
        Ok((fitted, reference_secs))
    }
}

/// The largest |dc| of a pixel of `view` (`size_px`) from a reference `point`: the
/// centre's distance from it and the half-diagonal, with a margin, at any depth.
fn dc_bound_of(
    view: &View,
    point: &(BigFloat, BigFloat),
    (width_px, height_px): (u32, u32),
) -> WideFloat {
    let (dx, dy) = (
        (&view.center_x - &point.0).to_wide(),
        (&view.center_y - &point.1).to_wide(),
    );
    let from_centre = (dx * dx + dy * dy).sqrt();
    let aspect = f64::from(width_px) / f64::from(height_px.max(1));
    let half_diagonal = view.span.to_wide() * WideFloat::from_f64(0.5 * aspect.hypot(1.0));
    (from_centre + half_diagonal) * WideFloat::from_f64(1.01)
}

/// The offset of `grid`'s origin from a reference `point`, in double-double in the grid's
/// units (`PixelGrid::scale_exponent`): exact differences of the two exact points, so that
/// a pixel's offset from the reference is this plus its lattice offset, at any depth. The
/// origin can be 2^20 pixels from the reference, and a pixel's lattice offset as far the
/// other way: in f64 alone their sum, a pixel's dc, was wrong by up to 2^-32 of a pixel,
/// which moved pixels of long orbits by tens of steps (rust-fractal-core's 1e50 location,
/// 512x512: the centre pixel escaped at 187,403, not 187,421).
fn origin_offset(grid: &PixelGrid, point: &(BigFloat, BigFloat)) -> (Dd, Dd) {
    let (x_origin, y_origin) = &*grid.exact_origin;
    (
        grid.scaled_dd(&(x_origin - &point.0)),
        grid.scaled_dd(&(y_origin - &point.1)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::kernel::MAX_MAX_ITER;

    #[test]
    fn a_probe_is_an_eighth_of_the_image_with_fewer_pixels_for_high_limits() {
        assert_eq!(probe_size_px((1280, 720), 1000), (160, 90));
        assert_eq!(probe_size_px((320, 180), 1000), (48, 27));
        let (width, height) = probe_size_px((1280, 720), 1_000_000);
        assert!((90..=110).contains(&(u64::from(width) * u64::from(height))));
        assert!((f64::from(width) / f64::from(height) - 16.0 / 9.0).abs() < 0.5);
        let (width, height) = probe_size_px((1280, 720), MAX_MAX_ITER);
        assert!(u64::from(width) * u64::from(height) >= PROBE_MIN_PIXELS - 8);
    }
}
