//! Kernel parameters: the controls a kernel declares with `parameter { ... }` (checked by
//! sandbox.lua, at the declaration's line), their values, and the text form the CLI and
//! the PNG metadata use (`NAME=VALUE`; a complex value is `RE,IM`).
//!
//! A kernel reads a parameter's current value from the global table `param` (a complex one
//! as `param.c.re`, `param.c.im`). The engine writes the values into every worker's state
//! before a render, so changing one never recompiles the kernel.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::engine::error::RequestError;

/// What a parameter is, with its range or options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ParameterKind {
    /// A real number from `min` to `max`.
    Real {
        /// Smallest value.
        min: f64,
        /// Largest value.
        max: f64,
    },
    /// A whole number from `min` to `max`.
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// On or off.
    Boolean,
    /// One of a list of names.
    Choice {
        /// The names, in the kernel's order.
        options: Vec<String>,
    },
    /// A point of the complex plane.
    Complex,
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// A real number.
    Real(f64),
    /// A whole number.
    Integer(i64),
    /// On or off.
    Boolean(bool),
    /// One of the options, by name.
    Choice(String),
    /// A complex number: real and imaginary parts.
    Complex {
        /// Real part.
        re: f64,
        /// Imaginary part.
        im: f64,
    },
}

impl fmt::Display for ParameterValue {
    /// The text form, as `--set NAME=VALUE` takes it.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Real(value) => write!(formatter, "{}", short_number(*value)),
            Self::Integer(value) => write!(formatter, "{value}"),
            Self::Boolean(value) => write!(formatter, "{value}"),
            Self::Choice(name) => write!(formatter, "{name}"),
            Self::Complex { re, im } => {
                write!(formatter, "{},{}", short_number(*re), short_number(*im))
            }
        }
    }
}

/// `number` in the shortest text that reads back to it, with an exponent where plain
/// digits would run long (`1e300`, not 301 digits; `2.5e-9`, not `0.0000000025`).
pub fn short_number(number: f64) -> String {
    let magnitude = number.abs();
    if magnitude != 0.0 && !(1e-5..1e16).contains(&magnitude) {
        format!("{number:e}")
    } else {
        format!("{number}")
    }
}

/// A parameter a kernel declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParameterSpec {
    /// The name (a Lua name): `param.NAME` in the kernel, `--set NAME=...` on the CLI.
    pub name: String,
    /// What the window shows, if not the name.
    pub label: Option<String>,
    /// Its kind and range.
    #[serde(flatten)]
    pub kind: ParameterKind,
    /// Its value in the kernel text.
    pub default: ParameterValue,
}

/// Parameter values by name (those not given take their defaults).
pub type ParameterValues = BTreeMap<String, ParameterValue>;

/// The most parameters a kernel may declare (sandbox.lua enforces it).
pub const MAX_PARAMETERS: usize = 64;

impl ParameterSpec {
    /// The label shown for it: its label, else its name.
    pub fn display_name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }

    /// `value` if it is of this parameter's kind and in its range, else why not.
    pub fn check(&self, value: &ParameterValue) -> Result<ParameterValue, RequestError> {
        let refuse = |expected: String| RequestError::Parameter {
            name: self.name.clone(),
            message: format!("{expected}, got {value}"),
        };
        match (&self.kind, value) {
            (ParameterKind::Real { min, max }, ParameterValue::Real(number)) => {
                if number.is_finite() && (*min..=*max).contains(number) {
                    Ok(value.clone())
                } else {
                    Err(refuse(format!(
                        "it is a number from {} to {}",
                        short_number(*min),
                        short_number(*max)
                    )))
                }
            }
            (ParameterKind::Real { .. }, ParameterValue::Integer(number)) => {
                self.check(&ParameterValue::Real(*number as f64))
            }
            (ParameterKind::Integer { min, max }, ParameterValue::Integer(number)) => {
                if (*min..=*max).contains(number) {
                    Ok(value.clone())
                } else {
                    Err(refuse(format!("it is a whole number from {min} to {max}")))
                }
            }
            (ParameterKind::Integer { min, max }, ParameterValue::Real(number)) => {
                if number.fract() == 0.0 && number.abs() < 2e9 {
                    self.check(&ParameterValue::Integer(*number as i64))
                } else {
                    Err(refuse(format!("it is a whole number from {min} to {max}")))
                }
            }
            (ParameterKind::Boolean, ParameterValue::Boolean(_)) => Ok(value.clone()),
            (ParameterKind::Choice { options }, ParameterValue::Choice(name)) => {
                if options.contains(name) {
                    Ok(value.clone())
                } else {
                    Err(refuse(format!("it is one of {}", options.join(", "))))
                }
            }
            (ParameterKind::Complex, ParameterValue::Complex { re, im }) => {
                if re.is_finite() && im.is_finite() {
                    Ok(value.clone())
                } else {
                    Err(refuse(
                        "it is a complex number RE,IM of finite numbers".to_owned(),
                    ))
                }
            }
            (kind, _) => Err(refuse(format!("it is {}", kind.describe()))),
        }
    }

    /// Reads `text` as this parameter's value (`--set NAME=TEXT`).
    pub fn parse(&self, text: &str) -> Result<ParameterValue, RequestError> {
        let refuse = |expected: &str| RequestError::Parameter {
            name: self.name.clone(),
            message: format!("{expected}, got {:?}", bounded_text(text)),
        };
        let number = |part: &str| part.trim().parse::<f64>().ok().filter(|x| x.is_finite());
        let value = match &self.kind {
            ParameterKind::Real { .. } => ParameterValue::Real(
                number(text).ok_or_else(|| refuse("it is a real number, like 0.5"))?,
            ),
            ParameterKind::Integer { .. } => ParameterValue::Integer(
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| refuse("it is a whole number, like 3"))?,
            ),
            ParameterKind::Boolean => match text.trim() {
                "true" => ParameterValue::Boolean(true),
                "false" => ParameterValue::Boolean(false),
                _ => return Err(refuse("it is true or false")),
            },
            ParameterKind::Choice { .. } => ParameterValue::Choice(text.trim().to_owned()),
            ParameterKind::Complex => {
                let (re, im) = text
                    .split_once(',')
                    .and_then(|(re, im)| Some((number(re)?, number(im)?)))
                    .ok_or_else(|| {
                        refuse("it is a complex number written RE,IM, like -0.8,0.156")
                    })?;
                ParameterValue::Complex { re, im }
            }
        };
        self.check(&value)
    }
}

impl ParameterKind {
    /// The kind and range in words ("a number from 0 to 1").
    pub fn describe(&self) -> String {
        match self {
            Self::Real { min, max } => format!("a number from {min} to {max}"),
            Self::Integer { min, max } => format!("a whole number from {min} to {max}"),
            Self::Boolean => "true or false".to_owned(),
            Self::Choice { options } => format!("one of {}", options.join(", ")),
            Self::Complex => "a complex number RE,IM".to_owned(),
        }
    }
}

/// At most 60 characters of a user's text, for messages.
fn bounded_text(text: &str) -> String {
    let mut cut: String = text.chars().take(60).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// Every declared parameter's value: the given one (checked) or the default. A given name
/// the kernel does not declare is refused, naming the ones it does.
pub fn resolve(
    specs: &[ParameterSpec],
    given: &ParameterValues,
) -> Result<Vec<(String, ParameterValue)>, RequestError> {
    if let Some(unknown) = given
        .keys()
        .find(|name| !specs.iter().any(|spec| &spec.name == *name))
    {
        let declared: Vec<&str> = specs.iter().map(|spec| spec.name.as_str()).collect();
        return Err(RequestError::Parameter {
            name: bounded_text(unknown),
            message: if declared.is_empty() {
                "the kernel declares no parameters".to_owned()
            } else {
                format!(
                    "the kernel has no such parameter (it has {})",
                    declared.join(", ")
                )
            },
        });
    }
    specs
        .iter()
        .map(|spec| {
            let value = match given.get(&spec.name) {
                Some(value) => spec.check(value)?,
                None => spec.default.clone(),
            };
            Ok((spec.name.clone(), value))
        })
        .collect()
}

/// Every declared parameter's value: the given one when the kernel takes it, else the
/// default. For the window, whose remembered values may outlive an edit of the kernel that
/// renamed or narrowed a parameter: nothing is refused.
pub fn resolve_leniently(
    specs: &[ParameterSpec],
    given: &ParameterValues,
) -> Vec<(String, ParameterValue)> {
    specs
        .iter()
        .map(|spec| {
            let value = given
                .get(&spec.name)
                .and_then(|value| spec.check(value).ok())
                .unwrap_or_else(|| spec.default.clone());
            (spec.name.clone(), value)
        })
        .collect()
}

/// Reads `NAME=VALUE` settings against a kernel's `specs` (the CLI's `--set`).
pub fn parse_settings(
    specs: &[ParameterSpec],
    settings: &[String],
) -> Result<ParameterValues, RequestError> {
    let mut values = ParameterValues::new();
    for setting in settings {
        let (name, text) = setting
            .split_once('=')
            .ok_or_else(|| RequestError::Parameter {
                name: bounded_text(setting),
                message: "write a setting as NAME=VALUE".to_owned(),
            })?;
        let name = name.trim();
        let spec = specs.iter().find(|spec| spec.name == name);
        let Some(spec) = spec else {
            // Reported with the list of the kernel's parameters.
            resolve(
                specs,
                &ParameterValues::from([(name.to_owned(), ParameterValue::Boolean(false))]),
            )?;
            continue;
        };
        values.insert(spec.name.clone(), spec.parse(text)?);
    }
    Ok(values)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short_and_read_back_exactly() {
        for (number, text) in [
            (1e300, "1e300"),
            (0.1, "0.1"),
            (-0.6, "-0.6"),
            (123_456.75, "123456.75"),
            (2.5e-9, "2.5e-9"),
            (0.0, "0"),
            (1e16, "1e16"),
        ] {
            assert_eq!(short_number(number), text);
            assert_eq!(text.parse::<f64>(), Ok(number));
        }
    }

    fn spec(name: &str, kind: ParameterKind, default: ParameterValue) -> ParameterSpec {
        ParameterSpec {
            name: name.to_owned(),
            label: None,
            kind,
            default,
        }
    }

    fn julia_specs() -> Vec<ParameterSpec> {
        vec![
            spec(
                "c",
                ParameterKind::Complex,
                ParameterValue::Complex {
                    re: -0.8,
                    im: 0.156,
                },
            ),
            spec(
                "power",
                ParameterKind::Integer { min: 2, max: 8 },
                ParameterValue::Integer(2),
            ),
            spec(
                "style",
                ParameterKind::Choice {
                    options: vec!["fast".to_owned(), "fancy".to_owned()],
                },
                ParameterValue::Choice("fast".to_owned()),
            ),
        ]
    }

    #[test]
    fn settings_are_read_by_kind_and_missing_ones_take_their_defaults() {
        let specs = julia_specs();
        let given = parse_settings(
            &specs,
            &["c=0.285, 0.01".to_owned(), "style=fancy".to_owned()],
        )
        .expect("valid settings");
        let resolved = resolve(&specs, &given).expect("resolves");
        assert_eq!(
            resolved,
            vec![
                (
                    "c".to_owned(),
                    ParameterValue::Complex {
                        re: 0.285,
                        im: 0.01
                    }
                ),
                ("power".to_owned(), ParameterValue::Integer(2)),
                (
                    "style".to_owned(),
                    ParameterValue::Choice("fancy".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn bad_settings_name_the_parameter_and_what_it_takes() {
        let specs = julia_specs();
        for (setting, expected) in [
            ("power=9", "power: it is a whole number from 2 to 8, got 9"),
            ("power=2.5", "power: it is a whole number, like 3"),
            ("c=1", "c: it is a complex number written RE,IM"),
            ("c=nan,0", "c: it is a complex number written RE,IM"),
            ("style=slow", "style: it is one of fast, fancy, got slow"),
            (
                "zoom=2",
                "zoom: the kernel has no such parameter (it has c, power, style)",
            ),
            ("power", "write a setting as NAME=VALUE"),
        ] {
            let error = parse_settings(&specs, &[setting.to_owned()]).expect_err(setting);
            assert!(error.to_string().contains(expected), "{setting}: {error}");
        }
    }

    #[test]
    fn lenient_resolution_drops_unknown_names_and_unfit_values() {
        let specs = julia_specs();
        let given = ParameterValues::from([
            ("gone".to_owned(), ParameterValue::Real(1.0)),
            ("power".to_owned(), ParameterValue::Integer(99)),
            (
                "style".to_owned(),
                ParameterValue::Choice("fancy".to_owned()),
            ),
        ]);
        let resolved = resolve_leniently(&specs, &given);
        assert_eq!(
            resolved[1],
            ("power".to_owned(), ParameterValue::Integer(2))
        );
        assert_eq!(
            resolved[2],
            (
                "style".to_owned(),
                ParameterValue::Choice("fancy".to_owned())
            )
        );
        assert_eq!(resolved.len(), 3);
    }

    #[test]
    fn values_round_trip_through_their_text_form() {
        for spec in julia_specs() {
            let text = spec.default.to_string();
            assert_eq!(spec.parse(&text).expect("parses"), spec.default, "{text}");
        }
    }
}
