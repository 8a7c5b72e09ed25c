//! The rendering engine: everything below the user interface. It compiles Lua kernels in a
//! sandbox, renders them in parallel Lua states, colours the results and writes files.
//!
//! Layers, each using only those below it (ARCHITECTURE.md has the table):
//! `geometry` (numbers, views, the pixel lattice) at the bottom; `kernel` (the contract,
//! the sandboxed Lua state, the engine's own Lua) above it; `render` (the worker pool,
//! requests, planning, cancelling) above that; `output` (palettes, documents, PNG, posters,
//! films) on top; `bench` (benchmarks and native twins) outside, as a user of the rest.
//! `error` (the errors a render can end with), `atomic_file` and `sync` serve them all.
//!
//! The engine never depends on the GUI toolkit (a CI check enforces it): the GUI and the CLI
//! are thin adapters over this module's public API.

pub mod atomic_file;
pub mod bench;
pub mod error;
pub mod geometry;
pub mod kernel;
pub mod output;
pub mod render;
pub mod sync;

pub use error::{KernelError, PixelLocation, RenderError, RequestError};
pub use geometry::{BigFloat, Dd, PixelGrid, Precision, View};
pub use kernel::{
    KernelInfo, KernelLog, OutputMode, PRINT_LINES_PER_RUN, SHIPPED_KERNELS, ShippedKernel,
};
pub use output::{DocumentError, ExportError};
pub use render::{
    CancelToken, Engine, EngineOptions, MaxIterChoice, PrecisionChoice, RenderOutput,
    RenderProgress, RenderRequest, RenderTimings, ThreadTiming, UnitProgress, ValueImage,
};
