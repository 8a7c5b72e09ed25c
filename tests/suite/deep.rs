//! Deep zoom: views far below f64's limit render correctly through the kernels' deep entry
//! point (`pixel_deep`, on double-double coordinates), checked against a 256-bit fixed-point
//! reference computed here; the precision switches by itself where f64 runs out (and only
//! for kernels that can go deeper); the deep versions of the shipped kernels agree with
//! their f64 versions where both are exact; and a deep view survives documents, the CLI,
//! guessing, symmetry and pans.

use moonbrot::engine::{
    BigFloat, CancelToken, Dd, Engine, Precision, PrecisionChoice, RenderError, RenderOutput,
    RenderRequest, RequestError, View,
};
use num_bigint::BigInt;
use num_traits::Signed;

use crate::support::{differing_pixels, moonbrot, path_text, render_file, shipped, text};

/// The seahorse-valley point the deep references are computed at (33 digits).
const SEAHORSE: (&str, &str) = (
    "-0.743643887037158704752191506114774",
    "0.131825904205311970493132056385139",
);

fn seahorse(span: f64) -> View {
    View::from_decimals(SEAHORSE.0, SEAHORSE.1, &format!("{span:e}")).expect("a view")
}

fn render(engine: &Engine, request: &RenderRequest) -> RenderOutput {
    engine
        .render(request, &CancelToken::new())
        .expect("renders")
}

fn request(kernel: &str, view: View, size: (u32, u32), max_iter: u32) -> RenderRequest {
    RenderRequest {
        view: Some(view),
        max_iter: Some(max_iter),
        threads: 2,
        ..RenderRequest::new(shipped(kernel), size.0, size.1)
    }
}

/// Bits after the binary point of the reference's fixed-point numbers.
const FRACTION_BITS: usize = 256;

/// An f64 as a fixed-point big integer (exact: the f64's bits all lie above 2^-256 here).
fn fixed_from_f64(value: f64) -> BigInt {
    if value == 0.0 {
        return BigInt::from(0);
    }
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mantissa = BigInt::from((bits & ((1_u64 << 52) - 1)) | (1_u64 << 52));
    let shift = exponent + FRACTION_BITS as i64;
    assert!(shift >= 0, "{value:e} is below the reference's precision");
    let magnitude = mantissa << shift as usize;
    if value < 0.0 { -magnitude } else { magnitude }
}

fn fixed_from_dd(value: Dd) -> BigInt {
    fixed_from_f64(value.hi()) + fixed_from_f64(value.lo())
}

/// The Mandelbrot kernel's value at c in 256-bit fixed point: its smooth escape value
/// (bailout radius 16), or None inside (no escape within max_iter).
fn reference_escape_value(c: (Dd, Dd), max_iter: u32) -> Option<f64> {
    let (x, y) = (fixed_from_dd(c.0), fixed_from_dd(c.1));
    let zero = BigInt::from(0);
    formula_escape_value(
        Iteration::Square,
        (&zero, &zero),
        (&x, &y),
        FRACTION_BITS,
        max_iter,
    )
}

#[test]
fn deep_renders_match_a_256_bit_reference_at_spans_1e_16_1e_20_and_1e_24() {
    let engine = Engine::default();
    let size = (48, 27);
    // (span, max_iter, how far a value may be from the reference, the share that must be
    // that close). Double-double carries about 31 digits: at 1e-24 an orbit of 16,000
    // iterations that passes close to a minibrot loses the last of them, and a few
    // pixels (one in ten of this sample at most) are off by up to a few units.
    // Both deep paths: the kernel's pixel_deep, and perturbation from its formula. At
    // 1e-24 one sampled pixel grazes a minibrot for 17,800 iterations: its escape count
    // depends on digits past the reference's own (a 300-bit iteration ends 6 iterations
    // before this 256-bit one), so either path may be off by tens there (`worst`).
    for (choice, span, max_iter, tolerance, share, worst) in [
        (
            PrecisionChoice::DoubleDouble,
            1e-16,
            10_000,
            0.005,
            1.0,
            5.0,
        ),
        (
            PrecisionChoice::DoubleDouble,
            1e-20,
            20_000,
            0.005,
            1.0,
            5.0,
        ),
        (
            PrecisionChoice::DoubleDouble,
            1e-24,
            20_000,
            0.005,
            0.8,
            5.0,
        ),
        (
            PrecisionChoice::Perturbation,
            1e-16,
            10_000,
            0.005,
            1.0,
            5.0,
        ),
        (
            PrecisionChoice::Perturbation,
            1e-20,
            20_000,
            0.005,
            1.0,
            5.0,
        ),
        (
            PrecisionChoice::Perturbation,
            1e-24,
            20_000,
            0.005,
            0.8,
            50.0,
        ),
    ] {
        let view = seahorse(span);
        let output = render(
            &engine,
            &RenderRequest {
                precision: choice,
                ..request("mandelbrot", view.clone(), size, max_iter)
            },
        );
        let expected = match choice {
            PrecisionChoice::Perturbation => Precision::Perturbation,
            _ => Precision::DoubleDouble,
        };
        assert_eq!(output.precision, expected, "span {span:e}");
        let grid = view.pixel_grid(size.0, size.1);
        let mut errors = Vec::new();
        for index in 0..20_u32 {
            let (column, row) = ((index * 17) % size.0, (index * 7) % size.1);
            let got = output.image.values[(row * size.0 + column) as usize];
            // The very point the kernel received (the lattice's double-double sum).
            let point = grid.deep_complex_from_pixel(column, row);
            match reference_escape_value(point, max_iter) {
                Some(expected) => errors.push((f64::from(got) - expected).abs()),
                None => assert!(
                    got < 0.0,
                    "span {span:e} ({column}, {row}) is inside: {got}"
                ),
            }
        }
        assert!(
            errors.len() >= 15,
            "span {span:e}: the sample has escaping pixels"
        );
        let close = errors.iter().filter(|error| **error < tolerance).count();
        assert!(
            close as f64 >= share * errors.len() as f64,
            "span {span:e}: {close} of {} within {tolerance} of the reference: {errors:?}",
            errors.len()
        );
        assert!(
            errors.iter().all(|error| *error < worst),
            "span {span:e}: {errors:?}"
        );
        // Detail all the way: a blocky image (f64 at this depth) has a few distinct values.
        let distinct = crate::support::distinct_values(&output.image.values);
        assert!(distinct > 1000, "span {span:e}: {} values", distinct);
    }
}

#[test]
fn in_f64_the_same_deep_view_is_blocks_which_is_why_the_precision_switches() {
    let engine = Engine::default();
    let deep = request("mandelbrot", seahorse(1e-20), (48, 27), 20_000);
    let forced = RenderRequest {
        precision: PrecisionChoice::Double,
        ..deep.clone()
    };
    let blocky = render(&engine, &forced);
    assert_eq!(blocky.precision, Precision::Double);
    let distinct = crate::support::distinct_values(&blocky.image.values);
    assert!(distinct < 10, "{} values", distinct);
}

#[test]
fn precision_switches_only_past_the_f64_limit_to_perturbation_or_double_double() {
    let engine = Engine::default();
    let size = (64, 36);
    // The same kernel without its formula: only pixel_deep to go deep with.
    let without_formula: String = shipped("mandelbrot")
        .lines()
        .filter(|line| !line.starts_with("formula"))
        .map(|line| format!("{line}\n"))
        .collect();
    for (span, expected, expected_without_formula) in [
        (1e-6, Precision::Double, Precision::Double),
        (1e-9, Precision::Double, Precision::Double),
        (1e-12, Precision::Perturbation, Precision::DoubleDouble),
        (1e-18, Precision::Perturbation, Precision::DoubleDouble),
    ] {
        let output = render(&engine, &request("mandelbrot", seahorse(span), size, 500));
        assert_eq!(output.precision, expected, "span {span:e}");
        let plain = render(
            &engine,
            &RenderRequest {
                source: std::sync::Arc::from(without_formula.as_str()),
                ..request("mandelbrot", seahorse(span), size, 500)
            },
        );
        assert!(plain.kernel.formula.is_none());
        assert_eq!(plain.precision, expected_without_formula, "span {span:e}");
        assert_eq!(
            seahorse(span).near_precision_limit(size.1),
            expected != Precision::Double
        );
    }
    // A kernel with only pixel(x, y) stays in f64 (and keeps the warning)...
    let seed = render(&engine, &request("seed", seahorse(1e-18), size, 100));
    assert_eq!(seed.precision, Precision::Double);
    // ...and asking it for double-double is refused with the reason.
    let forced = RenderRequest {
        precision: PrecisionChoice::DoubleDouble,
        ..request("seed", seahorse(1e-3), size, 100)
    };
    let error = engine
        .render(&forced, &CancelToken::new())
        .expect_err("no pixel_deep");
    assert_eq!(error, RenderError::Request(RequestError::NoDeepEntry));
    assert!(error.to_string().contains("pixel_deep"), "{error}");
    // ...as is perturbation for a kernel without a formula.
    let forced = RenderRequest {
        precision: PrecisionChoice::Perturbation,
        ..request("seed", seahorse(1e-3), size, 100)
    };
    let error = engine
        .render(&forced, &CancelToken::new())
        .expect_err("no formula");
    assert_eq!(error, RenderError::Request(RequestError::NoFormula));
    assert!(error.to_string().contains("formula"), "{error}");
}

#[test]
fn auto_renders_by_perturbation_where_a_probe_finds_it_faster_than_f64_and_the_pixels_agree() {
    let engine = Engine::default();
    // Seahorse valley at span 1e-9 and 20,000 iterations: f64 holds its pixels, which all
    // follow the centre for their first 998 iterations (the series takes them at once); a
    // probe by perturbation is 3 to 5 times as fast here, the whole render about 3.
    let size = (640, 360);
    let at = |engine: &Engine, precision| {
        render(
            engine,
            &RenderRequest {
                precision,
                ..request("mandelbrot", seahorse(1e-9), size, 20_000)
            },
        )
    };
    let plain = at(&engine, PrecisionChoice::Double);
    assert!(!seahorse(1e-9).near_precision_limit(size.1));
    assert_eq!(plain.precision, Precision::Double);
    // The choice rests on timings, which other tests running beside this one can upset:
    // a fresh engine (which probes again) gets up to three tries.
    let auto = (0..3)
        .map(|_| at(&Engine::default(), PrecisionChoice::Auto))
        .find(|output| output.precision == Precision::Perturbation)
        .expect("perturbation chosen in one of three tries");
    let reference = auto.reference.expect("a reference");
    let speedup = reference.faster_than_f64.expect("chosen by a probe");
    assert!(speedup >= 1.5, "{speedup}");
    assert!(reference.series_steps >= 100, "{reference:?}");
    // The pixels agree with f64's where f64 is accurate, against a 300-bit iteration at
    // 200 sample pixels. About one in six here is beyond f64 by either method (their
    // rounding over 1,100 to 1,700 iterations in the spiral moves the escape, by hundreds
    // of iterations at times), and perturbation is right as often as f64.
    let grid = seahorse(1e-9).pixel_grid(size.0, size.1);
    let (mut f64_right, mut perturbation_right) = (0, 0);
    for sample in 0..200_usize {
        let index = (sample * 7919 + 13) % plain.image.values.len();
        let pixel = (index as u32 % size.0, index as u32 / size.0);
        let oracle = pixel_oracle(("mandelbrot", Iteration::Square), &grid, pixel, 300, 20_000);
        let within = |value: f32, share: f64| match oracle {
            Some(expected) => (f64::from(value) - expected).abs() <= share * expected,
            None => value < 0.0,
        };
        let (f64_value, perturbed) = (plain.image.values[index], auto.image.values[index]);
        if within(f64_value, 1e-6) {
            f64_right += 1;
            assert!(
                within(perturbed, 1e-5),
                "{pixel:?}: {perturbed} by perturbation, {f64_value} in f64, {oracle:?}"
            );
        }
        perturbation_right += usize::from(within(perturbed, 1e-6));
    }
    assert!(f64_right >= 150, "{f64_right} of 200");
    assert!(
        perturbation_right + 10 >= f64_right,
        "{perturbation_right} against {f64_right}"
    );
    // The seahorse valley's filaments at their 2,000 iterations (span 1.2e-4) stay in f64:
    // the series skips only 44 iterations there, and perturbation was 1.7 times slower.
    let filaments = View::from_decimals("-0.743643887", "0.131825904", "0.00012").expect("a view");
    let output = render(
        &engine,
        &request("mandelbrot", filaments, (1280, 720), 2000),
    );
    assert_eq!(output.precision, Precision::Double);
    assert!(output.reference.is_none());
}

#[test]
fn auto_renders_the_filaments_by_interleaved_pixels_which_are_the_kernel_s_own() {
    // The seahorse valley's filaments (span 1.2e-4, 2,000 iterations): nearly every pixel
    // escapes, after 130 iterations on average, so iterating three pixels a loop is up to
    // twice as fast as the kernel's pixel, with the same arithmetic.
    let filaments = View::from_decimals("-0.743643887", "0.131825904", "0.00012").expect("a view");
    let size = (640, 360);
    let at = |engine: &Engine, precision, guessing| {
        render(
            engine,
            &RenderRequest {
                precision,
                guessing,
                ..request("mandelbrot", filaments.clone(), size, 2000)
            },
        )
    };
    for guessing in [true, false] {
        let plain = at(&Engine::default(), PrecisionChoice::Double, guessing);
        assert_eq!(plain.interleaved, None);
        // The choice rests on timings, which other tests running beside this one can
        // upset: a fresh engine (which probes again) gets up to five tries. Each first
        // renders a quarter-size preview of the view, as the window does, which is too
        // short to gain: its choice must not stand for the full image.
        let auto = (0..5)
            .map(|_| {
                let engine = Engine::default();
                let preview = render(
                    &engine,
                    &RenderRequest {
                        guessing,
                        ..request("mandelbrot", filaments.clone(), (160, 90), 2000)
                    },
                );
                assert_eq!(preview.interleaved, None);
                at(&engine, PrecisionChoice::Auto, guessing)
            })
            .find(|output| output.interleaved.is_some())
            .expect("interleaved pixels chosen in one of five tries");
        assert_eq!(auto.precision, Precision::Double);
        assert!(auto.interleaved.is_some_and(|speedup| speedup >= 1.15));
        let bits = |values: &[f32]| {
            values
                .iter()
                .map(|value| value.to_bits())
                .collect::<Vec<_>>()
        };
        assert!(
            bits(&auto.image.values) == bits(&plain.image.values),
            "interleaved pixels differ from the kernel's (guessing {guessing})"
        );
    }
    // Where much of the view is inside (the kernel's cardioid test and guessing are
    // faster there), the kernel's own pixel stays.
    let mostly_inside = View::from_decimals("-0.1", "0", "0.5").expect("a view");
    let output = render(
        &Engine::default(),
        &request("mandelbrot", mostly_inside, (1280, 720), 2000),
    );
    assert_eq!(output.interleaved, None);
}

#[test]
fn deep_versions_of_the_shipped_kernels_agree_with_their_f64_versions_at_home() {
    let engine = Engine::default();
    let size = (160, 90);
    for kernel in [
        "mandelbrot",
        "julia",
        "burning_ship",
        "tricorn",
        "multibrot",
    ] {
        let home = RenderRequest {
            threads: 2,
            ..RenderRequest::new(shipped(kernel), size.0, size.1)
        };
        let in_f64 = render(&engine, &home);
        let deep = render(
            &engine,
            &RenderRequest {
                precision: PrecisionChoice::DoubleDouble,
                ..home.clone()
            },
        );
        assert_eq!(deep.precision, Precision::DoubleDouble);
        let (mut compared, mut inside_differs) = (0, 0);
        for (a, b) in in_f64.image.values.iter().zip(&deep.image.values) {
            if *a < 0.0 || *b < 0.0 {
                inside_differs += usize::from((*a < 0.0) != (*b < 0.0));
                continue;
            }
            // Orbits that stay long near the set's edge are chaotic: there the last bits
            // decide, and f64 and double-double part ways (both within their precision).
            if *a < 40.0 && *b < 40.0 {
                compared += 1;
                assert!(
                    (a - b).abs() < 1e-3,
                    "{kernel}: {a} in f64, {b} in double-double"
                );
            }
        }
        assert!(compared > 1000, "{kernel}: {compared} pixels compared");
        // Inside in one and escaping late (after 150 iterations and more) in the other:
        // chaotic pixels on the set's edge, where guessing may then fill a block either way.
        assert!(
            inside_differs * 100 <= in_f64.image.values.len(),
            "{kernel}: {inside_differs} pixels"
        );
    }
}

#[test]
fn a_multibrot_of_a_whole_power_stays_sharp_deep_and_a_fractional_one_renders() {
    let engine = Engine::default();
    let view = View::from_decimals("-0.5506164058", "0.6253327229", "1e-15").expect("a view");
    // A whole power: the formula's step (z ^ param.power) is recorded with it, and the
    // view renders by perturbation; a fractional power cannot be followed as a formula,
    // so pixel_deep renders it.
    let whole = render(&engine, &request("multibrot", view.clone(), (48, 27), 3000));
    assert_eq!(whole.precision, Precision::Perturbation);
    let in_double_double = render(
        &engine,
        &RenderRequest {
            precision: PrecisionChoice::DoubleDouble,
            ..request("multibrot", view.clone(), (48, 27), 3000)
        },
    );
    let differing = whole
        .image
        .values
        .iter()
        .zip(&in_double_double.image.values)
        .filter(|(a, b)| (**a - **b).abs() > 0.01)
        .count();
    assert!(
        differing <= 48 * 27 / 100,
        "perturbation and pixel_deep differ at {differing} pixels"
    );
    let fractional = render(
        &engine,
        &RenderRequest {
            parameters: [(
                "power".to_owned(),
                moonbrot::engine::kernel::ParameterValue::Real(2.5),
            )]
            .into_iter()
            .collect(),
            ..request("multibrot", view, (48, 27), 3000)
        },
    );
    assert_eq!(fractional.image.values.len(), 48 * 27);
    assert_eq!(fractional.precision, Precision::DoubleDouble);
}

#[test]
fn guessing_symmetry_and_pans_stay_exact_deep() {
    let engine = Engine::default();
    let size = (160, 96);
    // In double-double (pixel_deep); perturbation below.
    let request = |kernel: &str, view: &View, size: (u32, u32), max_iter: u32| RenderRequest {
        precision: PrecisionChoice::DoubleDouble,
        ..request(kernel, view.clone(), size, max_iter)
    };
    // Guessing: a few pixels in a thousand may differ from computing every pixel.
    let view = seahorse(1e-14);
    let guessed = render(&engine, &request("mandelbrot", &view, size, 3000));
    let computed = render(
        &engine,
        &RenderRequest {
            guessing: false,
            ..request("mandelbrot", &view, size, 3000)
        },
    );
    assert_eq!(guessed.precision, Precision::DoubleDouble);
    assert!(differing_pixels(&guessed, &computed) <= 15);
    // Symmetry deep on the real axis (the needle): mirrored, and the same bits.
    let needle = View::from_decimals("-1.7499903558109382", "0", "1e-13").expect("a view");
    let mirrored = render(&engine, &request("mandelbrot", &needle, size, 3000));
    let plain = render(
        &engine,
        &RenderRequest {
            symmetry: false,
            ..request("mandelbrot", &needle, size, 3000)
        },
    );
    assert_eq!(mirrored.precision, Precision::DoubleDouble);
    assert!(mirrored.timings.mirrored_pixels > 0);
    assert_eq!(differing_pixels(&mirrored, &plain), 0);
    // A pan keeps the pixels it can and equals a full render.
    let before = std::sync::Arc::new(guessed);
    let panned_view = view.panned_by_pixels((-40.0, 17.0), size.1);
    let panned = render(
        &engine,
        &RenderRequest {
            previous: Some(std::sync::Arc::clone(&before)),
            ..request("mandelbrot", &panned_view, size, 3000)
        },
    );
    assert!(panned.timings.kept_pixels > 0, "the pan kept pixels");
    let full = render(&engine, &request("mandelbrot", &panned_view, size, 3000));
    assert_eq!(differing_pixels(&panned, &full), 0);
    // By perturbation: the reference lies on the axis, so mirrored rows are the same bits.
    let by_perturbation = |symmetry: bool| RenderRequest {
        precision: PrecisionChoice::Perturbation,
        symmetry,
        ..request("mandelbrot", &needle, size, 3000)
    };
    let mirrored = render(&engine, &by_perturbation(true));
    let plain = render(&engine, &by_perturbation(false));
    assert_eq!(mirrored.precision, Precision::Perturbation);
    assert!(mirrored.timings.mirrored_pixels > 0);
    assert_eq!(differing_pixels(&mirrored, &plain), 0);
}

#[test]
fn the_cli_renders_a_pasted_deep_location_and_its_document_round_trips_bit_exactly() {
    let dir = tempfile::tempdir().expect("temp dir");
    // At 1e-20, and far below f64's range beside c = i.
    for (name, view) in [
        ("deep", seahorse(1e-20)),
        ("deeper", beside(("0", "1"), "1e-1000", (0.37, 0.22))),
    ] {
        let location = view.location_text();
        let mut args: Vec<&str> = location.split(' ').collect();
        args.extend([
            "--kernel",
            "mandelbrot",
            "--size",
            "64x36",
            "--max-iter",
            "20000",
        ]);
        let (deep, said) = render_file(dir.path(), &format!("{name}.png"), &args);
        assert!(said.contains("perturbation precision"), "{said}");
        let stored = moonbrot::engine::output::read_document(&deep).expect("metadata");
        assert_eq!(stored.view, view, "every digit of the centre is stored");
        let described = text(&moonbrot(&["info", path_text(&deep)]).stdout);
        assert!(described.contains(&location), "{described}");
        let (again, _) = render_file(
            dir.path(),
            &format!("{name}-again.png"),
            &["--from", path_text(&deep)],
        );
        let reread = moonbrot::engine::output::read_document(&again).expect("metadata");
        assert_eq!(reread.view, stored.view);
        let pixels = crate::support::pixels(&deep);
        assert_eq!(crate::support::pixels(&again), pixels, "bit-exact");
    }
}

/// c = i is a point of the set whose orbit never escapes; pixels 1e-1000 from it all
/// escape by about 2,700 steps. The depth's limit there is 16,000,000, which the
/// reference orbit alone took 44 s and 1.35 GiB to reach at 320x180.
#[test]
fn about_a_point_of_the_set_at_1e_1000_the_limit_is_fitted_to_the_pixels_not_the_depth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let view = View::from_decimals("0", "1", "1e-1000").expect("a view");
    let location = view.location_text();
    let mut args: Vec<&str> = location.split(' ').collect();
    args.extend(["--size", "64x36"]);
    let (fitted, said) = render_file(dir.path(), "fitted.png", &args);
    assert!(said.contains("automatic: fitted to the view"), "{said}");
    let max_iter: u32 = said
        .split("(max_iter ")
        .nth(1)
        .and_then(|rest| rest.split([',', ')']).next())
        .and_then(|number| number.parse().ok())
        .expect("the limit in the summary");
    assert!((2_700..100_000).contains(&max_iter), "{said}");
    // A limit four times higher shows the same image: no pixel was cut off.
    let higher = (4 * max_iter).to_string();
    args.extend(["--max-iter", &higher]);
    let (raised, _) = render_file(dir.path(), "raised.png", &args);
    assert_eq!(
        crate::support::pixels(&raised),
        crate::support::pixels(&fitted)
    );
}

/// The depth's limit at 1e-120 is 660,000 steps, more than an 8 MiB memory limit holds
/// (524,288 points); inside the set every probe pixel reaches every limit. The fitting
/// stops at the highest limit that fits and says that the limit may cut, instead of the
/// render failing on the reference's memory.
#[test]
fn a_view_inside_the_set_whose_depth_limit_passes_the_memory_limit_renders_below_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let args = [
        "--center=-1,0",
        "--span",
        "1e-120",
        "--size",
        "16x9",
        "--memory-limit",
        "8",
    ];
    let (_, said) = render_file(dir.path(), "inside.png", &args);
    assert!(said.contains("(max_iter 260000, automatic"), "{said}");
    assert!(said.contains("many pixels still reach it"), "{said}");
    assert!(said.contains("needs a higher --memory-limit"), "{said}");
}

/// A render at a higher limit after one at a lower limit of the same view takes the
/// last reference orbit on from where it stopped; its pixels are those of an orbit
/// computed in one go.
#[test]
fn a_reference_taken_on_to_a_higher_limit_gives_the_pixels_of_one_computed_afresh() {
    let view = View::from_decimals("0", "1", "1e-100").expect("a view");
    let engine = Engine::default();
    let short = render(&engine, &request("mandelbrot", view.clone(), (48, 27), 200));
    assert!(short.image.values.iter().all(|value| *value < 0.0));
    let taken_on = render(
        &engine,
        &request("mandelbrot", view.clone(), (48, 27), 3000),
    );
    let afresh = render(
        &Engine::default(),
        &request("mandelbrot", view, (48, 27), 3000),
    );
    let (taken_on_summary, afresh_summary) = (
        taken_on.reference.expect("a reference"),
        afresh.reference.expect("a reference"),
    );
    assert_eq!(taken_on_summary.iterations, 3000);
    assert_eq!(taken_on_summary.taken_on_from, Some(200));
    assert_eq!(afresh_summary.iterations, 3000);
    assert_eq!(afresh_summary.taken_on_from, None);
    assert_eq!(taken_on_summary.skips, afresh_summary.skips);
    assert!(taken_on.image.values.iter().all(|value| *value > 200.0));
    assert_eq!(taken_on.image.values, afresh.image.values);
}

#[test]
fn a_film_zooms_into_a_deep_target_frame_by_frame() {
    let start = View::new(-0.75, 0.1, 3.0);
    let end = seahorse(1e-20);
    let frames = 60;
    let mut previous_span = f64::INFINITY;
    for index in 0..frames {
        let frame = View::film_frame(&start, &end, index, frames);
        assert!(frame.span_f64() < previous_span);
        previous_span = frame.span_f64();
        // The target stays in the picture, closer to its middle as the film goes on.
        let size = (160, 90);
        let target = (end.center_x.clone(), end.center_y.clone());
        let (column, row) = frame.pos_in_image_from_complex(&target, size);
        assert!(
            (0.0..=160.0).contains(&column) && (0.0..=90.0).contains(&row),
            "{index}"
        );
    }
    assert_eq!(View::film_frame(&start, &end, frames - 1, frames), end);
    let near_end = View::film_frame(&start, &end, frames - 2, frames);
    assert!((&near_end.center_x - &end.center_x).abs() < near_end.span);
}

#[test]
fn a_bad_or_failing_pixel_deep_is_reported_like_pixel() {
    let not_a_function =
        crate::support::kernel_error("function pixel(x, y) return 1 end\npixel_deep = 3\n");
    assert!(
        matches!(
            not_a_function,
            moonbrot::engine::KernelError::BadSetting {
                name: "pixel_deep",
                ..
            }
        ),
        "{not_a_function:?}"
    );
    assert!(
        not_a_function.to_string().contains("pixel_deep"),
        "{not_a_function}"
    );
    // A runtime error deep names its line and the pixel, as in f64.
    let source = "function pixel(x, y) return 1 end\n\
                  function pixel_deep(x, y)\n  return x.nothing.hi\nend\n";
    let error = Engine::default()
        .render(
            &RenderRequest {
                view: Some(seahorse(1e-18)),
                threads: 1,
                ..RenderRequest::new(source, 16, 9)
            },
            &CancelToken::new(),
        )
        .expect_err("pixel_deep fails");
    match error {
        RenderError::Kernel(moonbrot::engine::KernelError::Runtime { line, pixel, .. }) => {
            assert_eq!(line, Some(3));
            assert!(pixel.is_some(), "the failing pixel is named");
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

/// `text` (a decimal) as a fixed-point big integer with `fraction_bits` bits after the
/// point, rounded down: exact enough for an oracle with a margin of bits.
fn fixed_from_decimal(text: &str, fraction_bits: usize) -> BigInt {
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().expect("exponent")),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let unsigned = mantissa.trim_start_matches(['-', '+']);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits: BigInt = format!("{whole}{fraction}").parse().expect("digits");
    let exponent = exponent - fraction.len() as i64;
    let ten = BigInt::from(10);
    let scaled = digits << fraction_bits;
    let magnitude = if exponent >= 0 {
        scaled * ten.pow(exponent as u32)
    } else {
        scaled / ten.pow((-exponent) as u32)
    };
    if negative { -magnitude } else { magnitude }
}

/// The iteration of a shipped formula kernel, for the fixed-point oracle.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Iteration {
    /// z -> z^2 + c (mandelbrot; julia with z0 the pixel).
    Square,
    /// z -> conj(z)^2 + c (tricorn).
    ConjugateSquare,
    /// z -> (|Re z| + i |Im z|)^2 + conj(c) (burning_ship).
    FoldedSquare,
    /// z -> z^3 + c (multibrot at its default power).
    Cube,
}

/// A formula kernel's smooth escape value from z0 with constant c, iterated in fixed point
/// with `fraction_bits` bits after the point: n + 1 - log_d(ln |z|) once |z| > 16 (d the
/// degree), or None when it stays within max_iter.
fn formula_escape_value(
    iteration: Iteration,
    z0: (&BigInt, &BigInt),
    c: (&BigInt, &BigInt),
    fraction_bits: usize,
    max_iter: u32,
) -> Option<f64> {
    let bailout = BigInt::from(256) << fraction_bits;
    let multiply = |a: &BigInt, b: &BigInt| (a * b) >> fraction_bits;
    let (mut zr, mut zi) = (z0.0.clone(), z0.1.clone());
    for n in 1..=max_iter {
        let (square_re, square_im): (BigInt, BigInt) = (
            multiply(&zr, &zr) - multiply(&zi, &zi),
            multiply(&zr, &zi) << 1,
        );
        (zr, zi) = match iteration {
            Iteration::Square => (square_re + c.0, square_im + c.1),
            Iteration::ConjugateSquare => (square_re + c.0, -square_im + c.1),
            Iteration::FoldedSquare => (square_re + c.0, square_im.abs() - c.1),
            Iteration::Cube => (
                multiply(&square_re, &zr) - multiply(&square_im, &zi) + c.0,
                multiply(&square_re, &zi) + multiply(&square_im, &zr) + c.1,
            ),
        };
        let radius2 = multiply(&zr, &zr) + multiply(&zi, &zi);
        if radius2 > bailout {
            // 256 < |z|^2 < 2^64 or so: the top bits as an f64 are enough.
            let radius2 = (&radius2 >> (fraction_bits - 32))
                .to_string()
                .parse::<f64>()
                .unwrap_or(f64::MAX)
                / 2f64.powi(32);
            let degree: f64 = if iteration == Iteration::Cube {
                3.0
            } else {
                2.0
            };
            return Some(f64::from(n) + 1.0 - (radius2.ln() * 0.5).ln() / degree.ln());
        }
    }
    None
}

/// The centre of pixel (column, row) of `grid`, in fixed point.
fn pixel_in_fixed_point(
    grid: &moonbrot::engine::PixelGrid,
    (column, row): (u32, u32),
    fraction_bits: usize,
) -> (BigInt, BigInt) {
    let (x, y) = grid.complex_from_pos_in_image((f64::from(column) + 0.5, f64::from(row) + 0.5));
    (
        fixed_from_decimal(&x.to_decimal(), fraction_bits),
        fixed_from_decimal(&y.to_decimal(), fraction_bits),
    )
}

/// The value of pixel (column, row) of `grid` for a formula `kernel` (its `iteration`;
/// julia: z0 the pixel, c its default), iterated in fixed point.
fn pixel_oracle(
    (kernel, iteration): (&str, Iteration),
    grid: &moonbrot::engine::PixelGrid,
    (column, row): (u32, u32),
    fraction_bits: usize,
    max_iter: u32,
) -> Option<f64> {
    let pixel = pixel_in_fixed_point(grid, (column, row), fraction_bits);
    let zero = BigInt::from(0);
    // The julia kernel's default c, as the engine reads it (the f64s).
    let julia_c = (
        fixed_from_f64(-0.8) << (fraction_bits - FRACTION_BITS),
        fixed_from_f64(0.156) << (fraction_bits - FRACTION_BITS),
    );
    let (z0, c) = if kernel == "julia" {
        ((&pixel.0, &pixel.1), (&julia_c.0, &julia_c.1))
    } else {
        ((&zero, &zero), (&pixel.0, &pixel.1))
    };
    formula_escape_value(iteration, z0, c, fraction_bits, max_iter)
}

/// The julia kernel's repelling fixed point (1 + sqrt(1 - 4c)) / 2 for its default c (the
/// f64s nearest -0.8 and 0.156), on its Julia set: the set looks alike about it at every
/// scale. 340 digits (mpmath).
const JULIA_FIXED_POINT: (&str, &str) = (
    "1.527503118643534632274607931351916169475312417511732493905728256658568636525695786020421879731335118480144400257091095186553448177705130879613017292785671764152099724659377774733355473369265353349772563490175628943056167197280042212090576680372433550707926225221897022785665578032484975616504266056196689720337393553700981228487268436986132",
    "-0.07591217835228786537645686586874294279973440252573095265450624313945915955042180659717442058891181320675676973257458609472115866082880111277614278044444819160441352281097364372333561390747195511454096416439597702987405828009116739658064082160493453449229062968439054775447222062943355991678937308701938184779390934026945499828085837595159077",
);

/// A Misiurewicz point of z^3 + c: c = sqrt(w - 1), w = exp(2 pi i / 3), whose critical
/// orbit 0, c, c^3 + c lands on a repelling fixed point; on the set's boundary, which looks
/// alike about it at every scale. 340 digits (mpmath).
const CUBIC_MISIUREWICZ: (&str, &str) = (
    "0.3406250193166066401943942440378308889772101025491253031197026326145173773487952343630988949291399753177594601305713199721022589856485166787850209875432320051377245596544746622989908421817848790596442109039655926024438112392387197270785544211312078231931407922255067611487612818143545275285753036705655514199102332647537109979576460400949679",
    "1.271229878418706239135612991021064976728414328226777678213679143693480791344744196914676716028263193339698518162663843728326245038164424332898286319560664588947322396657371401530267968950691893452770057171200380923129220536858152585986337667665524044335959266190333013324568815215889689188795007020111433882817693478496552642927029350246987",
);

/// Points on each formula kernel's set's boundary whose orbits neither escape nor settle
/// (preperiodic points; for the Julia set a repelling fixed point), so the same kind of
/// detail surrounds them at every depth: c = i; c = -2 (0, -2, 2, 2, ..., for the tricorn
/// and the Burning Ship too); the cubic Misiurewicz point; the Julia set's fixed point.
const BOUNDARY_POINTS: [(&str, Iteration, (&str, &str)); 5] = [
    ("mandelbrot", Iteration::Square, ("0", "1")),
    ("tricorn", Iteration::ConjugateSquare, ("-2", "0")),
    ("burning_ship", Iteration::FoldedSquare, ("-2", "0")),
    ("multibrot", Iteration::Cube, CUBIC_MISIUREWICZ),
    ("julia", Iteration::Square, JULIA_FIXED_POINT),
];

/// A view `span` high (decimal text) whose centre is `point` moved by `(x, y)` spans.
fn beside(point: (&str, &str), span: &str, (x, y): (f64, f64)) -> View {
    let parse = |text: &str| BigFloat::parse_decimal(text).expect("a number");
    let span = parse(span);
    View::at(
        &parse(point.0) + &span.mul_f64(x),
        &parse(point.1) + &span.mul_f64(y),
        span,
    )
}

#[test]
fn perturbation_and_pixel_deep_agree_between_1e_15_and_1e_24_for_every_formula() {
    let engine = Engine::default();
    let size = (64, 36);
    for (kernel, iteration, point) in BOUNDARY_POINTS {
        for span in ["1e-15", "1e-20", "1e-24"] {
            // Beside the point, so that the reference escapes and pixels rebase.
            let view = beside(point, span, (0.21, 0.13));
            let at = |precision| {
                render(
                    &engine,
                    &RenderRequest {
                        precision,
                        ..request(kernel, view.clone(), size, 5000)
                    },
                )
            };
            let (perturbed, deep) = (
                at(PrecisionChoice::Perturbation),
                at(PrecisionChoice::DoubleDouble),
            );
            assert_eq!(perturbed.precision, Precision::Perturbation);
            assert_eq!(deep.precision, Precision::DoubleDouble);
            let grid = view.pixel_grid(size.0, size.1);
            let (mut differing, mut perturbation_off) = (0, 0);
            for (index, (a, b)) in perturbed
                .image
                .values
                .iter()
                .zip(&deep.image.values)
                .enumerate()
            {
                if (a - b).abs() <= 0.01 {
                    continue;
                }
                differing += 1;
                // Which is right: a 600-bit iteration says.
                let pixel = (index as u32 % size.0, index as u32 / size.0);
                let oracle = pixel_oracle((kernel, iteration), &grid, pixel, 600, 5000);
                if oracle.is_none_or(|expected| (f64::from(*a) - expected).abs() > 0.01) {
                    perturbation_off += 1;
                }
            }
            let pixels = perturbed.image.values.len();
            // The julia kernel's default c lies just outside the Mandelbrot set's period-2
            // bulb: its slowest pixels linger 200 to 1000 iterations near the Julia set,
            // where neither perturbation (whose pixel orbits are f64 once they leave the
            // reference) nor double-double (deep, out of digits) follows every orbit.
            if kernel == "julia" {
                assert!(
                    perturbation_off * 1000 <= 6 * pixels,
                    "{kernel} at span {span}: {perturbation_off} pixels off"
                );
            } else {
                assert!(
                    differing * 1000 <= pixels,
                    "{kernel} at span {span}: {differing} pixels differ"
                );
            }
        }
    }
}

#[test]
fn perturbation_matches_direct_iteration_in_fixed_point_for_every_formula_at_1e_30_1e_120_and_1e_280()
 {
    let rebased_or_late =
        matches_the_fixed_point_oracle(&BOUNDARY_POINTS, &["1e-30", "1e-120", "1e-280"]);
    // Pixels that iterate past the end of their reference orbit (rebasing onto its start).
    assert!(rebased_or_late > 0);
}

#[test]
fn perturbation_matches_direct_iteration_past_f64_s_range_at_1e_400_and_1e_1000() {
    // A conformal formula and a folding one, with their offsets from the reference far
    // below f64's smallest number (scaled pixels).
    let kernels = [BOUNDARY_POINTS[0], BOUNDARY_POINTS[2]];
    assert_eq!((kernels[0].0, kernels[1].0), ("mandelbrot", "burning_ship"));
    matches_the_fixed_point_oracle(&kernels, &["1e-400", "1e-1000"]);
}

/// sqrt(1/2) to `bits` binary places, as decimal text (exact: a binary fraction).
fn square_root_of_a_half(bits: usize) -> String {
    let scaled = (BigInt::from(1) << (2 * bits - 1)).sqrt();
    let digits = (scaled * BigInt::from(5).pow(bits as u32)).to_string();
    format!("0.{digits:0>bits$}")
}

#[test]
fn julia_pixels_passing_nearer_0_than_f64_holds_escape_where_fixed_point_iteration_says() {
    // z^2 + i, whose critical orbit 0, i, -1 + i, -i, -1 + i, ... ends on a repelling
    // cycle; views about z0 = sqrt(-i), which z^2 + i sends to 0. There every pixel's z1
    // is about a span from 0 (the reference's nearer), far below f64's smallest number; its
    // z2 differs from the critical orbit's by that squared, a difference the cycle
    // doubles every 0.8 steps until the pixel escapes, thousands of steps later. A step
    // that lost the square (a scaled step's w^2 2^-s underflows) left pixels on the
    // critical orbit forever: inside.
    let engine = Engine::default();
    let size = (24, 16);
    let max_iter = 20_000;
    let root = square_root_of_a_half(3700);
    let minus_root = format!("-{root}");
    for span_text in ["1e-400", "1e-1000"] {
        let span_log2 = BigFloat::parse_decimal(span_text).expect("a span").log2();
        // The pixels' z2 differ from the critical orbit's by about span^2.
        let fraction_bits = 2 * (-span_log2) as usize + 192;
        let view = beside((&root, &minus_root), span_text, (0.0, 0.0));
        let mut request = request("julia", view.clone(), size, max_iter);
        request.precision = PrecisionChoice::Perturbation;
        request.parameters.insert(
            "c".to_owned(),
            moonbrot::engine::kernel::ParameterValue::Complex { re: 0.0, im: 1.0 },
        );
        let output = render(&engine, &request);
        assert_eq!(output.precision, Precision::Perturbation);
        let grid = view.pixel_grid(size.0, size.1);
        let c = (BigInt::from(0), BigInt::from(1) << fraction_bits);
        for index in 0..12_u32 {
            let (column, row) = ((index * 7) % size.0, (index * 5) % size.1);
            let got = f64::from(output.image.values[(row * size.0 + column) as usize]);
            let z0 = pixel_in_fixed_point(&grid, (column, row), fraction_bits);
            let expected = formula_escape_value(
                Iteration::Square,
                (&z0.0, &z0.1),
                (&c.0, &c.1),
                fraction_bits,
                max_iter,
            )
            .expect("the pixel escapes");
            assert!(
                expected > 1000.0,
                "span {span_text}: escapes late ({expected})"
            );
            assert!(
                (got - expected).abs() <= 1e-6 * expected,
                "span {span_text}, pixel ({column}, {row}): {got} against {expected}"
            );
        }
    }
}

/// Renders each of `kernels` by perturbation at each of `spans` (decimal text), on its
/// boundary point and a third of a span beside it, and compares sampled pixels with a
/// fixed-point iteration: the escape count exact, the value to a millionth. Returns how
/// many compared pixels outlasted their reference orbit.
fn matches_the_fixed_point_oracle(
    kernels: &[(&str, Iteration, (&str, &str))],
    spans: &[&str],
) -> usize {
    let engine = Engine::default();
    let size = (32, 18);
    let max_iter = 20_000;
    let mut rebased_or_late = 0;
    for &(kernel, iteration, point) in kernels {
        for &span_text in spans {
            let span_log2 = BigFloat::parse_decimal(span_text).expect("a span").log2();
            let fraction_bits = (-span_log2) as usize + 192;
            // On the point (its reference never escapes: pixels rebase onto it) and a
            // third of a span beside it (its reference escapes, and pixels nearer the
            // point escape after it).
            for offset in [0.0, 0.37] {
                let view = beside(point, span_text, (offset, offset * 0.6));
                let output = render(
                    &engine,
                    &RenderRequest {
                        precision: PrecisionChoice::Perturbation,
                        ..request(kernel, view.clone(), size, max_iter)
                    },
                );
                assert_eq!(output.precision, Precision::Perturbation, "{kernel}");
                let reference_length = output.reference.expect("by perturbation").iterations;
                let grid = view.pixel_grid(size.0, size.1);
                let mut compared = 0;
                for index in 0..10_u32 {
                    let (column, row) = ((index * 13) % size.0, (index * 5) % size.1);
                    let got = f64::from(output.image.values[(row * size.0 + column) as usize]);
                    let expected = pixel_oracle(
                        (kernel, iteration),
                        &grid,
                        (column, row),
                        fraction_bits,
                        max_iter,
                    );
                    let place =
                        format!("{kernel} at span {span_text}, {offset} beside, ({column}, {row})");
                    match expected {
                        Some(expected) => {
                            compared += 1;
                            // The escape count exact and the value to a millionth (of itself:
                            // pixels hold f32s).
                            assert!(
                                (got - expected).abs() <= 1e-6 * expected.abs().max(1.0),
                                "{place}: {got} against {expected}"
                            );
                            if expected.floor() as usize > reference_length {
                                rebased_or_late += 1;
                            }
                        }
                        None => assert!(got < 0.0, "{place} is inside: {got}"),
                    }
                }
                assert!(
                    compared >= 5,
                    "{kernel} at span {span_text}: the sample escapes"
                );
                // Not one flat colour: the values still vary from pixel to pixel.
                let distinct = crate::support::distinct_values(&output.image.values);
                assert!(
                    distinct > 100,
                    "{kernel} at span {span_text}: {} values",
                    distinct
                );
            }
        }
    }
    rebased_or_late
}

#[test]
fn skips_give_the_pixels_of_plain_perturbation_for_every_formula_at_three_depths() {
    let engine = Engine::default();
    let size = (64, 36);
    for (kernel, _, point) in BOUNDARY_POINTS {
        for span in ["1e-20", "1e-60", "1e-400"] {
            let view = beside(point, span, (0.21, 0.13));
            let at = |skips| {
                render(
                    &engine,
                    &RenderRequest {
                        precision: PrecisionChoice::Perturbation,
                        skips,
                        ..request(kernel, view.clone(), size, 20_000)
                    },
                )
            };
            let (plain, skipping) = (at(false), at(true));
            let differing = plain
                .image
                .values
                .iter()
                .zip(&skipping.image.values)
                .filter(|(a, b)| (**a - **b).abs() > 1e-6 * a.abs().max(1.0))
                .count();
            // julia's slowest pixels are chaotic (see the test above): a relative change of
            // 1e-13 moves their escape, as it does their f64 rounding.
            let most_differing_per_mille = if kernel == "julia" { 6 } else { 1 };
            assert!(
                differing * 1000 <= most_differing_per_mille * plain.image.values.len(),
                "{kernel} at span {span}: {differing} pixels differ"
            );
            // The one made its table of skips, the other none.
            let entries = |output: &RenderOutput| output.reference.expect("a reference").skips;
            assert!(entries(&skipping) > 0, "{kernel} at span {span}");
            assert_eq!(entries(&plain), 0);
            // Formulas with a power series in c (not the folds, conjugates or a Julia set's
            // z) started every pixel from one, which the pixels above agree with, at every
            // depth (at 1e-400 pixel offsets are scaled, and dc is below f64's range).
            let series_steps =
                |output: &RenderOutput| output.reference.expect("a reference").series_steps;
            if matches!(kernel, "mandelbrot" | "multibrot") {
                assert!(series_steps(&skipping) > 0, "{kernel} at span {span}");
                // Beside the point the reference escapes, and the pixels nearest it follow
                // it longer: an inner stage of the series takes them farther (to 57 and 164
                // at 1e-20 and 1e-60, against 55 and 162 for the whole view), and they
                // still agree with plain perturbation above.
                let nearest = skipping
                    .reference
                    .expect("a reference")
                    .series_nearest_steps;
                if kernel == "mandelbrot" && span != "1e-400" {
                    assert!(
                        nearest > series_steps(&skipping),
                        "{kernel} at span {span}: {nearest}"
                    );
                }
            } else {
                assert_eq!(series_steps(&skipping), 0, "{kernel} at span {span}");
            }
            assert_eq!(series_steps(&plain), 0);
        }
    }
}

/// rust-fractal-core's 1e50 benchmark location (its `benchmarks/1e50.toml`).
const PEER_1E50: (&str, &str) = (
    "-0.0494700290631040937516922267273536301187457124882248793181049402326421947726869034279915499747594190000000000000000000",
    "-0.6747875758446753640113920531305976563347707068224034806979997947909941983454845111514208499540310299999999999999999880",
);

#[test]
fn a_pixel_whose_orbit_magnifies_its_offset_escapes_where_fixed_point_iteration_says() {
    // The centre pixel of this 16x16 view (the centre of the location's 512x512 view:
    // the same lattice point) follows the reference for 187,000 steps and then leaves
    // it, so its escape magnifies any error in its offset from the reference: an error
    // of 2^-32 of a pixel (the lattice origin's offset, up to 2^20 pixels, rounded to
    // f64) moved it 18 steps early. Fixed-point iteration of its exact point says where
    // it escapes.
    let view = View::at(
        BigFloat::parse_decimal(PEER_1E50.0).expect("real"),
        BigFloat::parse_decimal(PEER_1E50.1).expect("imaginary"),
        BigFloat::parse_decimal("1.25e-51").expect("span"),
    );
    let (size, max_iter, pixel) = ((16, 16), 263_010, (8, 8));
    let output = render(
        &Engine::default(),
        &RenderRequest {
            precision: PrecisionChoice::Perturbation,
            ..request("mandelbrot", view.clone(), size, max_iter)
        },
    );
    let got = f64::from(output.image.values[(pixel.1 * size.0 + pixel.0) as usize]);
    let fraction_bits = (-view.span.log2()) as usize + 192;
    let c = pixel_in_fixed_point(&view.pixel_grid(size.0, size.1), pixel, fraction_bits);
    let zero = BigInt::from(0);
    let expected = formula_escape_value(
        Iteration::Square,
        (&zero, &zero),
        (&c.0, &c.1),
        fraction_bits,
        max_iter,
    )
    .expect("the pixel escapes");
    assert!(expected > 187_000.0, "{expected}");
    // Within a step (it was 18 off): what is left is f64's rounding along the orbit.
    assert!((got - expected).abs() < 1.0, "{got} against {expected}");
}

#[test]
fn the_cli_takes_skips_and_a_series_unless_told_not_to_and_says_how_many() {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = seahorse(1e-30).location_text();
    let mut args: Vec<&str> = location.split(' ').collect();
    args.extend(["--size", "32x18", "--max-iter", "20000"]);
    let (_, said) = render_file(dir.path(), "skips.png", &args);
    let skips = said
        .split(", ")
        .find_map(|part| part.strip_suffix(" skips"))
        .and_then(|count| count.parse::<usize>().ok())
        .expect("a count of skips");
    assert!(skips > 0, "{said}");
    assert!(said.contains(", a series to iteration "), "{said}");
    args.extend(["--skips", "off"]);
    let (_, said) = render_file(dir.path(), "plain.png", &args);
    assert!(said.contains(", 0 skips"), "{said}");
    assert!(!said.contains("series"), "{said}");
}

#[test]
fn comparing_with_a_peer_that_is_not_built_says_how_to_build_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = moonbrot(&["bench", "--deep-locations", path_text(dir.path())]);
    assert_eq!(output.status.code(), Some(1));
    let said = text(&output.stderr);
    assert!(said.contains("cargo build --release"), "{said}");
}

/// rust-fractal-core's five benchmark locations (its `benchmarks/*.toml`, read from the
/// checkout named by `MOONBROT_PEER`), each rendered by perturbation at 16x16 with its
/// iteration count, against fixed-point iteration of sample pixels: the escape count
/// exact, the value to a millionth. Minutes of big-integer arithmetic (1e1086: 600,100
/// steps in 3,700 bits a pixel), so it is run by hand:
/// `MOONBROT_PEER=path cargo test --release --test tests peer_locations -- --ignored`.
#[test]
#[ignore = "minutes: run with MOONBROT_PEER=rust-fractal-core --release --ignored"]
fn peer_benchmark_locations_match_fixed_point_iteration_at_sample_pixels() {
    let peer = std::env::var("MOONBROT_PEER").expect("MOONBROT_PEER names the peer's checkout");
    let engine = Engine::default();
    let side: u32 = std::env::var("MOONBROT_SIDE").map_or(16, |side| side.parse().expect("pixels"));
    let size = (side, side);
    let only = std::env::var("MOONBROT_LOCATION").ok();
    let mut off = Vec::new();
    for name in ["1e50", "5e113", "5e227", "4e533", "1e1086"] {
        if only.as_ref().is_some_and(|only| only != name) {
            continue;
        }
        let text = std::fs::read_to_string(format!("{peer}/benchmarks/{name}.toml"))
            .expect("the peer's location file");
        let field = |key: &str| {
            text.lines()
                .find_map(|line| {
                    let (left, right) = line.split_once('=')?;
                    (left.trim() == key).then(|| right.trim().trim_matches('"').to_owned())
                })
                .expect("the field")
        };
        let zoom = BigFloat::parse_decimal(&field("zoom")).expect("a zoom");
        let span = &BigFloat::from_f64(4.0) / &zoom;
        let view = View::at(
            BigFloat::parse_decimal(&field("real")).expect("real"),
            BigFloat::parse_decimal(&field("imag")).expect("imag"),
            span,
        );
        let max_iter: u32 = field("iterations").parse().expect("iterations");
        let started = std::time::Instant::now();
        let output = render(
            &engine,
            &RenderRequest {
                precision: PrecisionChoice::Perturbation,
                skips: std::env::var("MOONBROT_SKIPS").map_or(true, |skips| skips != "off"),
                ..request("mandelbrot", view.clone(), size, max_iter)
            },
        );
        let render_secs = started.elapsed().as_secs_f64();
        let grid = view.pixel_grid(size.0, size.1);
        let extra_bits: usize = std::env::var("MOONBROT_ORACLE_BITS")
            .map_or(192, |bits| bits.parse().expect("a number of bits"));
        let fraction_bits = (-view.span.log2()) as usize + extra_bits;
        let zero = BigInt::from(0);
        let mut escaped = 0;
        let at = |sixteenths: u32| sixteenths * side / 16;
        for (column, row) in [(0, 0), (15, 15), (8, 8), (3, 11), (12, 4), (7, 1)] {
            let (column, row) = (at(column), at(row));
            let got = f64::from(output.image.values[(row * size.0 + column) as usize]);
            let c = pixel_in_fixed_point(&grid, (column, row), fraction_bits);
            let expected = formula_escape_value(
                Iteration::Square,
                (&zero, &zero),
                (&c.0, &c.1),
                fraction_bits,
                max_iter,
            );
            eprintln!("{name} ({column}, {row}): {got} against {expected:?}");
            if std::env::var("MOONBROT_NUDGE").is_ok() {
                let nudge = BigInt::from(1) << (fraction_bits - (-view.span.log2()) as usize - 50);
                let nudged = formula_escape_value(
                    Iteration::Square,
                    (&zero, &zero),
                    (&(&c.0 + &nudge), &c.1),
                    fraction_bits,
                    max_iter,
                );
                eprintln!("  moved by 2^-50 spans: {nudged:?}");
            }
            let right = match expected {
                Some(expected) => {
                    escaped += 1;
                    (got - expected).abs() <= 1e-6 * expected
                }
                None => got < 0.0,
            };
            if !right {
                off.push(format!(
                    "{name} ({column}, {row}): {got} against {expected:?}"
                ));
            }
        }
        eprintln!("{name}: rendered in {render_secs:.2} s, {escaped} of 6 escaped");
    }
    // One sample is known to be off: 5e227's corner pixel (0, 0), 1,119,990.0 by
    // fixed-point iteration. It follows the reference for 1,117,000 steps, then wanders
    // for 3,000 near the set before escaping, and that wandering magnifies its error from
    // f64's rounding along the first part past what f64 can hold: started from its exact
    // dz at step 1,103,743 (where the series takes it), perturbation in f64 escapes at the
    // right step; from dz wrong by 1e-12 of itself, a step late; by 1e-11, 20 to 250
    // steps. Textbook perturbation in f64 (exact dc, in Python) has gathered 2.4e-12 of
    // error by step 1,099,395 and is 5 steps late; this engine is 96 steps late without
    // skips, 513 with them (rounding differently on the way). Moving
    // its c by 2^-50 spans moves it by only 0.04 steps: only deltas in more than f64
    // would get it. Every other sample matches to a millionth.
    assert!(
        off.len() <= 1 && off.iter().all(|line| line.starts_with("5e227 (0, 0)")),
        "{off:#?}"
    );
}

/// A benchmark, not a test (run with `--release --ignored --nocapture`): how soon a render
/// at span 1e-1000 returns after its cancel, cancelled at each tenth of a whole render's
/// time, from the reference orbit's computation (3,500 bits) through the table of skips
/// and the series to the pixels (a window's zoom cancels the render before it); prints
/// each wait and the worst. Each run uses a fresh
/// engine, so none reuses the last reference.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn deep_cancel_latency_benchmark() {
    // On c = i itself: its reference never escapes, so it runs to the limit.
    let view = beside(BOUNDARY_POINTS[0].2, "1e-1000", (0.0, 0.0));
    let request = RenderRequest {
        precision: PrecisionChoice::Perturbation,
        ..request("mandelbrot", view, (640, 360), 400_000)
    };
    // Cancels at tenths of a whole render's time, so every phase is hit on any machine.
    let started = std::time::Instant::now();
    Engine::default()
        .render(&request, &CancelToken::new())
        .expect("renders");
    let whole_ms = started.elapsed().as_millis() as u64;
    eprintln!("a whole render: {whole_ms} ms");
    let mut waits_ms = Vec::new();
    for after_ms in (1..10).map(|tenth| 5 + whole_ms * tenth / 10) {
        let engine = std::sync::Arc::new(Engine::default());
        let cancel = CancelToken::new();
        let cancelled_at = std::sync::Arc::new(std::sync::Mutex::new(None));
        let canceller = {
            let (cancel, cancelled_at) = (cancel.clone(), std::sync::Arc::clone(&cancelled_at));
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(after_ms));
                *cancelled_at.lock().expect("lock") = Some(std::time::Instant::now());
                cancel.cancel();
            })
        };
        // What the render was doing when the cancel came: its last progress before it.
        let mut phase = "starting";
        let result = engine.render_with_progress(&request, &cancel, &mut |progress| {
            if cancel.is_cancelled() {
                return;
            }
            phase = match progress {
                moonbrot::engine::RenderProgress::Reference { .. } => "reference orbit",
                _ => "pixels",
            };
        });
        let returned = std::time::Instant::now();
        canceller.join().expect("canceller");
        let Some(cancelled) = *cancelled_at.lock().expect("lock") else {
            continue;
        };
        let wait_ms = returned.saturating_duration_since(cancelled).as_secs_f64() * 1e3;
        let ended = if result.is_ok() {
            "finished"
        } else {
            "cancelled"
        };
        eprintln!(
            "cancel after {after_ms:>5} ms ({phase}): {ended}, returned {wait_ms:.2} ms later"
        );
        if result.is_err() {
            waits_ms.push(wait_ms);
        }
    }
    waits_ms.sort_by(f64::total_cmp);
    eprintln!(
        "worst wait {:.2} ms of {} cancels",
        waits_ms.last().copied().unwrap_or(0.0),
        waits_ms.len()
    );
}
