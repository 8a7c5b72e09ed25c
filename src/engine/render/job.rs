//! A job: one render (or compile) handed to the workers, shared between them and the
//! rendering thread: its work, its image buffer, the next unit to take, and its stop flag.

use super::cancel::StopReason;
use super::plan::UnitPlan;
use super::pool::WorkerShared;
use super::rendered::ThreadTiming;
use crate::engine::kernel::{KernelInfo, KernelLog, ParameterValue, RunFailure};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// What a job asks of its workers.
pub(super) enum JobWork {
    /// Compile the kernel (and keep its state) to learn what it declares.
    CompileOnly,
    /// Compile if needed and set these parameter values, to learn the formula its step
    /// gives with them (a step that reads parameter values).
    Configure(Vec<(String, ParameterValue)>),
    /// Compile if needed, then render the plan's units.
    Render(Box<UnitPlan>),
}

impl JobWork {
    pub(super) fn plan(&self) -> Option<&UnitPlan> {
        match self {
            Self::CompileOnly | Self::Configure(_) => None,
            Self::Render(plan) => Some(plan),
        }
    }
}

/// One render (or one compile) shared by the workers running it.
pub(super) struct Job {
    pub(super) id: u64,
    pub(super) source: Arc<str>,
    pub(super) memory_limit_bytes: usize,
    pub(super) log: Arc<KernelLog>,
    pub(super) work: JobWork,
    pub(super) next_unit: AtomicUsize,
    pub(super) stop_reason: AtomicU8,
    pub(super) workers: Vec<Arc<WorkerShared>>,
    /// The image being rendered, `channels` f32 bit patterns per pixel. Each unit's range
    /// is written by the one worker that took the unit (through the driver's FFI pointer)
    /// and read only after that worker listed it in `finished_units`.
    pub(super) image: Box<[AtomicU32]>,
    pub(super) finished_units: Mutex<Vec<usize>>,
    pub(super) events: Sender<WorkerEvent>,
}

impl Job {
    pub(super) fn is_stopped(&self) -> bool {
        self.stop_reason.load(Ordering::SeqCst) != StopReason::Running as u8
    }

    pub(super) fn stop_reason(&self) -> StopReason {
        match self.stop_reason.load(Ordering::SeqCst) {
            1 => StopReason::Cancelled,
            2 => StopReason::TimedOut,
            3 => StopReason::Failed,
            _ => StopReason::Running,
        }
    }

    /// Records why the job stops (if it is the first reason) and interrupts every worker
    /// still running Lua for it.
    pub(super) fn stop(&self, reason: StopReason) {
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
    pub(super) fn trip_workers(&self) {
        for worker in &self.workers {
            worker.switch.trip(self.id);
        }
    }
}

/// What workers tell the rendering thread (finished units go through `Job::finished_units`).
pub(super) enum WorkerEvent {
    Finished { worker: usize, report: WorkerReport },
}

/// A worker's account of one job.
pub(super) struct WorkerReport {
    pub(super) timing: ThreadTiming,
    pub(super) info: Option<KernelInfo>,
    pub(super) failure: Option<RunFailure>,
}
