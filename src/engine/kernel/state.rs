//! The sandboxed Lua state a kernel runs in: a fresh state with a memory limit, the
//! kernel's environment built from a whitelist (runtime/sandbox.lua), the trusted driver
//! (runtime/driver.lua) holding `ffi` and `debug.getinfo` in its locals, the stoppable
//! library (runtime/bounded_library.lua) and `dd` (runtime/double_double.lua), and `ffi`,
//! `debug` and `jit` hidden from kernels. Also where a kernel's `print` goes (`KernelLog`)
//! and how a failed call is reported (`RunFailure`).
//!
//! A fresh state per source means nothing one kernel does survives into the next.

use super::contract::split_kernel_position;
use super::formula::{DEFAULT_BAILOUT, Formula, complex_from, ops_from_tape};
use super::lua_unsafe::new_lua_state;
use super::sandbox::StopContext;
use crate::engine::error::{KernelError, MAX_MESSAGE_CHARS, bounded_message};
use mlua::{Function, IntoLuaMulti, Lua, LuaString, Table, Value};
use std::cell::OnceCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const SANDBOX_LUA: &str = include_str!("runtime/sandbox.lua");

const DRIVER_LUA: &str = include_str!("runtime/driver.lua");

const TRACE_WATCH_LUA: &str = include_str!("runtime/trace_watch.lua");

const BOUNDED_LIBRARY_LUA: &str = include_str!("runtime/bounded_library.lua");

pub(super) const FORMULA_LUA: &str = include_str!("runtime/formula.lua");
pub(super) const DOUBLE_DOUBLE_LUA: &str = include_str!("runtime/double_double.lua");

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

pub(super) fn internal(context: &str, error: &mlua::Error) -> RunFailure {
    RunFailure::Internal(bounded_message(
        &format!("{context}: {error}"),
        MAX_MESSAGE_CHARS,
    ))
}

/// `.context("doing what")` on mlua results: a failure there is a bug in moonbrot's own Lua
/// code or its use of mlua, never the kernel's fault.
pub(super) trait InternalContext<T> {
    fn context(self, doing: &str) -> Result<T, RunFailure>;
}

impl<T> InternalContext<T> for mlua::Result<T> {
    fn context(self, doing: &str) -> Result<T, RunFailure> {
        self.map_err(|error| internal(doing, &error))
    }
}

/// The kernel hit its memory limit.
pub(super) fn memory_limit_failure(limit_bytes: usize) -> RunFailure {
    RunFailure::Kernel(KernelError::MemoryLimit { limit_bytes })
}

/// True when a message caught inside Lua (by the driver's pcall) is LuaJIT's allocation
/// failure: its own message, with no kernel line (a kernel's `error("not enough memory")`
/// has one).
pub(super) fn is_out_of_memory_message(message: &str, line: Option<u32>) -> bool {
    line.is_none() && message == OUT_OF_MEMORY_MESSAGE
}

/// The first line of a Lua error's message, without mlua's traceback.
pub(super) fn first_line_of(error: &mlua::Error) -> String {
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

/// A fresh Lua state with the sandbox, the driver and the JIT control loaded, and the
/// trusted libraries (ffi, debug, jit) hidden from kernels: everything but the kernel.
pub(super) struct SandboxedState {
    pub(super) lua: Lua,
    /// The kernel's globals.
    pub(super) environment: Table,
    /// The parameters the kernel declared (sandbox.lua's private list).
    pub(super) declared_parameters: Table,
    /// The formula the kernel declared, if any (sandbox.lua's private table: `step`,
    /// `julia`, `start`, `bailout`).
    pub(super) declared_formula: Table,
    /// formula.lua's functions: recording a step and writing its Lua.
    pub(super) formula: Table,
    /// The `param` table, taken before the kernel could replace the global.
    pub(super) parameter_values: Table,
    /// driver.lua's functions.
    driver: Table,
    /// trace_watch.lua's control of the JIT.
    pub(super) jit: JitControl,
}

/// Records a kernel's declared formula (the recording runs in its own state: the step is
/// the kernel's code).
#[derive(Clone)]
pub(super) struct FormulaRecorder {
    lua: Lua,
    environment: Table,
    declared_formula: Table,
    formula: Table,
}

/// The pixels written from a recorded formula besides the perturbation pixel: the
/// derivative pixels (formula.lua's `derivative_pixel_source` and
/// `derivative_perturbation_source`), for colourings that need distance or slope, and the
/// interleaved f64 pixels (`interleaved_source`), for views where they are faster than the
/// kernel's `pixel`. Each is written and compiled when first asked for (a few milliseconds,
/// which a kernel recorded again for every parameter change should not pay).
pub(super) struct DerivedPixels {
    lua: Lua,
    formula_module: Table,
    tape: Table,
    result: Value,
    julia: bool,
    degree: u32,
    bailout: f64,
    start: (f64, f64),
    f64_pixel: OnceCell<Function>,
    perturbation_pixel: OnceCell<Function>,
    interleaved_pixel: OnceCell<(Function, Function)>,
}

impl DerivedPixels {
    /// `(max_iter, pixel_size, jr, ji, kernel_pixel) -> pixel(x, y)`, in f64.
    pub(super) fn f64_pixel(&self) -> Result<&Function, RunFailure> {
        if let Some(made) = self.f64_pixel.get() {
            return Ok(made);
        }
        let made = self.compile(
            "derivative_pixel_source",
            "=derivatives",
            (self.start.0, self.start.1),
        )?;
        Ok(self.f64_pixel.get_or_init(|| made))
    }

    /// `(pixel_step, pixel_exponent) -> factory`, a perturbation pixel factory as
    /// `pixel_source`'s, for pixels pixel_step times 2^pixel_exponent wide.
    pub(super) fn perturbation_pixel(&self) -> Result<&Function, RunFailure> {
        if let Some(made) = self.perturbation_pixel.get() {
            return Ok(made);
        }
        let made = self.compile(
            "derivative_perturbation_source",
            "=perturbation with derivatives",
            (super::bla::ENTRY_LEN, super::bla::SCALED_ENTRY_LEN),
        )?;
        Ok(self.perturbation_pixel.get_or_init(|| made))
    }

    /// The interleaved f64 pixel (formula.lua's `interleaved_source`, made by the driver's
    /// `make`: its `interleaved_pixel`) and its `configure(max_iter, jr, ji)`: made once,
    /// so that LuaJIT's traces through it serve every unit.
    pub(super) fn interleaved_pixel(
        &self,
        make: &Function,
    ) -> Result<(&Function, &Function), RunFailure> {
        if let Some((pixel, configure)) = self.interleaved_pixel.get() {
            return Ok((pixel, configure));
        }
        let factory = self.compile(
            "interleaved_source",
            "=interleaved pixels",
            (self.start.0, self.start.1),
        )?;
        let state_doubles: usize = self
            .formula_module
            .get::<Function>("interleaved_state_doubles")
            .and_then(|doubles| doubles.call(()))
            .context("sizing the interleaved pixels' state")?;
        let made: (Function, Function) = make
            .call((factory, state_doubles))
            .context("making the interleaved pixels")?;
        let (pixel, configure) = self.interleaved_pixel.get_or_init(|| made);
        Ok((pixel, configure))
    }

    /// formula.lua's `writer`'s source for the tape (its last two arguments `extra`),
    /// compiled in the trusted globals (its code is the engine's, written from the tape).
    fn compile(
        &self,
        writer: &str,
        chunk_name: &str,
        extra: impl IntoLuaMulti,
    ) -> Result<Function, RunFailure> {
        let mut arguments = (
            &self.tape,
            self.result.clone(),
            self.julia,
            self.degree,
            self.bailout,
        )
            .into_lua_multi(&self.lua)
            .context("passing the formula")?;
        arguments.extend(
            extra
                .into_lua_multi(&self.lua)
                .context("passing the formula")?,
        );
        let source: String = self
            .formula_module
            .get::<Function>(writer)
            .context("finding the derivative pixel's writer")?
            .call(arguments)
            .context("writing the derivative pixel")?;
        self.lua
            .load(source)
            .set_name(chunk_name)
            .eval::<Function>()
            .context("compiling the derivative pixel")
    }
}

impl FormulaRecorder {
    /// Records the step of the formula the kernel declared, if any (stoppable: the step is
    /// the kernel's code), with the parameter values the `param` table holds now (a step
    /// that reads one takes it as a constant), and reads it back with the declaration's
    /// other fields, with the perturbation pixel factory written from it (`formula.lua`'s
    /// `pixel_source`) and what writes the derivative pixels when first asked for
    /// (`DerivedPixels`). A step that does what a formula may not, or fails, is the
    /// kernel's error, at its line.
    pub(super) fn record(
        &self,
        memory_limit_bytes: usize,
        stop: &StopContext<'_>,
    ) -> Result<Option<(Formula, Function, DerivedPixels)>, RunFailure> {
        let step: Option<Function> = self
            .declared_formula
            .raw_get("step")
            .context("reading the formula's step")?;
        let Some(step) = step else {
            return Ok(None);
        };
        let record: Function = self.formula.get("record").context("finding record")?;
        let recorded = {
            let Some(_armed) = stop.switch.arm(&self.lua, stop.job_id, stop.is_stopped) else {
                return Err(RunFailure::Stopped);
            };
            record.call::<(Option<Table>, Value, Value)>((step, &self.environment))
        };
        let (tape, result, reads_parameters) = match recorded {
            Ok((Some(tape), result, reads)) => {
                (tape, result, matches!(reads, Value::Boolean(true)))
            }
            _ if (stop.is_stopped)() => return Err(RunFailure::Stopped),
            Ok((None, problem, line)) => {
                let line = match line {
                    Value::Integer(line) => u32::try_from(line).ok(),
                    _ => None,
                };
                let message = match &problem {
                    Value::Table(refusal) => refusal
                        .raw_get::<String>("message")
                        .unwrap_or_else(|_| "the step was refused".to_owned()),
                    // formula.lua turns every error into a refusal.
                    other => format!("the step raised a {}", other.type_name()),
                };
                if is_out_of_memory_message(&message, line) {
                    return Err(memory_limit_failure(memory_limit_bytes));
                }
                let (position_line, message) = split_kernel_position(&message);
                return Err(KernelError::Formula {
                    line: position_line.or(line),
                    message: bounded_message(&message, MAX_MESSAGE_CHARS),
                }
                .into());
            }
            Err(mlua::Error::MemoryError(_)) => {
                return Err(memory_limit_failure(memory_limit_bytes));
            }
            Err(error) => return Err(internal("recording the formula", &error)),
        };
        let ops = ops_from_tape(&tape, &result)?;
        let julia: Option<String> = self
            .declared_formula
            .raw_get("julia")
            .context("reading the formula's julia")?;
        let start = complex_from(
            &self
                .declared_formula
                .raw_get::<Value>("start")
                .context("reading the formula's start")?,
        )
        .unwrap_or((0.0, 0.0));
        let bailout: Option<f64> = self
            .declared_formula
            .raw_get("bailout")
            .context("reading the formula's bailout")?;
        let formula = Formula {
            ops,
            julia,
            start,
            bailout: bailout.unwrap_or(DEFAULT_BAILOUT),
            reads_parameters,
        };
        // The pixel function factory for rendering by perturbation, compiled here in the
        // trusted globals (its code is the engine's, written from the tape).
        let source: String = self
            .formula
            .get::<Function>("pixel_source")
            .context("finding pixel_source")?
            .call((
                &tape,
                result.clone(),
                formula.julia.is_some(),
                formula.degree(),
                formula.bailout,
                super::bla::ENTRY_LEN,
                super::bla::SCALED_ENTRY_LEN,
            ))
            .context("writing the perturbation pixel")?;
        let factory = self
            .lua
            .load(source)
            .set_name("=perturbation")
            .eval::<Function>()
            .context("compiling the perturbation pixel")?;
        let derivatives = DerivedPixels {
            lua: self.lua.clone(),
            formula_module: self.formula.clone(),
            tape,
            result,
            julia: formula.julia.is_some(),
            degree: formula.degree(),
            bailout: formula.bailout,
            start: formula.start,
            f64_pixel: OnceCell::new(),
            perturbation_pixel: OnceCell::new(),
            interleaved_pixel: OnceCell::new(),
        };
        Ok(Some((formula, factory, derivatives)))
    }
}

impl SandboxedState {
    pub(super) fn new(memory_limit_bytes: usize, log: &Arc<KernelLog>) -> Result<Self, RunFailure> {
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
        let (environment, declared_parameters, declared_formula): (Table, Table, Table) = lua
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
            .call((ffi, getinfo.clone(), double_double.clone()))
            .context("running driver.lua")?;
        let formula: Table = lua
            .load(FORMULA_LUA)
            .set_name("=formula")
            .call(getinfo)
            .context("loading formula.lua")?;
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
            declared_formula,
            formula,
            parameter_values,
            driver,
            jit,
        })
    }

    pub(super) fn driver_function(&self, name: &str) -> Result<Function, RunFailure> {
        self.driver.get(name).context("finding a driver function")
    }

    /// What records the kernel's formula, now and again with other parameter values.
    pub(super) fn formula_recorder(&self) -> FormulaRecorder {
        FormulaRecorder {
            lua: self.lua.clone(),
            environment: self.environment.clone(),
            declared_formula: self.declared_formula.clone(),
            formula: self.formula.clone(),
        }
    }

    /// Runs the kernel's top level (its settings, locals and `pixel`), stoppable.
    pub(super) fn run_top_level(
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

/// Runs bounded_library.lua in `lua` (whose globals still hold the full string, table and
/// debug libraries) and returns its table of replacement functions.
pub(super) fn load_bounded_library(lua: &Lua) -> mlua::Result<Table> {
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

/// The parts of LuaJIT's `jit` library the engine keeps after `jit` is hidden from kernels.
pub(super) struct JitControl {
    pub(super) on: Function,
    pub(super) off: Function,
    /// The table returned by trace_watch.lua.
    pub(super) watch: Table,
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
