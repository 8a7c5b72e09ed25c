//! Colourings in Lua: `colour(v1, ...)` applied to the stored values exactly as the user
//! wrote it, inside pixels, `gradient(t)`, its errors (with the line and the pixel), its
//! stop, and `--colouring` through the CLI into the PNG's document and back.

use std::time::{Duration, Instant};

use moonbrot::engine::output::{
    Colouring, ColouringError, ColouringOptions, Palette, byte_from_component, colour_image,
    read_document,
};
use moonbrot::engine::{CancelToken, Engine, KernelError, RenderOutput, ValueImage};

use crate::support::{moonbrot, path_text, pixels, request, shipped, text};

fn rendered() -> RenderOutput {
    Engine::default()
        .render(
            &request(&shipped("mandelbrot"), 96, 64),
            &CancelToken::new(),
        )
        .expect("render")
}

fn lua(source: &str) -> Colouring {
    Colouring::Lua {
        name: "test.lua".to_owned(),
        source: source.to_owned(),
    }
}

fn options() -> ColouringOptions {
    ColouringOptions {
        threads: 2,
        timeout: Some(Duration::from_secs(10)),
        memory_limit_bytes: 64 * 1024 * 1024,
    }
}

fn colour(image: &ValueImage, colouring: &Colouring) -> Result<image::RgbImage, ColouringError> {
    colour_image(
        image,
        &Palette::default(),
        colouring,
        &options(),
        &CancelToken::new(),
    )
}

fn is_inside(value: f32) -> bool {
    !(value >= 0.0 && value.is_finite())
}

#[test]
fn a_lua_colouring_is_its_function_applied_to_the_stored_values() {
    let output = rendered();
    let image = &output.image;
    assert!(
        image.values.iter().any(|value| is_inside(*value)),
        "no inside pixel: no test"
    );
    let coloured = colour(
        image,
        &lua("function colour(v)\n  return v / 100 % 1, 0.5, 2 - v / 10\nend\n"),
    )
    .expect("coloured");
    let inside = Palette::default().inside;
    for (index, value) in image.values.iter().enumerate() {
        let (x, y) = (index as u32 % image.width_px, index as u32 / image.width_px);
        let expected = if is_inside(*value) {
            inside
        } else {
            let v = f64::from(*value);
            [(v / 100.0).rem_euclid(1.0), 0.5, 2.0 - v / 10.0]
                .map(|component| byte_from_component(component as f32))
        };
        assert_eq!(
            coloured.get_pixel(x, y).0,
            expected,
            "pixel {x}, {y}: {value}"
        );
    }
    // 0.5 is the byte 128 (round(255 r)); values outside 0..1 are clamped.
    assert!(coloured.pixels().any(|pixel| pixel.0[1] == 128));
}

#[test]
fn inside_pixels_reach_the_colouring_only_when_it_asks() {
    let output = rendered();
    let source = "colour_inside = true\nfunction colour(v)\n  if v == nil then return 1, 0, 0 end\n  return 0, 0, 1\nend\n";
    let coloured = colour(&output.image, &lua(source)).expect("coloured");
    for (index, value) in output.image.values.iter().enumerate() {
        let pixel = coloured.get_pixel(index as u32 % 96, index as u32 / 96).0;
        let wanted = if is_inside(*value) {
            [255, 0, 0]
        } else {
            [0, 0, 255]
        };
        assert_eq!(pixel, wanted);
    }
}

#[test]
fn gradient_gives_the_palettes_colours() {
    let output = rendered();
    let coloured = colour(
        &output.image,
        &lua("function colour(v) return gradient(v / 37) end"),
    )
    .expect("coloured");
    let gradient = Palette::default().gradient;
    for (index, value) in output.image.values.iter().enumerate() {
        if is_inside(*value) {
            continue;
        }
        let wanted = gradient
            .colour_at((f64::from(*value) / 37.0).rem_euclid(1.0) as f32)
            .map(byte_from_component);
        let pixel = coloured.get_pixel(index as u32 % 96, index as u32 / 96).0;
        let worst = pixel.iter().zip(wanted).map(|(a, b)| a.abs_diff(b)).max();
        assert!(worst <= Some(1), "{value}: {pixel:?} {wanted:?}");
    }
}

#[test]
fn a_colourings_errors_name_its_line_and_pixel() {
    let output = rendered();
    let error = |source: &str| match colour(&output.image, &lua(source)) {
        Err(error) => error,
        Ok(_) => panic!("{source} coloured"),
    };
    let syntax = error("function colour(v)\n  return v +\nend\n");
    assert_eq!(syntax.line(), Some(3), "{syntax}");
    assert!(
        syntax
            .to_string()
            .starts_with("colouring test.lua: syntax error: line 3"),
        "{syntax}"
    );
    // Fails only far from the set (small escape values): the first such pixel, in
    // reading order, is the top-left corner.
    let runtime = error(
        "function colour(v)\n  if v < 3 then error('too small') end\n  return 0, 0, 0\nend\n",
    );
    assert_eq!(runtime.line(), Some(2), "{runtime}");
    assert!(
        runtime.to_string().contains("too small (at pixel 0, 0)"),
        "{runtime}"
    );
    let wrong = error("function colour(v) return 'red' end");
    assert!(
        wrong
            .to_string()
            .contains("colour returned string, nil, nil; it must return three numbers"),
        "{wrong}"
    );
    let missing = error("function color(v) return 1, 1, 1 end");
    assert!(
        missing.to_string().contains("defines no function colour"),
        "{missing}"
    );
    let top = error("local x = nil + 1\nfunction colour(v) return 1, 1, 1 end");
    assert_eq!(top.line(), Some(1), "{top}");
    assert!(
        matches!(
            &top,
            ColouringError::Code {
                error: KernelError::Load { .. },
                ..
            }
        ),
        "{top:?}"
    );
}

#[test]
fn an_endless_colouring_is_stopped_at_its_timeout_and_by_a_cancel() {
    let output = rendered();
    let endless = lua("function colour(v)\n  while true do end\nend\n");
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let result = colour_image(
        &output.image,
        &Palette::default(),
        &endless,
        &ColouringOptions {
            timeout: Some(timeout),
            ..options()
        },
        &CancelToken::new(),
    );
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(ColouringError::TimedOut { .. })),
        "{result:?}"
    );
    // Stopped promptly (the stop latency is measured by the benchmark; this only catches
    // a stop that never comes).
    assert!(elapsed < timeout + Duration::from_secs(2), "{elapsed:?}");
    let cancel = CancelToken::new();
    let cancelled = std::thread::scope(|scope| {
        let running = scope.spawn(|| {
            colour_image(
                &output.image,
                &Palette::default(),
                &endless,
                &options(),
                &cancel,
            )
        });
        std::thread::sleep(Duration::from_millis(200));
        cancel.cancel();
        running.join().expect("joined")
    });
    assert!(
        matches!(cancelled, Err(ColouringError::Cancelled)),
        "{cancelled:?}"
    );
}

#[test]
fn the_cli_colours_with_a_lua_file_and_keeps_it_in_the_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let colouring = dir.path().join("stripes.lua");
    std::fs::write(
        &colouring,
        "function colour(v)\n  local t = v % 2 < 1 and 1 or 0\n  return t, t * 0.5, 0\nend\n",
    )
    .expect("write");
    let out = dir.path().join("out.png");
    let output = moonbrot(&[
        "render",
        "--size",
        "64x48",
        "--colouring",
        path_text(&colouring),
        "-o",
        path_text(&out),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let image = pixels(&out);
    // Only the two stripe colours and the inside colour appear.
    for pixel in image.pixels() {
        assert!(
            [[255, 128, 0], [0, 0, 0]].contains(&pixel.0),
            "{:?}",
            pixel.0
        );
    }
    let document = read_document(&out).expect("document");
    assert_eq!(document.colouring.name(), "stripes.lua");
    // --from renders it again with the stored colouring, the same pixels.
    let again = dir.path().join("again.png");
    let output = moonbrot(&["render", "--from", path_text(&out), "-o", path_text(&again)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(pixels(&again), image);
    // A colouring that fails: exit 1, the line and the pixel, nothing written.
    std::fs::write(&colouring, "function colour(v)\n  return nil + v\nend\n").expect("write");
    let failed = dir.path().join("failed.png");
    let output = moonbrot(&[
        "render",
        "--size",
        "64x48",
        "--colouring",
        path_text(&colouring),
        "-o",
        path_text(&failed),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("colouring stripes.lua: runtime error: line 2"),
        "{stderr}"
    );
    assert!(stderr.contains("(at pixel 0, 0)"), "{stderr}");
    assert!(!failed.exists());
    let output = moonbrot(&[
        "render",
        "--size",
        "8x8",
        "--colouring",
        "plaid",
        "-o",
        path_text(&failed),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("unknown colouring \"plaid\""));
}

/// A benchmark, not a test (run with `--release --ignored --nocapture`): recolouring one
/// megapixel (1024x1024) with the smooth colouring and with a simple Lua colouring, on 2
/// threads, best of 5 each.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn recolour_one_megapixel_benchmark() {
    let output = Engine::default()
        .render(
            &request(&shipped("mandelbrot"), 1024, 1024),
            &CancelToken::new(),
        )
        .expect("render");
    for colouring in [
        Colouring::Smooth,
        lua("function colour(v) return gradient(0.1 * math.sqrt(v)) end"),
        lua("function colour(v) local t = v % 16 / 16 return t, t * t, 1 - t end"),
    ] {
        let best = (0..5)
            .map(|_| {
                let started = Instant::now();
                colour(&output.image, &colouring).expect("coloured");
                started.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "{:>8.1} ms  {}",
            best,
            match &colouring {
                Colouring::Lua { source, .. } => source.as_str(),
                other => other.name(),
            }
        );
    }
    // How long an endless colouring runs past its timeout before it is stopped.
    let endless = lua("function colour(v) while true do end end");
    let timeout = Duration::from_millis(100);
    let mut latencies: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let result = colour_image(
                &output.image,
                &Palette::default(),
                &endless,
                &ColouringOptions {
                    timeout: Some(timeout),
                    ..options()
                },
                &CancelToken::new(),
            );
            assert!(matches!(result, Err(ColouringError::TimedOut { .. })));
            (started.elapsed().saturating_sub(timeout)).as_secs_f64() * 1e3
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    eprintln!(
        "endless colouring stopped {:.1} ms after its timeout (median of 5; worst {:.1} ms)",
        latencies[2], latencies[4]
    );
}

/// A gradient black on its first half, white on its second (a step at 0.5, hard edges).
const HALF_BLACK_HALF_WHITE: &str = "GIMP Gradient\nName: halves\n2\n\
    0 0.25 0.5 0 0 0 1 0 0 0 1 0 0\n\
    0.5 0.75 1 1 1 1 1 1 1 1 1 0 0\n";

/// The share of black and of white pixels among the pixels neither inside nor grey.
fn black_and_white_shares(image: &image::RgbImage) -> (f64, f64) {
    let (mut black, mut white) = (0_u64, 0_u64);
    for pixel in image.pixels() {
        match pixel.0 {
            [0, 0, 0] => black += 1,
            [255, 255, 255] => white += 1,
            _ => {}
        }
    }
    let total = (black + white).max(1) as f64;
    (black as f64 / total, white as f64 / total)
}

#[test]
fn histogram_colouring_gives_each_part_of_the_gradient_as_many_pixels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gradient = dir.path().join("halves.ggr");
    std::fs::write(&gradient, HALF_BLACK_HALF_WHITE).expect("write");
    // Inside pixels in red, so they are not counted as black.
    let render = |colouring: &str, size: &str, extra: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut args = vec![
            "render",
            "--size",
            size,
            "--palette",
            path_text(&gradient),
            "--inside-colour",
            "#ff0000",
            "--colouring",
            colouring,
            "-o",
            path_text(&out),
        ];
        args.extend_from_slice(extra);
        let output = moonbrot(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
        pixels(&out)
    };
    let (black, white) = black_and_white_shares(&render("histogram", "320x240", &[], "one.png"));
    assert!(
        (black - 0.5).abs() < 0.02 && (white - 0.5).abs() < 0.02,
        "{black} {white}"
    );
    // The smooth colouring of the same view is far from even: no test without that.
    let (smooth_black, _) = black_and_white_shares(&render("smooth", "320x240", &[], "smooth.png"));
    assert!((smooth_black - 0.5).abs() > 0.1, "{smooth_black}");
    // A poster in several bands ranks on a preview of the whole image: still even.
    let (black, white) = black_and_white_shares(&render(
        "histogram",
        "1600x1200",
        &["--band-memory", "16"],
        "bands.png",
    ));
    assert!(
        (black - 0.5).abs() < 0.03 && (white - 0.5).abs() < 0.03,
        "{black} {white}"
    );
}
