//! Derivatives for free: for a kernel that declares a formula, the engine carries the
//! derivative through the recorded step and stores four values per pixel (escape,
//! distance in pixels, and the unit normal), from which the distance colouring draws the
//! boundary as a line of constant width in pixels and the slope colouring lights relief.
//! Checked against the plain render, an independent distance (to the nearest inside
//! pixel), at three zooms, and through the CLI.

use moonbrot::engine::kernel::DERIVATIVE_CHANNELS;
use moonbrot::engine::output::{Colouring, ColouringOptions, Palette, colour_image};
use moonbrot::engine::{
    CancelToken, Engine, OutputMode, Precision, PrecisionChoice, RenderOutput, RenderRequest, View,
};

use crate::support::{moonbrot, path_text, pixels, request, shipped, text};

/// Two threads, no timeout (the Rust colourings never run Lua).
fn options() -> ColouringOptions {
    ColouringOptions {
        threads: 2,
        timeout: None,
        memory_limit_bytes: 64 * 1024 * 1024,
    }
}

/// A render of a shipped kernel at `view`, f64, every pixel computed (no guessing, no
/// mirroring), with or without the derivative values.
fn render_at(kernel: &str, view: View, size: (u32, u32), derivatives: bool) -> RenderOutput {
    Engine::default()
        .render(
            &RenderRequest {
                view: Some(view),
                guessing: false,
                symmetry: false,
                precision: PrecisionChoice::Double,
                derivatives,
                ..request(&shipped(kernel), size.0, size.1)
            },
            &CancelToken::new(),
        )
        .expect("renders")
}

/// A view of `span` about c = i (a Misiurewicz point: alike at every zoom).
fn about_i(span: &str) -> View {
    View::from_decimals("0", "1", span).expect("a view")
}

/// True for an inside pixel's escape value: negative or NaN.
fn is_inside(escape: f32) -> bool {
    escape < 0.0 || escape.is_nan()
}

/// Each pixel's value of channel `channel`.
fn channel(output: &RenderOutput, channel: usize) -> Vec<f32> {
    let channels = output.image.output.channels();
    output
        .image
        .values
        .chunks_exact(channels)
        .map(|values| values[channel])
        .collect()
}

#[test]
fn a_derivative_render_keeps_the_escape_values_of_the_plain_one() {
    // A conformal formula, one with abs folds (a 2x2 Jacobian) and a Julia set.
    for (kernel, view) in [
        ("mandelbrot", View::new(-0.7453, 0.1127, 0.012)),
        ("burning_ship", View::new(-1.76, -0.03, 0.08)),
        ("julia", View::new(0.0, 0.0, 2.5)),
        // z^3 (a power) and conj(z)^2 (a fold of the imaginary part).
        ("multibrot", View::new(-0.2, 0.5, 0.6)),
        ("tricorn", View::new(-0.3, 0.0, 2.0)),
    ] {
        let plain = render_at(kernel, view.clone(), (96, 64), false);
        let derived = render_at(kernel, view, (96, 64), true);
        assert_eq!(
            derived.image.output,
            OutputMode::Escape { channels: 4 },
            "{kernel}"
        );
        assert_eq!(derived.image.channel_names, DERIVATIVE_CHANNELS, "{kernel}");
        let escapes = channel(&derived, 0);
        let mut outside = 0;
        for (index, (plain, derived)) in plain.image.values.iter().zip(&escapes).enumerate() {
            let inside = *plain < 0.0 || plain.is_nan();
            assert_eq!(
                inside,
                *derived < 0.0 || derived.is_nan(),
                "{kernel}: pixel {index} is inside in one render only ({plain} against {derived})"
            );
            if !inside {
                outside += 1;
                assert!(
                    (plain - derived).abs() <= 1e-4 * plain.abs().max(1.0),
                    "{kernel}: pixel {index} escapes at {derived}, not {plain}"
                );
            }
        }
        assert!(outside > 1000, "{kernel}: {outside} pixels outside");
        // Every escaped pixel has a distance and a unit normal.
        let distances = channel(&derived, 1);
        let (normal_x, normal_y) = (channel(&derived, 2), channel(&derived, 3));
        // (A derivative that vanishes, where an abs fold meets 0, gives NaN: such a pixel
        // keeps its smooth colour.)
        let mut known = 0;
        for index in 0..escapes.len() {
            if escapes[index] >= 0.0 && !distances[index].is_nan() {
                known += 1;
                assert!(
                    distances[index] >= 0.0,
                    "{kernel}: pixel {index}: {}",
                    distances[index]
                );
                let length = normal_x[index].hypot(normal_y[index]);
                assert!((length - 1.0).abs() < 1e-3, "{kernel}: pixel {index}");
            }
        }
        assert!(
            known * 100 >= outside * 99,
            "{kernel}: {known} of {outside} known"
        );
    }
}

/// Of the pixels outside in `reference`, a derivative render, how many there are, and how
/// many have in `other` (one of the same view) a distance within `relative` of
/// `reference`'s and a normal within 2.6 degrees of it.
fn agreeing_distances(
    other: &RenderOutput,
    reference: &RenderOutput,
    relative: f32,
) -> (usize, usize) {
    let (mut outside, mut agreeing) = (0, 0);
    for (values, wanted) in other
        .image
        .values
        .chunks_exact(4)
        .zip(reference.image.values.chunks_exact(4))
    {
        // (Inside in `other` only: a disagreement, as its distance is NaN.)
        if is_inside(wanted[0]) {
            continue;
        }
        outside += 1;
        let facing = values[2] * wanted[2] + values[3] * wanted[3];
        if (values[1] / wanted[1] - 1.0).abs() < relative && facing > 0.999 {
            agreeing += 1;
        }
    }
    (outside, agreeing)
}

#[test]
fn distances_by_perturbation_are_those_of_f64_where_both_hold() {
    // Views where f64 still holds, rendered both ways: the perturbation pixel carries the
    // derivative from the series, through the skips and the steps (a Misiurewicz point
    // at 1e-9, with a series and skips), and through abs folds (the Burning Ship).
    for (kernel, view) in [
        (
            "mandelbrot",
            View::new(-0.101_096_363_845_631_65, 0.956_286_510_809_142_3, 1e-9),
        ),
        ("burning_ship", View::new(-1.76, -0.03, 0.08)),
        ("tricorn", View::new(-0.3, 0.0, 2.0)),
    ] {
        let render = |precision| {
            Engine::default()
                .render(
                    &RenderRequest {
                        view: Some(view.clone()),
                        guessing: false,
                        symmetry: false,
                        precision,
                        derivatives: true,
                        ..request(&shipped(kernel), 160, 120)
                    },
                    &CancelToken::new(),
                )
                .expect("renders")
        };
        let (plain, perturbed) = (
            render(PrecisionChoice::Double),
            render(PrecisionChoice::Perturbation),
        );
        assert_eq!(perturbed.precision, Precision::Perturbation, "{kernel}");
        let (outside, agreeing) = agreeing_distances(&perturbed, &plain, 0.01);
        assert!(outside > 5000, "{kernel}: {outside} pixels outside");
        assert!(
            agreeing * 100 >= outside * 99,
            "{kernel}: {agreeing} of {outside} distances within 1% of f64's"
        );
    }
}

#[test]
fn distances_through_skips_are_those_of_every_step() {
    // rust-fractal-core's 1e50 location, where pixels take tens of thousands of skips
    // (the views above take none after their series), and the Tricorn beside c = -2 at
    // 1e-400, where the skips are scaled (and the step folds): the derivative through
    // each skip (K -> A K + B w) against every step taken one by one.
    let rfc_1e50 = View::from_decimals(
        "-0.04947002906310409375169222672735363011874571248822487931810494023264219477268690342799154997475941",
        "-0.67478757584467536401139205313059765633477070682240348069799979479099419834548451115142084995403103",
        "4e-50",
    )
    .expect("a view");
    let tricorn_1e400 = View::from_decimals("-2", "0", "1e-400").expect("a view");
    for (kernel, view, max_iter, size) in [
        ("mandelbrot", rfc_1e50, None, (48, 27)),
        ("tricorn", tricorn_1e400, Some(20_000), (96, 54)),
    ] {
        let render = |skips| {
            Engine::default()
                .render(
                    &RenderRequest {
                        view: Some(view.clone()),
                        max_iter,
                        guessing: false,
                        symmetry: false,
                        skips,
                        derivatives: true,
                        timeout: Some(std::time::Duration::from_secs(120)),
                        ..request(&shipped(kernel), size.0, size.1)
                    },
                    &CancelToken::new(),
                )
                .expect("renders")
        };
        let (skipping, stepping) = (render(true), render(false));
        assert!(
            skipping
                .reference
                .is_some_and(|reference| reference.skips > 100),
            "{kernel}: {:?}",
            skipping.reference
        );
        let (outside, agreeing) = agreeing_distances(&skipping, &stepping, 1e-3);
        assert!(outside > 1000, "{kernel}: {outside} pixels outside");
        assert!(
            agreeing * 100 >= outside * 99,
            "{kernel}: {agreeing} of {outside} distances through skips within 0.1% of every \
             step's"
        );
    }
}

#[test]
fn mirrored_rows_carry_the_same_values_with_the_normal_turned() {
    // Views centred on the real axis, in f64 and by perturbation (the needle at 1e-13):
    // half the rows are copied from their mirrors, the normal's y part negated, and the
    // image is the one computed in full, bit for bit.
    for (view, precision) in [
        (View::new(-0.6, 0.0, 2.6), PrecisionChoice::Double),
        (
            View::new(-1.749_990_355_810_938_2, 0.0, 1e-13),
            PrecisionChoice::Perturbation,
        ),
    ] {
        let render = |symmetry| {
            Engine::default()
                .render(
                    &RenderRequest {
                        view: Some(view.clone()),
                        symmetry,
                        precision,
                        derivatives: true,
                        ..request(&shipped("mandelbrot"), 120, 90)
                    },
                    &CancelToken::new(),
                )
                .expect("renders")
        };
        let (mirrored, computed) = (render(true), render(false));
        assert!(mirrored.timings.mirrored_pixels > 0, "{view:?} mirrors");
        let bits = |output: &RenderOutput| -> Vec<u32> {
            output
                .image
                .values
                .iter()
                .map(|value| value.to_bits())
                .collect()
        };
        assert!(
            bits(&mirrored) == bits(&computed),
            "{view:?}: the mirrored image differs from the one computed in full"
        );
    }
}

/// The distance in pixels from `(column, row)` to the nearest pixel of `inside` (a
/// `width`-wide mask), looked for within 40 pixels.
fn distance_to_inside(inside: &[bool], width: usize, column: usize, row: usize) -> Option<f64> {
    let height = inside.len() / width;
    let reach = 40_isize;
    let mut nearest: Option<f64> = None;
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            let (x, y) = (column as isize + dx, row as isize + dy);
            if x < 0 || y < 0 || x >= width as isize || y >= height as isize {
                continue;
            }
            if inside[y as usize * width + x as usize] {
                let d = ((dx * dx + dy * dy) as f64).sqrt();
                nearest = Some(nearest.map_or(d, |n: f64| n.min(d)));
            }
        }
    }
    nearest
}

#[test]
fn distance_estimates_agree_with_the_slope_of_the_plain_escape_values() {
    // An independent estimate from the plain render alone: the escape potential is
    // G = d^(1 - v) for the smooth escape value v of z -> z^d + c, and the distance
    // estimate is G / |grad G| = 1 / (ln d |grad v|), with grad v by central differences between neighbouring
    // pixels (so in pixels too). The derivative render gets it from dz/dc instead.
    // And by perturbation, with its series and skips, at 1e-20 in the seahorse valley.
    let deep = View::from_decimals(
        "-0.743643887037158704752191506114774",
        "0.131825904205311970493132056385139",
        "1e-20",
    )
    .expect("a view");
    for (kernel, view, max_iter, degree, precision) in [
        (
            "mandelbrot",
            View::new(-0.75, 0.1, 0.25),
            Some(2000),
            2.0_f64,
            PrecisionChoice::Double,
        ),
        (
            "mandelbrot",
            View::new(-0.1, 0.9, 0.1),
            Some(2000),
            2.0,
            PrecisionChoice::Double,
        ),
        (
            "burning_ship",
            View::new(-1.76, -0.03, 0.08),
            Some(2000),
            2.0,
            PrecisionChoice::Double,
        ),
        (
            "multibrot",
            View::new(-0.2, 0.5, 0.6),
            Some(1000),
            3.0,
            PrecisionChoice::Double,
        ),
        ("mandelbrot", deep, None, 2.0, PrecisionChoice::Perturbation),
        // Past f64's range, where the pixels' deltas are scaled: about c = i.
        (
            "mandelbrot",
            about_i("1e-400"),
            Some(5000),
            2.0,
            PrecisionChoice::Auto,
        ),
        (
            "mandelbrot",
            about_i("1e-1000"),
            Some(5000),
            2.0,
            PrecisionChoice::Auto,
        ),
    ] {
        let (width, height) = (240_usize, 180_usize);
        let request_at = |derivatives| RenderRequest {
            view: Some(view.clone()),
            max_iter,
            guessing: false,
            symmetry: false,
            precision,
            derivatives,
            ..request(&shipped(kernel), width as u32, height as u32)
        };
        let render = |derivatives| {
            Engine::default()
                .render(&request_at(derivatives), &CancelToken::new())
                .expect("renders")
        };
        let (plain, derived) = (render(false), render(true));
        let escape =
            |column: usize, row: usize| f64::from(plain.image.values[row * width + column]);
        let estimates = channel(&derived, 1);
        let (normal_x, normal_y) = (channel(&derived, 2), channel(&derived, 3));
        let inside: Vec<bool> = plain.image.values.iter().map(|v| is_inside(*v)).collect();
        let (mut samples, mut agreeing) = (0, 0);
        for row in (1..height - 1).step_by(3) {
            for column in (1..width - 1).step_by(3) {
                let estimate = f64::from(estimates[row * width + column]);
                if !(3.0..=40.0).contains(&estimate) {
                    continue;
                }
                let neighbours = [
                    escape(column + 1, row),
                    escape(column - 1, row),
                    escape(column, row + 1),
                    escape(column, row - 1),
                ];
                if neighbours.iter().any(|v| is_inside(*v as f32)) {
                    continue;
                }
                // grad v in the complex plane's directions (rows go down as y falls).
                let (along_x, along_y) = (
                    0.5 * (neighbours[0] - neighbours[1]),
                    -0.5 * (neighbours[2] - neighbours[3]),
                );
                let gradient = along_x.hypot(along_y);
                let from_escapes = 1.0 / (degree.ln() * gradient);
                // The normal points where the potential rises, where v falls.
                let index = row * width + column;
                let facing = -(f64::from(normal_x[index]) * along_x
                    + f64::from(normal_y[index]) * along_y)
                    / gradient;
                samples += 1;
                if (0.8..=1.25).contains(&(from_escapes / estimate)) && facing > 0.95 {
                    agreeing += 1;
                }
                // Koebe's quarter theorem, for the Mandelbrot set: nothing of the set
                // lies nearer than half this estimate (a pixel's slack for the grid).
                if kernel == "mandelbrot"
                    && let Some(nearest) = distance_to_inside(&inside, width, column, row)
                {
                    assert!(
                        nearest >= estimate / 2.0 - 1.0,
                        "{kernel}: pixel {column}, {row} is {nearest} pixels from the set, \
                         estimated {estimate}"
                    );
                }
            }
        }
        assert!(samples > 200, "{kernel}: {samples} samples");
        assert!(
            agreeing * 100 >= samples * 95,
            "{kernel}: {agreeing} of {samples} estimates within 20% of the escape values' slope \
             and facing it"
        );
    }
}

/// The median run of line pixels (inside, or outside nearer than `width_px` by the
/// estimate) along the rows, leaving out runs that touch the image's sides: how wide the
/// distance colouring draws a filament it crosses.
fn median_line_run(output: &RenderOutput, width_px: f32) -> usize {
    let (width, height) = (
        output.image.width_px as usize,
        output.image.height_px as usize,
    );
    let escapes = channel(output, 0);
    let distances = channel(output, 1);
    let mut runs = Vec::new();
    for row in 0..height {
        let mut run: Option<usize> = None;
        for column in 0..width {
            let index = row * width + column;
            let on_line = is_inside(escapes[index]) || distances[index] < width_px;
            run = match (on_line, run) {
                (true, Some(length)) => Some(length + 1),
                (true, None) => (column > 0).then_some(1),
                (false, Some(length)) => {
                    runs.push(length);
                    None
                }
                (false, None) => None,
            };
        }
    }
    assert!(runs.len() > 100, "{} runs", runs.len());
    runs.sort_unstable();
    runs[runs.len() / 2]
}

/// Asserts that the distance colouring's line is as many pixels wide in each of the
/// `views` (distance renders at 200x150, at `max_iter` where given): the median run of
/// line pixels at 1 pixel wide is 3 to 14 pixels in each (runs cross a filament, lines
/// on both sides of it, and often meet the next), the same within 2, and longer at 2
/// pixels wide.
fn assert_line_widths_alike(place: &str, views: [View; 3], max_iter: Option<u32>) {
    let mut widths = Vec::new();
    for view in views {
        let output = Engine::default()
            .render(
                &RenderRequest {
                    view: Some(view.clone()),
                    max_iter,
                    guessing: false,
                    symmetry: false,
                    derivatives: true,
                    ..request(&shipped("mandelbrot"), 200, 150)
                },
                &CancelToken::new(),
            )
            .expect("renders");
        let (thin, wide) = (median_line_run(&output, 1.0), median_line_run(&output, 2.0));
        assert!(
            (3..=14).contains(&thin) && wide > thin,
            "{place}, {view:?}: runs of {thin} pixels at 1 pixel wide, {wide} at 2"
        );
        widths.push(thin);
    }
    let (narrowest, widest) = (widths.iter().min(), widths.iter().max());
    assert!(
        widest.zip(narrowest).is_some_and(|(w, n)| w - n <= 2),
        "line widths in pixels {place} at three zooms: {widths:?}"
    );
}

#[test]
fn the_boundary_line_is_as_many_pixels_wide_at_every_zoom() {
    // A Misiurewicz point: its filaments look alike at every zoom about it.
    let (x, y) = (-0.101_096_363_845_631_65, 0.956_286_510_809_142_3);
    assert_line_widths_alike(
        "about a Misiurewicz point",
        [0.1, 1e-3, 1e-5].map(|span| View::new(x, y, span)),
        None,
    );
    // And far past f64's range (by perturbation, with scaled deltas), about c = i.
    assert_line_widths_alike(
        "about c = i",
        ["1e-5", "1e-400", "1e-1000"].map(about_i),
        Some(5000),
    );
}

#[test]
fn the_distance_colouring_darkens_only_pixels_near_the_boundary() {
    let output = render_at("mandelbrot", View::new(-0.75, 0.1, 0.25), (160, 120), true);
    let palette = Palette::default();
    let colour = |colouring: &Colouring| {
        colour_image(
            &output.image,
            &palette,
            colouring,
            &options(),
            &CancelToken::new(),
        )
        .expect("colours")
    };
    let smooth = colour(&Colouring::Smooth);
    let lined = colour(&Colouring::Distance { line_width_px: 4.0 });
    let (distances, escapes) = (channel(&output, 1), channel(&output, 0));
    let (mut far, mut near) = (0, 0);
    for (index, (smooth, lined)) in smooth.pixels().zip(lined.pixels()).enumerate() {
        if escapes[index] < 0.0 {
            assert_eq!(smooth, lined, "the inside keeps its colour");
        } else if distances[index] >= 4.0 {
            far += 1;
            assert_eq!(
                smooth, lined,
                "pixel {index}, {} pixels away",
                distances[index]
            );
        } else if distances[index] < 0.5 {
            near += 1;
            let brightness = |p: &image::Rgb<u8>| p.0.iter().map(|c| u32::from(*c)).sum::<u32>();
            assert!(
                brightness(lined) * 2 <= brightness(smooth).max(1) + 2,
                "pixel {index}, {} pixels away: {lined:?} against {smooth:?}",
                distances[index]
            );
        }
    }
    assert!(far > 300 && near > 50, "{far} far and {near} near pixels");
}

#[test]
fn slope_lighting_turns_with_the_light_angle() {
    let output = render_at("mandelbrot", View::new(-0.6, 0.0, 2.6), (160, 120), true);
    let palette = Palette::default();
    let normal_x = channel(&output, 2);
    let lit = |degrees: f32| {
        colour_image(
            &output.image,
            &palette,
            &Colouring::Slope {
                light_angle_degrees: degrees,
            },
            &options(),
            &CancelToken::new(),
        )
        .expect("colours")
    };
    // Pixels whose slope faces right are brighter than those facing left when the light
    // is on the right, and darker when it is on the left.
    let mean_brightness = |image: &image::RgbImage, facing_right: bool| {
        let (mut sum, mut count) = (0.0, 0);
        for (pixel, x) in image.pixels().zip(&normal_x) {
            if (facing_right && *x > 0.7) || (!facing_right && *x < -0.7) {
                sum += pixel.0.iter().map(|c| f64::from(*c)).sum::<f64>();
                count += 1;
            }
        }
        assert!(count > 100, "{count} pixels");
        sum / f64::from(count)
    };
    let from_right = lit(0.0);
    let from_left = lit(180.0);
    assert!(mean_brightness(&from_right, true) > 1.3 * mean_brightness(&from_right, false));
    assert!(mean_brightness(&from_left, false) > 1.3 * mean_brightness(&from_left, true));
}

#[test]
fn the_cli_draws_distance_and_slope_and_explains_their_flags() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = |name: &str| folder.path().join(name);
    let render = |colouring: &[&str], name: &str| {
        let out = path(name);
        let mut args = vec!["render", "--kernel", "mandelbrot", "--size", "120x90"];
        args.extend_from_slice(colouring);
        args.extend_from_slice(&["-o", path_text(&out)]);
        let output = moonbrot(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        pixels(&out)
    };
    let smooth = render(&[], "smooth.png");
    let distance = render(&["--colouring", "distance"], "distance.png");
    let wide = render(
        &["--colouring", "distance", "--line-width", "12"],
        "wide.png",
    );
    let slope = render(&["--colouring", "slope"], "slope.png");
    let turned = render(
        &["--colouring", "slope", "--light-angle", "-135"],
        "turned.png",
    );
    let differing = |a: &image::RgbImage, b: &image::RgbImage| {
        a.pixels().zip(b.pixels()).filter(|(a, b)| a != b).count()
    };
    assert!(differing(&smooth, &distance) > 100);
    assert!(differing(&distance, &wide) > differing(&smooth, &distance));
    assert!(differing(&smooth, &slope) > 1000);
    assert!(differing(&slope, &turned) > 1000);

    for (args, message) in [
        (
            vec!["--kernel", "newton", "--colouring", "distance"],
            "declares a formula",
        ),
        (
            vec![
                "--kernel",
                "mandelbrot",
                "--colouring",
                "distance",
                "--line-width",
                "0",
            ],
            "--line-width 0 must be 0.25 to 50 pixels",
        ),
        (
            vec![
                "--kernel",
                "mandelbrot",
                "--colouring",
                "slope",
                "--light-angle",
                "nan",
            ],
            "--light-angle NaN is not a number of degrees",
        ),
        (
            vec!["--kernel", "mandelbrot", "--line-width", "3"],
            "--line-width applies to --colouring distance",
        ),
    ] {
        let out = path("refused.png");
        let mut full = vec!["render", "--size", "32x24"];
        full.extend_from_slice(&args);
        full.extend_from_slice(&["-o", path_text(&out)]);
        let output = moonbrot(&full);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            text(&output.stderr).contains(message),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(!out.exists(), "{args:?} wrote a file");
    }
    let help = text(&moonbrot(&["render", "--help"]).stdout);
    for flag in ["--line-width", "--light-angle", "distance", "slope"] {
        assert!(help.contains(flag), "--help names {flag}");
    }
}
