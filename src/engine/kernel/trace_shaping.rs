//! Trace shaping: LuaJIT compiles whichever loop gets hot first, and that shape decides a
//! kernel's speed (ARCHITECTURE.md, "How a request becomes pixels", step 3, has the
//! figures). So a freshly compiled kernel is warmed up at its busiest sample point through
//! the real driver until its own loop is the root trace.

use super::contract::{OutputMode, Symmetry};
use super::declarations::{as_number, describe_value};
use super::lua_unsafe::call_unit_driver;
use super::sandbox::{LuaKernel, StopContext};
use super::state::JitControl;
use crate::engine::error::{KernelError, format_number};
use crate::engine::geometry::UnitLattice;
use mlua::{Function, Value};
use std::sync::atomic::AtomicU32;

/// Points per side of the home-view grid that `shape_traces` samples.
const TRACE_SHAPING_GRID: u32 = 12;

/// Time sampling may take at most (slow kernels get fewer samples).
const TRACE_SHAPING_SAMPLE_BUDGET: std::time::Duration = std::time::Duration::from_millis(10);

/// The iteration limit while sampling (keeps sampling cheap; only relative work matters).
const TRACE_SHAPING_SAMPLE_MAX_ITER: u32 = 200;

/// Calls of the slowest point in the warm-up unit: more than LuaJIT's `hotexit` (10), so
/// the loop's exit also gets its side trace recorded from inside the driver.
const TRACE_SHAPING_CALLS: u32 = 16;

/// The iteration limit during the warm-up unit: high enough that LuaJIT starts recording
/// the kernel's loop in the middle of a call (a looping trace), never at its last iteration.
const TRACE_SHAPING_MAX_ITER: u32 = 1000;

/// Sample points tried, busiest first, until the kernel's loop trace loops.
const TRACE_SHAPING_ATTEMPTS: usize = 4;

/// Before any unit runs, makes LuaJIT compile the kernel's own loop first, as a looping
/// trace, while it is called from the driver's loop.
///
/// Why: LuaJIT traces whichever loop gets hot first, and the shape of the trace tree then
/// decides speed. When the driver's row loop gets hot first (first rows full of pixels
/// that escape at once), it unrolls the kernel's loop for the few iterations it saw and
/// every other pixel leaves the trace; traced first from inside the driver, the kernel's
/// loop stays one looping trace (the figures: ARCHITECTURE.md, "Measured figures").
///
/// How: find the point of a coarse grid over the home view that does the most work, with
/// the JIT off so sampling leaves no traces or hot counters behind; then render a one-row
/// unit that calls `pixel` at that point TRACE_SHAPING_CALLS times with a large `max_iter`,
/// and check through trace_watch.lua that the kernel's loop trace loops (else flush and try
/// the next busiest point). Work is read from the kernel contract, not from a hook: an
/// escape value counts iterations and inside means all of them; direct-colour kernels are
/// timed. No hook may be used here: another thread may set the stop hook at any moment, and
/// LuaJIT's hook bookkeeping (the HOOK_ACTIVE bit) is not safe against that while a hook
/// runs: a stop was lost that way. Errors are left to the render to report. The caller has
/// the stop switch armed.
///
/// A kernel that declares a symmetry is also called at each sample's mirror point: a
/// declaration that does not hold there comes back as the kernel's error (the engine would
/// otherwise mirror wrong pixels without a word).
pub(super) fn shape_traces(
    jit: &JitControl,
    kernel: &LuaKernel,
    stop: &StopContext<'_>,
) -> mlua::Result<Option<KernelError>> {
    let home = kernel.info.home_or_default();
    let grid = home.pixel_grid(TRACE_SHAPING_GRID, TRACE_SHAPING_GRID);
    let default_max_iter = kernel.environment.raw_get::<Value>("max_iter")?;
    let sample_max_iter = kernel
        .info
        .effective_max_iter(None)
        .min(TRACE_SHAPING_SAMPLE_MAX_ITER);

    jit.off.call::<()>(())?;
    kernel.environment.raw_set("max_iter", sample_max_iter)?;
    let mut work_by_point = Vec::new();
    let mut broken_symmetry = None;
    let sampling_started = std::time::Instant::now();
    'sampling: for row in 0..TRACE_SHAPING_GRID {
        for column in 0..TRACE_SHAPING_GRID {
            let point = grid.complex_from_pixel(column, row);
            let call_started = std::time::Instant::now();
            // A failing kernel fails in the render too, with its error located: stop here.
            let Ok((true, returned)) =
                kernel
                    .sample_pixel
                    .call::<(bool, Value)>((&kernel.pixel, point.0, point.1))
            else {
                break 'sampling;
            };
            let work = match kernel.info.output {
                OutputMode::Escape { .. } => escape_work(Some(&returned)),
                OutputMode::Rgb => call_started.elapsed().as_secs_f64(),
            };
            work_by_point.push((work, point));
            if kernel.info.symmetry == Symmetry::RealAxis && point.1 != 0.0 {
                let Ok((true, mirrored)) =
                    kernel
                        .sample_pixel
                        .call::<(bool, Value)>((&kernel.pixel, point.0, -point.1))
                else {
                    break 'sampling;
                };
                if !same_returned_value(&returned, &mirrored) {
                    broken_symmetry = Some(KernelError::BadSetting {
                        name: "symmetry",
                        message: format!(
                            "\"real_axis\" promises pixel(x, -y) = pixel(x, y), but pixel({x}, {y}) \
                             returned {} and pixel({x}, {minus_y}) returned {}",
                            describe_value(&returned),
                            describe_value(&mirrored),
                            x = format_number(point.0),
                            y = format_number(point.1),
                            minus_y = format_number(-point.1),
                        ),
                    });
                    break 'sampling;
                }
            }
            if (stop.is_stopped)() || sampling_started.elapsed() > TRACE_SHAPING_SAMPLE_BUDGET {
                break 'sampling;
            }
        }
    }
    jit.on.call::<()>(())?;
    if broken_symmetry.is_some() {
        kernel.environment.raw_set("max_iter", default_max_iter)?;
        return Ok(broken_symmetry);
    }
    // Busiest first; the stable sort keeps grid order among equals, so this is repeatable.
    work_by_point.sort_by(|a, b| b.0.total_cmp(&a.0));

    kernel
        .environment
        .raw_set("max_iter", TRACE_SHAPING_MAX_ITER)?;
    let channels = kernel.info.output.channels();
    let scratch: Vec<AtomicU32> = (0..TRACE_SHAPING_CALLS as usize * channels)
        .map(|_| AtomicU32::new(0))
        .collect();
    for (_, (x, y)) in work_by_point.iter().take(TRACE_SHAPING_ATTEMPTS) {
        jit.watch.get::<Function>("begin")?.call::<()>(())?;
        let warm_up = call_unit_driver(
            &kernel.render_unit,
            &kernel.pixel,
            &scratch,
            scratch.len(),
            (TRACE_SHAPING_CALLS, 1),
            UnitLattice::at_one_point((*x, *y)),
        );
        let loops = jit.watch.get::<Function>("finish")?.call::<bool>(())?;
        let warmed_up = matches!(warm_up, Ok((true, _)));
        if !warmed_up || loops || (stop.is_stopped)() {
            break;
        }
        // The kernel's loop was traced from its exit: drop every trace and try the next
        // busiest point, whose iteration count puts LuaJIT's hot counter at another phase.
        jit.watch.get::<Function>("flush")?.call::<()>(())?;
    }
    kernel.environment.raw_set("max_iter", default_max_iter)?;
    Ok(None)
}

/// True when two values `pixel` returned are the same: numbers with the same bits (any
/// NaN equals any other), or the same non-number (nil, false...).
fn same_returned_value(a: &Value, b: &Value) -> bool {
    match (as_number(a), as_number(b)) {
        (Some(a), Some(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
        (None, None) => match (a, b) {
            (Value::Boolean(a), Value::Boolean(b)) => a == b,
            _ => a.type_name() == b.type_name(),
        },
        _ => false,
    }
}

/// How much work a sampled escape value stands for: its iteration count, or everything for
/// a point inside (nil, false, negative or not finite).
fn escape_work(returned: Option<&Value>) -> f64 {
    match returned.and_then(as_number) {
        Some(value) if value.is_finite() && value >= 0.0 => value,
        _ => f64::INFINITY,
    }
}
