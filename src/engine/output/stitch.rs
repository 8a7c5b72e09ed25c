//! Stitching shards: band PNGs rendered by several processes (`render --shard`) joined
//! into one PNG, after checking that they are bands of the same document and cover every
//! row exactly once; the rows are streamed, never held whole.

use super::document::{Document, DocumentError, read_document};
use super::png::{
    ExportError, check_output_path, document_png_writer, finish_png_stream, png_stream,
};
use super::poster::PosterError;
use crate::engine::atomic_file::write_atomically_with;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// Assembles a poster's bands (written by shards) into one PNG at `path`, row by row: the
/// result is the poster a single process would have written. The bands must hold the same
/// document and cover its rows exactly once.
pub fn stitch(bands: &[PathBuf], path: &Path) -> Result<Document, PosterError> {
    let mut parts = Vec::new();
    for band in bands {
        let metadata = read_document(band)?;
        let rows = metadata.band.ok_or_else(|| {
            PosterError::Stitch(format!(
                "{} is a whole image, not a band written with --shard",
                band.display()
            ))
        })?;
        parts.push((rows, band.clone(), metadata));
    }
    parts.sort_by_key(|(rows, _, _)| rows.first);
    let Some((_, first_path, first)) = parts.first() else {
        return Err(PosterError::Stitch("no band files given".to_owned()));
    };
    let mut document = first.clone();
    document.band = None;
    let (width, height) = document
        .size_px
        .ok_or_else(|| PosterError::Stitch(format!("{} stores no size", first_path.display())))?;
    let mut next_row = 0;
    for (rows, band, metadata) in &parts {
        let mut same = metadata.clone();
        same.band = None;
        if same != document {
            return Err(PosterError::Stitch(format!(
                "{} holds another document than {}",
                band.display(),
                first_path.display()
            )));
        }
        if rows.first != next_row {
            return Err(PosterError::Stitch(format!(
                "rows {next_row} to {} are missing or given twice (at {})",
                rows.first,
                band.display()
            )));
        }
        next_row = rows.end();
    }
    if next_row != height {
        return Err(PosterError::Stitch(format!(
            "rows {next_row} to {height} are missing"
        )));
    }
    check_output_path(path)?;
    write_atomically_with(path, |file| -> Result<(), PosterError> {
        let mut writer = document_png_writer(&mut *file, (width, height), &document, path)?;
        let mut stream = png_stream(&mut writer, path)?;
        for (rows, band, _) in &parts {
            copy_rows(band, width, rows.count, &mut stream)?;
        }
        finish_png_stream(stream, path)?;
        Ok(())
    })
    .map_err(|error| error.at(path))?;
    Ok(document)
}

/// Streams the pixel rows of the band PNG at `band` (`width` × `rows`, RGB) into `out`.
fn copy_rows(band: &Path, width: u32, rows: u32, out: &mut impl Write) -> Result<(), PosterError> {
    let corrupt = |message: String| DocumentError::Corrupt {
        path: band.to_owned(),
        message,
    };
    let file = File::open(band).map_err(|source| DocumentError::Io {
        path: band.to_owned(),
        source,
    })?;
    let mut reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .map_err(|error| corrupt(error.to_string()))?;
    let info = reader.info();
    if (info.width, info.height) != (width, rows)
        || info.color_type != png::ColorType::Rgb
        || info.bit_depth != png::BitDepth::Eight
    {
        return Err(corrupt(format!(
            "its pixels are {}x{} {:?}, its metadata says {width}x{rows} RGB",
            info.width, info.height, info.color_type
        ))
        .into());
    }
    while let Some(row) = reader
        .next_row()
        .map_err(|error| corrupt(error.to_string()))?
    {
        out.write_all(row.data())
            .map_err(|source| ExportError::Io {
                path: band.to_owned(),
                source,
            })?;
    }
    Ok(())
}
