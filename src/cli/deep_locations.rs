//! `moonbrot bench --deep-locations PEER`: moonbrot against rust-fractal-core on that
//! program's own benchmark locations, side by side on this machine. PEER is a checkout of
//! github.com/rust-fractal/rust-fractal-core built with `cargo build --release`: its
//! `benchmarks/*.toml` give each location (centre, zoom, iteration count) and its
//! `benchmarks/512.toml` the settings (512x512). Both programs run as whole processes, one
//! after the other for each location and run, at the location's iteration count;
//! rust-fractal-core's zoom Z is moonbrot's span 4/Z. A location moonbrot refuses is shown
//! as refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use super::CliError;
use crate::engine::geometry::BigFloat;

/// rust-fractal-core's benchmark locations, by file name.
pub(crate) const PEER_LOCATIONS: [&str; 5] = ["1e50", "5e113", "5e227", "4e533", "1e1086"];

/// The image side both render at (the peer's `benchmarks/512.toml`).
const SIDE_PX: u32 = 512;

/// One location from the peer's benchmark file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PeerLocation {
    pub name: String,
    pub real: String,
    pub imag: String,
    pub zoom: String,
    pub iterations: u32,
}

/// One location's times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct LocationRow {
    /// The location's name (its file name).
    pub location: String,
    /// The iteration limit both ran with.
    pub iterations: u32,
    /// rust-fractal-core's best time, in seconds (None when it failed).
    pub peer_secs: Option<f64>,
    /// moonbrot's best time, in seconds (None when it refused or failed).
    pub moonbrot_secs: Option<f64>,
    /// Why moonbrot did not render it, if it did not.
    pub moonbrot_refused: Option<String>,
}

/// Reads `name = value` (a quoted string or a number) from a TOML location file.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The location in `text` (a peer benchmark file named `name`).
pub(crate) fn parse_location(name: &str, text: &str) -> Result<PeerLocation, String> {
    let get = |key: &str| field(text, key).ok_or_else(|| format!("{name}: no {key}"));
    Ok(PeerLocation {
        name: name.to_owned(),
        real: get("real")?,
        imag: get("imag")?,
        zoom: get("zoom")?,
        iterations: get("iterations")?
            .parse()
            .map_err(|_| format!("{name}: iterations is not a whole number"))?,
    })
}

/// moonbrot's span for the peer's `zoom` (4 / zoom), as decimal text.
pub(crate) fn span_of_zoom(zoom: &str) -> Result<String, String> {
    let zoom = BigFloat::parse_decimal(zoom).map_err(|error| format!("zoom {zoom}: {error}"))?;
    if zoom.is_zero() || zoom.is_negative() {
        return Err("the zoom must be above 0".to_owned());
    }
    Ok((&BigFloat::from_f64(4.0) / &zoom).to_significant(6))
}

/// Runs `command` to the end with its output discarded: its wall time, or why it failed
/// (its last line of stderr).
fn timed(command: &mut Command) -> Result<f64, String> {
    let started = Instant::now();
    let output = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|error| error.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    if output.status.success() {
        Ok(secs)
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        Err(said.lines().last().unwrap_or("failed").to_owned())
    }
}

/// Times both programs on every location, `runs` times each (best kept), calling
/// `on_step` after each process.
pub(crate) fn compare_with_peer(
    peer: &Path,
    runs: u32,
    on_step: &mut dyn FnMut(usize, usize),
) -> Result<Vec<LocationRow>, CliError> {
    let benchmarks = peer.join("benchmarks");
    let peer_binary = peer.join("target").join("release").join("main");
    if !peer_binary.is_file() {
        return Err(CliError::Input(format!(
            "{} is missing: build rust-fractal-core first (cargo build --release in {})",
            peer_binary.display(),
            peer.display()
        )));
    }
    let moonbrot = std::env::current_exe()
        .map_err(|error| CliError::Internal(format!("cannot find moonbrot: {error}")))?;
    // The peer writes its image to benchmarks/output/.
    std::fs::create_dir_all(benchmarks.join("output")).map_err(|error| {
        CliError::Input(format!("cannot write in {}: {error}", benchmarks.display()))
    })?;
    let scratch = tempfile::tempdir()
        .map_err(|error| CliError::Internal(format!("no temporary folder: {error}")))?;
    let total = PEER_LOCATIONS.len() * runs as usize * 2;
    let mut done = 0;
    let mut rows = Vec::new();
    for name in PEER_LOCATIONS {
        let path: PathBuf = benchmarks.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path)
            .map_err(|error| CliError::Input(format!("{}: {error}", path.display())))?;
        let location = parse_location(name, &text).map_err(CliError::Input)?;
        let span = span_of_zoom(&location.zoom).map_err(CliError::Input)?;
        let mut row = LocationRow {
            location: name.to_owned(),
            iterations: location.iterations,
            peer_secs: None,
            moonbrot_secs: None,
            moonbrot_refused: None,
        };
        let best = |best: Option<f64>, secs: f64| Some(best.map_or(secs, |best| best.min(secs)));
        for _ in 0..runs {
            if let Ok(secs) = timed(Command::new(&peer_binary).current_dir(&benchmarks).args([
                "-o",
                "512.toml",
                &format!("{name}.toml"),
            ])) {
                row.peer_secs = best(row.peer_secs, secs);
            }
            done += 1;
            on_step(done, total);
            let output = scratch.path().join(format!("{name}.png"));
            match timed(Command::new(&moonbrot).args([
                "render",
                &format!("--center={},{}", location.real, location.imag),
                "--span",
                &span,
                "--size",
                &format!("{SIDE_PX}x{SIDE_PX}"),
                "--max-iter",
                &location.iterations.to_string(),
                "-o",
                &output.to_string_lossy(),
            ])) {
                Ok(secs) => row.moonbrot_secs = best(row.moonbrot_secs, secs),
                Err(why) => row.moonbrot_refused = Some(why),
            }
            done += 1;
            on_step(done, total);
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_location_file_is_read_and_its_zoom_becomes_a_span() {
        let text = "real = \"-0.0494700290631040937516922267\"\n\
                    imag = \"-0.6747875758446753640113920531\"\n\
                    zoom = \"1.00E050\"\niterations = 263010\n\n";
        let location = parse_location("1e50", text).expect("a location");
        assert_eq!(location.real, "-0.0494700290631040937516922267");
        assert_eq!(location.iterations, 263_010);
        assert_eq!(span_of_zoom(&location.zoom).expect("a span"), "4e-50");
        assert_eq!(span_of_zoom("5.00E227").expect("a span"), "8e-228");
        assert!(parse_location("x", "real = \"1\"\n").is_err());
        assert!(span_of_zoom("0").is_err());
    }
}
