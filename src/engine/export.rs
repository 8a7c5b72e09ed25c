//! PNG export: writes a coloured image with the metadata that reproduces it (kernel source,
//! view, max_iter, palette, moonbrot version) in iTXt chunks, atomically (`atomic_file`):
//! a failed export never leaves a partial file and never destroys an existing one.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic_file::write_atomically;
use super::error::ExportError;
use super::palette::Palette;
use super::view::View;

/// Everything needed to render an exported image again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportMetadata {
    /// The kernel's Lua source.
    pub kernel_source: String,
    /// The view rendered.
    pub view: View,
    /// The iteration limit used.
    pub max_iter: u32,
    /// The palette used.
    pub palette: Palette,
    /// The moonbrot version that wrote the file.
    pub version: String,
}

/// iTXt keywords (PNG keywords are Latin-1, 1 to 79 bytes).
const KEY_KERNEL: &str = "moonbrot:kernel";
const KEY_VIEW: &str = "moonbrot:view";
const KEY_MAX_ITER: &str = "moonbrot:max_iter";
const KEY_PALETTE: &str = "moonbrot:palette";
const KEY_VERSION: &str = "moonbrot:version";

impl ExportMetadata {
    /// Metadata stamped with this build's version.
    pub fn new(kernel_source: &str, view: View, max_iter: u32, palette: Palette) -> Self {
        Self {
            kernel_source: kernel_source.to_owned(),
            view,
            max_iter,
            palette,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    fn text_chunks(&self) -> Vec<(&'static str, String)> {
        // Serialising these plain structs cannot fail.
        let json = |value: Result<String, serde_json::Error>| value.unwrap_or_default();
        vec![
            (KEY_KERNEL, self.kernel_source.clone()),
            (KEY_VIEW, json(serde_json::to_string(&self.view))),
            (KEY_MAX_ITER, self.max_iter.to_string()),
            (KEY_PALETTE, json(serde_json::to_string(&self.palette))),
            (KEY_VERSION, self.version.clone()),
        ]
    }
}

/// Writes `image` as a PNG at `path`, with `metadata`, atomically.
pub fn write_png(
    path: &Path,
    image: &image::RgbImage,
    metadata: &ExportMetadata,
) -> Result<(), ExportError> {
    let io_error = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let png_error = |error: png::EncodingError| match error {
        png::EncodingError::IoError(source) => io_error(source),
        other => ExportError::Png {
            path: path.to_owned(),
            message: other.to_string(),
        },
    };
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
    // Encoded in memory first (a PNG is far smaller than the render's buffers), then
    // written in one piece.
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, image.width(), image.height());
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        for (keyword, text) in metadata.text_chunks() {
            encoder
                .add_itxt_chunk(keyword.to_owned(), text)
                .map_err(png_error)?;
        }
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(image.as_raw()).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
    }
    write_atomically(path, &encoded).map_err(io_error)
}

/// Reads the moonbrot metadata back from a PNG written by `write_png`.
pub fn read_png_metadata(path: &Path) -> Result<ExportMetadata, ExportError> {
    let png_error = |message: String| ExportError::Png {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(|source| ExportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .map_err(|error| png_error(error.to_string()))?;
    let text = |keyword: &str| -> Result<String, ExportError> {
        let chunk = reader
            .info()
            .utf8_text
            .iter()
            .find(|chunk| chunk.keyword == keyword)
            .ok_or_else(|| png_error(format!("no {keyword} text chunk: not a moonbrot export")))?;
        chunk
            .get_text()
            .map_err(|error| png_error(error.to_string()))
    };
    let parse_error =
        |keyword: &str, error: &dyn std::fmt::Display| png_error(format!("bad {keyword}: {error}"));
    Ok(ExportMetadata {
        kernel_source: text(KEY_KERNEL)?,
        view: serde_json::from_str(&text(KEY_VIEW)?).map_err(|e| parse_error(KEY_VIEW, &e))?,
        max_iter: text(KEY_MAX_ITER)?
            .parse()
            .map_err(|e| parse_error(KEY_MAX_ITER, &e))?,
        palette: serde_json::from_str(&text(KEY_PALETTE)?)
            .map_err(|e| parse_error(KEY_PALETTE, &e))?,
        version: text(KEY_VERSION)?,
    })
}
