//! The rendering engine: everything below the user interface. It compiles Lua kernels in a
//! sandbox, renders them in parallel Lua states, colours the results and writes PNGs.
//!
//! The engine never depends on the GUI toolkit (a CI check enforces it): the GUI and the CLI
//! are thin adapters over this module's public API.

pub mod atomic_file;
pub mod bench;
pub mod double_double;
pub mod error;
pub mod export;
pub mod kernel;
mod lua_unsafe;
pub mod native;
pub mod palette;
pub mod parameters;
mod plan;
pub mod poster;
pub mod render;
mod sandbox;
pub mod sync;
pub mod view;

pub use double_double::Dd;
pub use error::{
    DocumentError, ExportError, KernelError, PixelLocation, RenderError, RequestError,
};
pub use kernel::{KernelInfo, OutputMode, SHIPPED_KERNELS, ShippedKernel};
pub use render::{
    CancelToken, Engine, EngineOptions, PrecisionChoice, RenderOutput, RenderRequest,
    RenderTimings, ThreadTiming, UnitProgress, ValueImage,
};
pub use sandbox::{KernelLog, PRINT_LINES_PER_RUN};
pub use view::{PixelGrid, Precision, View};
