//! moonbrot documents: what reproduces an image (kernel source, view as exact decimal
//! text, max_iter, palette, parameter values, size, guessing, supersampling, band, format
//! and moonbrot version), stored as iTXt chunks in the PNGs moonbrot writes (`Document`),
//! and read back defensively: a file from anywhere gets a clear `DocumentError`, and
//! reading is bounded in memory and inflation. `DOCUMENT_FORMAT` is the format's number.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::colouring::Colouring;
use super::gradient::ColourSpace;
use super::palette::Palette;
use super::poster::supersample_from;
use crate::engine::geometry::View;
use crate::engine::kernel::{MAX_PARAMETERS, MAX_SOURCE_BYTES, ParameterValue, ParameterValues};
use crate::engine::render::{RenderOutput, RowRange, image_size_from, max_iter_from};

/// Everything needed to render an exported image again: a moonbrot document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The kernel's Lua source.
    pub kernel_source: String,
    /// The view rendered.
    pub view: View,
    /// The iteration limit used.
    pub max_iter: u32,
    /// The palette used.
    pub palette: Palette,
    /// How values became colours (files without `moonbrot:colouring`: smooth).
    pub colouring: Colouring,
    /// The value of every parameter the kernel declares, in its order (empty in files
    /// written before parameters existed).
    pub parameters: Vec<(String, ParameterValue)>,
    /// The image's size in pixels (None in files written before it was stored).
    pub size_px: Option<(u32, u32)>,
    /// Whether it was rendered with solid guessing (files without the field were not).
    pub guessing: bool,
    /// Samples per pixel along each side (1: none).
    pub supersample: u32,
    /// For a band of a poster written by a shard: the rows of the whole image it holds.
    pub band: Option<RowRange>,
    /// The moonbrot version that wrote the file.
    pub version: String,
}

/// iTXt keywords (PNG keywords are Latin-1, 1 to 79 bytes).
const KEY_FORMAT: &str = "moonbrot:format";
const KEY_KERNEL: &str = "moonbrot:kernel";
const KEY_VIEW: &str = "moonbrot:view";
const KEY_MAX_ITER: &str = "moonbrot:max_iter";
const KEY_PALETTE: &str = "moonbrot:palette";
const KEY_COLOURING: &str = "moonbrot:colouring";
const KEY_PARAMETERS: &str = "moonbrot:parameters";
const KEY_SIZE: &str = "moonbrot:size";
const KEY_GUESSING: &str = "moonbrot:guessing";
const KEY_SUPERSAMPLE: &str = "moonbrot:supersample";
const KEY_BAND: &str = "moonbrot:band";
const KEY_VERSION: &str = "moonbrot:version";

/// The document format this build writes. Files without `moonbrot:format` are format 1
/// (no parameters, no size, view as JSON numbers); format 4 stores the palette's gradient
/// as its segments (before, a shipped gradient's name); a larger number is a newer
/// moonbrot's.
pub const DOCUMENT_FORMAT: u32 = 4;
/// The first format whose palette holds the gradient itself.
const FIRST_FORMAT_WITH_GRADIENTS: u32 = 4;

/// The most memory reading a PNG's metadata may take (text chunks included): the kernel is
/// at most 1 MiB, the rest is small.
const MAX_METADATA_BYTES: usize = 4 * 1024 * 1024;
/// The longest text one compressed chunk may inflate to.
const MAX_TEXT_BYTES: usize = 2 * 1024 * 1024;

impl Document {
    /// Metadata stamped with this build's version.
    pub fn new(kernel_source: &str, view: View, max_iter: u32, palette: Palette) -> Self {
        Self {
            kernel_source: kernel_source.to_owned(),
            view,
            max_iter,
            palette,
            colouring: Colouring::Smooth,
            parameters: Vec::new(),
            size_px: None,
            guessing: false,
            supersample: 1,
            band: None,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// The metadata of a render: its kernel, view, iteration limit, parameters, size and
    /// whether it guessed.
    pub fn of_render(kernel_source: &str, output: &RenderOutput, palette: Palette) -> Self {
        Self {
            parameters: output.parameters.clone(),
            size_px: Some((output.image.width_px, output.image.height_px)),
            guessing: output.guessed,
            ..Self::new(kernel_source, output.view.clone(), output.max_iter, palette)
        }
    }

    /// The parameter values by name, for a new render.
    pub fn parameter_values(&self) -> ParameterValues {
        self.parameters.iter().cloned().collect()
    }

    /// The iTXt chunks (keyword, text) that store this document.
    pub(crate) fn text_chunks(&self) -> Vec<(&'static str, String)> {
        // Serialising these plain structs cannot fail.
        let json = |value: Result<String, serde_json::Error>| value.unwrap_or_default();
        let mut chunks = vec![
            (KEY_FORMAT, DOCUMENT_FORMAT.to_string()),
            (KEY_KERNEL, self.kernel_source.clone()),
            (KEY_VIEW, json(serde_json::to_string(&self.view))),
            (KEY_MAX_ITER, self.max_iter.to_string()),
            (KEY_PALETTE, json(serde_json::to_string(&self.palette))),
            (
                KEY_PARAMETERS,
                json(serde_json::to_string(&self.parameters)),
            ),
            (
                KEY_GUESSING,
                if self.guessing { "on" } else { "off" }.to_owned(),
            ),
            (KEY_VERSION, self.version.clone()),
        ];
        if let Some((width, height)) = self.size_px {
            chunks.push((KEY_SIZE, format!("{width}x{height}")));
        }
        if self.colouring != Colouring::Smooth {
            chunks.push((KEY_COLOURING, json(serde_json::to_string(&self.colouring))));
        }
        if self.supersample > 1 {
            chunks.push((KEY_SUPERSAMPLE, self.supersample.to_string()));
        }
        if let Some(band) = self.band {
            chunks.push((KEY_BAND, format!("{},{}", band.first, band.count)));
        }
        chunks
    }
}

/// Reads the moonbrot document back from a PNG written by moonbrot (any format up to
/// this build's). Reading is bounded: at most 4 MiB of metadata, the kernel at most the
/// engine's source limit, compressed text inflated at most 2 MiB per chunk.
pub fn read_document(path: &Path) -> Result<Document, DocumentError> {
    let file = File::open(path).map_err(|source| DocumentError::Io {
        path: path.to_owned(),
        source,
    })?;
    let corrupt = |message: String| DocumentError::Corrupt {
        path: path.to_owned(),
        message,
    };
    let limits = png::Limits {
        bytes: MAX_METADATA_BYTES,
    };
    let reader = png::Decoder::new_with_limits(BufReader::new(file), limits)
        .read_info()
        .map_err(|error| corrupt(error.to_string()))?;
    let info = reader.info();
    let malformed = |field: &'static str, message: String| DocumentError::Malformed {
        path: path.to_owned(),
        field,
        message,
    };
    let find = |keyword: &'static str| -> Result<Option<String>, DocumentError> {
        let Some(chunk) = info.utf8_text.iter().find(|chunk| chunk.keyword == keyword) else {
            return Ok(None);
        };
        // Inflated within a bound first: the decoder's own `get_text` has none.
        let mut chunk = chunk.clone();
        chunk
            .decompress_text_with_limit(MAX_TEXT_BYTES)
            .map_err(|error| {
                malformed(
                    keyword,
                    format!(
                        "its compressed text is damaged or inflates beyond {} MiB ({error})",
                        MAX_TEXT_BYTES >> 20
                    ),
                )
            })?;
        chunk
            .get_text()
            .map(Some)
            .map_err(|error| malformed(keyword, error.to_string()))
    };
    let required = |keyword: &'static str| -> Result<String, DocumentError> {
        find(keyword)?.ok_or_else(|| malformed(keyword, "it is missing".to_owned()))
    };
    if !info
        .utf8_text
        .iter()
        .any(|chunk| chunk.keyword.starts_with("moonbrot:"))
    {
        return Err(DocumentError::NotADocument {
            path: path.to_owned(),
        });
    }
    let format = match find(KEY_FORMAT)? {
        None => 1,
        Some(text) => text.trim().parse::<u32>().map_err(|_| {
            malformed(
                KEY_FORMAT,
                format!("{:?} is not a whole number", short(&text)),
            )
        })?,
    };
    if format > DOCUMENT_FORMAT {
        return Err(DocumentError::Newer {
            path: path.to_owned(),
            format,
        });
    }
    let kernel_source = required(KEY_KERNEL)?;
    if kernel_source.len() > MAX_SOURCE_BYTES {
        return Err(malformed(
            KEY_KERNEL,
            format!(
                "the kernel is {} KiB, more than the limit of {} KiB",
                kernel_source.len() / 1024,
                MAX_SOURCE_BYTES / 1024
            ),
        ));
    }
    // The view as decimal text (`View`'s own form: each number's shortest text that reads
    // back to it; format 2 wrote up to 36 digits and an f64 span, format 1 JSON numbers).
    let view: View = serde_json::from_str(&required(KEY_VIEW)?)
        .map_err(|error| malformed(KEY_VIEW, error.to_string()))?;
    let max_iter_text = required(KEY_MAX_ITER)?;
    let max_iter = max_iter_text
        .trim()
        .parse::<i64>()
        .map_err(|_| {
            malformed(
                KEY_MAX_ITER,
                format!("{:?} is not a whole number", short(&max_iter_text)),
            )
        })
        .and_then(|value| {
            max_iter_from(value).map_err(|error| malformed(KEY_MAX_ITER, error.to_string()))
        })?;
    let mut palette: Palette = serde_json::from_str(&required(KEY_PALETTE)?)
        .map_err(|error| malformed(KEY_PALETTE, error.to_string()))?;
    if format < FIRST_FORMAT_WITH_GRADIENTS {
        // Those files name a shipped gradient, which was then mixed in sRGB.
        palette.gradient = palette.gradient.mixed_in(ColourSpace::Rgb);
    }
    let colouring = match find(KEY_COLOURING)? {
        None => Colouring::Smooth,
        Some(text) => serde_json::from_str::<Colouring>(&text)
            .map_err(|error| malformed(KEY_COLOURING, error.to_string()))?,
    };
    if let Colouring::Lua { source, .. } = &colouring
        && source.len() > MAX_SOURCE_BYTES
    {
        return Err(malformed(
            KEY_COLOURING,
            format!(
                "its source is {} KiB, more than the limit of {} KiB",
                source.len() / 1024,
                MAX_SOURCE_BYTES / 1024
            ),
        ));
    }
    if let Some(problem) = colouring.settings_problem() {
        return Err(malformed(KEY_COLOURING, problem));
    }
    let parameters = match find(KEY_PARAMETERS)? {
        None => Vec::new(),
        Some(text) => serde_json::from_str::<Vec<(String, ParameterValue)>>(&text)
            .map_err(|error| malformed(KEY_PARAMETERS, error.to_string()))?,
    };
    if parameters.len() > MAX_PARAMETERS {
        return Err(malformed(
            KEY_PARAMETERS,
            format!(
                "{} values, more than a kernel may declare",
                parameters.len()
            ),
        ));
    }
    let size_px = match find(KEY_SIZE)? {
        // Format 1 did not store it: the image's own size is the one rendered.
        None => image_size_from(i64::from(info.width), i64::from(info.height)).ok(),
        Some(text) => Some(
            text.split_once('x')
                .and_then(|(width, height)| {
                    Some((
                        width.trim().parse::<i64>().ok()?,
                        height.trim().parse::<i64>().ok()?,
                    ))
                })
                .ok_or_else(|| {
                    malformed(KEY_SIZE, format!("{:?} is not WIDTHxHEIGHT", short(&text)))
                })
                .and_then(|(width, height)| {
                    image_size_from(width, height)
                        .map_err(|error| malformed(KEY_SIZE, error.to_string()))
                })?,
        ),
    };
    let guessing = match find(KEY_GUESSING)?.as_deref().map(str::trim) {
        None | Some("off") => false,
        Some("on") => true,
        Some(other) => {
            return Err(malformed(
                KEY_GUESSING,
                format!("{:?} is neither on nor off", short(other)),
            ));
        }
    };
    let supersample = match find(KEY_SUPERSAMPLE)? {
        None => 1,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .map_err(|_| {
                malformed(
                    KEY_SUPERSAMPLE,
                    format!("{:?} is not a whole number", short(&text)),
                )
            })
            .and_then(|samples| {
                supersample_from(samples)
                    .map_err(|error| malformed(KEY_SUPERSAMPLE, error.to_string()))
            })?,
    };
    let band = match find(KEY_BAND)? {
        None => None,
        Some(text) => {
            let parsed = text.split_once(',').and_then(|(first, count)| {
                Some(RowRange {
                    first: first.trim().parse().ok()?,
                    count: count.trim().parse().ok()?,
                })
            });
            let fits = |rows: &RowRange| {
                rows.count > 0
                    && size_px.is_some_and(|(_, height)| {
                        rows.first
                            .checked_add(rows.count)
                            .is_some_and(|end| end <= height)
                    })
            };
            Some(parsed.filter(fits).ok_or_else(|| {
                malformed(
                    KEY_BAND,
                    format!("{:?} is not FIRST,COUNT rows of the image", short(&text)),
                )
            })?)
        }
    };
    Ok(Document {
        guessing,
        supersample,
        band,
        kernel_source,
        view,
        max_iter,
        palette,
        colouring,
        parameters,
        size_px,
        version: short(&find(KEY_VERSION)?.unwrap_or_default()),
    })
}

/// True for a .png file, or one that starts with the PNG signature (whatever its name):
/// what to open as a document rather than as Lua source.
pub fn looks_like_png(path: &Path) -> bool {
    use std::io::Read;
    if path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("png"))
    {
        return true;
    }
    let mut signature = [0_u8; 8];
    File::open(path)
        .and_then(|mut file| file.read_exact(&mut signature))
        .is_ok_and(|()| signature == *b"\x89PNG\r\n\x1a\n")
}

/// At most 40 characters of a file's text, for messages.
fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Why a PNG could not be opened as a moonbrot document.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a PNG, or a damaged one.
    #[error("{} is not a readable PNG: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the PNG decoder said.
        message: String,
    },
    /// A PNG without moonbrot's metadata.
    #[error("{} holds no moonbrot document (it was not exported by moonbrot)", path.display())]
    NotADocument {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer moonbrot, in a format this one does not know.
    #[error(
        "{} was written by a newer moonbrot (document format {format}; this one reads up to {}): update moonbrot to open it",
        path.display(),
        DOCUMENT_FORMAT
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its format number.
        format: u32,
    },
    /// A moonbrot field that cannot be used.
    #[error("{}: bad {field}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The iTXt keyword.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}
