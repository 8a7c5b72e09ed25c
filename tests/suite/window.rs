//! The real window, opened by the real binary under Xvfb: `moonbrot --screenshot FILE`
//! waits for the first full render, saves a screenshot of the window and exits. The test
//! checks that the picture shows the fractal, not a blank or half-drawn window. Without
//! `xvfb-run` it is skipped with a message, unless MOONBROT_REQUIRE_GUI_TESTS=1 (as in CI).

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

fn require_gui_tests() -> bool {
    std::env::var_os("MOONBROT_REQUIRE_GUI_TESTS").is_some_and(|value| value == "1")
}

fn have_xvfb() -> bool {
    Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Distinct colours and the share of near-black pixels in a region of the screenshot.
fn region_stats(image: &image::RgbImage, x: (f32, f32), y: (f32, f32)) -> (usize, f64) {
    let (width, height) = image.dimensions();
    let mut colours = HashSet::new();
    let (mut dark, mut total) = (0_usize, 0_usize);
    for row in (y.0 * height as f32) as u32..(y.1 * height as f32) as u32 {
        for column in (x.0 * width as f32) as u32..(x.1 * width as f32) as u32 {
            let pixel = image.get_pixel(column, row).0;
            colours.insert(pixel);
            if pixel.iter().all(|channel| *channel < 12) {
                dark += 1;
            }
            total += 1;
        }
    }
    (colours.len(), dark as f64 / total.max(1) as f64)
}

#[test]
fn the_real_window_opens_and_draws_the_fractal() {
    if !have_xvfb() {
        assert!(
            !require_gui_tests(),
            "MOONBROT_REQUIRE_GUI_TESTS=1 but xvfb-run is not installed"
        );
        eprintln!("skipped: xvfb-run is not installed (apt-get install xvfb xauth, see README)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let shot = dir.path().join("window.png");
    let runtime_dir = dir.path().join("runtime");
    std::fs::create_dir(&runtime_dir).expect("runtime dir");
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_moonbrot"))
        .arg("--screenshot")
        .arg(&shot)
        // A private home and runtime dir: the test never touches the user's saved state.
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .output()
        .expect("run xvfb-run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !require_gui_tests() && !Path::new(&shot).exists() {
        eprintln!("skipped: the window could not open under Xvfb here: {stderr}");
        return;
    }
    assert!(
        output.status.success(),
        "moonbrot --screenshot failed: {stderr}"
    );
    let image = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    let (width, height) = image.dimensions();
    assert!(
        width >= 1000 && height >= 600,
        "the window is {width}x{height}"
    );

    // The view area lies between the editor (left third) and the settings (right quarter).
    // Both halves must be drawn: a half-drawn render shows the dark background in one.
    for (name, rows) in [("top half", (0.08, 0.45)), ("bottom half", (0.55, 0.92))] {
        let (colours, dark_share) = region_stats(&image, (0.40, 0.70), rows);
        assert!(
            colours > 200,
            "the {name} of the view shows {colours} colours: not a fractal"
        );
        assert!(
            (0.02..0.9).contains(&dark_share),
            "the {name} of the view is {:.0}% black: blank or not drawn",
            dark_share * 100.0
        );
    }
    // The editor shows the kernel's text: light glyphs on a dark background.
    let (editor_colours, _) = region_stats(&image, (0.01, 0.30), (0.05, 0.50));
    assert!(
        editor_colours > 20,
        "the editor looks empty ({editor_colours} colours)"
    );
}
