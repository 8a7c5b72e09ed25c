//! Kernels: the kernel contract (`KernelInfo`, output, symmetry, limits), the shipped
//! kernels and kernel files, parameters, and running a kernel's Lua safely: the sandboxed
//! state, compiling and reading its declarations, trace shaping, running work units
//! through the engine's own Lua (runtime/: the sandbox's environment, the driver's loops,
//! the stoppable library, `dd`), and the stop switch (`lua_unsafe`, the one module with
//! `unsafe`).
//!
//! It uses geometry (views, the lattice) and nothing above it: rendering drives it.

#[cfg(test)]
#[allow(clippy::expect_used)]
mod api_tests;
mod bla;
mod colouring;
mod contract;
mod declarations;
mod formula;
#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod formula_tests;
#[cfg(test)]
#[allow(clippy::expect_used)]
mod library_tests;
mod lua_unsafe;
mod parameters;
mod reference;
mod sandbox;
mod series;
mod state;
mod trace_shaping;

pub use bla::{BlaTable, ENTRY_LEN as BLA_ENTRY_LEN};
pub(crate) use colouring::{ColouringFailure, LuaColouring};
pub(crate) use contract::MAX_SOURCE_BYTES;
pub use contract::{
    DERIVATIVE_CHANNELS, FALLBACK_MAX_ITER, KernelFileError, KernelInfo, LUA_LS_DEFINITIONS,
    MAX_CHANNELS, MAX_MAX_ITER, OutputMode, SHIPPED_KERNELS, ShippedKernel, Symmetry,
    default_kernel, read_kernel_file, shipped_kernel, two_significant_digits, write_kernel_file,
};
pub use formula::{DEFAULT_BAILOUT, Formula, FormulaOp};
pub(crate) use lua_unsafe::StopSwitch;
pub(crate) use parameters::MAX_PARAMETERS;
pub use parameters::{
    ParameterKind, ParameterSpec, ParameterValue, ParameterValues, parse_settings, resolve,
    resolve_leniently,
};
pub use reference::{
    BlaSkips, OrbitStop, PerturbationReference, ReferenceOrbit, bits_for_step_log2,
    continue_reference_orbit, reference_orbit,
};
pub(crate) use sandbox::{LuaKernel, StopContext};
pub use series::{SERIES_TERMS, SeriesSkip};
pub(crate) use series::{SeriesBuilder, build as build_series, follow_orbit as follow_series};
pub(crate) use state::RunFailure;
pub use state::{KernelLog, PRINT_LINES_PER_RUN};
