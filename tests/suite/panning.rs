//! Panning keeps pixels: a render given the previous one computes only the strips a pan
//! uncovered, and the image is the same, bit for bit, as a full render of the new view,
//! with guessing on or off. Anything else (a zoom, another kernel, other settings) renders
//! in full. Also: any band of rows equals the same rows of a whole render.

use std::sync::Arc;

use moonbrot::engine::render::RowRange;
use moonbrot::engine::{CancelToken, Engine, RenderOutput, RenderRequest, View};

use crate::support::{differing_pixels, shipped};

const SIZE: (u32, u32) = (320, 200);

fn seahorse() -> View {
    View::new(-0.7453, 0.1127, 0.012)
}

fn request(view: View, guessing: bool) -> RenderRequest {
    RenderRequest {
        view: Some(view),
        threads: 3,
        guessing,
        ..RenderRequest::new(shipped("mandelbrot"), SIZE.0, SIZE.1)
    }
}

fn render(engine: &Engine, request: &RenderRequest) -> RenderOutput {
    engine
        .render(request, &CancelToken::new())
        .expect("renders")
}

#[test]
fn a_pan_by_whole_pixels_computes_only_the_new_strips_and_equals_a_full_render() {
    let engine = Engine::default();
    let pixel_count = u64::from(SIZE.0 * SIZE.1);
    for guessing in [false, true] {
        let before = Arc::new(render(&engine, &request(seahorse(), guessing)));
        for pan_px in [
            (100.0, 0.0),
            (-37.0, 0.0),
            (0.0, 45.0),
            (0.0, -3.0),
            (61.0, -29.0),
            (-150.0, 90.0),
        ] {
            let panned = seahorse().panned_by_pixels(pan_px, SIZE.1);
            let full = render(&engine, &request(panned.clone(), guessing));
            let kept = render(
                &engine,
                &RenderRequest {
                    previous: Some(Arc::clone(&before)),
                    ..request(panned.clone(), guessing)
                },
            );
            assert_eq!(full.timings.kept_pixels, 0);
            let moved = (pan_px.0.abs() * f64::from(SIZE.1) + pan_px.1.abs() * f64::from(SIZE.0)
                - pan_px.0.abs() * pan_px.1.abs()) as u64;
            // Guessing gives up at most a block (32 pixels) more at each edge of the overlap.
            let slack = if guessing {
                2 * 33 * u64::from(SIZE.0 + SIZE.1)
            } else {
                0
            };
            assert!(
                kept.timings.kept_pixels + moved + slack >= pixel_count
                    && kept.timings.kept_pixels > 0,
                "guessing {guessing}, pan {pan_px:?}: kept {} of {pixel_count}",
                kept.timings.kept_pixels
            );
            assert!(kept.timings.kept_pixels <= pixel_count - moved);
            assert_eq!(
                differing_pixels(&kept, &full),
                0,
                "guessing {guessing}, pan {pan_px:?}: the kept render equals a full one"
            );
        }
    }
}

#[test]
fn zooms_and_other_kernels_or_settings_render_in_full() {
    let engine = Engine::default();
    let before = Arc::new(render(&engine, &request(seahorse(), true)));
    let panned = seahorse().panned_by_pixels((20.0, 10.0), SIZE.1);
    let with_previous = |request: RenderRequest| RenderRequest {
        previous: Some(Arc::clone(&before)),
        ..request
    };
    let cases = [
        (
            "a zoom",
            request(seahorse().zoomed_about((-0.745, 0.112), 1.1), true),
        ),
        ("guessing off", request(panned.clone(), false)),
        (
            "another iteration limit",
            RenderRequest {
                max_iter: Some(300),
                ..request(panned.clone(), true)
            },
        ),
        (
            "another kernel",
            RenderRequest {
                source: shipped("tricorn"),
                ..request(panned.clone(), true)
            },
        ),
        (
            "an edited kernel",
            RenderRequest {
                source: format!("{}\n-- edited\n", shipped("mandelbrot")).into(),
                ..request(panned.clone(), true)
            },
        ),
        (
            "another size",
            RenderRequest {
                width_px: SIZE.0 + 1,
                ..request(panned.clone(), true)
            },
        ),
    ];
    for (what, case) in cases {
        let output = render(&engine, &with_previous(case.clone()));
        assert_eq!(output.timings.kept_pixels, 0, "{what} keeps nothing");
        assert_eq!(
            differing_pixels(&output, &render(&engine, &case)),
            0,
            "{what}: a full render"
        );
    }
    assert!(before.may_keep_pixels_for(&request(panned.clone(), true)));
    assert!(!before.may_keep_pixels_for(&request(panned.clone(), false)));
}

#[test]
fn a_pan_keeps_pixels_of_parameters_and_direct_colour_kernels_too() {
    let engine = Engine::default();
    for name in ["julia", "newton"] {
        let base = RenderRequest {
            view: Some(View::new(0.1, -0.2, 1.7)),
            threads: 2,
            ..RenderRequest::new(shipped(name), 160, 120)
        };
        let before = Arc::new(render(&engine, &base));
        let panned = RenderRequest {
            view: Some(View::new(0.1, -0.2, 1.7).panned_by_pixels((-40.0, 25.0), 120)),
            ..base.clone()
        };
        let kept = render(
            &engine,
            &RenderRequest {
                previous: Some(Arc::clone(&before)),
                ..panned.clone()
            },
        );
        assert!(kept.timings.kept_pixels > 0, "{name} keeps pixels");
        assert_eq!(kept.image, render(&engine, &panned).image, "{name}");
    }
}

#[test]
fn any_band_of_rows_equals_those_rows_of_a_whole_render() {
    let engine = Engine::default();
    for guessing in [true, false] {
        let whole = render(&engine, &request(seahorse(), guessing));
        for (first, count) in [(0, 7), (5, 50), (33, 1), (117, 83), (199, 1)] {
            let band = render(
                &engine,
                &RenderRequest {
                    rows: Some(RowRange { first, count }),
                    ..request(seahorse(), guessing)
                },
            );
            let row_values = SIZE.0 as usize;
            let expected = &whole.image.values
                [first as usize * row_values..(first + count) as usize * row_values];
            assert_eq!(band.image.height_px, count);
            assert!(
                band.image
                    .values
                    .iter()
                    .zip(expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "guessing {guessing}: rows {first}..{}",
                first + count
            );
        }
    }
}
