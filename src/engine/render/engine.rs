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

mod perturbation;
mod shallow;

use perturbation::PerturbationCache;
use shallow::ShallowChoice;

use super::cancel::{CancelToken, StopReason};
use super::job::{Job, JobWork, WorkerEvent, WorkerReport};
use super::plan::UnitPlan;
use super::pool::{MAX_ABANDONED_WORKERS, Worker, abandoned_worker_count, ensure_workers};
use super::rendered::{
    MaxIterChoice, RenderOutput, RenderProgress, RenderTimings, ThreadTiming, UnitProgress,
    ValueImage,
};
use super::request::{
    DEFAULT_MEMORY_LIMIT_BYTES, ParameterPolicy, PrecisionChoice, RenderRequest, check_buffer_bytes,
};
use crate::engine::error::{KernelError, RenderError};
use crate::engine::geometry::Precision;
use crate::engine::kernel::{
    DERIVATIVE_CHANNELS, KernelInfo, KernelLog, OutputMode, RunFailure, resolve, resolve_leniently,
};
use crate::engine::sync::lock;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the rendering thread reports finished units to its observer. Workers never
/// wake it per unit: that costs a measurable share of a render (ARCHITECTURE.md,
/// "Measured figures").
const PROGRESS_INTERVAL: Duration = Duration::from_millis(5);

/// How often a reference orbit's progress is reported (a window redraws for each).
const REFERENCE_PROGRESS_INTERVAL: Duration = Duration::from_millis(50);

/// How long a stopped render waits for its workers before abandoning the ones that have
/// not stopped (a kernel inside a long call that cannot be interrupted).
pub const STOP_GRACE: Duration = Duration::from_secs(1);

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

/// Renders Lua kernels on a pool of worker threads. Cheap to share: `render` takes `&self`
/// and may be called from any thread; renders run one at a time.
pub struct Engine {
    options: EngineOptions,
    workers: Mutex<Vec<Worker>>,
    next_job_id: AtomicU64,
    /// This engine's abandoned workers whose call has not ended yet.
    abandoned_here: Arc<AtomicUsize>,
    /// The last reference orbit and fitted iteration limit, for the next render by
    /// perturbation nearby.
    perturbation_cache: PerturbationCache,
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

impl JobLimits<'_> {
    /// True once the job is cancelled or past its deadline.
    fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled() || self.deadline.is_some_and(|at| Instant::now() >= at)
    }

    /// The error of a job that stopped early: cancelled, else timed out.
    fn stop_error(&self) -> RenderError {
        if self.cancel.is_cancelled() {
            RenderError::Cancelled
        } else {
            RenderError::TimedOut { timeout_secs: 0.0 }
        }
    }
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
    /// The memory limit per Lua state, in bytes.
    pub fn memory_limit_bytes(&self) -> usize {
        self.options.memory_limit_bytes
    }

    /// An engine with no worker threads yet (they start with the first render).
    pub fn new(options: EngineOptions) -> Self {
        Self {
            options,
            workers: Mutex::new(Vec::new()),
            next_job_id: AtomicU64::new(1),
            abandoned_here: Arc::default(),
            perturbation_cache: PerturbationCache::default(),
        }
    }

    /// How many of this engine's abandoned workers are still running (each ends, freeing
    /// its Lua state, once its call returns). `abandoned_worker_count` counts the process's.
    pub fn abandoned_workers_running(&self) -> usize {
        self.abandoned_here.load(Ordering::SeqCst)
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

    /// As `render`, calling `on_progress` on this thread as the reference orbit of a render
    /// by perturbation grows, and for each unit of rows as it completes (batched: every few
    /// milliseconds, in the order the units finished).
    pub fn render_with_progress(
        &self,
        request: &RenderRequest,
        cancel: &CancelToken,
        on_progress: &mut dyn FnMut(&RenderProgress<'_>),
    ) -> Result<RenderOutput, RenderError> {
        self.render_observed(request, cancel, Some(on_progress))
    }

    fn render_observed(
        &self,
        request: &RenderRequest,
        cancel: &CancelToken,
        mut on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<RenderOutput, RenderError> {
        let started = Instant::now();
        request.validate()?;
        Self::check_abandoned_workers()?;
        let deadline = request.timeout.map(|timeout| started + timeout);
        // Steps that stop at the deadline say so without the request's timeout: add it.
        let as_asked = |error| match error {
            RenderError::TimedOut { .. } => RenderError::TimedOut {
                timeout_secs: request.timeout.unwrap_or_default().as_secs_f64(),
            },
            other => other,
        };
        let limits = JobLimits { cancel, deadline };
        let mut workers = self.lock_workers(limits).map_err(as_asked)?;
        self.options.log.start_run();
        let (mut info, first_compile_secs) = self
            .compile_on_first_worker(&mut workers, &request.source, limits, request.timeout)
            .map_err(as_asked)?;
        let view = request
            .view
            .clone()
            .unwrap_or_else(|| info.home_or_default());
        view.check_renderable()?;
        let rows = request.row_range()?;
        // With derivatives the engine's own pixel, written from the formula, returns the
        // four values (mirrored rows get the normal's y part negated).
        let derivatives = request.derivatives && info.output.is_escape() && info.formula.is_some();
        if derivatives {
            info.output = OutputMode::Escape {
                channels: DERIVATIVE_CHANNELS.len() as u8,
            };
            info.channel_names = DERIVATIVE_CHANNELS
                .iter()
                .map(|name| (*name).to_owned())
                .collect();
        }
        check_buffer_bytes(request.width_px, rows.count, info.output)?;
        let parameters = match request.parameter_policy {
            ParameterPolicy::Strict => resolve(&info.parameters, &request.parameters)?,
            ParameterPolicy::Lenient => resolve_leniently(&info.parameters, &request.parameters),
        };
        // A step that reads parameter values gives the formula of these values (or none,
        // where it cannot be followed with them).
        if info
            .formula
            .as_ref()
            .is_some_and(|formula| formula.reads_parameters)
        {
            let (configured, _) = self
                .inspect_on_first_worker(
                    &mut workers,
                    &request.source,
                    JobWork::Configure(parameters.clone()),
                    limits,
                    request.timeout,
                )
                .map_err(as_asked)?;
            info.formula = configured.formula;
        }
        let (mut max_iter, automatic) = info.max_iter_at(request.max_iter, &view);
        let mut precision =
            request
                .precision
                .resolve((info.perturbs(), info.deep), &view, request.height_px)?;
        // Interleaved pixels or perturbation at a depth f64 holds, where a probe shows
        // either clearly faster than the kernel's pixel.
        let mut faster_than_f64 = None;
        let mut interleaved = None;
        if precision == Precision::Double && request.precision == PrecisionChoice::Auto {
            match self
                .shallow_choice(
                    &mut workers,
                    request,
                    (&info, &parameters),
                    &view,
                    (max_iter, derivatives),
                    limits,
                    on_progress.as_deref_mut(),
                )
                .map_err(as_asked)?
            {
                ShallowChoice::Kernel => {}
                ShallowChoice::Interleaved { speedup } => interleaved = Some(speedup),
                ShallowChoice::Perturbation { speedup } => {
                    faster_than_f64 = Some(speedup);
                    precision = Precision::Perturbation;
                }
            }
        }
        let plan_at = |max_iter| {
            let mut plan = UnitPlan::new(
                request,
                rows,
                &view,
                parameters.clone(),
                (info.output, max_iter, info.symmetry),
                (precision, interleaved.is_some()),
            );
            plan.derivatives = derivatives;
            plan
        };
        let mut plan = plan_at(max_iter);
        let on_axis = plan.mirrors();
        let mut max_iter_choice = MaxIterChoice::Given;
        // Reference orbits computed by the fitting's probes (the render reuses the last).
        let mut probes_reference_secs = 0.0;
        // (A limit chosen for f64 stays: the probes that chose perturbation ran at it.)
        if request.max_iter.is_none()
            && precision == Precision::Perturbation
            && faster_than_f64.is_none()
        {
            let (fitted, reference_secs) = self
                .fitted_max_iter(
                    &mut workers,
                    request,
                    (&info, &parameters),
                    (&view, on_axis),
                    max_iter,
                    limits,
                    on_progress.as_deref_mut(),
                )
                .map_err(as_asked)?;
            probes_reference_secs = reference_secs;
            if fitted.max_iter != max_iter {
                max_iter = fitted.max_iter;
                plan = plan_at(max_iter);
            }
            max_iter_choice = MaxIterChoice::Automatic {
                still_cuts: fitted.still_cuts,
                memory_bound: fitted.memory_bound,
            };
        } else if automatic {
            max_iter_choice = MaxIterChoice::Automatic {
                still_cuts: false,
                memory_bound: false,
            };
        }
        let mut reference_summary = None;
        if precision == Precision::Perturbation {
            let (reference, mut summary) = self
                .perturbation_reference(
                    &info,
                    (
                        &view,
                        &plan.grid,
                        (request.width_px, request.height_px),
                        on_axis,
                    ),
                    (&parameters, request.skips),
                    max_iter,
                    limits,
                    on_progress.as_deref_mut(),
                )
                .map_err(as_asked)?;
            plan.perturbation = Some(Arc::new(reference));
            if summary.reused && probes_reference_secs > 0.0 {
                summary.reused = false;
                summary.secs = probes_reference_secs;
            }
            summary.faster_than_f64 = faster_than_f64;
            reference_summary = Some(summary);
        }
        let kept_pixels = plan.kept_pixel_count();
        let mirrored_pixels = plan.mirrored_pixel_count();
        let (values, threads) = self.run_plan(
            &mut workers,
            (&request.source, request.threads, request.timeout),
            plan,
            limits,
            on_progress,
        )?;
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
                channel_names: info.channel_names.clone(),
                values,
            },
            view,
            max_iter,
            max_iter_choice,
            guessed: request.guessing && info.output == OutputMode::ESCAPE,
            precision,
            interleaved,
            reference: reference_summary,
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

    /// Runs `plan` on the workers (`threads` of them, for `source`, within `timeout`),
    /// passing finished units to `on_progress`: the values of the rows asked for, and each
    /// thread's timing.
    fn run_plan(
        &self,
        workers: &mut Vec<Worker>,
        (source, threads, timeout): (&Arc<str>, usize, Option<Duration>),
        plan: UnitPlan,
        limits: JobLimits<'_>,
        on_progress: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
    ) -> Result<(Vec<f32>, Vec<ThreadTiming>), RenderError> {
        let units_total = plan.units.len();
        let rows_asked_for = plan.rows_asked_for();
        let job = self.start_job(
            workers,
            source,
            JobWork::Render(Box::new(plan)),
            threads,
            limits,
        );
        let (results, reason) = collect_job(workers, job, limits.deadline, on_progress);
        let threads = collect_failure(results.reports, reason, timeout, &results.abandoned)?;
        if results.units_done != units_total {
            return Err(RenderError::Internal(format!(
                "{} of {units_total} units were rendered",
                results.units_done
            )));
        }
        Ok((rows_asked_for.of(results.image), threads))
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
        self.inspect_on_first_worker(workers, source, JobWork::CompileOnly, limits, timeout)
    }

    /// Runs `work` (compiling, or configuring with parameters) on the first worker and
    /// returns what the kernel declares then, and the seconds its compile took.
    fn inspect_on_first_worker(
        &self,
        workers: &mut Vec<Worker>,
        source: &Arc<str>,
        work: JobWork,
        limits: JobLimits<'_>,
        timeout: Option<Duration>,
    ) -> Result<(KernelInfo, f64), RenderError> {
        let job = self.start_job(workers, source, work, 1, limits);
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
        if let Err(error) = ensure_workers(workers, threads, &self.abandoned_here) {
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
                match Worker::spawn(index, &self.abandoned_here) {
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
    mut on_unit: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
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
        let Ok(fresh) = Worker::spawn(index, &stuck.shared.abandoned_here) else {
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
    mut on_unit: Option<&mut (dyn FnMut(&RenderProgress<'_>) + '_)>,
) {
    let finished = std::mem::take(&mut *lock(&job.finished_units));
    let Some(plan) = job.work.plan() else {
        return;
    };
    for unit in finished {
        *units_done += 1;
        let Some(rect) = plan.units.get(unit).map(|unit| &unit.rect) else {
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
            on_unit(&RenderProgress::Unit(UnitProgress {
                output: plan.output,
                first_row: top - plan.rows.first,
                row_count: bottom - top,
                first_column: rect.left,
                column_count: rect.width,
                values: unit_values,
                units_done: *units_done,
                units_total: plan.units.len(),
            }));
        }
    }
}

/// Turns the workers' reports into their timings, or the render's error: a cancel or a
/// timeout first, then a kernel error (of the failing pixels reported, the first in reading
/// order, so that the same kernel names the same pixel whichever thread failed first), then
/// an internal error.
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
                crate::engine::error::format_secs(timeout_secs)
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
                let reading_order =
                    |error: &KernelError| error.pixel().map(|pixel| (pixel.row, pixel.column));
                let earlier = kernel_error.as_ref().is_none_or(|kept| {
                    matches!(
                        (reading_order(&error), reading_order(kept)),
                        (Some(new), Some(old)) if new < old
                    )
                });
                if earlier {
                    kernel_error = Some(error);
                }
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
#[allow(clippy::expect_used)]
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

    fn failed_at(column: u32, row: u32) -> Option<WorkerReport> {
        Some(WorkerReport {
            timing: ThreadTiming::default(),
            info: None,
            failure: Some(RunFailure::Kernel(KernelError::Runtime {
                line: Some(2),
                message: "boom".to_owned(),
                pixel: Some(crate::engine::PixelLocation {
                    column,
                    row,
                    x: 0.0,
                    y: 0.0,
                }),
            })),
        })
    }

    #[test]
    fn of_several_failing_threads_the_error_names_the_first_pixel_in_reading_order() {
        let reports = vec![failed_at(3, 7), failed_at(9, 2), failed_at(1, 2)];
        let Err(RenderError::Kernel(error)) =
            collect_failure(reports, StopReason::Failed, None, &[])
        else {
            panic!("a kernel error was expected");
        };
        let pixel = error.pixel().expect("the error names its pixel");
        assert_eq!((pixel.column, pixel.row), (1, 2));
    }
}
