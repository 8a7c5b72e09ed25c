//! moonbrot PNGs as documents, through the CLI: `render --set`, `info`, `render --from`
//! (bit-exact with the same size, overridable), and the corpus of broken and hostile PNGs
//! in `tests/documents/` (each must be refused with its expected message, exit code 1,
//! and nothing written).

use std::path::{Path, PathBuf};

use crate::support::{moonbrot, path_text, pixels, render_file, text};

/// Renders with `args` into `dir/name`, asserting success.
fn render(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    render_file(dir, name, args).0
}

#[test]
fn a_set_parameter_changes_the_image_and_is_stored_in_the_png() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = ["--kernel", "julia", "--size", "64x48", "--threads", "2"];
    let default = render(dir.path(), "default.png", &base);
    let mut moved_args = base.to_vec();
    moved_args.extend(["--set", "c=0.285,0.01"]);
    let moved = render(dir.path(), "moved.png", &moved_args);
    assert_ne!(pixels(&default), pixels(&moved));
    let metadata = moonbrot::engine::output::read_document(&moved).expect("metadata");
    assert_eq!(
        metadata.parameters,
        vec![(
            "c".to_owned(),
            moonbrot::engine::kernel::ParameterValue::Complex {
                re: 0.285,
                im: 0.01
            }
        )]
    );
    assert_eq!(metadata.size_px, Some((64, 48)));
}

#[test]
fn bad_settings_exit_1_naming_the_parameter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    for (setting, expected) in [
        (
            "c=5",
            "--set: parameter c: it is a complex number written RE,IM",
        ),
        (
            "zoom=2",
            "--set: parameter zoom: the kernel has no such parameter (it has c)",
        ),
        ("c", "--set: parameter c: write a setting as NAME=VALUE"),
    ] {
        let output = moonbrot(&[
            "render",
            "--kernel",
            "julia",
            "--set",
            setting,
            "-o",
            path_text(&out),
        ]);
        assert_eq!(output.status.code(), Some(1), "{setting}");
        assert!(
            text(&output.stderr).contains(expected),
            "{setting}: {}",
            text(&output.stderr)
        );
        assert!(!out.exists());
    }
}

#[test]
fn info_describes_a_kernel_and_a_png_with_its_stored_values() {
    let output = moonbrot(&["info", "multibrot"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let described = text(&output.stdout);
    for expected in [
        "kernel: multibrot",
        "kernel's max_iter: 300",
        "home: --center=0,0 --span 3",
        "power: a number from 1.5 to 8 = 3",
    ] {
        assert!(described.contains(expected), "{expected:?} in {described}");
    }
    // A home declared as an ordinary number prints as the shortest decimal that reads
    // back to it, not as the double's 32 digits.
    let mandelbrot = text(&moonbrot(&["info", "mandelbrot"]).stdout);
    assert!(
        mandelbrot.contains("home: --center=-0.6,0 --span 2.6"),
        "{mandelbrot}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let png = render(
        dir.path(),
        "multi.png",
        &[
            "--kernel",
            "multibrot",
            "--size",
            "40x30",
            "--set",
            "power=4.5",
            "--palette",
            "fire",
        ],
    );
    let output = moonbrot(&["info", path_text(&png)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let described = text(&output.stdout);
    for expected in [
        "image: 40x30 px",
        "max_iter: 300",
        "palette: fire",
        "power: a number from 1.5 to 8 = 4.5 (default 3)",
    ] {
        assert!(described.contains(expected), "{expected:?} in {described}");
    }
}

#[test]
fn render_from_a_png_reproduces_its_pixels_exactly_and_flags_override_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = render(
        dir.path(),
        "original.png",
        &[
            "--kernel",
            "julia",
            "--size",
            "96x64",
            "--center",
            "0.1,-0.2",
            "--span",
            "1.7",
            "--max-iter",
            "321",
            "--palette",
            "ocean",
            "--set",
            "c=-0.4,0.6",
            "--threads",
            "2",
        ],
    );
    // Another thread count, nothing else given: the same pixels, the same document.
    let again = render(
        dir.path(),
        "again.png",
        &["--from", path_text(&original), "--threads", "1"],
    );
    assert_eq!(pixels(&again), pixels(&original), "bit-exact");
    let stored = moonbrot::engine::output::read_document(&original).expect("metadata");
    let reread = moonbrot::engine::output::read_document(&again).expect("metadata");
    assert_eq!(reread, stored);

    // A larger size for a print: the stored view, twice the pixels.
    let bigger = render(
        dir.path(),
        "bigger.png",
        &["--from", path_text(&original), "--size", "192x128"],
    );
    assert_eq!(pixels(&bigger).dimensions(), (192, 128));
    let bigger_metadata = moonbrot::engine::output::read_document(&bigger).expect("metadata");
    assert_eq!(bigger_metadata.view, stored.view);
    assert_eq!(bigger_metadata.parameters, stored.parameters);

    // Guessing is part of the document: off when asked, and kept by --from.
    let exact = render(
        dir.path(),
        "exact.png",
        &["--from", path_text(&original), "--guessing", "off"],
    );
    let exact_metadata = moonbrot::engine::output::read_document(&exact).expect("metadata");
    assert!(stored.guessing && !exact_metadata.guessing);
    let exact_again = render(dir.path(), "exact2.png", &["--from", path_text(&exact)]);
    assert_eq!(pixels(&exact_again), pixels(&exact));
    let described = text(&moonbrot(&["info", path_text(&exact)]).stdout);
    assert!(described.contains("solid guessing: off"), "{described}");

    // A parameter given again wins over the stored one.
    let other_c = render(
        dir.path(),
        "other.png",
        &["--from", path_text(&original), "--set", "c=0.285,0.01"],
    );
    assert_ne!(pixels(&other_c), pixels(&original));
}

/// The corpus: (file, what the message must say), from tests/documents/EXPECTED.
fn corpus() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents");
    let listing = std::fs::read_to_string(dir.join("EXPECTED")).expect("EXPECTED");
    listing
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, expected) = line.split_once('\t').expect("NAME<TAB>MESSAGE");
            (dir.join(name), expected.to_owned())
        })
        .collect()
}

/// A PNG with more uncompressed metadata than moonbrot reads (made here: it is large).
fn huge_metadata_png(dir: &Path) -> PathBuf {
    let path = dir.join("huge_text_chunk.png");
    let file = std::fs::File::create(&path).expect("create");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 2, 2);
    encoder.set_color(png::ColorType::Rgb);
    encoder
        .add_itxt_chunk("moonbrot:kernel".to_owned(), "-".repeat(5 << 20))
        .expect("chunk");
    let mut writer = encoder.write_header().expect("header");
    writer.write_image_data(&[0; 12]).expect("data");
    writer.finish().expect("finish");
    path
}

#[test]
fn broken_and_hostile_pngs_are_refused_with_a_clear_message_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cases = corpus();
    assert!(cases.len() >= 15, "the corpus is there");
    cases.push((
        huge_metadata_png(dir.path()),
        "is not a readable PNG".to_owned(),
    ));
    let out = dir.path().join("out.png");
    let mut failures = Vec::new();
    for (png, expected) in &cases {
        for args in [
            vec!["render", "--from", path_text(png), "-o", path_text(&out)],
            vec!["info", path_text(png)],
        ] {
            let output = moonbrot(&args);
            let message = text(&output.stderr);
            if output.status.code() != Some(1)
                || !message.contains(expected.as_str())
                || message.contains("panicked")
                || out.exists()
            {
                failures.push(format!(
                    "{} {}: exit {:?}, expected {expected:?}, got: {message}",
                    args[0],
                    png.display(),
                    output.status.code()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
