//! One kernel compiled into its own sandboxed Lua state (`LuaKernel`): compiling it (the
//! state, the kernel's top level, its declarations, trace shaping), configuring a run
//! (max_iter, parameter values) and rendering units through the driver, with a failing
//! unit's pixel, point and line found again one pixel at a time. A worker thread keeps one
//! `LuaKernel` while the source stays the same.

use super::contract::{DERIVATIVE_CHANNELS, KernelInfo, OutputMode, split_kernel_position};
use super::declarations::{describe_value, read_kernel_info, read_parameters};
use super::lua_unsafe::{StopSwitch, call_unit_driver, perturbation_pixel_function};
use super::parameters::{ParameterValue, ParameterValues, resolve_leniently};
use super::reference::PerturbationReference;
use super::state::{
    DerivedPixels, FormulaRecorder, InternalContext, KernelLog, RunFailure, SandboxedState,
    first_line_of, internal, is_out_of_memory_message, memory_limit_failure,
};
use super::trace_shaping::shape_traces;
use crate::engine::error::{KernelError, PixelLocation};
use crate::engine::geometry::{PixelGrid, Precision, UnitLattice, UnitRect};
use mlua::chunk::ChunkMode;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

/// A unit's lattice goes to the driver as its six numbers.
impl IntoLuaMulti for UnitLattice {
    fn into_lua_multi(self, lua: &Lua) -> mlua::Result<MultiValue> {
        let [x_origin, x_step, column_index, y_origin, y_step, row_index] = self.driver_arguments();
        (x_origin, x_step, column_index, y_origin, y_step, row_index).into_lua_multi(lua)
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
    pub(super) environment: Table,
    pub(super) pixel: Function,
    /// The kernel's optional deep entry point, `pixel_deep(x, y)` on double-doubles.
    pixel_deep: Option<Function>,
    /// driver.lua's `deep_pixel`, which wraps `pixel_deep` for one unit's origin.
    deep_pixel: Function,
    /// Makes a perturbation pixel function from the formula's factory (formula.lua's
    /// `pixel_source`, compiled) and a unit's reference; the factory exists when the kernel
    /// declares a formula it can render from (at the parameter values set last).
    perturbation: Option<(Function, Function)>,
    /// The derivative pixels written from the formula, and the four-value loop they run
    /// in.
    derived_pixels: Option<DerivedPixels>,
    derivative_unit: Function,
    /// driver.lua's `perturbation_pixel`.
    make_perturbation_pixel: Function,
    /// driver.lua's `interleaved_pixel`.
    make_interleaved_pixel: Function,
    /// Records the formula again when parameter values its step reads change, and the
    /// values it was last recorded with (None when its step reads none).
    formula_recorder: Option<(FormulaRecorder, Vec<(String, ParameterValue)>)>,
    pub(super) render_unit: Function,
    /// driver.lua's solid-guessing loop (escape kernels only).
    render_guessed_unit: Option<Function>,
    locate_error: Function,
    pub(super) sample_pixel: Function,
    pub(super) info: KernelInfo,
    /// The `param` table the kernel reads parameter values from.
    parameter_values: Table,
    source: Arc<str>,
    memory_limit_bytes: usize,
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
        let recorder = state.formula_recorder();
        let (formula, perturbation_factory, derived_pixels) = recorder
            .record(memory_limit_bytes, stop)?
            .map_or((None, None, None), |(formula, factory, derivatives)| {
                (Some(formula), Some(factory), Some(derivatives))
            });
        // Recorded with the parameters' defaults; `configure` records it again for others.
        let formula_recorder = formula
            .as_ref()
            .filter(|formula| formula.reads_parameters)
            .map(|_| {
                let defaults = resolve_leniently(&info.parameters, &ParameterValues::default());
                (recorder, defaults)
            });
        info.formula = formula;
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
        // Solid guessing compares and fills one value per pixel: kernels with several are
        // computed in full.
        let render_guessed_unit = match info.output {
            OutputMode::ESCAPE => Some(state.driver_function("render_guessed_unit")?),
            _ => None,
        };
        let render_unit = match info.output {
            OutputMode::ESCAPE => state.driver_function("render_escape_unit")?,
            OutputMode::Escape { channels } => state
                .driver_function("values_unit")?
                .call::<Function>(channels)
                .context("making the values loop")?,
            OutputMode::Rgb => state.driver_function("render_rgb_unit")?,
        };
        let make_perturbation_pixel = state.driver_function("perturbation_pixel")?;
        let kernel = Self {
            locate_error: state.driver_function("locate_error")?,
            deep_pixel: state.driver_function("deep_pixel")?,
            derived_pixels,
            derivative_unit: state
                .driver_function("values_unit")?
                .call::<Function>(DERIVATIVE_CHANNELS.len())
                .context("making the derivatives' loop")?,
            perturbation: perturbation_factory
                .map(|factory| (make_perturbation_pixel.clone(), factory)),
            make_perturbation_pixel,
            make_interleaved_pixel: state.driver_function("interleaved_pixel")?,
            formula_recorder,
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
    /// checked against its declarations), and records the formula again when its step
    /// reads parameter values that changed (stoppable: the step is the kernel's code). At
    /// values its step cannot be followed with (a fractional power) the kernel has no
    /// formula, so it does not render by perturbation there.
    pub(crate) fn configure(
        &mut self,
        max_iter: u32,
        parameters: &[(String, ParameterValue)],
        stop: &StopContext<'_>,
    ) -> Result<(), RunFailure> {
        self.set_values(max_iter, parameters)?;
        let Some((recorder, recorded_with)) = &mut self.formula_recorder else {
            return Ok(());
        };
        if recorded_with == parameters {
            return Ok(());
        }
        let recorded = match recorder.record(self.memory_limit_bytes, stop) {
            Ok(recorded) => recorded,
            Err(RunFailure::Kernel(KernelError::Formula { .. })) => None,
            Err(failure) => return Err(failure),
        };
        *recorded_with = parameters.to_vec();
        let (formula, factory, derivatives) = match recorded {
            Some((formula, factory, derivatives)) => {
                (Some(formula), Some(factory), Some(derivatives))
            }
            None => (None, None, None),
        };
        self.info.formula = formula;
        self.perturbation = factory.map(|factory| (self.make_perturbation_pixel.clone(), factory));
        self.derived_pixels = derivatives;
        Ok(())
    }

    /// The derivative pixel for `grid`'s pixel size, at the `max_iter` set, for a Julia
    /// set with its c from the parameter the formula names; it asks the kernel's `pixel`
    /// whether a slow orbit is inside.
    fn derivative_pixel(&self, grid: &PixelGrid) -> Result<Function, RunFailure> {
        let (factories, max_iter, julia_c) = self.derived_pixel_inputs("derivatives")?;
        let pixel_size = grid.x_step.abs().max(f64::MIN_POSITIVE);
        factories
            .f64_pixel()?
            .call::<Function>((
                max_iter,
                pixel_size,
                julia_c.0,
                julia_c.1,
                self.pixel.clone(),
            ))
            .context("making the derivative pixel")
    }

    /// The interleaved f64 pixel (several pixels of a span iterated at once, see
    /// formula.lua's `interleaved_source`), at the `max_iter` set.
    fn interleaved_pixel(&self) -> Result<Function, RunFailure> {
        let (factories, max_iter, julia_c) = self.derived_pixel_inputs("interleaved pixels")?;
        let (pixel, configure) = factories.interleaved_pixel(&self.make_interleaved_pixel)?;
        configure
            .call::<()>((max_iter, julia_c.0, julia_c.1))
            .context("configuring the interleaved pixel")?;
        Ok(pixel.clone())
    }

    /// What a pixel written from the formula is made with: the formula's pixels, the
    /// `max_iter` set and a Julia set's c (from the parameter the formula names; 0 for
    /// other formulas).
    fn derived_pixel_inputs(
        &self,
        what: &str,
    ) -> Result<(&DerivedPixels, f64, (f64, f64)), RunFailure> {
        let (Some(factories), Some(formula)) = (&self.derived_pixels, &self.info.formula) else {
            return Err(RunFailure::Internal(format!("{what} without a formula")));
        };
        let max_iter: f64 = self
            .environment
            .raw_get("max_iter")
            .context("reading max_iter")?;
        let julia_c = match &formula.julia {
            Some(name) => match self
                .parameter_values
                .raw_get::<Value>(name.as_str())
                .context("reading the Julia parameter")?
            {
                Value::Table(point) => (
                    point.raw_get::<f64>("re").context("reading c")?,
                    point.raw_get::<f64>("im").context("reading c")?,
                ),
                _ => (0.0, 0.0),
            },
            None => (0.0, 0.0),
        };
        Ok((factories, max_iter, julia_c))
    }

    fn set_values(
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
    /// kernel has one), from the formula's derivative pixel with `derivatives`, and from
    /// its interleaved pixels when `interleaved` (in f64). `out` starts at the rect's first
    /// pixel; its rows are `stride` floats apart.
    pub(crate) fn render_unit(
        &self,
        rect: UnitRect,
        grid: &PixelGrid,
        (out, stride): (&[AtomicU32], usize),
        (guess, precision, derivatives, interleaved): (bool, Precision, bool, bool),
        reference: Option<&PerturbationReference>,
        stop: &StopContext<'_>,
    ) -> Result<(), RunFailure> {
        let Some(_armed) = stop.switch.arm(&self.lua, stop.job_id, stop.is_stopped) else {
            return Err(RunFailure::Stopped);
        };
        let memory_limit = || memory_limit_failure(self.memory_limit_bytes);
        let driver = match (&self.render_guessed_unit, guess) {
            _ if derivatives => &self.derivative_unit,
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
            (_, Precision::Perturbation) => {
                let (Some((make_pixel, factory)), Some(reference)) =
                    (&self.perturbation, reference)
                else {
                    return Err(RunFailure::Internal(
                        "perturbation without a formula or a reference".to_owned(),
                    ));
                };
                let critical = reference.critical.as_deref().unwrap_or(&reference.orbit);
                let critical_skips = reference.critical_bla.as_deref().unwrap_or(&reference.bla);
                // The lattice's origin from the reference point (exact, then double-double,
                // in the grid's units): the loops give each pixel's offset from the origin.
                let offset = (
                    reference.origin_offset.0,
                    reference.origin_offset.1,
                    reference.scale_exponent,
                );
                // With derivatives, the factory for this grid's pixel width (its step
                // times 2^-scale_exponent, as the grid keeps it).
                let factory = match (&self.derived_pixels, derivatives) {
                    (Some(factories), true) => &factories
                        .perturbation_pixel()?
                        .call::<Function>((grid.x_step.abs(), -grid.scale_exponent))
                        .context("making the perturbation pixel with derivatives")?,
                    _ => factory,
                };
                perturbation_pixel_function(
                    make_pixel,
                    factory,
                    (
                        &reference.orbit,
                        &reference.bla.table,
                        &reference.bla.series,
                    ),
                    (critical, &critical_skips.table),
                    reference.c,
                    offset,
                    reference.max_iter,
                )
                .context("making the perturbation pixel function")?
            }
            (_, Precision::Double) if derivatives => self.derivative_pixel(grid)?,
            (_, Precision::Double) if interleaved => self.interleaved_pixel()?,
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
                self.info.output.channels(),
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
