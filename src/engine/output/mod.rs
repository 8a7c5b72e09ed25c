//! Output: everything made from a render's values. Palettes (values to colours), the
//! moonbrot document stored in every written PNG (`Document`, read back defensively), the
//! one PNG encoder set-up, posters rendered band by band at any size (supersampled, PNG or
//! `.npy`), shards stitched into one image, and films (one poster per frame).

mod colouring;
mod document;
mod film;
mod gradient;
mod gradient_files;
mod histogram;
mod npy;
mod palette;
mod png;
mod poster;
mod stitch;

pub use colouring::{
    Colouring, ColouringError, ColouringOptions, DEFAULT_LIGHT_ANGLE_DEGREES,
    DEFAULT_LINE_WIDTH_PX, colour_image,
};
pub use document::{Document, DocumentError, looks_like_png, read_document};
pub use film::{Film, FilmFrame, render_film};
pub use gradient::{
    Blend, Colour, ColourSpace, Gradient, GradientError, MAX_SEGMENTS, SHIPPED_GRADIENT_NAMES,
    Segment, byte_from_component, component_from_byte,
};
pub use gradient_files::{GradientFileError, read_gradient_file, write_ggr};
pub use histogram::EscapeDistribution;
pub use palette::Palette;
pub use png::ExportError;
pub use poster::{
    DEFAULT_BAND_BYTES, MAX_SUPERSAMPLE, PosterError, PosterFormat, PosterJob, PosterOutput,
    PosterProgress, downsample, render_poster, shard_rows, supersample_from,
};
pub use stitch::stitch;
