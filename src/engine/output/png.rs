//! Writing moonbrot's PNGs: the one encoder set-up every written image uses (RGB, 8 bits,
//! fast compression, the document's text chunks before the pixels), the check that an
//! output path can be written, and `ExportError`, what a failed write reports.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::document::Document;

/// Why a PNG could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The target directory does not exist or is not a directory.
    #[error("cannot write {}: the folder {} does not exist", path.display(), dir.display())]
    MissingDirectory {
        /// The requested output path.
        path: PathBuf,
        /// Its parent directory.
        dir: PathBuf,
    },
    /// The path names something that is not a regular file (a folder, a device).
    #[error("cannot write {}: it exists and is not a regular file", path.display())]
    NotAFile {
        /// The requested output path.
        path: PathBuf,
    },
    /// An I/O error while writing or renaming; nothing was left at the path.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The requested output path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The PNG encoder or decoder failed.
    #[error("PNG error for {}: {message}", path.display())]
    Png {
        /// The file concerned.
        path: PathBuf,
        /// The encoder's or decoder's message.
        message: String,
    },
}

/// Refuses an output path whose folder does not exist or that names something other than
/// a file, before anything is rendered or written.
pub(crate) fn check_output_path(path: &Path) -> Result<(), ExportError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(ExportError::MissingDirectory {
            path: path.to_owned(),
            dir,
        });
    }
    if std::fs::metadata(path).is_ok_and(|existing| !existing.is_file()) {
        return Err(ExportError::NotAFile {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// A PNG writer into `out` for an RGB image of `width` × `height` pixels, its header and
/// `document`'s text chunks already written; `png_stream` then takes the rows. `path` is
/// only for error messages.
pub(crate) fn document_png_writer<W: Write>(
    out: W,
    (width, height): (u32, u32),
    document: &Document,
    path: &Path,
) -> Result<png::Writer<W>, ExportError> {
    let mut encoder = png::Encoder::new(out, width, height);
    // fdeflate: 3-4x faster than zlib's default level, files 20-50% larger (figures in
    // ARCHITECTURE.md); a poster or a film is mostly encoding.
    encoder.set_compression(png::Compression::Fast);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    for (keyword, text) in document.text_chunks() {
        encoder
            .add_itxt_chunk(keyword.to_owned(), text)
            .map_err(|error| png_error(path, error))?;
    }
    encoder
        .write_header()
        .map_err(|error| png_error(path, error))
}

/// The stream the image's rows are written into (3 bytes a pixel, top to bottom), ended
/// with `finish_png_stream`.
pub(crate) fn png_stream<'a, W: Write>(
    writer: &'a mut png::Writer<W>,
    path: &Path,
) -> Result<png::StreamWriter<'a, W>, ExportError> {
    writer
        .stream_writer()
        .map_err(|error| png_error(path, error))
}

/// Ends a stream made by `png_stream`: the last compressed data and the end chunk.
pub(crate) fn finish_png_stream<W: Write>(
    stream: png::StreamWriter<'_, W>,
    path: &Path,
) -> Result<(), ExportError> {
    stream.finish().map_err(|error| png_error(path, error))
}

/// An encoder's failure as an `ExportError` about `path`.
fn png_error(path: &Path, error: png::EncodingError) -> ExportError {
    match error {
        png::EncodingError::IoError(source) => ExportError::Io {
            path: path.to_owned(),
            source,
        },
        other => ExportError::Png {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}
