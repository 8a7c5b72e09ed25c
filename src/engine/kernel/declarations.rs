//! Reading what a kernel declared about itself after its top level ran: `output`,
//! `symmetry`, `max_iter`, `home`, `pixel_deep` and the parameters, each checked, with
//! what was wrong and where.

use super::contract::{KernelInfo, MAX_CHANNELS, MAX_MAX_ITER, OutputMode, Symmetry};
use super::parameters::{ParameterKind, ParameterSpec, ParameterValue};
use super::state::{InternalContext, RunFailure};
use crate::engine::error::{KernelError, bounded_message, format_number};
use crate::engine::geometry::View;
use mlua::{Table, Value};

/// Reads and checks `output`, `symmetry`, `max_iter` and `home` from the kernel's globals (raw reads:
/// a kernel may give its environment a metatable).
pub(super) fn read_kernel_info(environment: &Table) -> Result<KernelInfo, RunFailure> {
    let read = |table: &Table, name: &str| -> Result<Value, RunFailure> {
        table.raw_get(name).context("reading a kernel setting")
    };
    let output = match read(environment, "output")? {
        Value::Nil => OutputMode::ESCAPE,
        Value::String(text) if text.as_bytes() == b"rgb" => OutputMode::Rgb,
        Value::String(text) if text.as_bytes() == b"escape" => OutputMode::ESCAPE,
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
    let channel_names = match read(environment, "channels")? {
        Value::Nil => Vec::new(),
        Value::Table(names) => channel_names_from(&names)?,
        other => {
            return Err(bad_channels(format!(
                "expected a table of names like {{ \"iterations\", \"distance\" }}, got {}",
                describe_value(&other)
            )));
        }
    };
    let output = match (output, channel_names.len()) {
        (_, 0) => output,
        (OutputMode::Rgb, _) => {
            return Err(bad_channels(
                "a kernel with output = \"rgb\" returns three colour components; channels is for escape values".to_owned(),
            ));
        }
        (_, count) => OutputMode::Escape {
            channels: count as u8,
        },
    };
    Ok(KernelInfo {
        output,
        symmetry,
        default_max_iter,
        home,
        parameters: Vec::new(),
        deep: false,
        formula: None,
        channel_names,
    })
}

fn bad_channels(message: String) -> RunFailure {
    KernelError::BadSetting {
        name: "channels",
        message,
    }
    .into()
}

/// The names a kernel's `channels` table lists: 1 to MAX_CHANNELS distinct, non-empty
/// strings in a sequence (the first names the escape value).
fn channel_names_from(table: &Table) -> Result<Vec<String>, RunFailure> {
    let count = table.raw_len();
    if count == 0 || count > MAX_CHANNELS {
        return Err(bad_channels(format!(
            "expected 1 to {MAX_CHANNELS} names, got {count}"
        )));
    }
    let mut names: Vec<String> = Vec::with_capacity(count);
    for index in 1..=count {
        let name = match table.raw_get::<Value>(index).context("reading channels")? {
            Value::String(name) if !name.as_bytes().is_empty() && name.as_bytes().len() <= 64 => {
                name.to_string_lossy()
            }
            other => {
                return Err(bad_channels(format!(
                    "name {index} should be a short string, got {}",
                    describe_value(&other)
                )));
            }
        };
        if names.contains(&name) {
            return Err(bad_channels(format!("{name:?} is named twice")));
        }
        names.push(name);
    }
    Ok(names)
}

/// The parameters sandbox.lua recorded (already checked there, so a failure to read one is
/// moonbrot's bug, not the kernel's).
pub(super) fn read_parameters(declared: &Table) -> Result<Vec<ParameterSpec>, RunFailure> {
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

pub(super) fn describe_value(value: &Value) -> String {
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

pub(super) fn as_number(value: &Value) -> Option<f64> {
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
