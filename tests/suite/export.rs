//! PNG export: what is written, the metadata that comes back, and that a failed export
//! leaves nothing behind and destroys nothing.

use std::path::Path;

use moonbrot::engine::export::{ExportMetadata, read_png_metadata, write_png};
use moonbrot::engine::palette::{Gradient, Palette};
use moonbrot::engine::{CancelToken, Engine, ExportError, View};

use crate::support::{request, shipped};

fn sample_image() -> (image::RgbImage, ExportMetadata) {
    let source = shipped("mandelbrot");
    let output = Engine::default()
        .render(&request(&source, 64, 48), &CancelToken::new())
        .expect("render");
    let palette = Palette {
        gradient: Gradient::Fire,
        density: 2.5,
        offset: 0.25,
        inside: [10, 20, 30],
    };
    let image = palette.colourize(&output.image);
    (image, ExportMetadata::of_render(&source, &output, palette))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn an_export_is_a_png_that_carries_its_kernel_view_and_palette() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mandelbrot.png");
    let (image, metadata) = sample_image();
    write_png(&path, &image, &metadata).expect("export");
    let decoded = image::open(&path).expect("a valid PNG").to_rgb8();
    assert_eq!(decoded, image);
    let read_back = read_png_metadata(&path).expect("metadata");
    assert_eq!(read_back, metadata);
    assert_eq!(read_back.view, View::new(-0.6, 0.0, 2.6));
    assert_eq!(read_back.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        files_in(dir.path()),
        vec!["mandelbrot.png"],
        "no temporary file is left"
    );
}

#[test]
fn an_export_replaces_an_existing_file_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.png");
    std::fs::write(&path, b"old contents").expect("write");
    let (image, metadata) = sample_image();
    write_png(&path, &image, &metadata).expect("export");
    assert!(image::open(&path).is_ok());
    assert_eq!(files_in(dir.path()), vec!["out.png"]);
}

#[test]
fn an_export_into_a_missing_folder_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no/such/folder/out.png");
    let (image, metadata) = sample_image();
    let error = write_png(&path, &image, &metadata).expect_err("must fail");
    assert!(
        matches!(error, ExportError::MissingDirectory { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("does not exist"));
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn an_export_onto_a_folder_or_device_is_refused_and_destroys_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("folder.png");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join("keep.txt"), b"keep").expect("write");
    let (image, metadata) = sample_image();
    let error = write_png(&folder, &image, &metadata).expect_err("must fail");
    assert!(matches!(error, ExportError::NotAFile { .. }), "{error}");
    assert_eq!(files_in(&folder), vec!["keep.txt"]);
    assert_eq!(
        files_in(dir.path()),
        vec!["folder.png"],
        "no temporary file is left"
    );
    if Path::new("/dev/full").exists() {
        assert!(matches!(
            write_png(Path::new("/dev/full"), &image, &metadata),
            Err(ExportError::NotAFile { .. })
        ));
        assert!(
            Path::new("/dev/full")
                .metadata()
                .is_ok_and(|m| !m.is_file()),
            "/dev/full is untouched"
        );
    }
}
