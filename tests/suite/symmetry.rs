//! Exact real-axis symmetry: a kernel that declares `symmetry = "real_axis"` has the rows
//! that mirror other rows across the axis copied instead of computed, and the image is the
//! same, bit for bit, as a render that computes every row: with odd and even heights, the
//! axis anywhere in the image, guessing on or off, in bands, in pans and in the progress a
//! render reports. A declaration that does not hold is refused with the points that show it.

use std::collections::HashSet;
use std::sync::Arc;

use moonbrot::engine::kernel::ParameterValue;
use moonbrot::engine::render::RowRange;
use moonbrot::engine::{
    CancelToken, Engine, KernelError, RenderOutput, RenderProgress, RenderRequest, View,
};

use crate::support::{differing_pixels, kernel_error, moonbrot, shipped, text};

fn request(kernel: &str, view: View, size: (u32, u32), guessing: bool) -> RenderRequest {
    RenderRequest {
        view: Some(view),
        threads: 3,
        guessing,
        ..RenderRequest::new(shipped(kernel), size.0, size.1)
    }
}

fn render(engine: &Engine, request: &RenderRequest) -> RenderOutput {
    engine
        .render(request, &CancelToken::new())
        .expect("renders")
}

fn without_symmetry(request: &RenderRequest) -> RenderRequest {
    RenderRequest {
        symmetry: false,
        ..request.clone()
    }
}

#[test]
fn mirrored_rows_equal_computed_ones_bit_for_bit_for_every_height_and_axis_position() {
    let engine = Engine::default();
    // The axis in the middle, a fifth of the way down and up, just off the middle; centres
    // that are not on the lattice; odd and even heights.
    let views = [
        View::new(-0.6, 0.0, 2.6),
        View::new(-0.75, 0.15, 0.5),
        View::new(-1.2, -0.2, 0.7),
        View::new(-0.1, 0.0123, 0.5),
    ];
    for kernel in ["mandelbrot", "tricorn", "multibrot"] {
        // 144 and 152 rows about the axis: blocks cut 8 and 12 rows high by the image's
        // edges, mirrored; 148: cut 10 high, computed.
        for size in [
            (320, 200),
            (257, 131),
            (200, 97),
            (320, 144),
            (300, 152),
            (290, 148),
        ] {
            for view in views.clone() {
                for guessing in [true, false] {
                    let request = request(kernel, view.clone(), size, guessing);
                    let mirrored = render(&engine, &request);
                    let computed = render(&engine, &without_symmetry(&request));
                    let what = format!("{kernel} {size:?} {view:?} guessing {guessing}");
                    // With guessing only whole blocks (32 rows) are mirrored: a small image
                    // may have too few rows on the short side of the axis.
                    if !guessing || size.1 >= 200 {
                        assert!(
                            mirrored.timings.mirrored_pixels > 0,
                            "{what}: some rows are mirrored"
                        );
                    }
                    assert_eq!(computed.timings.mirrored_pixels, 0);
                    assert_eq!(differing_pixels(&mirrored, &computed), 0, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_centerd_view_computes_about_half_its_rows() {
    let engine = Engine::default();
    let size = (320, 256);
    let pixels = u64::from(size.0 * size.1);
    for guessing in [false, true] {
        let output = render(
            &engine,
            &request("mandelbrot", View::new(-0.6, 0.0, 2.6), size, guessing),
        );
        // Without guessing every row with a mirror is copied; with it, whole blocks only
        // (32 rows), so the partial blocks at the edges are computed.
        let least = if guessing {
            pixels / 2 - 32 * 320
        } else {
            pixels / 2
        };
        assert!(
            output.timings.mirrored_pixels >= least,
            "guessing {guessing}: {} of {pixels} pixels mirrored",
            output.timings.mirrored_pixels
        );
    }
}

#[test]
fn a_view_away_from_the_axis_and_kernels_without_symmetry_compute_every_row() {
    let engine = Engine::default();
    let seahorse = request(
        "mandelbrot",
        View::new(-0.7453, 0.1127, 0.012),
        (160, 100),
        true,
    );
    assert_eq!(render(&engine, &seahorse).timings.mirrored_pixels, 0);
    // Julia sets (c not real) and the Burning Ship are not symmetric about the real axis.
    for kernel in ["julia", "burning_ship"] {
        let home = RenderRequest {
            threads: 2,
            ..RenderRequest::new(shipped(kernel), 160, 100)
        };
        assert_eq!(
            render(&engine, &home).timings.mirrored_pixels,
            0,
            "{kernel}"
        );
    }
}

#[test]
fn a_band_a_pan_and_another_parameter_value_mirror_exactly_too() {
    let engine = Engine::default();
    let size = (300, 211);
    let view = View::new(-0.75, 0.05, 0.9);
    for guessing in [true, false] {
        let whole = render(
            &engine,
            &without_symmetry(&request("mandelbrot", view.clone(), size, guessing)),
        );
        // A band straddling the axis, starting and ending off any block edge.
        let band = render(
            &engine,
            &RenderRequest {
                rows: Some(RowRange {
                    first: 37,
                    count: 150,
                }),
                ..request("mandelbrot", view.clone(), size, guessing)
            },
        );
        assert!(band.timings.mirrored_pixels > 0);
        let row_values = |output: &RenderOutput, first: usize, count: usize| {
            output.image.values[first * 300..(first + count) * 300]
                .iter()
                .map(|value| value.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(row_values(&band, 0, 150), row_values(&whole, 37, 150));

        // A pan across the axis, keeping the earlier render's pixels.
        let before = Arc::new(render(
            &engine,
            &request("mandelbrot", view.clone(), size, guessing),
        ));
        let panned = view.panned_by_pixels((-40.0, 25.0), size.1);
        let kept = render(
            &engine,
            &RenderRequest {
                previous: Some(Arc::clone(&before)),
                ..request("mandelbrot", panned.clone(), size, guessing)
            },
        );
        assert!(kept.timings.kept_pixels > 0 && kept.timings.mirrored_pixels > 0);
        let full = render(
            &engine,
            &without_symmetry(&request("mandelbrot", panned.clone(), size, guessing)),
        );
        assert_eq!(differing_pixels(&kept, &full), 0, "guessing {guessing}");
    }
    // The Multibrot set is symmetric for every power, not only the default.
    let mut fractional = request("multibrot", View::new(-0.2, 0.1, 2.5), (160, 101), true);
    fractional
        .parameters
        .insert("power".to_owned(), ParameterValue::Real(2.37));
    let mirrored = render(&engine, &fractional);
    assert!(mirrored.timings.mirrored_pixels > 0);
    assert_eq!(
        differing_pixels(&mirrored, &render(&engine, &without_symmetry(&fractional))),
        0
    );
}

#[test]
fn the_progress_of_a_mirrored_render_reports_every_pixel_with_its_final_value() {
    let engine = Engine::default();
    let size = (256_u32, 180_u32);
    let request = request("mandelbrot", View::new(-0.6, 0.0, 2.6), size, true);
    let mut seen = vec![f32::NAN; (size.0 * size.1) as usize];
    let mut reported = HashSet::new();
    let output = engine
        .render_with_progress(&request, &CancelToken::new(), &mut |progress| {
            let RenderProgress::Unit(unit) = progress else {
                return;
            };
            for row in 0..unit.row_count {
                for column in 0..unit.column_count {
                    let index =
                        ((unit.first_row + row) * size.0 + unit.first_column + column) as usize;
                    seen[index] = unit.values[(row * unit.column_count + column) as usize];
                    reported.insert(index);
                }
            }
        })
        .expect("renders");
    assert!(output.timings.mirrored_pixels > 0);
    assert_eq!(reported.len(), seen.len(), "every pixel is reported");
    let same = seen
        .iter()
        .zip(&output.image.values)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    assert!(same, "each reported value is the final one");
}

#[test]
fn a_declared_symmetry_that_does_not_hold_is_refused_with_the_points_that_show_it() {
    // The Burning Ship is not symmetric about the real axis.
    let source = format!("{}\nsymmetry = \"real_axis\"\n", shipped("burning_ship"));
    match kernel_error(&source) {
        KernelError::BadSetting { name, message } => {
            assert_eq!(name, "symmetry");
            assert!(
                message.contains("pixel(") && message.contains("returned"),
                "{message}"
            );
        }
        other => panic!("expected a bad setting, got {other:?}"),
    }
}

#[test]
fn an_unknown_symmetry_is_refused_by_name() {
    let source = format!("{}\nsymmetry = \"imaginary_axis\"\n", shipped("mandelbrot"));
    let error = kernel_error(&source);
    let message = error.to_string();
    assert!(
        message.contains("symmetry") && message.contains("real_axis"),
        "{message}"
    );
}

#[test]
fn the_cli_writes_the_same_image_with_symmetry_on_or_off() {
    let folder = tempfile::tempdir().expect("temp dir");
    let mut written = Vec::new();
    for switch in ["on", "off"] {
        let path = folder.path().join(format!("symmetry-{switch}.png"));
        let output = moonbrot(&[
            "render",
            "--size",
            "160x91",
            "--max-iter",
            "300",
            "--symmetry",
            switch,
            "-o",
            path.to_str().expect("utf-8 path"),
        ]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        written.push(std::fs::read(&path).expect("reads the PNG"));
    }
    assert_eq!(written[0], written[1], "the same bytes");
}
