//! The worker threads (`moonbrot-render-N`): each keeps one compiled kernel (a Lua state)
//! while the source stays the same, takes units of a job until none are left and reports.
//! Workers that do not stop are abandoned (the backstop), counted process-wide.

use super::cancel::StopReason;
use super::job::{Job, JobWork, WorkerEvent, WorkerReport};
use super::plan::{PlannedUnit, UnitPlan};
use super::rendered::ThreadTiming;
use crate::engine::error::RenderError;
use crate::engine::kernel::{LuaKernel, RunFailure, StopContext, StopSwitch};
use crate::engine::sync::lock;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

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

/// What a worker's thread shares with the engine.
#[derive(Default)]
pub(super) struct WorkerShared {
    pub(super) switch: StopSwitch,
    /// What the worker is doing, for the message when it has to be abandoned.
    activity: AtomicU64,
    /// Set when the engine gave up waiting for the worker: it ends after its current call.
    abandoned: AtomicBool,
    /// The owning engine's count of its abandoned workers still running.
    pub(super) abandoned_here: Arc<AtomicUsize>,
}

/// `WorkerShared::activity`: idle, loading the kernel, or rendering unit N (as N + 2).
const ACTIVITY_IDLE: u64 = 0;
const ACTIVITY_LOADING: u64 = 1;

impl WorkerShared {
    fn set_unit(&self, unit: usize) {
        self.activity.store(unit as u64 + 2, Ordering::SeqCst);
    }

    /// What the worker is doing, in words, for `job`.
    pub(super) fn describe_activity(&self, job: &Job) -> String {
        match self.activity.load(Ordering::SeqCst) {
            ACTIVITY_IDLE => "between calls".to_owned(),
            ACTIVITY_LOADING => {
                "preparing the kernel (running its top level or sample calls of pixel)".to_owned()
            }
            unit => match job.work.plan() {
                Some(plan) => match plan.units.get((unit - 2) as usize).map(|unit| unit.rect) {
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

pub(super) struct Worker {
    pub(super) jobs: Sender<Arc<Job>>,
    pub(super) shared: Arc<WorkerShared>,
    pub(super) thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// A worker of the engine whose abandoned workers `abandoned_here` counts.
    pub(super) fn spawn(
        index: usize,
        abandoned_here: &Arc<AtomicUsize>,
    ) -> Result<Self, RenderError> {
        let (jobs, receiver) = mpsc::channel();
        let shared = Arc::new(WorkerShared {
            abandoned_here: Arc::clone(abandoned_here),
            ..WorkerShared::default()
        });
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
    pub(super) fn abandon(mut self) {
        self.shared.abandoned.store(true, Ordering::SeqCst);
        ABANDONED_WORKERS.fetch_add(1, Ordering::SeqCst);
        self.shared.abandoned_here.fetch_add(1, Ordering::SeqCst);
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
            shared.abandoned_here.fetch_sub(1, Ordering::SeqCst);
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
    let Some(kernel) = cached.as_mut() else {
        return report;
    };
    // A plan's parameters, or the ones a job asks the kernel to be configured with: the
    // report's info then has the formula recorded with them.
    let configure_with = match &job.work {
        JobWork::CompileOnly => None,
        JobWork::Configure(parameters) => Some((None, parameters)),
        JobWork::Render(plan) => Some((plan.max_iter, &plan.parameters)),
    };
    if let Some((max_iter, parameters)) = configure_with {
        let max_iter = kernel.info().effective_max_iter(max_iter);
        if let Err(failure) = kernel.configure(max_iter, parameters, &stop) {
            if matches!(failure, RunFailure::Stopped) {
                *cached = None;
            } else {
                report.failure = Some(failure);
                job.stop(StopReason::Failed);
            }
            return report;
        }
    }
    report.info = Some(kernel.info().clone());
    let Some(plan) = job.work.plan() else {
        return report;
    };
    // The scratch buffer of tiles that start on their left edge column, kept between them.
    let mut scratch = Vec::new();
    while !job.is_stopped() {
        let unit = job.next_unit.fetch_add(1, Ordering::SeqCst);
        let Some(planned) = plan.units.get(unit) else {
            break;
        };
        shared.set_unit(unit);
        match render_planned_unit(kernel, plan, planned, (&job.image, &mut scratch), &stop) {
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

/// Renders one unit of `plan` into `image`. A unit that starts on its left edge column
/// (a guessing tile right of another) is rendered with that column into `scratch`, and
/// only its own pixels are copied into the image: the column is the left tile's, which
/// another worker may be writing. (The driver writes every value of its unit, so the
/// scratch buffer needs no clearing between units.)
fn render_planned_unit(
    kernel: &LuaKernel,
    plan: &UnitPlan,
    planned: &PlannedUnit,
    (image, scratch): (&[AtomicU32], &mut Vec<AtomicU32>),
    stop: &StopContext<'_>,
) -> Result<(), RunFailure> {
    let settings = (
        plan.guess,
        plan.precision,
        plan.derivatives,
        plan.interleaved,
    );
    let reference = plan.perturbation.as_deref();
    let rect = planned.rect;
    if !planned.starts_on_left_edge {
        let out = &image[plan.rect_value_range(&rect)];
        return kernel.render_unit(
            rect,
            &plan.grid,
            (out, plan.stride()),
            settings,
            reference,
            stop,
        );
    }
    let driver_rect = planned.driver_rect();
    let scratch_stride = driver_rect.width as usize * plan.channels;
    let scratch_len = scratch_stride * rect.height as usize;
    if scratch.len() < scratch_len {
        scratch.resize_with(scratch_len, || AtomicU32::new(0));
    }
    let scratch = &scratch[..scratch_len];
    kernel.render_unit(
        driver_rect,
        &plan.grid,
        (scratch, scratch_stride),
        settings,
        reference,
        stop,
    )?;
    let run = rect.width as usize * plan.channels;
    for (row, scratch_row) in (rect.top..rect.top + rect.height).zip(scratch.chunks(scratch_stride))
    {
        let start = plan.buffer_index(rect.left, row);
        for (target, value) in image[start..start + run]
            .iter()
            .zip(&scratch_row[plan.channels..])
        {
            target.store(value.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
    Ok(())
}

pub(super) fn ensure_workers(
    workers: &mut Vec<Worker>,
    threads: usize,
    abandoned_here: &Arc<AtomicUsize>,
) -> Result<(), RenderError> {
    while workers.len() < threads {
        workers.push(Worker::spawn(workers.len(), abandoned_here)?);
    }
    Ok(())
}
