//! `moonbrot stitch`: joins the band files that `render --shard I/N` processes wrote into
//! one poster, row by row (memory stays small whatever the size), identical pixel for pixel
//! to a single-process render, with the document's metadata.

use std::path::PathBuf;

use clap::Args;

use super::CliError;
use super::render::poster_error;
use crate::engine::output::stitch;

#[derive(Args, Debug)]
pub(crate) struct StitchArgs {
    /// The band files, in any order.
    #[arg(value_name = "BAND.png", required = true)]
    bands: Vec<PathBuf>,
    /// The poster to write (replaced atomically if it exists).
    #[arg(short = 'o', long = "output", value_name = "POSTER.png")]
    output: PathBuf,
}

pub(crate) fn run(args: &StitchArgs) -> Result<(), CliError> {
    let document = stitch(&args.bands, &args.output).map_err(poster_error)?;
    let (width, height) = document.size_px.unwrap_or_default();
    eprintln!(
        "stitched {} bands into {width}x{height}; wrote {}",
        args.bands.len(),
        args.output.display()
    );
    Ok(())
}
