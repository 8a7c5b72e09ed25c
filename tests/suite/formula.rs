//! Declared formulas (`formula { step = .. }`): the shipped fractals declare theirs, a
//! formula iterated in f64 gives its kernel's own pixels, and a step the engine cannot
//! follow (division, `math.*`, a comparison, reading a part) is refused at its line with
//! what is allowed.

use moonbrot::engine::kernel::ParameterValue;
use moonbrot::engine::{CancelToken, Engine, KernelError, MaxIterChoice};

use crate::support::{kernel_error, request, shipped};

const FORMULA_KERNELS: [&str; 5] = [
    "mandelbrot",
    "julia",
    "burning_ship",
    "tricorn",
    "multibrot",
];

#[test]
fn the_shipped_fractals_declare_their_iteration() {
    let engine = Engine::default();
    for name in FORMULA_KERNELS {
        let info = engine
            .inspect(&shipped(name), &CancelToken::new())
            .expect("compiles");
        let formula = info
            .formula
            .unwrap_or_else(|| panic!("{name} declares no formula"));
        let expected_degree = if name == "multibrot" { 3 } else { 2 };
        assert_eq!(formula.degree(), expected_degree, "{name}");
        assert_eq!(
            formula.julia.as_deref(),
            (name == "julia").then_some("c"),
            "{name}"
        );
    }
    let seed = engine
        .inspect(&shipped("seed"), &CancelToken::new())
        .expect("compiles");
    assert!(
        seed.formula.is_none(),
        "declaring one is the kernel's choice"
    );
}

#[test]
fn a_formula_iterated_in_f64_gives_its_kernels_own_pixels() {
    let engine = Engine::default();
    for name in FORMULA_KERNELS {
        let source = shipped(name);
        let output = engine
            .render(
                &moonbrot::engine::RenderRequest {
                    guessing: false,
                    max_iter: Some(500),
                    ..request(&source, 160, 120)
                },
                &CancelToken::new(),
            )
            .expect("renders");
        let formula = output.kernel.formula.clone().expect("a formula");
        let julia_c = formula.julia.as_ref().map(|name| {
            match output
                .parameters
                .iter()
                .find(|(declared, _)| declared == name)
            {
                Some((_, ParameterValue::Complex { re, im })) => (*re, *im),
                other => panic!("{name}: {other:?}"),
            }
        });
        let grid = output.view.pixel_grid(160, 120);
        let mut differing = 0;
        for row in 0..120 {
            for column in 0..160 {
                let value = output.image.values[(row * 160 + column) as usize];
                let kernel = (value >= 0.0).then_some(f64::from(value));
                let point = grid.complex_from_pixel(column, row);
                let iterated = formula.iterate_f64(point, julia_c, 500);
                let agree = match (kernel, iterated) {
                    (None, None) => true,
                    // The image holds f32: compare to its precision.
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                    _ => false,
                };
                differing += usize::from(!agree);
            }
        }
        assert!(
            differing * 1000 <= 160 * 120,
            "{name}: {differing} of {} pixels differ",
            160 * 120
        );
    }
}

/// The formula error `step` (a Lua expression of z and c) makes, with the step on line 2.
fn refused(step: &str) -> (Option<u32>, String) {
    let source = format!(
        "function pixel(x, y) return 1 end\n\
         formula {{ step = function(z, c) return {step} end }}\n"
    );
    match kernel_error(&source) {
        KernelError::Formula { line, message } => (line, message),
        other => panic!("{step}: expected a formula error, got {other:?}"),
    }
}

#[test]
fn a_step_the_engine_cannot_follow_is_refused_at_its_line() {
    for (step, what) in [
        ("z * z / c", "division"),
        ("math.sin(z) + c", "sin"),
        ("(z.re > 0) and z or c", "reading .re"),
        ("z ^ 2.5 + c", "the power 2.5"),
        ("z ^ 1 + c", "the power 1"),
        ("z .. c", "joining text"),
        ("tostring(z)", "text"),
        ("\"z\"", "what step returns is a string"),
    ] {
        let (line, message) = refused(step);
        assert_eq!(line, Some(2), "{step}: {message}");
        assert!(message.contains(what), "{step}: {message}");
        if !message.contains("string") {
            assert!(message.contains("are allowed"), "{step}: {message}");
        }
    }
    // A comparison is refused even when the kernel hides it in a helper.
    let (_, message) = refused("(function(a) if a < c then return a end return c end)(z)");
    assert!(message.contains("comparison"), "{message}");
}

#[test]
fn a_formula_declaration_with_a_bad_field_is_refused_at_its_line() {
    for (declaration, what) in [
        ("formula { step = 3 }", "step must be a function"),
        (
            "formula { step = function(z, c) return z end, power = 2 }",
            "no field \"power\"",
        ),
        (
            "formula { step = function(z, c) return z end, julia = \"k\" }",
            "complex parameter",
        ),
        (
            "formula { step = function(z, c) return z end, bailout = -1 }",
            "bailout",
        ),
        (
            "formula { step = function(z, c) return z end, start = \"0\" }",
            "start",
        ),
    ] {
        let source = format!("function pixel(x, y) return 1 end\n{declaration}\n");
        let error = kernel_error(&source);
        assert_eq!(error.line(), Some(2), "{declaration}: {error}");
        assert!(error.to_string().contains(what), "{declaration}: {error}");
    }
}

#[test]
fn a_users_own_formula_is_recorded_with_its_constants_and_parameters() {
    let source = "parameter { name = \"k\", kind = \"complex\", default = { 0.5, -0.25 } }\n\
                  formula { step = function(z, c) return z ^ 3 + c * z + param.k end }\n\
                  function pixel(x, y) return 1 end\n";
    let info = Engine::default()
        .inspect(&std::sync::Arc::from(source), &CancelToken::new())
        .expect("compiles");
    let formula = info.formula.expect("a formula");
    assert_eq!(formula.degree(), 3);
    // z^3 + c z + k at z = 1 + i, c = 2: (1 + i)^3 = -2 + 2i; c z = 2 + 2i; k = 0.5 - 0.25i.
    assert_eq!(formula.step((1.0, 1.0), (2.0, 0.0)), (0.5, 3.75));
}

#[test]
fn moonbrot_info_prints_a_kernels_formula() {
    let output = crate::support::moonbrot(&["info", "burning_ship"]);
    let text = crate::support::text(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("formula: z -> sqr(abs(z)) + conj(c), c the pixel, z from 0"),
        "{text}"
    );
    assert!(text.contains("deep views: by perturbation"), "{text}");
    let multibrot = crate::support::text(&crate::support::moonbrot(&["info", "multibrot"]).stdout);
    assert!(multibrot.contains("formula: z -> z^3 + c"), "{multibrot}");
    assert!(
        multibrot.contains("deep views: by perturbation from the formula, recorded with each"),
        "{multibrot}"
    );
    let output = crate::support::moonbrot(&["info", "seed"]);
    assert!(!crate::support::text(&output.stdout).contains("formula"));
}

/// The share of pixels of `a` and `b` whose values differ by more than a millionth (or
/// that one has inside and the other not).
fn share_differing(a: &[f32], b: &[f32]) -> f64 {
    let differing = a
        .iter()
        .zip(b)
        .filter(|(a, b)| match (**a >= 0.0, **b >= 0.0) {
            (true, true) => (**a - **b).abs() > 1e-6 * a.abs().max(1.0),
            (inside_a, inside_b) => inside_a != inside_b,
        })
        .count();
    differing as f64 / a.len() as f64
}

#[test]
fn perturbation_gives_each_formula_kernels_own_pixels_where_f64_is_exact() {
    let engine = Engine::default();
    // multibrot's step reads its power parameter: its formula is recorded again with the
    // power rendered (4 here; its default is 3). The Burning Ship's folds make parts of its home view chaotic for any f64 arithmetic: at
    // one pixel there f64 escapes after 132 iterations, perturbation after 106 and a
    // 400-bit iteration after 92 (about 2% of the view is like that).
    for (name, largest_share) in [
        ("mandelbrot", 0.001),
        ("julia", 0.001),
        ("tricorn", 0.001),
        ("burning_ship", 0.03),
        ("multibrot", 0.001),
    ] {
        let home = moonbrot::engine::RenderRequest {
            max_iter: Some(500),
            guessing: false,
            parameters: if name == "multibrot" {
                [("power".to_owned(), ParameterValue::Real(4.0))]
                    .into_iter()
                    .collect()
            } else {
                Default::default()
            },
            ..request(&shipped(name), 160, 120)
        };
        let in_f64 = engine.render(&home, &CancelToken::new()).expect("renders");
        let perturbed = engine
            .render(
                &moonbrot::engine::RenderRequest {
                    precision: moonbrot::engine::PrecisionChoice::Perturbation,
                    ..home.clone()
                },
                &CancelToken::new(),
            )
            .expect("renders");
        assert_eq!(
            perturbed.precision,
            moonbrot::engine::Precision::Perturbation
        );
        let share = share_differing(&in_f64.image.values, &perturbed.image.values);
        assert!(
            share <= largest_share,
            "{name}: {:.3}% of pixels differ",
            share * 100.0
        );
    }
}

#[test]
fn a_long_reference_orbit_reports_its_progress_is_cancelled_and_one_too_large_is_refused() {
    let engine = std::sync::Arc::new(Engine::default());
    // Inside the main cardioid: the reference runs to max_iter.
    let long = moonbrot::engine::RenderRequest {
        view: Some(moonbrot::engine::View::new(-0.1, 0.1, 1e-12)),
        max_iter: Some(100_000_000),
        precision: moonbrot::engine::PrecisionChoice::Perturbation,
        timeout: None,
        ..request(&shipped("mandelbrot"), 16, 12)
    };
    let cancel = CancelToken::new();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            cancel.cancel();
        })
    };
    let started = std::time::Instant::now();
    let mut reported = Vec::new();
    let result = engine.render_with_progress(&long, &cancel, &mut |progress| {
        if let moonbrot::engine::RenderProgress::Reference {
            iterations_done,
            max_iter,
        } = *progress
        {
            reported.push((iterations_done, max_iter));
        }
    });
    canceller.join().expect("canceller");
    assert_eq!(result.err(), Some(moonbrot::engine::RenderError::Cancelled));
    // The reference's progress came while it ran, growing, out of the whole limit.
    assert!(!reported.is_empty(), "no progress reported");
    assert!(
        reported
            .iter()
            .all(|&(_, max_iter)| max_iter == 100_000_000)
    );
    assert!(
        reported.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "{reported:?}"
    );
    // The whole orbit would take minutes; the cancel ends it at once.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let small = Engine::new(moonbrot::engine::EngineOptions {
        memory_limit_bytes: 16 * 1024 * 1024,
        ..moonbrot::engine::EngineOptions::default()
    });
    let error = small
        .render(&long, &CancelToken::new())
        .expect_err("too long for 16 MiB");
    assert!(
        matches!(
            error,
            moonbrot::engine::RenderError::Request(
                moonbrot::engine::RequestError::ReferenceTooLong { .. }
            )
        ),
        "{error}"
    );
    assert!(error.to_string().contains("max_iter"), "{error}");
}

#[test]
fn a_reference_orbit_is_reused_by_the_next_render_nearby_and_recomputed_when_it_cannot_serve() {
    use moonbrot::engine::{PrecisionChoice, RenderRequest, View};
    let engine = Engine::default();
    let seahorse = |span: f64| {
        View::from_decimals(
            "-0.743643887037158704752191506114774",
            "0.131825904205311970493132056385139",
            &format!("{span:e}"),
        )
        .expect("a view")
    };
    let deep = |view: View, max_iter: u32| RenderRequest {
        view: Some(view),
        max_iter: Some(max_iter),
        precision: PrecisionChoice::Auto,
        ..request(&shipped("mandelbrot"), 64, 36)
    };
    let render = |request: &RenderRequest| {
        engine
            .render(request, &CancelToken::new())
            .expect("renders")
    };
    let first = render(&deep(seahorse(1e-18), 5000));
    let summary = first.reference.expect("by perturbation");
    assert!(!summary.reused);
    assert!(summary.bits >= 128);
    // The same view again gives the same pixels from the same orbit.
    let again = render(&deep(seahorse(1e-18), 5000));
    assert!(again.reference.expect("a reference").reused);
    assert_eq!(again.image.values, first.image.values);
    // A pan of a few pixels and a lower limit still use it.
    let panned = render(&deep(
        seahorse(1e-18).panned_by_pixels((5.0, -3.0), 36),
        3000,
    ));
    assert!(panned.reference.expect("a reference").reused);
    // A limit past what it was computed to (it does not escape), or far deeper (more
    // bits), computes a new one.
    let longer = render(&deep(seahorse(1e-18), 8000));
    assert!(!longer.reference.expect("a reference").reused);
    let deeper = render(&deep(seahorse(1e-26), 8000));
    let deeper = deeper.reference.expect("a reference");
    assert!(!deeper.reused);
    assert!(deeper.bits > summary.bits);
    // The CLI names it.
    let dir = tempfile::tempdir().expect("temp dir");
    let location = seahorse(1e-18).location_text();
    let mut args: Vec<&str> = location.split(' ').collect();
    args.extend([
        "--kernel",
        "mandelbrot",
        "--size",
        "32x18",
        "--max-iter",
        "3000",
    ]);
    let (_, said) = crate::support::render_file(dir.path(), "deep.png", &args);
    assert!(
        said.contains("perturbation precision, reference "),
        "{said}"
    );
    assert!(said.contains(" bits in "), "{said}");
}

#[test]
fn deep_views_raise_the_iteration_limit_automatically_unless_the_user_sets_one() {
    use moonbrot::engine::{RenderRequest, View};
    let engine = Engine::default();
    let view = View::from_decimals(
        "-0.743643887037158704752191506114774",
        "0.131825904205311970493132056385139",
        "1e-20",
    )
    .expect("a view");
    let render = |kernel: &str, max_iter: Option<u32>| {
        engine
            .render(
                &RenderRequest {
                    view: Some(view.clone()),
                    max_iter,
                    ..request(&shipped(kernel), 24, 16)
                },
                &CancelToken::new(),
            )
            .expect("renders")
    };
    // The README's 1e-20 example: 500 iterations show nothing there. 20 decades deep
    // the depth's limit is 90 times the kernel's (45,000), but every pixel escapes
    // before 16,000 while the reference orbit (the centre, a point of the set) goes on,
    // so the fitting's climb stops below it (at twice that), with the depth's limit's
    // very image.
    let automatic = render("mandelbrot", None);
    assert!(automatic.max_iter_choice.is_automatic());
    assert!(
        (4_000..45_000).contains(&automatic.max_iter),
        "{}",
        automatic.max_iter
    );
    let escaped = automatic
        .image
        .values
        .iter()
        .filter(|value| **value >= 0.0)
        .count();
    assert_eq!(
        escaped,
        24 * 16,
        "with the raised limit every pixel escapes"
    );
    let at_depths_limit = render("mandelbrot", Some(45_000));
    assert_eq!(at_depths_limit.image.values, automatic.image.values);
    let asked = render("mandelbrot", Some(700));
    assert_eq!(asked.max_iter_choice, MaxIterChoice::Given);
    assert_eq!(asked.max_iter, 700, "the user's limit wins");
    // At home the kernel's own limit is kept.
    let home = engine
        .render(
            &request(&shipped("mandelbrot"), 24, 16),
            &CancelToken::new(),
        )
        .expect("renders");
    assert_eq!(
        (home.max_iter, home.max_iter_choice),
        (500, MaxIterChoice::Given)
    );
}

#[test]
fn the_automatic_limit_rises_where_pixels_are_cut_off_and_not_for_a_minibrots_inside() {
    use moonbrot::engine::{PrecisionChoice, RenderRequest, View};
    let engine = Engine::default();
    let render = |source: &str, view: View| {
        engine
            .render(
                &RenderRequest {
                    view: Some(view),
                    precision: PrecisionChoice::Perturbation,
                    timeout: Some(std::time::Duration::from_secs(60)),
                    ..request(source, 48, 27)
                },
                &CancelToken::new(),
            )
            .expect("renders")
    };
    let inside_share = |output: &moonbrot::engine::RenderOutput| {
        let values = &output.image.values;
        values.iter().filter(|value| **value < 0.0).count() as f64 / values.len() as f64
    };
    // A kernel whose own limit (20) is far too low: 20 decades deep the depth raises it
    // to 1,800, where most of the seahorse valley's pixels are still iterating; the
    // fitting raises it until they escape.
    let low_floor = shipped("mandelbrot").replace("max_iter = 500", "max_iter = 20");
    let seahorse = View::from_decimals(
        "-0.743643887037158704752191506114774",
        "0.131825904205311970493132056385139",
        "1e-20",
    )
    .expect("a view");
    let fitted = render(&low_floor, seahorse.clone());
    assert!(fitted.max_iter_choice.is_automatic());
    assert!(fitted.max_iter > 10_000, "raised: {}", fitted.max_iter);
    assert!(
        inside_share(&fitted) < 0.05,
        "{:.3} of pixels reach the limit",
        inside_share(&fitted)
    );
    // The same view with the limit the depth alone gives is mostly uncoloured.
    let depth_only = engine
        .render(
            &RenderRequest {
                view: Some(seahorse),
                max_iter: Some(1800),
                precision: PrecisionChoice::Perturbation,
                ..request(&low_floor, 48, 27)
            },
            &CancelToken::new(),
        )
        .expect("renders");
    assert!(inside_share(&depth_only) > 0.5);
    // The period-3 minibrot on the real axis fills a sixth of this view: its inside never
    // escapes, so the limit stays where the depth puts it (1,700 two decades deep).
    let minibrot = View::from_decimals("-1.768", "0", "0.04").expect("a view");
    let around_minibrot = render(&shipped("mandelbrot"), minibrot);
    assert!(inside_share(&around_minibrot) > 0.1);
    assert_eq!(
        around_minibrot.max_iter_choice,
        MaxIterChoice::Automatic {
            still_cuts: false,
            memory_bound: false,
        }
    );
    assert!(
        around_minibrot.max_iter <= 2_000,
        "not raised: {}",
        around_minibrot.max_iter
    );
}

#[test]
fn a_users_formula_reading_a_parameter_renders_by_perturbation_at_any_value_of_it() {
    // The README's own example, with a pixel that iterates it in f64.
    let source = "parameter { name = \"k\", kind = \"complex\", default = { 0.5, -0.25 } }\n\
                  formula { step = function(z, c) return z ^ 3 + c * z + param.k end }\n\
                  max_iter = 300\n\
                  home = { x = 0, y = 0, span = 3 }\n\
                  local log = math.log\n\
                  function pixel(x, y)\n\
                    local zr, zi, kr, ki = 0, 0, param.k.re, param.k.im\n\
                    for n = 1, max_iter do\n\
                      local z2r, z2i = zr * zr - zi * zi, 2 * zr * zi\n\
                      local z3r, z3i = z2r * zr - z2i * zi, z2r * zi + z2i * zr\n\
                      zr, zi = z3r + (x * zr - y * zi) + kr, z3i + (x * zi + y * zr) + ki\n\
                      local m = zr * zr + zi * zi\n\
                      if m > 256 then return n + 1 - log(log(m) * 0.5) / log(3) end\n\
                    end\n\
                    return nil\n\
                  end\n";
    let engine = Engine::default();
    let render = |k: (f64, f64), precision| {
        engine
            .render(
                &moonbrot::engine::RenderRequest {
                    precision,
                    guessing: false,
                    parameters: [("k".to_owned(), ParameterValue::Complex { re: k.0, im: k.1 })]
                        .into_iter()
                        .collect(),
                    ..request(source, 120, 90)
                },
                &CancelToken::new(),
            )
            .expect("renders")
    };
    use moonbrot::engine::{Precision, PrecisionChoice};
    for k in [(0.5, -0.25), (0.1, 0.2)] {
        let in_f64 = render(k, PrecisionChoice::Double);
        let perturbed = render(k, PrecisionChoice::Perturbation);
        assert_eq!(perturbed.precision, Precision::Perturbation);
        let share = share_differing(&in_f64.image.values, &perturbed.image.values);
        assert!(share <= 0.001, "k = {k:?}: {:.3}% differ", share * 100.0);
    }
}
