//! One kernel compiled into its own Lua state: the state is created, given the sandboxed
//! environment (lua/sandbox.lua) and the trusted driver (lua/driver.lua), then the kernel
//! source is loaded as text into that environment and its top level run. A worker thread
//! keeps one `LuaKernel` while the source stays the same and runs work units on it.
//!
//! A fresh state per source means nothing one kernel does survives into the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mlua::chunk::ChunkMode;
use mlua::{Function, IntoLuaMulti, Lua, LuaString, MultiValue, Table, Value};

use super::error::{KernelError, MAX_MESSAGE_CHARS, PixelLocation, bounded_message, format_number};
use super::kernel::{KernelInfo, MAX_MAX_ITER, OutputMode, Symmetry, split_kernel_position};
use super::lua_unsafe::{StopSwitch, call_unit_driver, new_lua_state};
use super::parameters::{ParameterKind, ParameterSpec, ParameterValue};
use super::view::{PixelGrid, Precision, View};

const SANDBOX_LUA: &str = include_str!("lua/sandbox.lua");
const DRIVER_LUA: &str = include_str!("lua/driver.lua");
const TRACE_WATCH_LUA: &str = include_str!("lua/trace_watch.lua");
const BOUNDED_LIBRARY_LUA: &str = include_str!("lua/bounded_library.lua");
const DOUBLE_DOUBLE_LUA: &str = include_str!("lua/double_double.lua");

/// LuaJIT's own message when an allocation fails (the memory limit was hit).
const OUT_OF_MEMORY_MESSAGE: &str = "not enough memory";

/// Where a kernel's `print` output goes, shared by all workers; rate-limited per run.
pub struct KernelLog {
    sink: Box<dyn Fn(&str) + Send + Sync>,
    lines_this_run: AtomicU32,
    max_lines_per_run: u32,
}

/// Lines of kernel `print` output the front ends pass on per render; more would flood a
/// terminal or the log panel (a `print` in `pixel` runs once per pixel).
pub const PRINT_LINES_PER_RUN: u32 = 200;

/// Longest printed line kept, in bytes; longer lines are cut.
const MAX_PRINT_LINE_BYTES: usize = 1000;

impl KernelLog {
    /// A log that passes at most `max_lines_per_run` lines per render to `sink`.
    pub fn new(max_lines_per_run: u32, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            sink: Box::new(sink),
            lines_this_run: AtomicU32::new(0),
            max_lines_per_run,
        }
    }

    /// A log that drops everything.
    pub fn discard() -> Self {
        Self::new(0, |_| {})
    }

    pub(crate) fn start_run(&self) {
        self.lines_this_run.store(0, Ordering::Relaxed);
    }

    /// Logs `line` (the start of a printed line of `total_bytes` bytes).
    fn print(&self, line: &str, total_bytes: usize) {
        let printed_before = self.lines_this_run.fetch_add(1, Ordering::Relaxed);
        if printed_before < self.max_lines_per_run {
            let mut end = line.len().min(MAX_PRINT_LINE_BYTES);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            if total_bytes > end {
                (self.sink)(&format!(
                    "{}… ({} more bytes)",
                    &line[..end],
                    total_bytes - end
                ));
            } else {
                (self.sink)(&line[..end]);
            }
        } else if printed_before == self.max_lines_per_run && self.max_lines_per_run > 0 {
            (self.sink)(&format!(
                "(print output is limited to {} lines per run; further lines are dropped)",
                self.max_lines_per_run
            ));
        }
    }
}

/// Why a call into a kernel did not complete.
#[derive(Debug)]
pub(crate) enum RunFailure {
    /// The kernel failed; the user must change it.
    Kernel(KernelError),
    /// The job was stopped (cancel, timeout, or another worker's failure).
    Stopped,
    /// A bug in moonbrot's own Lua code or its use of mlua.
    Internal(String),
}

impl From<KernelError> for RunFailure {
    fn from(error: KernelError) -> Self {
        Self::Kernel(error)
    }
}

fn internal(context: &str, error: &mlua::Error) -> RunFailure {
    RunFailure::Internal(bounded_message(
        &format!("{context}: {error}"),
        MAX_MESSAGE_CHARS,
    ))
}

/// `.context("doing what")` on mlua results: a failure there is a bug in moonbrot's own Lua
/// code or its use of mlua, never the kernel's fault.
trait InternalContext<T> {
    fn context(self, doing: &str) -> Result<T, RunFailure>;
}

impl<T> InternalContext<T> for mlua::Result<T> {
    fn context(self, doing: &str) -> Result<T, RunFailure> {
        self.map_err(|error| internal(doing, &error))
    }
}

/// The kernel hit its memory limit.
fn memory_limit_failure(limit_bytes: usize) -> RunFailure {
    RunFailure::Kernel(KernelError::MemoryLimit { limit_bytes })
}

/// True when a message caught inside Lua (by the driver's pcall) is LuaJIT's allocation
/// failure: its own message, with no kernel line (a kernel's `error("not enough memory")`
/// has one).
fn is_out_of_memory_message(message: &str, line: Option<u32>) -> bool {
    line.is_none() && message == OUT_OF_MEMORY_MESSAGE
}

/// The first line of a Lua error's message, without mlua's traceback.
fn first_line_of(error: &mlua::Error) -> String {
    let mut root = error;
    while let mlua::Error::CallbackError { cause, .. } = root {
        root = cause;
    }
    let text = match root {
        mlua::Error::RuntimeError(message) | mlua::Error::MemoryError(message) => message.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or_default().to_owned()
}

/// The pixels of the image one work unit covers: `width` columns from `left`, `height`
/// rows from `top` (in the whole image's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnitRect {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

impl UnitRect {
    /// The lattice indices of the rect's first column and row in `grid`, as the driver
    /// takes them (exact integers in f64: the grid keeps its indices far below 2^53).
    pub fn lattice_indices(&self, grid: &PixelGrid) -> (f64, f64) {
        (
            (grid.first_column_index + i64::from(self.left)) as f64,
            (grid.first_row_index + i64::from(self.top)) as f64,
        )
    }
}

/// A unit's place on the pixel lattice as driver.lua's loops and `locate_error` take it
/// (their last six arguments): pixel (c, r) of the unit is at
/// `x_origin + (column_index + c + 0.5) * x_step`, rows alike. In double-double precision
/// the origins given are 0 and the deep pixel function adds the grid's origin itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitLattice {
    x_origin: f64,
    x_step: f64,
    column_index: f64,
    y_origin: f64,
    y_step: f64,
    row_index: f64,
}

impl UnitLattice {
    /// The lattice of `rect` in `grid`, for coordinates in `precision`.
    pub(crate) fn of(rect: &UnitRect, grid: &PixelGrid, precision: Precision) -> Self {
        let (column_index, row_index) = rect.lattice_indices(grid);
        let (x_origin, y_origin) = match precision {
            Precision::Double => (grid.x_origin.hi(), grid.y_origin.hi()),
            Precision::DoubleDouble => (0.0, 0.0),
        };
        Self {
            x_origin,
            x_step: grid.x_step,
            column_index,
            y_origin,
            y_step: grid.y_step,
            row_index,
        }
    }

    /// Every pixel of a unit at one point (for warming a kernel's trace up).
    fn at_one_point((x, y): (f64, f64)) -> Self {
        Self {
            x_origin: x,
            x_step: 0.0,
            column_index: 0.0,
            y_origin: y,
            y_step: 0.0,
            row_index: 0.0,
        }
    }
}

impl IntoLuaMulti for UnitLattice {
    fn into_lua_multi(self, lua: &Lua) -> mlua::Result<MultiValue> {
        (
            self.x_origin,
            self.x_step,
            self.column_index,
            self.y_origin,
            self.y_step,
            self.row_index,
        )
            .into_lua_multi(lua)
    }
}

/// Who may stop a call: the worker's switch, the job's id and its stop flag.
pub(crate) struct StopContext<'a> {
    pub switch: &'a StopSwitch,
    pub job_id: u64,
    pub is_stopped: &'a (dyn Fn() -> bool + Sync),
}

/// A kernel compiled in its own Lua state, ready to render units.
pub(crate) struct LuaKernel {
    lua: Lua,
    environment: Table,
    pixel: Function,
    /// The kernel's optional deep entry point, `pixel_deep(x, y)` on double-doubles.
    pixel_deep: Option<Function>,
    /// driver.lua's `deep_pixel`, which wraps `pixel_deep` for one unit's origin.
    deep_pixel: Function,
    render_unit: Function,
    /// driver.lua's solid-guessing loop (escape kernels only).
    render_guessed_unit: Option<Function>,
    locate_error: Function,
    sample_pixel: Function,
    info: KernelInfo,
    /// The `param` table the kernel reads parameter values from.
    parameter_values: Table,
    source: Arc<str>,
    memory_limit_bytes: usize,
}

/// A fresh Lua state with the sandbox, the driver and the JIT control loaded, and the
/// trusted libraries (ffi, debug, jit) hidden from kernels: everything but the kernel.
struct SandboxedState {
    lua: Lua,
    /// The kernel's globals.
    environment: Table,
    /// The parameters the kernel declared (sandbox.lua's private list).
    declared_parameters: Table,
    /// The `param` table, taken before the kernel could replace the global.
    parameter_values: Table,
    /// driver.lua's functions.
    driver: Table,
    /// trace_watch.lua's control of the JIT.
    jit: JitControl,
}

impl SandboxedState {
    fn new(memory_limit_bytes: usize, log: &Arc<KernelLog>) -> Result<Self, RunFailure> {
        let lua = new_lua_state();
        lua.set_memory_limit(memory_limit_bytes)
            .context("setting the memory limit")?;
        let log = Arc::clone(log);
        let print_to_log = lua
            .create_function(move |_, line: LuaString| {
                // Only the start of a huge line is converted (it is cut anyway).
                let bytes = line.as_bytes();
                let start = &bytes[..bytes.len().min(MAX_PRINT_LINE_BYTES + 4)];
                log.print(&String::from_utf8_lossy(start), bytes.len());
                Ok(())
            })
            .context("creating print")?;
        let bounded = load_bounded_library(&lua).context("loading bounded_library.lua")?;
        let double_double: Table = lua
            .load(DOUBLE_DOUBLE_LUA)
            .set_name("=dd")
            .call(())
            .context("loading double_double.lua")?;
        let (environment, declared_parameters): (Table, Table) = lua
            .load(SANDBOX_LUA)
            .set_name("=sandbox")
            .call((print_to_log, bounded, double_double.clone()))
            .context("running sandbox.lua")?;
        let parameter_values: Table = environment
            .raw_get("param")
            .context("finding the param table")?;
        #[cfg(feature = "testing")]
        add_test_stall(&lua, &environment).context("adding the test stall")?;

        let globals = lua.globals();
        let ffi: Table = globals.get("ffi").context("finding ffi")?;
        let debug: Table = globals.get("debug").context("finding debug")?;
        let getinfo: Function = debug.get("getinfo").context("finding getinfo")?;
        let driver: Table = lua
            .load(DRIVER_LUA)
            .set_name("=driver")
            .call((ffi, getinfo, double_double.clone()))
            .context("running driver.lua")?;
        let jit_table: Table = globals.get("jit").context("finding jit")?;
        let jit = load_jit_control(&lua, &jit_table, &debug).context("loading trace_watch.lua")?;
        for name in ["ffi", "debug", "jit"] {
            globals
                .raw_set(name, Value::Nil)
                .context("hiding trusted libraries")?;
        }
        Ok(Self {
            lua,
            environment,
            declared_parameters,
            parameter_values,
            driver,
            jit,
        })
    }

    fn driver_function(&self, name: &str) -> Result<Function, RunFailure> {
        self.driver.get(name).context("finding a driver function")
    }

    /// Runs the kernel's top level (its settings, locals and `pixel`), stoppable.
    fn run_top_level(
        &self,
        chunk: Function,
        memory_limit_bytes: usize,
        stop: &StopContext<'_>,
    ) -> Result<(), RunFailure> {
        let load_kernel = self.driver_function("load_kernel")?;
        let load_result = {
            let Some(_armed) = stop.switch.arm(&self.lua, stop.job_id, stop.is_stopped) else {
                return Err(RunFailure::Stopped);
            };
            load_kernel.call::<(Option<LuaString>, Option<u32>)>(chunk)
        };
        match load_result {
            Ok((None, _)) => Ok(()),
            _ if (stop.is_stopped)() => Err(RunFailure::Stopped),
            Ok((Some(message), line)) => {
                let message = message.to_string_lossy();
                if is_out_of_memory_message(&message, line) {
                    return Err(memory_limit_failure(memory_limit_bytes));
                }
                let (position_line, message) = split_kernel_position(&message);
                Err(KernelError::Load {
                    line: position_line.or(line),
                    message,
                }
                .into())
            }
            Err(mlua::Error::MemoryError(_)) => Err(memory_limit_failure(memory_limit_bytes)),
            Err(error) => Err(internal("loading the kernel", &error)),
        }
    }
}

impl LuaKernel {
    /// Compiles `source` in a new state and runs its top level (stoppable through `stop`).
    pub(crate) fn compile(
        source: Arc<str>,
        memory_limit_bytes: usize,
        log: &Arc<KernelLog>,
        stop: &StopContext<'_>,
    ) -> Result<Self, RunFailure> {
        let state = SandboxedState::new(memory_limit_bytes, log)?;
        let lua = &state.lua;
        let chunk = match lua
            .load(&*source)
            .set_name("=kernel")
            .set_mode(ChunkMode::Text)
            .set_environment(state.environment.clone())
            .into_function()
        {
            Ok(chunk) => chunk,
            Err(mlua::Error::MemoryError(_)) => {
                return Err(memory_limit_failure(memory_limit_bytes));
            }
            Err(error) => {
                let (line, message) = split_kernel_position(&first_line_of(&error));
                return Err(KernelError::Syntax { line, message }.into());
            }
        };
        state.run_top_level(chunk, memory_limit_bytes, stop)?;

        let mut info = read_kernel_info(&state.environment)?;
        info.parameters = read_parameters(&state.declared_parameters)?;
        let pixel = match state.environment.raw_get::<Value>("pixel") {
            Ok(Value::Function(pixel)) => pixel,
            Ok(Value::Nil) => return Err(KernelError::MissingPixel.into()),
            Ok(other) => {
                return Err(KernelError::PixelNotAFunction {
                    found: other.type_name().to_owned(),
                }
                .into());
            }
            Err(error) => return Err(internal("reading pixel", &error)),
        };
        let pixel_deep = match state.environment.raw_get::<Value>("pixel_deep") {
            Ok(Value::Function(pixel_deep)) => Some(pixel_deep),
            Ok(Value::Nil) => None,
            Ok(other) => {
                return Err(KernelError::BadSetting {
                    name: "pixel_deep",
                    message: format!(
                        "expected a function pixel_deep(x, y) taking double-double \
                         coordinates, got {}",
                        describe_value(&other)
                    ),
                }
                .into());
            }
            Err(error) => return Err(internal("reading pixel_deep", &error)),
        };
        info.deep = pixel_deep.is_some();
        let render_guessed_unit = match info.output {
            OutputMode::Escape => Some(state.driver_function("render_guessed_unit")?),
            OutputMode::Rgb => None,
        };
        let render_unit = state.driver_function(match info.output {
            OutputMode::Escape => "render_escape_unit",
            OutputMode::Rgb => "render_rgb_unit",
        })?;
        let kernel = Self {
            locate_error: state.driver_function("locate_error")?,
            deep_pixel: state.driver_function("deep_pixel")?,
            sample_pixel: state.driver_function("sample_pixel")?,
            lua: state.lua,
            environment: state.environment,
            parameter_values: state.parameter_values,
            pixel,
            pixel_deep,
            render_unit,
            render_guessed_unit,
            info,
            source,
            memory_limit_bytes,
        };
        {
            let Some(_armed) = stop.switch.arm(&kernel.lua, stop.job_id, stop.is_stopped) else {
                return Err(RunFailure::Stopped);
            };
            if let Some(broken) =
                shape_traces(&state.jit, &kernel, stop).context("warming up the JIT")?
            {
                return Err(broken.into());
            }
        }
        if (stop.is_stopped)() {
            return Err(RunFailure::Stopped);
        }
        Ok(kernel)
    }

    pub(crate) fn info(&self) -> &KernelInfo {
        &self.info
    }

    /// True when this state was compiled from `source` with this memory limit.
    pub(crate) fn is_compiled_from(&self, source: &str, memory_limit_bytes: usize) -> bool {
        &*self.source == source && self.memory_limit_bytes == memory_limit_bytes
    }

    /// Sets the global `max_iter` and the `param` values the kernel reads (values already
    /// checked against its declarations).
    pub(crate) fn configure(
        &self,
        max_iter: u32,
        parameters: &[(String, ParameterValue)],
    ) -> Result<(), RunFailure> {
        self.environment
            .raw_set("max_iter", max_iter)
            .context("setting max_iter")?;
        for (name, value) in parameters {
            let value = match value {
                ParameterValue::Real(number) => Value::Number(*number),
                ParameterValue::Integer(number) => Value::Number(*number as f64),
                ParameterValue::Boolean(on) => Value::Boolean(*on),
                ParameterValue::Choice(option) => Value::String(
                    self.lua
                        .create_string(option)
                        .context("setting a parameter")?,
                ),
                ParameterValue::Complex { re, im } => {
                    let point = self.lua.create_table().context("setting a parameter")?;
                    point.raw_set("re", *re).context("setting a parameter")?;
                    point.raw_set("im", *im).context("setting a parameter")?;
                    Value::Table(point)
                }
            };
            self.parameter_values
                .raw_set(name.as_str(), value)
                .context("setting a parameter")?;
        }
        Ok(())
    }

    /// Renders one unit into `out` (channels floats per pixel, row by row), by solid
    /// guessing when `guess` is set and the kernel returns escape values, through
    /// `pixel_deep` when `precision` is double-double (the engine asks for it only when the
    /// kernel has one). `out` starts at the rect's first pixel; its rows are `stride`
    /// floats apart.
    pub(crate) fn render_unit(
        &self,
        rect: UnitRect,
        grid: &PixelGrid,
        (out, stride): (&[AtomicU32], usize),
        (guess, precision): (bool, Precision),
        stop: &StopContext<'_>,
    ) -> Result<(), RunFailure> {
        let Some(_armed) = stop.switch.arm(&self.lua, stop.job_id, stop.is_stopped) else {
            return Err(RunFailure::Stopped);
        };
        let memory_limit = || memory_limit_failure(self.memory_limit_bytes);
        let driver = match (&self.render_guessed_unit, guess) {
            (Some(guessing), true) => guessing,
            _ => &self.render_unit,
        };
        let pixel = match (&self.pixel_deep, precision) {
            (Some(pixel_deep), Precision::DoubleDouble) => self
                .deep_pixel
                .call::<Function>((
                    pixel_deep,
                    grid.x_origin.hi(),
                    grid.x_origin.lo(),
                    grid.y_origin.hi(),
                    grid.y_origin.lo(),
                ))
                .context("making the deep pixel function")?,
            _ => self.pixel.clone(),
        };
        let lattice = UnitLattice::of(&rect, grid, precision);
        let fast_message = match call_unit_driver(
            driver,
            &pixel,
            out,
            stride,
            (rect.width, rect.height),
            lattice,
        ) {
            Ok((true, _)) => return Ok(()),
            _ if (stop.is_stopped)() => return Err(RunFailure::Stopped),
            Ok((false, message)) => message.unwrap_or_default(),
            Err(mlua::Error::MemoryError(_)) => return Err(memory_limit()),
            Err(error) => first_line_of(&error),
        };
        if is_out_of_memory_message(&fast_message, None) {
            return Err(memory_limit());
        }
        // The fast loop failed somewhere in the unit: find the pixel, one protected call at
        // a time, so the user gets its position.
        let located = self
            .locate_error
            .call::<(Option<u32>, Option<String>, Option<String>, Option<u32>)>((
                &pixel,
                self.info.output == OutputMode::Rgb,
                rect.width,
                rect.height,
                lattice,
            ));
        if (stop.is_stopped)() {
            return Err(RunFailure::Stopped);
        }
        match located {
            Ok((Some(index), Some(kind), Some(message), stack_line)) => {
                if is_out_of_memory_message(&message, stack_line) {
                    return Err(memory_limit());
                }
                let column = rect.left + index % rect.width.max(1);
                let row = rect.top + index / rect.width.max(1);
                let (x, y) = grid.complex_from_pixel(column, row);
                let pixel = Some(PixelLocation { column, row, x, y });
                let (position_line, message) = split_kernel_position(&message);
                let line = position_line.or(stack_line);
                Err(if kind == "return" {
                    KernelError::WrongReturn {
                        line,
                        message,
                        pixel,
                    }
                } else {
                    KernelError::Runtime {
                        line,
                        message,
                        pixel,
                    }
                }
                .into())
            }
            Ok(_) => {
                let (line, message) = split_kernel_position(&fast_message);
                Err(KernelError::Runtime {
                    line,
                    message,
                    pixel: None,
                }
                .into())
            }
            Err(mlua::Error::MemoryError(_)) => Err(memory_limit()),
            Err(locate_failure) => Err(internal("locating a kernel error", &locate_failure)),
        }
    }
}

/// Runs bounded_library.lua in `lua` (whose globals still hold the full string, table and
/// debug libraries) and returns its table of replacement functions.
fn load_bounded_library(lua: &Lua) -> mlua::Result<Table> {
    let globals = lua.globals();
    let debug: Table = globals.get("debug")?;
    lua.load(BOUNDED_LIBRARY_LUA)
        .set_name(BOUNDED_LIBRARY_CHUNK)
        .call((
            globals.get::<Table>("string")?,
            globals.get::<Table>("table")?,
            debug.get::<Function>("getinfo")?,
        ))
}

/// The chunk name of bounded_library.lua (it finds its own frames by it).
const BOUNDED_LIBRARY_CHUNK: &str = "=library";

/// Test builds only: `moonbrot_test_stall(seconds)` sleeps in Rust, where no stop can
/// reach it, like a long library call the audit missed.
#[cfg(feature = "testing")]
fn add_test_stall(lua: &Lua, environment: &Table) -> mlua::Result<()> {
    let stall = lua.create_function(|_, seconds: f64| {
        std::thread::sleep(std::time::Duration::from_secs_f64(
            seconds.clamp(0.0, 3600.0),
        ));
        Ok(())
    })?;
    environment.raw_set("moonbrot_test_stall", stall)
}

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
/// decides speed. Measured on the seed kernel (320x320, 1 thread, native 5.4 ms): when the
/// driver's row loop got hot first (first rows full of pixels that escape at once), it
/// unrolled the kernel's loop for the few iterations it saw and every other pixel left the
/// trace: 15 ms. When the kernel's loop was traced first from inside the driver: 5.8 ms.
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
fn shape_traces(
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
                OutputMode::Escape => escape_work(Some(&returned)),
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

/// The parts of LuaJIT's `jit` library the engine keeps after `jit` is hidden from kernels.
struct JitControl {
    on: Function,
    off: Function,
    /// The table returned by trace_watch.lua.
    watch: Table,
}

/// LuaJIT's limit on unrolling a loop met while recording a trace (default 15).
const LOOP_UNROLL_OPTION: &str = "loopunroll=60";

fn load_jit_control(lua: &Lua, jit: &Table, debug: &Table) -> mlua::Result<JitControl> {
    // jit.util is preloaded by luaopen_jit but only reachable through `require`, which
    // moonbrot does not open: take its loader from the registry's _PRELOAD table.
    let registry: Table = debug.get::<Function>("getregistry")?.call(())?;
    let preload: Table = registry.get("_PRELOAD")?;
    let util: Table = preload.get::<Function>("jit.util")?.call("jit.util")?;
    // Kernels on the dd library call small helpers through metamethods; with LuaJIT's
    // default unroll limit (15) their traces aborted over and over until everything ran
    // in the interpreter (a Mandelbrot loop: 1400 ns per iteration instead of 34).
    jit.get::<Table>("opt")?
        .get::<Function>("start")?
        .call::<()>(LOOP_UNROLL_OPTION)?;
    let watch: Table = lua
        .load(TRACE_WATCH_LUA)
        .set_name("=trace_watch")
        .call((jit, util))?;
    Ok(JitControl {
        on: jit.get("on")?,
        off: jit.get("off")?,
        watch,
    })
}

/// Reads and checks `output`, `symmetry`, `max_iter` and `home` from the kernel's globals (raw reads:
/// a kernel may give its environment a metatable).
fn read_kernel_info(environment: &Table) -> Result<KernelInfo, RunFailure> {
    let read = |table: &Table, name: &str| -> Result<Value, RunFailure> {
        table.raw_get(name).context("reading a kernel setting")
    };
    let output = match read(environment, "output")? {
        Value::Nil => OutputMode::Escape,
        Value::String(text) if text.as_bytes() == b"rgb" => OutputMode::Rgb,
        Value::String(text) if text.as_bytes() == b"escape" => OutputMode::Escape,
        other => {
            return Err(KernelError::BadSetting {
                name: "output",
                message: format!(
                    "expected \"rgb\" (or nothing, for escape values), got {}",
                    describe_value(&other)
                ),
            }
            .into());
        }
    };
    let default_max_iter = match read(environment, "max_iter")? {
        Value::Nil => None,
        value => Some(max_iter_from(&value)?),
    };
    let home = match read(environment, "home")? {
        Value::Nil => None,
        Value::Table(home) => Some(view_from_home(&home, &read)?),
        other => {
            return Err(KernelError::BadSetting {
                name: "home",
                message: format!(
                    "expected a table {{ x = .., y = .., span = .. }}, got {}",
                    describe_value(&other)
                ),
            }
            .into());
        }
    };
    let symmetry = match read(environment, "symmetry")? {
        Value::Nil => Symmetry::None,
        Value::String(text) if text.as_bytes() == b"real_axis" => Symmetry::RealAxis,
        other => {
            return Err(KernelError::BadSetting {
                name: "symmetry",
                message: format!(
                    "expected \"real_axis\" (or nothing, for no symmetry), got {}",
                    describe_value(&other)
                ),
            }
            .into());
        }
    };
    Ok(KernelInfo {
        output,
        symmetry,
        default_max_iter,
        home,
        parameters: Vec::new(),
        deep: false,
    })
}

/// The parameters sandbox.lua recorded (already checked there, so a failure to read one is
/// moonbrot's bug, not the kernel's).
fn read_parameters(declared: &Table) -> Result<Vec<ParameterSpec>, RunFailure> {
    let mut specs = Vec::new();
    for entry in declared.clone().sequence_values::<Table>() {
        let entry = entry.context("reading a parameter declaration")?;
        let get_number = |key: &str| entry.raw_get::<f64>(key).context("reading a parameter");
        let name: String = entry.raw_get("name").context("reading a parameter")?;
        let kind_name: String = entry.raw_get("kind").context("reading a parameter")?;
        let (kind, default) = match kind_name.as_str() {
            "real" => (
                ParameterKind::Real {
                    min: get_number("min")?,
                    max: get_number("max")?,
                },
                ParameterValue::Real(get_number("default")?),
            ),
            "integer" => (
                ParameterKind::Integer {
                    min: get_number("min")? as i64,
                    max: get_number("max")? as i64,
                },
                ParameterValue::Integer(get_number("default")? as i64),
            ),
            "boolean" => (
                ParameterKind::Boolean,
                ParameterValue::Boolean(entry.raw_get("default").context("reading a parameter")?),
            ),
            "choice" => (
                ParameterKind::Choice {
                    options: entry.raw_get("options").context("reading a parameter")?,
                },
                ParameterValue::Choice(entry.raw_get("default").context("reading a parameter")?),
            ),
            _ => (
                ParameterKind::Complex,
                ParameterValue::Complex {
                    re: get_number("default_re")?,
                    im: get_number("default_im")?,
                },
            ),
        };
        specs.push(ParameterSpec {
            name,
            label: entry.raw_get("label").context("reading a parameter")?,
            kind,
            default,
        });
    }
    Ok(specs)
}

/// The most characters of a kernel's string value quoted in a message.
const MAX_SHOWN_CHARS: usize = 80;

fn describe_value(value: &Value) -> String {
    match value {
        Value::String(text) => {
            // Only the start of a huge string is converted.
            let bytes = text.as_bytes();
            let start = String::from_utf8_lossy(&bytes[..bytes.len().min(4 * MAX_SHOWN_CHARS)]);
            let shown = bounded_message(&start, MAX_SHOWN_CHARS);
            if bytes.len() > 4 * MAX_SHOWN_CHARS && !shown.ends_with("characters)") {
                format!("the string \"{shown}…\" ({} bytes)", bytes.len())
            } else {
                format!("the string \"{shown}\"")
            }
        }
        Value::Integer(number) => format!("the number {number}"),
        Value::Number(number) => format!("the number {}", format_number(*number)),
        other => format!("a {}", other.type_name()),
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(number) => Some(*number as f64),
        Value::Number(number) => Some(*number),
        _ => None,
    }
}

fn max_iter_from(value: &Value) -> Result<u32, RunFailure> {
    match as_number(value) {
        Some(number)
            if number.fract() == 0.0 && number >= 1.0 && number <= f64::from(MAX_MAX_ITER) =>
        {
            Ok(number as u32)
        }
        _ => Err(KernelError::BadSetting {
            name: "max_iter",
            message: format!(
                "expected a whole number from 1 to {MAX_MAX_ITER}, got {}",
                describe_value(value)
            ),
        }
        .into()),
    }
}

fn view_from_home(
    home: &Table,
    read: &dyn Fn(&Table, &str) -> Result<Value, RunFailure>,
) -> Result<View, RunFailure> {
    let mut numbers = [0.0; 3];
    for (number, name) in numbers.iter_mut().zip(["x", "y", "span"]) {
        let value = read(home, name)?;
        *number = as_number(&value).ok_or_else(|| KernelError::BadSetting {
            name: "home",
            message: format!(
                "home.{name} must be a number, got {}",
                describe_value(&value)
            ),
        })?;
    }
    let view = View::new(numbers[0], numbers[1], numbers[2]);
    view.validate().map_err(|error| KernelError::BadSetting {
        name: "home",
        message: error.to_string(),
    })?;
    Ok(view)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// Runs `script` in a state holding the C libraries as globals and the bounded library
    /// as `bounded`; returns what the script returns (a list of mismatches).
    fn differences(script: &str) -> Vec<String> {
        let lua = new_lua_state();
        let bounded = load_bounded_library(&lua).expect("library loads");
        lua.globals().set("bounded", bounded).expect("set");
        lua.load(script)
            .set_name("=test")
            .call(())
            .expect("script runs")
    }

    /// Compares every call's results and errors, C against Lua, for each case; the script
    /// fragment `CASES` defines them.
    const COMPARE: &str = r##"
        local mismatches = {}
        local function pack(...) return { n = select('#', ...), ... } end
        local function show(r)
          local parts = {}
          for i = 1, r.n do parts[i] = type(r[i]) == "string" and ("%q"):format(r[i]) or tostring(r[i]) end
          return table.concat(parts, ", ")
        end
        local function compare(name, ...)
          local c = pack(pcall(string[name] or table[name], ...))
          local lua = pack(pcall(bounded[name], ...))
          if show(c) ~= show(lua) then
            mismatches[#mismatches + 1] = name .. "(" .. show(pack(...)) .. "): C " .. show(c) .. " | Lua " .. show(lua)
          end
        end
        local function gmatch_all(s, p)
          local out = {}
          for a, b in string.gmatch(s, p) do out[#out + 1] = tostring(a) .. "/" .. tostring(b) end
          return table.concat(out, ",")
        end
        local function compare_gmatch(s, p)
          local c = pack(pcall(gmatch_all, s, p))
          local saved = string.gmatch
          string.gmatch = bounded.gmatch
          local lua = pack(pcall(gmatch_all, s, p))
          string.gmatch = saved
          if show(c) ~= show(lua) then
            mismatches[#mismatches + 1] = "gmatch(" .. s .. ", " .. p .. "): C " .. show(c) .. " | Lua " .. show(lua)
          end
        end
    "##;

    #[test]
    fn bounded_patterns_agree_with_luajit_on_chosen_cases() {
        let script = format!(
            "{COMPARE}{}",
            r##"
            local subjects = { "", "a", "hello world", "  x = 12.5e3, y = -4 ", "(a(b)c)(d", "aaa",
              "THE (quick) fox", "a\0b\0c", "key=value; other=thing", "[[x]]", "%d%%" }
            local patterns = { "", "a", "l+", "o", "(o)(r)", "()ll()", "^h", "d$", "%a+", "%d+%.?%d*",
              "[%w_]+", "[^%s=]+", "%b()", "%f[%w]%w+", "(a*(.)%w(%s*))", "(h)(e)(l)(l)(o)",
              "%s*(%S+)%s*", "[a-c]+", "[%]]", "a-b", "x?y?", ".-", "(.-)(.-)b", "%", "[a", "%b",
              "%fx", "(()", "%1", "(a)%1", "((a)", ")", "%g+", "%Z", "[^]]", "a\0c", "%c", "%x+", "%p",
              "%u%l*", "$", "^", "^$", "%z", "(%d+)=(%d+)", "[%a-z]", "[a-]", "[-a]", "((((((((((" }
            for _, s in ipairs(subjects) do
              for _, p in ipairs(patterns) do
                compare("find", s, p)
                compare("find", s, p, 3)
                compare("find", s, p, -2)
                compare("find", s, p, 1, true)
                compare("match", s, p)
                compare("match", s, p, 2)
                compare("gsub", s, p, "<%0>")
                compare("gsub", s, p, "%1-%2", 2)
                compare("gsub", s, p, { l = "L", hello = false, a = 3 })
                compare("gsub", s, p, function(a, b) return b end)
                compare("gsub", s, p, "%")
                compare_gmatch(s, p)
              end
            end
            -- arguments of every wrong kind, and numbers as strings
            compare("find", nil, "a") compare("find", "a") compare("find", 12345, 3)
            compare("find", "abc", "b", "2") compare("find", "abc", "b", "x") compare("find", "abc", "b", 1e10)
            compare("match", {}, "a") compare("gsub", "abc", "b") compare("gsub", "abc", "b", true)
            compare("gsub", "abc", "b", "x", "y") compare("gsub", "abc", "b", function() return {} end)
            compare("gsub", "abc", "(b)", "%2") compare("gsub", 12.5, "%.", "!")
            compare("sort", nil) compare("sort", {}, 3) compare("insert", {}) compare("insert", nil, 1)
            compare("insert", {}, 1, 2, 3) compare("insert", {}, "x", 1)
            return mismatches
            "##
        );
        let mismatches = differences(&script);
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn bounded_patterns_agree_with_luajit_on_random_cases() {
        let script = format!(
            "{COMPARE}{}",
            r##"
            math.randomseed(20261123)
            local letters = { "a", "b", "(", ")", " ", "1" }
            local items = { "a", "b", ".", "%a", "%d", "%s", "[ab]", "[^a]", "(", ")", "()", "%1",
              "%b()", "%f[%a]", "^", "$", "*", "+", "-", "?", "%", "[" }
            local function random_text(pool, max)
              local parts = {}
              for i = 1, math.random(0, max) do parts[i] = pool[math.random(#pool)] end
              return table.concat(parts)
            end
            for _ = 1, 20000 do
              local s, p = random_text(letters, 10), random_text(items, 6)
              compare("find", s, p)
              compare("match", s, p, math.random(-3, 4))
              compare("gsub", s, p, "[%0]", math.random(0, 3))
              compare_gmatch(s, p)
            end
            return mismatches
            "##
        );
        let mismatches = differences(&script);
        assert!(
            mismatches.is_empty(),
            "{} mismatches, first: {}",
            mismatches.len(),
            mismatches[..mismatches.len().min(20)].join("\n")
        );
    }

    #[test]
    fn bounded_sort_and_insert_agree_with_luajit() {
        let script = format!(
            "{COMPARE}{}",
            r##"
            math.randomseed(7)
            local function copy(t) local c = {} for i = 1, #t do c[i] = t[i] end return c end
            local function same(a, b) if #a ~= #b then return false end
              for i = 1, #a do if a[i] ~= b[i] then return false end end return true end
            local comparators = {
              false,
              function(a, b) return a > b end,
              function(a, b) return a % 7 < b % 7 end,     -- many equal keys
              function(a, b) return math.random() < 0.5 end, -- inconsistent
              function(a, b) return true end,               -- invalid
            }
            for round = 1, 400 do
              local t = {}
              for i = 1, math.random(0, 60) do t[i] = math.random(1, 30) end
              local which = comparators[math.random(#comparators)]
              local seed = math.random(1, 1e6)
              local a, b = copy(t), copy(t)
              math.randomseed(seed)
              local ok_c, err_c = pcall(table.sort, a, which or nil)
              math.randomseed(seed)
              local ok_l, err_l = pcall(bounded.sort, b, which or nil)
              if ok_c ~= ok_l or tostring(err_c) ~= tostring(err_l) or not same(a, b) then
                mismatches[#mismatches + 1] = "sort round " .. round .. ": " .. tostring(err_c) .. " | " .. tostring(err_l)
              end
            end
            local ok_c, err_c = pcall(table.sort, { 3, "x", 1 })
            local ok_l, err_l = pcall(bounded.sort, { 3, "x", 1 })
            if err_c ~= err_l then mismatches[#mismatches + 1] = "mixed: " .. err_c .. " | " .. err_l end
            for _, position in ipairs({ 1, 2, 5, 0, -3, 2.7, "3" }) do
              local a, b = { 1, 2, 3, 4 }, { 1, 2, 3, 4 }
              table.insert(a, position, "v")
              bounded.insert(b, position, "v")
              for k, v in pairs(a) do if b[k] ~= v then mismatches[#mismatches + 1] = "insert " .. position end end
            end
            -- long shifts take the Lua path and give the same table
            local a, b = {}, {}
            for i = 1, 250000 do a[i] = i b[i] = i end
            table.insert(a, 3, "v") bounded.insert(b, 3, "v")
            if not same(a, b) then mismatches[#mismatches + 1] = "long insert" end
            return mismatches
            "##
        );
        let mismatches = differences(&script);
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn long_plain_finds_take_the_linear_path_and_agree() {
        let mismatches = differences(&format!(
            "{COMPARE}{}",
            r##"
            local hay = string.rep("ab", 200000) .. "abc" .. string.rep("ab", 1000)
            for _, needle in ipairs({ string.rep("ab", 5000) .. "c", "abc", string.rep("ab", 3000) .. "x", "" }) do
              for _, init in ipairs({ 1, 7, -50, 400000 }) do
                compare("find", hay, needle, init, true)
                compare("find", hay, needle, init)
              end
            end
            return mismatches
            "##
        ));
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    /// `x` exactly, as an integer times 2^-1200 (every finite double is a whole multiple
    /// of 2^-1074).
    fn exact(x: f64) -> num_bigint::BigInt {
        use num_bigint::BigInt;
        if x == 0.0 {
            return BigInt::from(0);
        }
        let bits = x.to_bits();
        let exponent_bits = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1_u64 << 52) - 1);
        let (mantissa, exponent) = if exponent_bits == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1_u64 << 52), exponent_bits - 1075)
        };
        let magnitude = BigInt::from(mantissa) << usize::try_from(exponent + 1200).expect("small");
        if x < 0.0 { -magnitude } else { magnitude }
    }

    /// True when `got` (hi, lo) is within 2^-102 of `exact_scaled` (scaled by 2^-`scale`)
    /// relative to it.
    fn close(got: (f64, f64), exact_scaled: &num_bigint::BigInt, scale: usize) -> bool {
        let got_scaled = (exact(got.0) + exact(got.1)) << (scale - 1200);
        let error = (got_scaled - exact_scaled).magnitude().clone();
        (error << 102_usize) <= *exact_scaled.magnitude()
    }

    #[test]
    fn the_dd_library_adds_and_multiplies_to_within_2_to_the_minus_102() {
        let lua = new_lua_state();
        let dd: Table = lua
            .load(DOUBLE_DOUBLE_LUA)
            .call(())
            .expect("the library loads");
        let new: Function = dd.get("new").expect("new");
        let call = |name: &str, a: (f64, f64), b: (f64, f64)| -> (f64, f64) {
            let a: Table = new.call(a).expect("a");
            let b: Table = new.call(b).expect("b");
            let result: Table = dd
                .get::<Function>(name)
                .expect("the operation")
                .call((a, b))
                .expect("it runs");
            (result.get("hi").expect("hi"), result.get("lo").expect("lo"))
        };
        // A fixed pseudo-random sequence: values of all signs and magnitudes 2^-40..2^3,
        // each with a low part.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1_u64 << 53) as f64 - 0.5
        };
        let mut checked = 0;
        for _ in 0..2000 {
            let mut value = || {
                let hi = next() * 16.0 * 2_f64.powi((next() * 80.0) as i32 - 40);
                (hi, hi * next() * 2_f64.powi(-53))
            };
            let (a, b) = (value(), value());
            let (ea, eb) = (exact(a.0) + exact(a.1), exact(b.0) + exact(b.1));
            let sum = &ea + &eb;
            if sum.magnitude().bits() > 0 {
                assert!(close(call("add", a, b), &sum, 1200), "add {a:?} {b:?}");
            }
            let difference = &ea - &eb;
            if difference.magnitude().bits() > 0 {
                assert!(
                    close(call("sub", a, b), &difference, 1200),
                    "sub {a:?} {b:?}"
                );
            }
            assert!(
                close(call("mul", a, b), &(&ea * &eb), 2400),
                "mul {a:?} {b:?}"
            );
            assert!(close(call("sqr", a, a), &(&ea * &ea), 2400), "sqr {a:?}");
            // A plain number as the second operand.
            let number: Table = new.call(a).expect("a");
            let by_number: Table = dd
                .get::<Function>("mul")
                .expect("mul")
                .call((number, b.0))
                .expect("runs");
            let got = (
                by_number.get("hi").expect("hi"),
                by_number.get("lo").expect("lo"),
            );
            assert!(close(got, &(&ea * exact(b.0)), 2400), "mul by {}", b.0);
            checked += 1;
        }
        assert_eq!(checked, 2000);
    }

    #[test]
    fn dd_values_have_operators_comparisons_and_clear_errors() {
        let lua = new_lua_state();
        let dd: Table = lua
            .load(DOUBLE_DOUBLE_LUA)
            .call(())
            .expect("the library loads");
        lua.globals().set("dd", dd).expect("set");
        let results: (bool, bool, bool, f64, f64, String, String) = lua
            .load(
                r#"
                local third = dd.new(1) * dd.new(1 / 3)            -- not exactly 1/3 * 1
                local a, b = dd.new(1, 1e-20), dd.new(1)
                local z = (a - b) * 1e20                            -- the low part survives
                local ok, message = pcall(dd.add, a, "x")
                return a > b, b < a, -a == dd.new(-1, -1e-20), z:tonumber(),
                       dd.compare(a, 1), tostring(b), message
                "#,
            )
            .call(())
            .expect("runs");
        assert!(results.0 && results.1 && results.2);
        assert!((results.3 - 1.0).abs() < 1e-12, "{}", results.3);
        assert_eq!(results.4, 1.0);
        assert_eq!(results.5, "dd(1, 0)");
        assert!(
            results.6.contains("expects numbers or dd values"),
            "{}",
            results.6
        );
    }
}
