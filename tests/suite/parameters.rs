//! Kernel parameters through the engine: declared in the kernel text with `parameter {}`,
//! read from `param` in `pixel`, set per render without recompiling; bad declarations fail
//! at their own line.

use moonbrot::engine::kernel::{ParameterKind, ParameterValue, ParameterValues};
use moonbrot::engine::{CancelToken, Engine, KernelError, RenderError, RequestError};

use crate::support::{kernel_error, request, shipped};

fn with_values(values: &[(&str, ParameterValue)]) -> ParameterValues {
    values
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

#[test]
fn julia_declares_its_constant_and_a_new_value_renders_without_recompiling() {
    let engine = Engine::default();
    let source = shipped("julia");
    let info = engine
        .inspect(&source, &CancelToken::new())
        .expect("julia compiles");
    let c = &info.parameters[0];
    assert_eq!((c.name.as_str(), &c.kind), ("c", &ParameterKind::Complex));
    assert_eq!(
        c.default,
        ParameterValue::Complex {
            re: -0.8,
            im: 0.156
        }
    );

    let default = engine
        .render(&request(&source, 48, 32), &CancelToken::new())
        .expect("renders");
    let moved = moonbrot::engine::RenderRequest {
        parameters: with_values(&[(
            "c",
            ParameterValue::Complex {
                re: 0.285,
                im: 0.01,
            },
        )]),
        ..request(&source, 48, 32)
    };
    let other = engine.render(&moved, &CancelToken::new()).expect("renders");
    assert_ne!(
        other.image, default.image,
        "the constant changed the picture"
    );
    assert_eq!(
        other.parameters,
        vec![(
            "c".to_owned(),
            ParameterValue::Complex {
                re: 0.285,
                im: 0.01
            }
        )]
    );
    assert_eq!(
        other.timings.compile_secs, 0.0,
        "a parameter change reuses the compiled states"
    );
    // And back: the same value gives the same picture as the default did.
    let back = engine
        .render(&request(&source, 48, 32), &CancelToken::new())
        .expect("renders");
    assert_eq!(back.image, default.image);
}

#[test]
fn every_kind_reaches_the_kernel_through_param() {
    let source = r#"
        parameter { name = "r", kind = "real", min = 0, max = 1, default = 0.25 }
        parameter { name = "n", kind = "integer", min = 1, max = 9, default = 3 }
        parameter { name = "b", kind = "boolean", default = false }
        parameter { name = "s", kind = "choice", options = { "one", "two" }, default = "one" }
        parameter { name = "z", kind = "complex", default = { 1, -2 } }
        function pixel(x, y)
          local extra = (param.b and 1000 or 0) + (param.s == "two" and 100 or 0)
          return param.r + param.n + param.z.re * 10 + param.z.im * 20 + extra
        end
    "#;
    let engine = Engine::default();
    let at = |values: &[(&str, ParameterValue)]| {
        let output = engine
            .render(
                &moonbrot::engine::RenderRequest {
                    parameters: with_values(values),
                    ..request(source, 4, 2)
                },
                &CancelToken::new(),
            )
            .expect("renders");
        output.image.values[0]
    };
    assert_eq!(at(&[]), 0.25 + 3.0 + 10.0 - 40.0);
    assert_eq!(
        at(&[
            ("r", ParameterValue::Real(0.5)),
            ("n", ParameterValue::Integer(7)),
            ("b", ParameterValue::Boolean(true)),
            ("s", ParameterValue::Choice("two".to_owned())),
            ("z", ParameterValue::Complex { re: 0.0, im: 1.0 }),
        ]),
        0.5 + 7.0 + 20.0 + 1100.0
    );
}

#[test]
fn values_the_kernel_does_not_take_are_refused_naming_the_parameter() {
    let engine = Engine::default();
    let source = shipped("multibrot");
    for (values, expected) in [
        (
            with_values(&[("power", ParameterValue::Real(9.0))]),
            "parameter power: it is a number from 1.5 to 8, got 9",
        ),
        (
            with_values(&[("powr", ParameterValue::Real(3.0))]),
            "parameter powr: the kernel has no such parameter (it has power)",
        ),
        (
            with_values(&[("power", ParameterValue::Boolean(true))]),
            "parameter power: it is a number from 1.5 to 8, got true",
        ),
        // Echoed short, not as 301 digits.
        (
            with_values(&[("power", ParameterValue::Real(1e300))]),
            "parameter power: it is a number from 1.5 to 8, got 1e300",
        ),
        (
            with_values(&[("power", ParameterValue::Real(-2.5e-9))]),
            "parameter power: it is a number from 1.5 to 8, got -2.5e-9",
        ),
    ] {
        let request = moonbrot::engine::RenderRequest {
            parameters: values,
            ..request(&source, 8, 8)
        };
        match engine.render(&request, &CancelToken::new()) {
            Err(RenderError::Request(error @ RequestError::Parameter { .. })) => {
                assert_eq!(error.to_string(), expected);
            }
            other => panic!("expected a parameter error, got {other:?}"),
        }
    }
}

#[test]
fn bad_declarations_fail_at_their_line_with_what_is_wrong() {
    let pixel = "\nfunction pixel(x, y) return 1 end\n";
    for (declaration, expected) in [
        ("parameter(3)", "parameter expects a table"),
        (
            "parameter { name = \"1x\", kind = \"real\" }",
            "parameter name must be a Lua name",
        ),
        (
            "parameter { name = \"a\", kind = \"slider\" }",
            "parameter a: kind must be",
        ),
        (
            "parameter { name = \"a\", kind = \"real\", min = 2, max = 1, default = 1 }",
            "parameter a: min (2) must be below max (1)",
        ),
        (
            "parameter { name = \"a\", kind = \"real\", min = 0, max = 1, default = 5 }",
            "parameter a: default must be a number from 0 to 1, got 5",
        ),
        (
            "parameter { name = \"a\", kind = \"real\", min = 0, max = 1/0, default = 0 }",
            "parameter a: min and max must be finite numbers",
        ),
        (
            "parameter { name = \"a\", kind = \"integer\", min = 0, max = 9, default = 1.5 }",
            "default must be a whole number from 0 to 9",
        ),
        (
            "parameter { name = \"a\", kind = \"boolean\", default = 1 }",
            "parameter a: default must be true or false, got 1",
        ),
        (
            "parameter { name = \"a\", kind = \"choice\", options = { \"x\", \"x\" }, default = \"x\" }",
            "option \"x\" is listed twice",
        ),
        (
            "parameter { name = \"a\", kind = \"choice\", options = {}, default = \"x\" }",
            "options must list 1 to 32 names, got 0",
        ),
        (
            "parameter { name = \"a\", kind = \"complex\", default = { 0 } }",
            "parameter a: default must be two finite numbers",
        ),
        (
            "parameter { name = \"a\", kind = \"boolean\", default = true, label = string.rep(\"x\", 1e6) }",
            "label must be a string of at most 120 bytes, got a string of 1000000 bytes",
        ),
        (
            "parameter { name = \"a\", kind = \"boolean\", default = true }\n\
             parameter { name = \"a\", kind = \"boolean\", default = true }",
            "parameter a: declared twice",
        ),
        (
            "for i = 1, 100 do parameter { name = \"p\" .. i, kind = \"boolean\", default = true } end",
            "at most 64 parameters",
        ),
    ] {
        // Two lines before the declaration: its first line is line 3.
        let source = format!("-- a kernel\nmax_iter = 10\n{declaration}{pixel}");
        let error = kernel_error(&source);
        let line = declaration.lines().count() as u32 + 2;
        match &error {
            KernelError::Load {
                line: Some(at),
                message,
            } => {
                assert!(message.contains(expected), "{declaration}: {message}");
                assert!(
                    (3..=line).contains(at),
                    "{declaration}: reported at line {at}"
                );
            }
            other => panic!("{declaration}: expected a load error at its line, got {other:?}"),
        }
    }
}

#[test]
fn a_parameter_declared_inside_pixel_is_told_to_move_to_the_top_level() {
    let source = "max_iter = 10\n\
                  function pixel(x, y)\n\
                  \x20 parameter { name = \"shade\", kind = \"boolean\", default = true }\n\
                  \x20 return 1\n\
                  end\n";
    let error = kernel_error(source);
    let text = error.to_string();
    assert!(
        text.contains("parameter shade: declared inside a function")
            && text.contains("at the kernel's top level")
            && !text.contains("declared twice"),
        "{text}"
    );
    assert_eq!(error.line(), Some(3), "{text}");
}
