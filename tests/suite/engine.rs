//! Rendering through the engine's public API: Lua against native, threads, progress,
//! timings, views and request validation.

use std::collections::BTreeSet;
use std::sync::Arc;

use moonbrot::engine::bench::{NativeKernel, NativeRenderer};
use moonbrot::engine::{
    CancelToken, Engine, OutputMode, RenderError, RenderProgress, RenderRequest, RequestError,
    SHIPPED_KERNELS, View,
};

use crate::support::{request, shipped};

/// Renders a shipped kernel in Lua and natively at `view` and asserts every pixel agrees.
fn assert_lua_matches_native(name: &str, twin: NativeKernel, view: View, max_iter: u32) {
    let (width, height) = (96, 72);
    let lua = Engine::default()
        .render(
            &RenderRequest {
                view: Some(view.clone()),
                max_iter: Some(max_iter),
                // Every pixel computed, as before solid guessing existed.
                guessing: false,
                ..request(&shipped(name), width, height)
            },
            &CancelToken::new(),
        )
        .expect("lua render");
    let (native, _) = NativeRenderer::new(2).expect("native threads").render(
        twin,
        &view,
        (width, height),
        max_iter,
    );
    let mut inside = 0;
    for (index, (lua_value, native_value)) in
        lua.image.values.iter().zip(&native.values).enumerate()
    {
        assert_eq!(
            *lua_value < 0.0,
            *native_value < 0.0,
            "{name} pixel {index}: inside-ness differs ({lua_value} vs {native_value})"
        );
        if *native_value < 0.0 {
            inside += 1;
        } else {
            // Same arithmetic in the same order: identical iteration counts, and smooth
            // values equal up to the last float bit at most.
            assert_eq!(
                lua_value.floor(),
                native_value.floor(),
                "{name} pixel {index}"
            );
            assert!((lua_value - native_value).abs() <= 1e-5 * native_value.abs().max(1.0));
        }
    }
    assert!(
        inside > 0 && inside < lua.image.values.len(),
        "{name}: view should show both"
    );
}

#[test]
fn lua_mandelbrot_agrees_with_native_on_every_pixel_at_several_views() {
    for view in [
        View::new(-0.6, 0.0, 2.6),
        View::new(-0.7436, 0.1318, 0.01),
        View::new(-1.25, 0.02, 0.1),
    ] {
        assert_lua_matches_native("mandelbrot", NativeKernel::Mandelbrot, view, 300);
    }
}

#[test]
fn lua_seed_agrees_with_native_on_every_pixel_at_several_views() {
    for view in [View::new(-0.5, 0.0, 2.0), View::new(-0.75, 0.1, 0.05)] {
        assert_lua_matches_native("seed", NativeKernel::Seed, view, 49);
    }
}

#[test]
fn native_twins_are_found_only_for_their_exact_kernels() {
    assert_eq!(
        NativeKernel::twin_of(&shipped("seed")),
        Some(NativeKernel::Seed)
    );
    assert_eq!(
        NativeKernel::twin_of(&shipped("mandelbrot")),
        Some(NativeKernel::Mandelbrot)
    );
    assert_eq!(NativeKernel::twin_of(&shipped("julia")), None);
    let edited = shipped("seed").replace("4.0", "4.5");
    assert_eq!(NativeKernel::twin_of(&edited), None);
}

#[test]
fn the_same_image_comes_out_with_1_2_and_7_threads() {
    let engine = Engine::default();
    for name in ["mandelbrot", "newton"] {
        let images: Vec<Vec<f32>> = [1, 2, 7]
            .into_iter()
            .map(|threads| {
                let request = RenderRequest {
                    threads,
                    ..request(&shipped(name), 101, 67)
                };
                let output = engine
                    .render(&request, &CancelToken::new())
                    .expect("render");
                assert_eq!(output.timings.threads.len(), threads);
                output.image.values
            })
            .collect();
        assert!(
            images.windows(2).all(|pair| pair[0] == pair[1]),
            "{name} differs by thread count"
        );
    }
}

#[test]
fn every_pixel_arrives_exactly_once_as_units_complete() {
    let engine = Engine::default();
    let (width, height) = (300, 200);
    // Guessing on two threads cuts the rows of blocks into tiles too: units are rectangles.
    let mut times_seen = vec![0_u32; (width * height) as usize];
    let mut last_done = 0;
    let output = engine
        .render_with_progress(
            &request(&shipped("julia"), width, height),
            &CancelToken::new(),
            &mut |progress| {
                let RenderProgress::Unit(unit) = progress else {
                    panic!("a render in f64 has no reference orbit: {progress:?}");
                };
                assert_eq!(
                    unit.values.len(),
                    (unit.row_count * unit.column_count) as usize
                );
                assert_eq!(
                    unit.units_done,
                    last_done + 1,
                    "units are counted one by one"
                );
                last_done = unit.units_done;
                for row in unit.first_row..unit.first_row + unit.row_count {
                    for column in unit.first_column..unit.first_column + unit.column_count {
                        times_seen[(row * width + column) as usize] += 1;
                    }
                }
            },
        )
        .expect("render");
    assert!(
        times_seen.iter().all(|times| *times == 1),
        "each pixel once"
    );
    assert!(
        last_done > 7,
        "{last_done} units: rows of blocks are cut into tiles"
    );
    let units: usize = output
        .timings
        .threads
        .iter()
        .map(|thread| thread.units)
        .sum();
    assert_eq!(
        units, last_done,
        "per-thread unit counts add up to all units"
    );
}

#[test]
fn progress_values_are_the_final_values_of_those_rows() {
    let engine = Engine::default();
    let width = 120;
    let mut partial = vec![f32::NAN; 120 * 90];
    let output = engine
        .render_with_progress(
            &request(&shipped("mandelbrot"), width, 90),
            &CancelToken::new(),
            &mut |progress| {
                let RenderProgress::Unit(unit) = progress else {
                    return;
                };
                let start = (unit.first_row * width) as usize;
                partial[start..start + unit.values.len()].copy_from_slice(unit.values);
            },
        )
        .expect("render");
    assert_eq!(partial, output.image.values);
}

#[test]
fn timings_cover_compile_and_each_thread() {
    let engine = Engine::default();
    let source = shipped("tricorn");
    let first = engine
        .render(&request(&source, 64, 64), &CancelToken::new())
        .expect("render");
    assert!(first.timings.compile_secs > 0.0, "a new source is compiled");
    assert!(first.timings.wall_secs >= first.timings.compile_secs);
    let again = engine
        .render(&request(&source, 64, 64), &CancelToken::new())
        .expect("render");
    assert_eq!(
        again.timings.compile_secs, 0.0,
        "an unchanged source reuses its states"
    );
    assert!(
        again
            .timings
            .threads
            .iter()
            .all(|thread| thread.busy_secs <= again.timings.wall_secs)
    );
}

#[test]
fn a_request_without_a_view_renders_the_kernels_home() {
    let output = Engine::default()
        .render(&request(&shipped("seed"), 32, 32), &CancelToken::new())
        .expect("render");
    assert_eq!(output.view, View::new(-0.5, 0.0, 2.0));
    assert_eq!(output.max_iter, 49);
    let no_home = Engine::default()
        .render(
            &request("function pixel(x, y) return x end", 8, 8),
            &CancelToken::new(),
        )
        .expect("render");
    assert_eq!(no_home.view, moonbrot::engine::geometry::default_home());
    assert_eq!(
        no_home.max_iter,
        moonbrot::engine::kernel::FALLBACK_MAX_ITER
    );
}

#[test]
fn the_users_max_iter_overrides_the_kernels() {
    let source = "max_iter = 10\nfunction pixel(x, y) return max_iter end";
    let engine = Engine::default();
    let default = engine
        .render(&request(source, 4, 4), &CancelToken::new())
        .expect("render");
    assert!(default.image.values.iter().all(|value| *value == 10.0));
    let overridden = RenderRequest {
        max_iter: Some(77),
        ..request(source, 4, 4)
    };
    let output = engine
        .render(&overridden, &CancelToken::new())
        .expect("render");
    assert_eq!(output.max_iter, 77);
    assert!(output.image.values.iter().all(|value| *value == 77.0));
    // And the next run without an override gets the kernel's own value back.
    let again = engine
        .render(&request(source, 4, 4), &CancelToken::new())
        .expect("render");
    assert!(again.image.values.iter().all(|value| *value == 10.0));
}

#[test]
fn pixel_receives_the_center_of_each_pixel() {
    let source = "function pixel(x, y) return x * 1000 + y end";
    let view = View::new(0.0, 0.0, 2.0);
    let output = Engine::default()
        .render(
            &RenderRequest {
                view: Some(view),
                ..request(source, 2, 2)
            },
            &CancelToken::new(),
        )
        .expect("render");
    // 2x2 pixels of size 1 centred on 0: centres at x = -0.5, 0.5 and y = 0.5 (top), -0.5.
    assert_eq!(output.image.values, vec![-499.5, 500.5, -500.5, 499.5]);
}

#[test]
fn every_shipped_kernel_renders_in_the_sandbox() {
    let engine = Engine::default();
    for kernel in SHIPPED_KERNELS {
        let output = engine
            .render(&request(kernel.source, 48, 32), &CancelToken::new())
            .unwrap_or_else(|error| panic!("{}: {error}", kernel.name));
        let expected = if kernel.name == "newton" {
            OutputMode::Rgb
        } else {
            OutputMode::ESCAPE
        };
        assert_eq!(output.image.output, expected, "{}", kernel.name);
        let distinct: BTreeSet<u32> = output
            .image
            .values
            .iter()
            .map(|value| value.to_bits())
            .collect();
        assert!(distinct.len() > 3, "{} renders a flat image", kernel.name);
    }
}

#[test]
fn impossible_requests_are_refused_before_anything_runs() {
    let engine = Engine::default();
    let source: Arc<str> = Arc::from("function pixel(x, y) return 1 end");
    let refused = |request: RenderRequest| match engine.render(&request, &CancelToken::new()) {
        Err(RenderError::Request(error)) => error,
        other => panic!("expected a request error, got {other:?}"),
    };
    let base = RenderRequest::new(source.clone(), 10, 10);
    assert!(matches!(
        refused(RenderRequest {
            width_px: 0,
            ..base.clone()
        }),
        RequestError::Size { .. }
    ));
    assert!(matches!(
        refused(RenderRequest {
            height_px: 65_536,
            ..base.clone()
        }),
        RequestError::Size { .. }
    ));
    assert!(matches!(
        refused(RenderRequest {
            width_px: 60_000,
            height_px: 60_000,
            ..base.clone()
        }),
        RequestError::TooLarge { .. }
    ));
    assert!(matches!(
        refused(RenderRequest {
            threads: 0,
            ..base.clone()
        }),
        RequestError::Threads { .. }
    ));
    assert!(matches!(
        refused(RenderRequest {
            threads: 65,
            ..base.clone()
        }),
        RequestError::Threads { .. }
    ));
    assert!(matches!(
        refused(RenderRequest {
            max_iter: Some(0),
            ..base.clone()
        }),
        RequestError::MaxIter { .. }
    ));
    for view in [View::new(0.0, 0.0, 0.0), View::new(0.0, 0.0, -1.0)] {
        assert!(matches!(
            refused(RenderRequest {
                view: Some(view),
                ..base.clone()
            }),
            RequestError::View(_)
        ));
    }
    // A span below 1e-20000 is a view, held and written, but not rendered.
    let below_range = View::parse_location("0 0 1e-30000").expect("a view");
    assert!(matches!(
        refused(RenderRequest {
            view: Some(below_range),
            ..base.clone()
        }),
        RequestError::SpanBelowRange { .. }
    ));
    // Pixels 1e-400 apart render only by perturbation: a kernel without a formula is
    // refused, naming what it would need.
    let no_formula = refused(RenderRequest {
        view: Some(View::parse_location("0 0 1e-400").expect("a view")),
        source: Arc::from("function pixel(x, y) return 1 end"),
        ..base.clone()
    });
    assert!(
        matches!(no_formula, RequestError::DeeperThanKernel { .. })
            && no_formula.to_string().contains("formula"),
        "{no_formula}"
    );
    let huge_source: Arc<str> =
        Arc::from("-- ".repeat(400_000) + "\nfunction pixel() return 1 end");
    assert!(matches!(
        refused(RenderRequest {
            source: huge_source,
            ..base.clone()
        }),
        RequestError::SourceTooLarge { .. }
    ));
}

#[test]
fn direct_colour_that_would_exceed_the_buffer_cap_is_refused_after_compiling() {
    // 12 bytes of values + 4 of colour per pixel: 9000 x 9000 is 1.2 GiB.
    let request = RenderRequest::new(shipped("newton"), 9000, 9000);
    match Engine::default().render(&request, &CancelToken::new()) {
        Err(RenderError::Request(RequestError::TooLarge { .. })) => {}
        other => panic!(
            "expected TooLarge, got {:?}",
            other.map(|output| output.view)
        ),
    }
}
