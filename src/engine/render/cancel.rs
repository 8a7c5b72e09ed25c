//! Stopping renders from any thread: `CancelToken`, and the reasons a job stops early.

use super::job::Job;
use crate::engine::sync::lock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

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

    pub(super) fn attach(&self, job: &Arc<Job>) {
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
pub(super) enum StopReason {
    Running = 0,
    Cancelled = 1,
    TimedOut = 2,
    /// A worker failed; the others stop.
    Failed = 3,
}
