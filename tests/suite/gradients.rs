//! Gradients as an artist brings them: real GIMP, Fractint and Ultra Fractal files from
//! tests/gradients/ (their sources and licences are in its README), small files whose
//! colours are worked out by hand, bad files refused with the line, the `.ggr` moonbrot
//! writes read back, and the CLI's palette flags through to the PNG and its document.

use std::path::{Path, PathBuf};

use moonbrot::engine::output::{
    Colour, ColourSpace, Gradient, byte_from_component, read_document, read_gradient_file,
    write_ggr,
};

use crate::support::{moonbrot, path_text, pixels, text};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/gradients")
        .join(name)
}

fn read(name: &str) -> Gradient {
    read_gradient_file(path_text(&sample(name))).unwrap_or_else(|error| panic!("{error}"))
}

fn bytes(colour: Colour) -> [u8; 3] {
    colour.map(byte_from_component)
}

fn close(a: Colour, b: [f64; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (f64::from(*x) - y).abs() < 1e-5)
}

/// Writes `text` to `name` in a fresh folder; the folder lives as long as the guard.
fn file_with(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

fn error_reading(name: &str, text: &str) -> String {
    let (_dir, path) = file_with(name, text);
    match read_gradient_file(path_text(&path)) {
        Ok(gradient) => panic!("{name} was read as {gradient:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn fractint_maps_read_their_colours_in_order_whatever_their_line_ends_and_length() {
    // DOS line ends; 256 colours, the first 48 48 48.
    let zebra = read("4zebbowx.map");
    assert_eq!(zebra.segments().len(), 256);
    assert_eq!(zebra.name(), "4zebbowx");
    assert_eq!(bytes(zebra.colour_at_exact(0.0)), [48, 48, 48]);
    // 16 colours (an EGA map): 16 stops evenly around the loop, each at its line's colour.
    let froth = read("froth316.map");
    assert_eq!(froth.segments().len(), 16);
    let lines: Vec<[u8; 3]> = std::fs::read_to_string(sample("froth316.map"))
        .expect("map")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let numbers: Vec<u8> = line
                .split_whitespace()
                .take(3)
                .map(|field| field.parse().expect("number"))
                .collect();
            [numbers[0], numbers[1], numbers[2]]
        })
        .collect();
    for (index, colour) in lines.iter().enumerate() {
        assert_eq!(
            bytes(froth.colour_at_exact(index as f64 / 16.0)),
            *colour,
            "stop {index}"
        );
    }
    // 356 lines: the 256 first are the map, as Fractint reads it.
    assert_eq!(read("chroma.map").segments().len(), 256);
    // A 256 (found in 90s maps) reads as 255.
    let rainbow = read("hlsrain5.map");
    let text = std::fs::read_to_string(sample("hlsrain5.map")).expect("map");
    let index = text
        .lines()
        .position(|line| line.split_whitespace().any(|field| field == "256"))
        .expect("a 256 in the file");
    let colour = bytes(rainbow.colour_at_exact(index as f64 / 256.0));
    assert!(colour.contains(&255), "{colour:?}");
}

#[test]
fn ultra_fractal_files_give_their_first_gradient_or_the_one_named() {
    let first = read("blatte1.ugr");
    assert_eq!(first.name(), "blatte10");
    // blatte10: index=25 color=3216141, red in the low byte; smooth=no mixes in sRGB.
    let [red, green, blue, _] = 3_216_141_u32.to_le_bytes();
    assert_eq!(
        bytes(first.colour_at_exact(25.0 / 400.0)),
        [red, green, blue]
    );
    assert!(
        first
            .segments()
            .iter()
            .all(|segment| segment.space == ColourSpace::Rgb)
    );
    // Halfway between index=0 color=3085069 and index=25, in sRGB.
    let [red0, green0, blue0, _] = 3_085_069_u32.to_le_bytes();
    let halfway = first.colour_at_exact(12.5 / 400.0);
    let expected = [
        (f64::from(red0) + f64::from(red)) / 510.0,
        (f64::from(green0) + f64::from(green)) / 510.0,
        (f64::from(blue0) + f64::from(blue)) / 510.0,
    ];
    assert!(close(halfway, expected), "{halfway:?} {expected:?}");
    let second = read_gradient_file(&format!("{}:blatte11", path_text(&sample("blatte1.ugr"))))
        .expect("blatte11");
    assert_eq!(second.name(), "blatte11");
    assert_ne!(second, first);
    let missing = read_gradient_file(&format!("{}:plaid", path_text(&sample("blatte1.ugr"))))
        .expect_err("no plaid");
    let message = missing.to_string();
    assert!(
        message.contains("no gradient named \"plaid\"") && message.contains("blatte10, blatte11"),
        "{message}"
    );
}

#[test]
fn gimp_gradients_of_every_generation_read() {
    // GIMP 1: no Name line, so the file's name.
    let old = read("test.ggr");
    assert_eq!(old.name(), "test");
    assert_eq!(old.segments().len(), 9);
    assert!(close(
        old.colour_at_exact(0.0),
        [0.313725, 0.356863, 0.341176]
    ));
    // GIMP 2.10: 15 fields; black to white, halfway at the middle point 0.236515.
    let untitled = read("Untitled.ggr");
    assert_eq!(untitled.name(), "Untitled");
    assert!(close(untitled.colour_at_exact(0.236515), [0.5, 0.5, 0.5]));
    // GIMP 3 ("LIGMA Gradient"), HSV counter-clockwise red to red: the whole hue circle.
    let spectrum = read("Full_saturation_spectrum_CCW.ggr");
    assert_eq!(spectrum.name(), "Full saturation spectrum CCW");
    assert!(close(spectrum.colour_at_exact(1.0 / 3.0), [0.0, 1.0, 0.0]));
    assert!(close(spectrum.colour_at_exact(2.0 / 3.0), [0.0, 0.0, 1.0]));
    let abstract_one = read("Abstract_1.ggr");
    assert_eq!(abstract_one.segments().len(), 6);
    assert!(close(
        abstract_one.colour_at_exact(0.0),
        [0.269543, 0.259267, 1.0]
    ));
}

#[test]
fn every_ggr_blend_and_colour_type_gives_the_colours_worked_out_by_hand() {
    // Six segments of 1/6 each, from black to (1, 0.5, 0.25) or red to blue, each a
    // different blend or colour type, middles placed to make the sums easy.
    let text = "GIMP Gradient\nName: by hand\n7\n\
        0.0 0.05 0.2 0 0 0 1 1 0.5 0.25 1 0 0\n\
        0.2 0.25 0.4 0 0 0 1 1 0.5 0.25 1 1 0\n\
        0.4 0.5 0.6 0 0 0 1 1 0.5 0.25 1 2 0\n\
        0.6 0.65 0.7 0 0 0 1 1 0.5 0.25 1 3 0\n\
        0.7 0.75 0.8 0 0 0 1 1 0.5 0.25 1 4 0\n\
        0.8 0.85 0.9 1 0 0 1 0 0 1 1 0 1\n\
        0.9 0.95 1.0 1 0 0 1 0 0 1 1 5 2\n";
    let (_dir, path) = file_with("by_hand.ggr", text);
    let gradient = read_gradient_file(path_text(&path)).expect("reads");
    let scaled = |factor: f64| [factor, factor / 2.0, factor / 4.0];
    // Linear, middle 1/4 of the way: halfway there, 3/4 at 5/8 of the way.
    assert!(close(gradient.colour_at_exact(0.05), scaled(0.5)));
    assert!(close(gradient.colour_at_exact(0.125), scaled(0.75)));
    // Curved, middle 1/4: factor = along^(ln 0.5 / ln 0.25) = sqrt(along); along 0.64.
    assert!(close(gradient.colour_at_exact(0.328), scaled(0.8)));
    // Sine, middle 1/2: at 1/4 of the way, (sin(-pi/4) + 1) / 2.
    let sine = ((-std::f64::consts::FRAC_PI_4).sin() + 1.0) / 2.0;
    assert!(close(gradient.colour_at_exact(0.45), scaled(sine)));
    // Sphere increasing and decreasing, halfway: sqrt(3/4) and 1 - sqrt(3/4).
    assert!(close(
        gradient.colour_at_exact(0.65),
        scaled(0.75_f64.sqrt())
    ));
    assert!(close(
        gradient.colour_at_exact(0.75),
        scaled(1.0 - 0.75_f64.sqrt())
    ));
    // Red to blue in HSV counter-clockwise passes green; clockwise (a step here) jumps.
    assert!(close(gradient.colour_at_exact(0.85), [0.0, 1.0, 0.0]));
    assert!(close(gradient.colour_at_exact(0.94), [1.0, 0.0, 0.0]));
    assert!(close(gradient.colour_at_exact(0.96), [0.0, 0.0, 1.0]));
}

#[test]
fn bad_gradient_files_are_refused_naming_the_line() {
    let cases: [(&str, &str, &str); 12] = [
        ("empty.ggr", "", "the file is empty"),
        (
            "header.ggr",
            "GIMP Palette\n",
            "line 1: expected \"GIMP Gradient\"",
        ),
        (
            "truncated.ggr",
            "GIMP Gradient\nName: t\n3\n0 0.25 0.5 0 0 0 1 1 1 1 1 0 0\n0.5 0.75 1 0 0 0 1 1 1 1 1 0 0\n",
            "line 6: the file ends after 2 of the 3 segments it declares",
        ),
        (
            "count.ggr",
            "GIMP Gradient\nName: t\n1\n0 0.25 0.5 0 0 0 1 1 1 1 1 0 0\n0.5 0.75 1 0 0 0 1 1 1 1 1 0 0\n",
            "line 5: more segments than the 1 the file declares",
        ),
        (
            "zero.ggr",
            "GIMP Gradient\nName: t\n0\n",
            "line 3: 0 segments",
        ),
        (
            "nan.ggr",
            "GIMP Gradient\nName: t\n1\n0 nan 1 0 0 0 1 1 1 1 1 0 0\n",
            "line 4: \"nan\" is not a finite number",
        ),
        (
            "blend.ggr",
            "GIMP Gradient\nName: t\n1\n0 0.5 1 0 0 0 1 1 1 1 1 9 0\n",
            "line 4: unknown blend type 9",
        ),
        (
            "gap.ggr",
            "GIMP Gradient\nName: t\n2\n0 0.2 0.4 0 0 0 1 1 1 1 1 0 0\n0.5 0.75 1 0 0 0 1 1 1 1 1 0 0\n",
            "line 5: segment 2 starts at 0.5 but the one before ends at 0.4",
        ),
        (
            "words.map",
            "0 0 0\n10 20 thirty\n",
            "line 2: expected red, green and blue",
        ),
        ("blank.map", "\n\n", "holds no colours"),
        (
            "index.ugr",
            "g {\ngradient:\n index=400 color=0\n}\n",
            "line 3: index \"400\" is not 0 to 399",
        ),
        (
            "open.ugr",
            "g {\ngradient:\n index=0 color=255\n",
            "line 1: the gradient \"g\" is never closed",
        ),
    ];
    for (name, text, wanted) in cases {
        let message = error_reading(name, text);
        assert!(message.contains(wanted), "{name}: {message}");
        assert!(
            message.contains(name),
            "{name}: the message names the file: {message}"
        );
    }
    let huge = "0 0 0\n".repeat(1_000_000);
    assert!(error_reading("huge.map", &huge).contains("more than 4096 KiB"));
    let unknown = error_reading("notes.txt", "hello\n");
    assert!(
        unknown.contains("not a gradient file moonbrot reads"),
        "{unknown}"
    );
}

#[test]
fn a_written_ggr_reads_back_as_the_same_colours() {
    let mut gradients: Vec<Gradient> = Gradient::all_shipped().to_vec();
    gradients.push(read("Abstract_1.ggr"));
    gradients.push(read("blatte1.ugr"));
    gradients.push(read("froth316.map"));
    for gradient in gradients {
        let (_dir, path) = file_with("out.ggr", &write_ggr(&gradient));
        let back = read_gradient_file(path_text(&path)).expect("reads back");
        assert_eq!(back.name(), gradient.name());
        for step in 0..997 {
            let position = f64::from(step) / 997.0;
            let (was, is) = (
                bytes(gradient.colour_at_exact(position)),
                bytes(back.colour_at_exact(position)),
            );
            let worst = was.iter().zip(is).map(|(a, b)| a.abs_diff(b)).max();
            assert!(
                worst <= Some(1),
                "{} at {position}: {was:?} {is:?}",
                gradient.name()
            );
        }
    }
}

#[test]
fn palette_flags_colour_the_png_and_are_kept_in_its_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("froth.png");
    let map = sample("froth316.map");
    let output = moonbrot(&[
        "render",
        "--size",
        "96x64",
        "--palette",
        path_text(&map),
        "--density",
        "2.5",
        "--offset",
        "0.25",
        "--inside-colour",
        "#102030",
        "-o",
        path_text(&out),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let document = read_document(&out).expect("document");
    assert_eq!(document.palette.gradient, read("froth316.map"));
    assert_eq!(document.palette.density, 2.5);
    assert_eq!(document.palette.offset, 0.25);
    assert_eq!(document.palette.inside, [0x10, 0x20, 0x30]);
    // The home view's centre is inside the set.
    let image = pixels(&out);
    assert_eq!(image.get_pixel(48, 32).0, [0x10, 0x20, 0x30]);
    // Rendering the document again gives the same pixels, gradient and all.
    let again = dir.path().join("again.png");
    let output = moonbrot(&["render", "--from", path_text(&out), "-o", path_text(&again)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(pixels(&again), image);
    let output = moonbrot(&["info", path_text(&out)]);
    assert!(
        text(&output.stdout).contains("palette: froth316"),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn bad_palette_flags_exit_1_saying_what_to_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    let bad_map = dir.path().join("bad.map");
    std::fs::write(&bad_map, "1 2 3\nred green blue\n").expect("write");
    for (flag, value, wanted) in [
        ("--palette", "plaid", "choose one of classic"),
        ("--palette", path_text(&bad_map), "bad.map, line 2"),
        (
            "--palette",
            "/nonexistent/x.ggr",
            "cannot read the gradient file",
        ),
        ("--palette", "/dev/zero", "more than 4096 KiB"),
        ("--density", "0", "--density 0 must be 0.01 to 100"),
        ("--offset", "1.5", "--offset 1.5 must be 0 to 1"),
        ("--inside-colour", "#12345", "write #RRGGBB"),
        ("--inside-colour", "1,2,300", "write #RRGGBB"),
    ] {
        let output = moonbrot(&[
            "render",
            "--size",
            "8x8",
            flag,
            value,
            "-o",
            path_text(&out),
        ]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{flag} {value}: {stderr}");
        assert!(stderr.contains(wanted), "{flag} {value}: {stderr}");
        assert!(!out.exists(), "{flag} {value} wrote an image");
    }
    let output = moonbrot(&["render", "--help"]);
    let help = text(&output.stdout);
    for flag in [
        "--palette <NAME|FILE>",
        "--density",
        "--offset",
        "--inside-colour",
        ".ugr:NAME",
        "--colouring <NAME|FILE.lua>",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn documents_before_gradients_keep_their_srgb_mixed_colours() {
    // A format 3 file names a shipped gradient, mixed in sRGB then; format 4 stores the
    // gradient itself (in Oklab for the shipped ones).
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("new.png");
    let output = moonbrot(&["render", "--size", "16x16", "-o", path_text(&out)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let document = read_document(&out).expect("document");
    assert_eq!(document.palette.gradient, Gradient::default());
    let old = Gradient::default().mixed_in(ColourSpace::Rgb);
    assert_ne!(old, Gradient::default());
    // Rewrite the file as format 3 and read it back.
    let old_path = dir.path().join("old.png");
    rewrite_as_format_3(&out, &old_path);
    let old_document = read_document(&old_path).expect("old document");
    assert_eq!(old_document.palette.gradient, old);
}

/// Copies a moonbrot PNG with its format set to 3 and its palette's gradient named.
fn rewrite_as_format_3(from: &Path, to: &Path) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(from).expect("open"),
    ));
    let mut reader = decoder.read_info().expect("png");
    let mut buffer = vec![0; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut buffer).expect("frame");
    let info = reader.info().clone();
    let file = std::fs::File::create(to).expect("create");
    let mut encoder = png::Encoder::new(file, frame.width, frame.height);
    encoder.set_color(frame.color_type);
    encoder.set_depth(frame.bit_depth);
    for chunk in &info.utf8_text {
        let value = chunk.get_text().expect("text");
        let value = match chunk.keyword.as_str() {
            "moonbrot:format" => "3".to_owned(),
            "moonbrot:palette" => {
                r#"{"gradient":"classic","density":1.0,"offset":0.0,"inside":[0,0,0]}"#.to_owned()
            }
            _ => value,
        };
        encoder
            .add_itxt_chunk(chunk.keyword.clone(), value)
            .expect("chunk");
    }
    let mut writer = encoder.write_header().expect("header");
    writer
        .write_image_data(&buffer[..frame.buffer_size()])
        .expect("data");
}
