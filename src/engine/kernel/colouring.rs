//! A colouring written in Lua, compiled into its own sandboxed state (`LuaColouring`): the
//! source defines `colour(v1, v2, ...)`, which gets a pixel's stored values and returns r,
//! g, b in 0..1; `colour_inside = true` at its top level passes inside pixels too (with
//! nil as their first value), else they get the palette's inside colour. It sees the
//! kernels' sandbox (the same whitelist, memory limit and stop) plus `gradient(t)`, the
//! palette's gradient. The driver's loop runs it over a slice of pixels; a failure names
//! the pixel it happened at.

use std::sync::Arc;

use mlua::chunk::ChunkMode;
use mlua::{Function, LightUserData, Value};

use super::contract::split_kernel_position;
use super::sandbox::StopContext;
use super::state::{
    InternalContext, KernelLog, RunFailure, SandboxedState, first_line_of, internal,
    is_out_of_memory_message, memory_limit_failure,
};
use crate::engine::error::KernelError;

/// A compiled colouring, ready to colour slices of pixels on the thread that holds it.
pub(crate) struct LuaColouring {
    lua: mlua::Lua,
    colour: Function,
    render: Function,
    /// Whether inside pixels are passed to `colour` (`colour_inside = true`).
    pub(crate) with_inside: bool,
    memory_limit_bytes: usize,
    /// The gradient table `gradient(t)` reads, kept alive as long as the state.
    _gradient_table: Arc<[f32]>,
}

/// Why colouring a slice failed.
#[derive(Debug)]
pub(crate) enum ColouringFailure {
    /// The colouring's code failed at the pixel with this index in the slice (None when
    /// it failed before the first pixel).
    Lua {
        /// What went wrong, with the colouring's line.
        error: KernelError,
        /// Index of the failing pixel within the slice.
        pixel: Option<usize>,
    },
    /// Stopped, out of memory or an internal error, as for kernels.
    Run(RunFailure),
}

impl From<RunFailure> for ColouringFailure {
    fn from(failure: RunFailure) -> Self {
        Self::Run(failure)
    }
}

impl LuaColouring {
    /// Compiles `source` in a new sandboxed state and runs its top level (stoppable);
    /// `gradient_table` (entries + 1 colours, 3 floats each) backs `gradient(t)`.
    pub(crate) fn compile(
        source: &str,
        gradient_table: Arc<[f32]>,
        memory_limit_bytes: usize,
        stop: &StopContext<'_>,
    ) -> Result<Self, RunFailure> {
        let state = SandboxedState::new(memory_limit_bytes, &Arc::new(KernelLog::discard()))?;
        let lua = &state.lua;
        // The kernels' chunk name, so positions read "kernel:LINE:" and split the same way.
        let chunk = match lua
            .load(source)
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
        let entries = gradient_table.len() / 3 - 1;
        let lookup: Function = state
            .driver_function("gradient_lookup")?
            .call((
                LightUserData(gradient_table.as_ptr().cast_mut().cast()),
                entries,
            ))
            .context("making gradient()")?;
        state
            .environment
            .raw_set("gradient", lookup)
            .context("setting gradient()")?;
        state.run_top_level(chunk, memory_limit_bytes, stop)?;
        let colour = match state.environment.raw_get::<Value>("colour") {
            Ok(Value::Function(colour)) => colour,
            Ok(Value::Nil) => {
                return Err(KernelError::BadSetting {
                    name: "colour",
                    message: "the colouring defines no function colour(v1, ...) returning r, g, b"
                        .to_owned(),
                }
                .into());
            }
            Ok(other) => {
                return Err(KernelError::BadSetting {
                    name: "colour",
                    message: format!("expected a function, got a {}", other.type_name()),
                }
                .into());
            }
            Err(error) => return Err(internal("reading colour", &error)),
        };
        let with_inside = match state.environment.raw_get::<Value>("colour_inside") {
            Ok(Value::Nil | Value::Boolean(false)) => false,
            Ok(Value::Boolean(true)) => true,
            Ok(other) => {
                return Err(KernelError::BadSetting {
                    name: "colour_inside",
                    message: format!("expected true or false, got a {}", other.type_name()),
                }
                .into());
            }
            Err(error) => return Err(internal("reading colour_inside", &error)),
        };
        Ok(Self {
            render: state.driver_function("render_colour_unit")?,
            lua: state.lua,
            colour,
            with_inside,
            memory_limit_bytes,
            _gradient_table: gradient_table,
        })
    }

    /// Colours the pixels of `values` (`channels` floats each) into `out` (3 floats each;
    /// inside pixels are left as they are unless `with_inside`).
    pub(crate) fn colour_slice(
        &self,
        values: &[f32],
        channels: usize,
        out: &mut [f32],
        stop: &StopContext<'_>,
    ) -> Result<(), ColouringFailure> {
        let count = values.len() / channels.max(1);
        if out.len() < count * 3 {
            return Err(RunFailure::Internal("colouring output too small".to_owned()).into());
        }
        let mut progress = [0.0_f64];
        let result = {
            let Some(_armed) = stop.switch.arm(&self.lua, stop.job_id, stop.is_stopped) else {
                return Err(RunFailure::Stopped.into());
            };
            // SAFETY (of the Lua side): the driver checks count * channels <= values.len()
            // and count * 3 <= out.len() before it reads or writes, and touches the three
            // buffers only during this call; they outlive it.
            self.render.call::<(bool, Option<String>)>((
                &self.colour,
                LightUserData(values.as_ptr().cast_mut().cast()),
                values.len(),
                LightUserData(out.as_mut_ptr().cast()),
                out.len(),
                LightUserData(progress.as_mut_ptr().cast()),
                count,
                channels,
                self.with_inside,
            ))
        };
        let pixel = Some(progress[0] as usize);
        match result {
            Ok((true, _)) => Ok(()),
            _ if (stop.is_stopped)() => Err(RunFailure::Stopped.into()),
            Ok((false, message)) => {
                let message =
                    message.unwrap_or_else(|| "error raised with a non-string value".to_owned());
                if is_out_of_memory_message(&message, None) {
                    return Err(memory_limit_failure(self.memory_limit_bytes).into());
                }
                let (line, message) = split_kernel_position(&message);
                let error = if message.starts_with("colour returned") {
                    KernelError::WrongReturn {
                        line,
                        message,
                        pixel: None,
                    }
                } else {
                    KernelError::Runtime {
                        line,
                        message,
                        pixel: None,
                    }
                };
                Err(ColouringFailure::Lua { error, pixel })
            }
            Err(mlua::Error::MemoryError(_)) => {
                Err(memory_limit_failure(self.memory_limit_bytes).into())
            }
            Err(error) => Err(internal("colouring", &error).into()),
        }
    }
}
