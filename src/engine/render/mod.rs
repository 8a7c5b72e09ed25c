//! Rendering: the engine proper. A pool of worker threads, each owning one Lua state per
//! kernel source (as in the seed article: one Lua state per thread), splits an image into
//! small units and takes them as they become free, so the thread that gets the heavy middle
//! of the set does not hold the others up.
//!
//! `request` says what a render is asked for and checks it; `plan` cuts it into units
//! (kept pixels, mirrored rows); `job` is what the workers share; `pool` holds the workers;
//! `engine` (`Engine`) runs a job on the caller's behalf and collects it; `cancel` stops
//! one; `rendered` is what comes back.

mod cancel;
mod engine;
mod iteration_limit;
mod job;
mod plan;
mod pool;
mod rendered;
mod request;

pub use cancel::CancelToken;
pub use engine::{Engine, EngineOptions, STOP_GRACE};
pub use rendered::{
    MaxIterChoice, ReferenceSummary, RenderOutput, RenderProgress, RenderTimings, ThreadTiming,
    UnitProgress, ValueImage,
};
pub(crate) use request::band_alignment_rows;
pub use request::{
    DEFAULT_MEMORY_LIMIT_BYTES, MAX_THREADS, ParameterPolicy, PrecisionChoice, RenderRequest,
    RowRange, default_thread_count, image_size_from, max_iter_from, memory_limit_from_mib,
    thread_count_from, timeout_from_secs,
};
