//! PNG export as users take it (the window's Export and `moonbrot render -o` both write a
//! poster): what is written, the document that comes back, and that a failed export
//! leaves nothing behind and destroys nothing.

use std::path::Path;

use moonbrot::engine::output::{Document, Gradient, Palette, PosterError, read_document};
use moonbrot::engine::{CancelToken, Engine, ExportError, RenderRequest, View};

use crate::support::{export_png, request, shipped};

fn sample_palette() -> Palette {
    Palette {
        gradient: Gradient::shipped("fire").expect("shipped"),
        density: 2.5,
        offset: 0.25,
        inside: [10, 20, 30],
    }
}

fn sample_request() -> RenderRequest {
    request(&shipped("mandelbrot"), 64, 48)
}

/// Exports the sample to `path`; the failure, if any, as the export error it carries.
fn export_sample(path: &Path) -> Result<Document, ExportError> {
    match export_png(&sample_request(), sample_palette(), path) {
        Ok(written) => Ok(written.metadata),
        Err(PosterError::Write(error)) => Err(error),
        Err(other) => panic!("not an export error: {other}"),
    }
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
    let metadata = export_sample(&path).expect("export");
    let output = Engine::default()
        .render(&sample_request(), &CancelToken::new())
        .expect("render");
    let decoded = image::open(&path).expect("a valid PNG").to_rgb8();
    assert_eq!(decoded, sample_palette().colourize(&output.image));
    let read_back = read_document(&path).expect("metadata");
    assert_eq!(read_back, metadata);
    assert_eq!(read_back.kernel_source, shipped("mandelbrot").as_ref());
    assert_eq!(read_back.palette, sample_palette());
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
    export_sample(&path).expect("export");
    assert!(image::open(&path).is_ok());
    assert_eq!(files_in(dir.path()), vec!["out.png"]);
}

#[test]
fn an_export_into_a_missing_folder_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no/such/folder/out.png");
    let error = export_sample(&path).expect_err("must fail");
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
    let error = export_sample(&folder).expect_err("must fail");
    assert!(matches!(error, ExportError::NotAFile { .. }), "{error}");
    assert_eq!(files_in(&folder), vec!["keep.txt"]);
    assert_eq!(
        files_in(dir.path()),
        vec!["folder.png"],
        "no temporary file is left"
    );
    if Path::new("/dev/full").exists() {
        assert!(matches!(
            export_sample(Path::new("/dev/full")),
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
