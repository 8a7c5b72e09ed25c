//! Solid guessing through the engine: flat regions are filled from their outline, nothing
//! that crosses a block's border is missed, and a render with guessing off computes every
//! pixel as before.

use moonbrot::engine::{CancelToken, Engine, RenderRequest, View};

use crate::support::{engine_with_log, shipped};

/// Renders `source` at 256x192 over [-2, 2] x [-1.5, 1.5] on one thread.
fn render(engine: &Engine, source: &str, guessing: bool) -> Vec<f32> {
    let request = RenderRequest {
        view: Some(View::new(0.0, 0.0, 3.0)),
        threads: 1,
        guessing,
        ..RenderRequest::new(source, 256, 192)
    };
    engine
        .render(&request, &CancelToken::new())
        .expect("renders")
        .image
        .values
}

#[test]
fn a_one_pixel_filament_across_a_flat_region_is_not_missed() {
    // Inside everywhere except a line one pixel wide (a pixel is 3/192 wide here), at a
    // slant so it crosses blocks anywhere, and a ring.
    let source = r#"
        local half_pixel = 3 / 192 / 2
        function pixel(x, y)
          if math.abs(y - 0.37 * x - 0.05) < half_pixel then return 7 end
          local r = math.sqrt(x * x + y * y)
          if math.abs(r - 1.1) < half_pixel then return 3 end
          return nil
        end
    "#;
    let engine = Engine::default();
    let full = render(&engine, source, false);
    let guessed = render(&engine, source, true);
    let filament = full.iter().filter(|value| **value == 7.0).count();
    assert!(filament > 150, "the filament is drawn ({filament} pixels)");
    let wrong: Vec<usize> = (0..full.len())
        .filter(|&index| full[index].to_bits() != guessed[index].to_bits())
        .collect();
    assert!(wrong.is_empty(), "pixels guessed wrong: {wrong:?}");
}

#[test]
fn flat_regions_are_filled_without_calling_pixel() {
    // Integer rings, each 64 pixels wide: large flat regions. Each call is counted and printed every 1000.
    let source = r#"
        calls = 0
        function pixel(x, y)
          calls = calls + 1
          if calls % 1000 == 0 then print(calls) end
          return math.floor(math.sqrt(x * x + y * y))
        end
    "#;
    let (engine, lines) = engine_with_log(1000);
    let full = render(&engine, source, false);
    let full_calls = lines.lock().expect("log").len();
    lines.lock().expect("log").clear();
    let guessed = render(&engine, source, true);
    let guessed_calls = lines.lock().expect("log").len();
    assert_eq!(full, guessed, "the same picture");
    assert_eq!(full_calls, 256 * 192 / 1000);
    assert!(
        guessed_calls * 3 < full_calls,
        "guessing called pixel about {guessed_calls}000 times, every pixel is {full_calls}000"
    );
}

#[test]
fn direct_colour_kernels_are_computed_in_full() {
    let engine = Engine::default();
    let newton = shipped("newton");
    let request = |guessing: bool| RenderRequest {
        threads: 2,
        guessing,
        ..RenderRequest::new(newton.clone(), 120, 90)
    };
    let on = engine
        .render(&request(true), &CancelToken::new())
        .expect("renders");
    let off = engine
        .render(&request(false), &CancelToken::new())
        .expect("renders");
    assert!(!on.guessed, "an rgb kernel is never guessed");
    assert_eq!(on.image, off.image);
}

#[test]
fn the_mandelbrot_home_guessed_differs_visibly_in_fewer_than_1_pixel_in_10000() {
    let engine = Engine::default();
    let source = shipped("mandelbrot");
    let request = |guessing: bool| RenderRequest {
        threads: 2,
        guessing,
        ..RenderRequest::new(source.clone(), 400, 300)
    };
    let full = engine
        .render(&request(false), &CancelToken::new())
        .expect("renders");
    let guessed = engine
        .render(&request(true), &CancelToken::new())
        .expect("renders");
    assert!(guessed.guessed && !full.guessed);
    let differing = full
        .image
        .values
        .iter()
        .zip(&guessed.image.values)
        .filter(|(a, b)| moonbrot::engine::bench::visibly_different(**a, **b))
        .count();
    // The goal: fewer than 1 pixel in 10,000.
    assert!(differing < 12, "{differing} of 120000 pixels differ");
}

#[test]
fn guessed_images_of_any_size_fill_every_pixel_as_computing_them_would() {
    // Blocks cut at the image's edges and at lattice columns that are not the image's
    // first: narrow, odd and one-pixel images, and ones wider and taller than a block by
    // one pixel. Integer rings a few pixels to tens of pixels wide: every block either lies
    // inside one ring or has a ring edge crossing its border, so guessing is exact here.
    let source = r#"
        function pixel(x, y)
          return math.floor(3 * math.sqrt(x * x + y * y))
        end
    "#;
    let engine = Engine::default();
    for (width, height) in [
        (1, 1),
        (1, 40),
        (2, 40),
        (40, 2),
        (33, 33),
        (34, 65),
        (97, 70),
    ] {
        let render = |guessing: bool| {
            let request = RenderRequest {
                view: Some(View::new(0.3, -0.2, 1.7)),
                threads: 2,
                guessing,
                ..RenderRequest::new(source, width, height)
            };
            engine
                .render(&request, &CancelToken::new())
                .expect("renders")
                .image
                .values
        };
        let full = render(false);
        assert!(
            full.iter().all(|value| *value >= 0.0),
            "every pixel computed"
        );
        assert_eq!(full, render(true), "{width}x{height}");
    }
}

#[test]
fn tiles_of_a_row_of_blocks_give_the_image_of_whole_rows() {
    // On several threads a row of blocks is cut across into tiles, each right one starting
    // its blocks on the edge column of the one to its left; on one thread rows stay whole.
    let engine = Engine::default();
    let source = shipped("mandelbrot");
    let render = |threads: usize| {
        let request = RenderRequest {
            view: Some(View::new(-0.75, 0.1, 0.5)),
            threads,
            symmetry: false,
            ..RenderRequest::new(source.clone(), 700, 100)
        };
        engine
            .render(&request, &CancelToken::new())
            .expect("renders")
    };
    let whole_rows = render(1);
    let tiled = render(6);
    let units = |output: &moonbrot::engine::RenderOutput| -> usize {
        output
            .timings
            .threads
            .iter()
            .map(|thread| thread.units)
            .sum()
    };
    assert_eq!(units(&whole_rows), 4, "one unit a row of blocks");
    assert!(units(&tiled) > 4, "{} units", units(&tiled));
    assert!(tiled.guessed);
    assert_eq!(whole_rows.image.values, tiled.image.values);
}

#[test]
fn where_nothing_is_flat_guessing_computes_each_row_straight_across_as_without_it() {
    // Each pixel's value is the order of its call: no two pixels alike, so no block can be
    // filled or is worth cutting up, and guessing computes each row of blocks as a render
    // without it does, every row left to right, edge columns and all. (Computing the blocks'
    // edge columns on their own first cost about 2% of a render where guessing fills
    // nothing.)
    let source = r#"
        calls = 0
        function pixel(x, y)
          calls = calls + 1
          return calls
        end
    "#;
    let engine = Engine::default();
    let guessed = render(&engine, source, true);
    for (row, values) in guessed.chunks_exact(256).enumerate() {
        assert!(
            values.windows(2).all(|pair| pair[1] == pair[0] + 1.0),
            "row {row}: {:?}",
            &values[..40]
        );
    }
}
