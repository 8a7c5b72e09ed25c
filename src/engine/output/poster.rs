//! Posters: images of any size rendered and written band by band, so memory stays bounded
//! whatever the size. Each band of rows is rendered (optionally supersampled: N×N samples
//! per pixel, averaged in linear light), coloured and streamed into the PNG writer, which
//! writes through a temporary file renamed into place only when complete.
//!
//! Any band of rows the engine renders holds exactly the pixels of a whole render, so a
//! poster rendered in bands, or in shards by several processes and stitched (`stitch`), is
//! identical pixel for pixel to a single render. Bands end where solid guessing's blocks
//! of the view's pixel lattice start, so that no block is computed twice.

use super::colouring::{Colouring, ColouringError, ColouringOptions, colour_image};
use super::document::{Document, DocumentError};
use super::histogram::EscapeDistribution;
use super::npy::{npy_header, npy_values};
use super::palette::Palette;
use super::png::{
    ExportError, check_output_path, document_png_writer, finish_png_stream, png_stream,
};
use crate::engine::atomic_file::write_atomically_with;
use crate::engine::error::{RenderError, RequestError};
use crate::engine::geometry::{Precision, View};
use crate::engine::render::{
    CancelToken, Engine, MaxIterChoice, ReferenceSummary, RenderProgress, RenderRequest, RowRange,
    band_alignment_rows, image_size_from,
};
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// The most samples per pixel along each side.
pub const MAX_SUPERSAMPLE: u32 = 8;

/// The memory one band's buffers may take by default.
pub const DEFAULT_BAND_BYTES: usize = 256 * 1024 * 1024;

/// Bytes per sample in a band's buffers at most: three floats (a direct-colour kernel)
/// and three bytes of colour.
const BYTES_PER_SAMPLE: usize = 3 * 4 + 3;

/// The widest preview a histogram colouring ranks a poster's values on, when the poster
/// is written in several bands or by shards.
const HISTOGRAM_PREVIEW_WIDTH: u32 = 512;

/// Why a poster was not written; nothing is left behind.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    /// The request or a band's render failed (or was cancelled).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The PNG could not be written.
    #[error(transparent)]
    Write(#[from] ExportError),
    /// A band file to stitch cannot be used.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The band files do not make one poster.
    #[error("cannot stitch: {0}")]
    Stitch(String),
    /// A combination of settings that means nothing.
    #[error("{0}")]
    Unsupported(String),
    /// The colouring failed (its error names its line and pixel).
    #[error(transparent)]
    Colouring(#[from] ColouringError),
    /// Writing the temporary file failed (reported as `Write` with the path by the
    /// functions here).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl PosterError {
    /// An I/O failure on the way to `path`, named by it.
    pub(super) fn at(self, path: &Path) -> Self {
        match self {
            Self::Io(source) => Self::Write(ExportError::Io {
                path: path.to_owned(),
                source,
            }),
            other => other,
        }
    }
}

impl From<RequestError> for PosterError {
    fn from(error: RequestError) -> Self {
        Self::Render(error.into())
    }
}

/// A supersampling factor as typed: 1 to `MAX_SUPERSAMPLE`.
pub fn supersample_from(samples: i64) -> Result<u32, RequestError> {
    u32::try_from(samples)
        .ok()
        .filter(|samples| (1..=MAX_SUPERSAMPLE).contains(samples))
        .ok_or(RequestError::Supersample {
            samples,
            max: MAX_SUPERSAMPLE,
        })
}

/// What to render and write.
#[derive(Debug, Clone)]
pub struct PosterJob {
    /// The whole image: size, view, kernel, parameters, threads... (`rows` is ignored).
    pub request: RenderRequest,
    /// The palette (gradient, density, offset, inside colour).
    pub palette: Palette,
    /// How values become colours (the palette's smooth mapping, or a Lua colouring).
    pub colouring: Colouring,
    /// Samples per pixel along each side (1 to 8).
    pub supersample: u32,
    /// The rows of the image to write (one shard's band); None for the whole image.
    pub rows: Option<RowRange>,
    /// The memory one band's buffers may take.
    pub band_bytes: usize,
    /// What to write: coloured pixels (PNG) or the kernel's raw values (NumPy).
    pub format: PosterFormat,
}

/// What a poster file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PosterFormat {
    /// A PNG of the coloured image, carrying the document.
    #[default]
    Png,
    /// A NumPy `.npy` array of the values `pixel` returned, float32, shape (height, width)
    /// (or (height, width, 3) for direct colour), NaN where the pixel is inside. Holds no
    /// document and takes no supersampling (an average of escape values means nothing).
    Npy,
}

/// Where a poster's bands go: the PNG encoder's stream, or the `.npy` file.
enum Sink<'a, W: Write> {
    Png(Box<png::StreamWriter<'a, W>>),
    Npy(W),
}

impl<W: Write> Sink<'_, W> {
    fn write_band(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Png(stream) => stream.write_all(bytes),
            Self::Npy(file) => file.write_all(bytes),
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct PosterOutput {
    /// The document stored in the file.
    pub metadata: Document,
    /// The rows of the image it holds.
    pub rows: RowRange,
    /// Bands rendered.
    pub bands: usize,
    /// Rows per band (the last may be shorter).
    pub band_rows: u32,
    /// Wall time of the renders, in seconds.
    pub render_secs: f64,
    /// The arithmetic of the pixels' coordinates (the same for every band).
    pub precision: Precision,
    /// The reference orbit of its first band, when rendered by perturbation.
    pub reference: Option<ReferenceSummary>,
    /// Where its first band took the formula's interleaved pixels (precision auto): how
    /// many times faster than the kernel's `pixel` they were in a probe.
    pub interleaved: Option<f64>,
    /// How the iteration limit was chosen (the first band's: later ones use its limit).
    pub max_iter_choice: MaxIterChoice,
}

/// The rows shard `index` of `count` writes: the image's aligned blocks of rows shared out
/// as evenly as they go, each shard's band starting on an aligned row (so the stitched
/// poster equals a single render). None when there are more shards than blocks (that
/// shard has nothing to do).
pub fn shard_rows(request: &RenderRequest, index: u32, count: u32) -> Option<RowRange> {
    let height = request.height_px;
    let align = final_row_alignment(request);
    let blocks = u64::from(height.div_ceil(align));
    let (index, count) = (u64::from(index), u64::from(count.max(1)));
    let first_block = index * blocks / count;
    let end_block = (index + 1) * blocks / count;
    let first = u32::try_from(first_block * u64::from(align)).ok()?;
    let end = u32::try_from(end_block * u64::from(align))
        .ok()?
        .min(height);
    (first < end).then(|| RowRange {
        first,
        count: end - first,
    })
}

/// The row step shards are cut on: guessing's block height, so that a shard computes few
/// rows beyond its own.
fn final_row_alignment(request: &RenderRequest) -> u32 {
    band_alignment_rows(request.guessing)
}

/// Where bands should end: on final rows whose first sample row starts a guessing block of
/// the sampled image's lattice (no block is then computed by two bands).
struct BandEdges {
    /// The lattice index of the sampled image's first row.
    first_row_index: i64,
    samples: u32,
    block: u32,
}

impl BandEdges {
    /// The first row at or after `row` (and before `limit`) on a block edge, or `row`
    /// when there is none near (with some supersampling factors, no row is).
    fn at_or_after(&self, row: u32, limit: u32) -> u32 {
        let block = i64::from(self.block);
        (row..row.saturating_add(self.block).min(limit))
            .find(|&candidate| {
                (self.first_row_index + i64::from(candidate) * i64::from(self.samples))
                    .rem_euclid(block)
                    == 0
            })
            .unwrap_or(row)
    }
}

/// How far a poster has come, as passed to its observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosterProgress {
    /// A band's reference orbit (perturbation) has `iterations_done` of at most
    /// `max_iter` (the first band computes it; later ones reuse it).
    Reference {
        /// Iterations computed so far.
        iterations_done: u32,
        /// The most it will compute.
        max_iter: u32,
    },
    /// `written` rows of `total` are written.
    Rows {
        /// Rows written so far.
        written: u32,
        /// Rows in all.
        total: u32,
    },
}

/// Renders `job` band by band and writes it to `path` (atomically). `on_progress` hears of
/// each band's reference orbit as it grows and of each band written.
pub fn render_poster(
    engine: &Engine,
    job: &PosterJob,
    path: &Path,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(PosterProgress),
) -> Result<PosterOutput, PosterError> {
    let samples = supersample_from(i64::from(job.supersample))?;
    let (width, height) = (job.request.width_px, job.request.height_px);
    image_size_from(i64::from(width), i64::from(height))?;
    let (sampled_width, sampled_height) = image_size_from(
        i64::from(width) * i64::from(samples),
        i64::from(height) * i64::from(samples),
    )?;
    let whole = RowRange {
        first: 0,
        count: height,
    };
    let rows = job.rows.unwrap_or(whole);
    RenderRequest {
        rows: Some(rows),
        ..job.request.clone()
    }
    .row_range()?;
    let align = final_row_alignment(&job.request);
    let bytes_per_row =
        sampled_width as usize * samples as usize * BYTES_PER_SAMPLE + width as usize * 3;
    // Bands end up to `align` rows after their nominal end (on a block edge): leave room.
    let band_rows = ((job.band_bytes / bytes_per_row.max(1)) as u32)
        .saturating_sub(align)
        .max(align);
    check_output_path(path)?;
    // Where bands end: on block edges of the view's lattice, once the view is known (a
    // kernel's home view is known after the first band).
    let edges_of = |view: &View| BandEdges {
        first_row_index: view
            .pixel_grid(sampled_width, sampled_height)
            .first_row_index,
        samples,
        block: align,
    };
    let band_end = |first: u32, edges: Option<&BandEdges>| {
        let nominal = first.saturating_add(band_rows).min(rows.end());
        edges.map_or(nominal, |edges| edges.at_or_after(nominal, rows.end()))
    };

    let started = std::time::Instant::now();
    let band_request = |view: Option<View>, first: u32, count: u32| RenderRequest {
        view,
        width_px: sampled_width,
        height_px: sampled_height,
        rows: Some(RowRange {
            first: first * samples,
            count: count * samples,
        }),
        ..job.request.clone()
    };
    // Histogram colouring ranks values over the whole image: a poster in several bands or
    // a shard ranks them on a preview of the whole image, at most PREVIEW_WIDTH wide.
    let distribution = if job.colouring == Colouring::Histogram
        && job.format == PosterFormat::Png
        && (rows != whole || band_rows < rows.count)
    {
        let preview_width = width.min(HISTOGRAM_PREVIEW_WIDTH);
        let preview_height =
            ((u64::from(height) * u64::from(preview_width)) / u64::from(width)).max(1) as u32;
        let preview = engine.render(
            &RenderRequest {
                width_px: preview_width,
                height_px: preview_height,
                rows: None,
                ..job.request.clone()
            },
            cancel,
        )?;
        Some(EscapeDistribution::of_image(&preview.image))
    } else {
        None
    };
    let mut bands = 0;
    let mut written = None;
    if job.format == PosterFormat::Npy && samples > 1 {
        return Err(PosterError::Unsupported(
            "raw values (.npy) are not supersampled: an average of escape values means nothing"
                .to_owned(),
        ));
    }
    // A band: rendered, then coloured and brought down to one sample per pixel (PNG), or
    // its values as they are (NumPy).
    let render_band = |view: Option<View>,
                       first: u32,
                       count: u32,
                       on_progress: &mut dyn FnMut(PosterProgress)|
     -> Result<_, PosterError> {
        let output = engine.render_with_progress(
            &band_request(view, first, count),
            cancel,
            &mut |progress| {
                if let RenderProgress::Reference {
                    iterations_done,
                    max_iter,
                } = *progress
                {
                    on_progress(PosterProgress::Reference {
                        iterations_done,
                        max_iter,
                    });
                }
            },
        )?;
        if cancel.is_cancelled() {
            return Err(RenderError::Cancelled.into());
        }
        let bytes = match job.format {
            PosterFormat::Png => {
                // The colouring gets what is left of the job's timeout.
                let options = ColouringOptions {
                    threads: job.request.threads,
                    timeout: job
                        .request
                        .timeout
                        .map(|timeout| timeout.saturating_sub(started.elapsed())),
                    memory_limit_bytes: engine.memory_limit_bytes(),
                };
                let sampled = match &distribution {
                    Some(distribution) if output.image.output.is_escape() => job
                        .palette
                        .colourize_by_rank(&output.image, distribution.as_ref()),
                    _ => colour_image(
                        &output.image,
                        &job.palette,
                        &job.colouring,
                        &options,
                        cancel,
                    )?,
                };
                downsample(sampled.as_raw(), sampled_width, samples)
            }
            PosterFormat::Npy => npy_values(&output.image),
        };
        Ok((output, bytes))
    };
    write_atomically_with(path, |file| -> Result<(), PosterError> {
        let mut edges = job.request.view.as_ref().map(edges_of);
        let first_count = band_end(rows.first, edges.as_ref()) - rows.first;
        let (output, colours) = render_band(
            job.request.view.clone(),
            rows.first,
            first_count,
            &mut *on_progress,
        )?;
        let view = output.view.clone();
        edges = Some(edges_of(&view));
        // The document is known once the kernel has run (its home view, its parameters);
        // the PNG's metadata comes before its pixels.
        let mut metadata = Document::of_render(&job.request.source, &output, job.palette.clone());
        metadata.size_px = Some((width, height));
        metadata.colouring = job.colouring.clone();
        metadata.supersample = samples;
        metadata.band = (rows != whole).then_some(rows);
        let mut writer;
        let mut sink = match job.format {
            PosterFormat::Png => {
                writer = document_png_writer(&mut *file, (width, rows.count), &metadata, path)?;
                Sink::Png(Box::new(png_stream(&mut writer, path)?))
            }
            PosterFormat::Npy => {
                let channels = output.image.output.channels() as u32;
                let shape = if channels == 1 {
                    vec![rows.count, width]
                } else {
                    vec![rows.count, width, channels]
                };
                file.write_all(&npy_header(&shape))?;
                Sink::Npy(&mut *file)
            }
        };
        written = Some((
            metadata,
            output.precision,
            output.reference,
            output.interleaved,
            output.max_iter_choice,
        ));
        sink.write_band(&colours)?;
        drop((output, colours));
        bands += 1;
        let mut first = rows.first + first_count;
        on_progress(PosterProgress::Rows {
            written: first - rows.first,
            total: rows.count,
        });
        while first < rows.end() {
            let count = band_end(first, edges.as_ref()) - first;
            let (_, colours) = render_band(Some(view.clone()), first, count, &mut *on_progress)?;
            sink.write_band(&colours)?;
            bands += 1;
            first += count;
            on_progress(PosterProgress::Rows {
                written: first - rows.first,
                total: rows.count,
            });
        }
        if let Sink::Png(stream) = sink {
            finish_png_stream(*stream, path)?;
        }
        Ok(())
    })
    .map_err(|error| error.at(path))?;
    let (metadata, precision, reference, interleaved, max_iter_choice) =
        written.ok_or_else(|| {
            PosterError::Render(RenderError::Internal("a poster with no rows".to_owned()))
        })?;
    Ok(PosterOutput {
        metadata,
        rows,
        bands,
        band_rows: band_rows.min(rows.count),
        render_secs: started.elapsed().as_secs_f64(),
        precision,
        reference,
        interleaved,
        max_iter_choice,
    })
}

/// sRGB byte to linear light.
fn linear_of(byte: u8) -> f32 {
    let value = f32::from(byte) / 255.0;
    if value <= 0.040_45 {
        value / 12.92
    } else {
        ((value + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light to an sRGB byte.
fn srgb_of(linear: f32) -> u8 {
    let value = if linear <= 0.003_130_8 {
        linear * 12.92
    } else {
        1.055 * linear.powf(1.0 / 2.4) - 0.055
    };
    (value * 255.0).round().clamp(0.0, 255.0) as u8
}

/// Averages each `samples`×`samples` block of an RGB image `sampled_width` wide into one
/// pixel, in linear light (averaging sRGB bytes would darken edges). With 1 sample it is a
/// copy.
pub fn downsample(rgb: &[u8], sampled_width: u32, samples: u32) -> Vec<u8> {
    if samples <= 1 {
        return rgb.to_vec();
    }
    let lut: Vec<f32> = (0..=255_u8).map(linear_of).collect();
    let (n, sampled_width) = (samples as usize, sampled_width as usize);
    let width = sampled_width / n;
    let sampled_row_bytes = sampled_width * 3;
    let rows = rgb.len() / sampled_row_bytes / n;
    let mut out = vec![0_u8; width * rows * 3];
    let weight = 1.0 / (n * n) as f32;
    out.par_chunks_mut(width * 3)
        .enumerate()
        .for_each(|(row, out_row)| {
            for column in 0..width {
                let mut sum = [0.0_f32; 3];
                for sample_row in 0..n {
                    let start = (row * n + sample_row) * sampled_row_bytes + column * n * 3;
                    for pixel in rgb[start..start + n * 3].chunks_exact(3) {
                        for (total, byte) in sum.iter_mut().zip(pixel) {
                            *total += lut[usize::from(*byte)];
                        }
                    }
                }
                for (channel, total) in sum.iter().enumerate() {
                    out_row[column * 3 + channel] = srgb_of(total * weight);
                }
            }
        });
    out
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn supersampling_averages_in_linear_light() {
        // A 2x2 block of black and white: half the light, sRGB 188, not the naive 128.
        let rgb = [0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0];
        assert_eq!(downsample(&rgb, 2, 2), vec![188, 188, 188]);
        // One sample per pixel: a copy.
        assert_eq!(downsample(&rgb, 2, 1), rgb.to_vec());
        // Every byte survives the round trip through linear light.
        for byte in 0..=255_u8 {
            assert_eq!(srgb_of(linear_of(byte)), byte);
        }
    }

    #[test]
    fn shards_start_on_aligned_rows_and_cover_the_image_once() {
        let request = RenderRequest::new("", 1000, 1000);
        let mut covered = 0;
        for index in 0..3 {
            let rows = shard_rows(&request, index, 3).expect("a band");
            assert_eq!(rows.first, covered);
            assert_eq!(rows.first % 32, 0, "aligned to guessing's units");
            covered = rows.end();
        }
        assert_eq!(covered, 1000);
        // 1000 rows are 32 blocks of 32: of 40 shards, 8 have none.
        assert!((0..32).all(|index| shard_rows(&request, index, 32).is_some()));
        let empty = (0..40)
            .filter(|&index| shard_rows(&request, index, 40).is_none())
            .count();
        assert_eq!(empty, 8);
    }
}
