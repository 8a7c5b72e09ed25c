//! Gradient files people already have, read defensively, and the `.ggr` moonbrot writes:
//! GIMP gradients (`.ggr`, "GIMP Gradient" or GIMP 3's "LIGMA Gradient": every blend and
//! colour type), Fractint maps (`.map`: lines of red green blue, text after the numbers
//! ignored) and Ultra Fractal gradients (`.ugr`: many per file, `FILE.ugr:NAME` picks
//! one). A bad file is refused with a `GradientFileError` naming the line.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::gradient::{
    Blend, Colour, ColourSpace, Gradient, GradientError, MAX_SEGMENTS, Segment, component_from_byte,
};

/// The largest gradient file read (a 256-colour map is about 3 KiB; Ultra Fractal
/// collections reach a few hundred KiB).
const MAX_GRADIENT_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Colours a Fractint map holds; lines past them are ignored, as Fractint does.
const MAP_COLOURS: usize = 256;
/// Positions in an Ultra Fractal gradient: indices 0 to 399.
const UGR_INDICES: u32 = 400;

/// Why a gradient file was refused.
#[derive(Debug, thiserror::Error)]
pub enum GradientFileError {
    /// It could not be opened or read.
    #[error("cannot read the gradient file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is larger than any gradient file (or never ends, like a device).
    #[error("{path} holds more than {limit_kib} KiB, too much for a gradient file", limit_kib = MAX_GRADIENT_FILE_BYTES / 1024)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Neither its name nor its first line says which format it is.
    #[error(
        "{path} is not a gradient file moonbrot reads: use a GIMP .ggr, a Fractint .map or an Ultra Fractal .ugr file"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A line does not read.
    #[error("{path}, line {line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong there.
        message: String,
    },
    /// The file as a whole holds no gradient.
    #[error("{path}: {message}")]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// An Ultra Fractal file without the gradient asked for.
    #[error("{path} holds no gradient named {name:?}; it holds {available}")]
    NoSuchGradient {
        /// The file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The names it holds, comma-separated.
        available: String,
    },
}

/// Reads the gradient `spec` names: a `.ggr`, `.map` or `.ugr` file, or `FILE.ugr:NAME`
/// for one gradient of an Ultra Fractal file (the first one without a name).
pub fn read_gradient_file(spec: &str) -> Result<Gradient, GradientFileError> {
    let (path, wanted) = split_spec(spec);
    let text = read_bounded(&path)?;
    let extension = path
        .extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase());
    let first_line = text.lines().next().unwrap_or_default().trim();
    let stem = path.file_stem().map_or_else(
        || "gradient".to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    match extension.as_deref() {
        _ if is_ggr_header(first_line) => parse_ggr(&text, &stem, &path),
        Some("ggr") => parse_ggr(&text, &stem, &path),
        Some("map") => parse_map(&text, &stem, &path),
        Some("ugr") => parse_ugr(&text, wanted.as_deref(), &path),
        _ if text.contains("gradient:") => parse_ugr(&text, wanted.as_deref(), &path),
        _ => Err(GradientFileError::UnknownFormat { path }),
    }
}

/// `FILE.ugr:NAME` split into the file and the name; anything else is a path.
fn split_spec(spec: &str) -> (PathBuf, Option<String>) {
    if !Path::new(spec).exists()
        && let Some((file, name)) = spec.rsplit_once(':')
        && file.to_ascii_lowercase().ends_with(".ugr")
    {
        return (PathBuf::from(file), Some(name.to_owned()));
    }
    (PathBuf::from(spec), None)
}

/// The file's text, read to at most the size limit (a device or pipe that never ends is
/// refused as too large, not read forever).
fn read_bounded(path: &Path) -> Result<String, GradientFileError> {
    let io_error = |source| GradientFileError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    if file.metadata().map_err(io_error)?.is_dir() {
        return Err(io_error(std::io::Error::other("it is a folder")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_GRADIENT_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_GRADIENT_FILE_BYTES {
        return Err(GradientFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    // Fractint maps carry comments in old code pages; only numbers matter.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn is_ggr_header(line: &str) -> bool {
    line == "GIMP Gradient" || line == "LIGMA Gradient"
}

/// A short, printable excerpt of a line for a message.
fn excerpt(text: &str) -> String {
    let short: String = text.trim().chars().take(40).collect();
    if short.len() < text.trim().len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// A number field of a `.ggr` line, finite.
fn finite_number(field: &str) -> Result<f64, String> {
    match field.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(format!("{field:?} is not a finite number")),
        Err(_) => Err(format!("{field:?} is not a number")),
    }
}

/// A GIMP gradient: the header, an optional `Name:` line (else the file's name, as GIMP
/// does), the segment count, then one line per segment: start, middle, end, the start
/// colour's red, green, blue and alpha, the end colour's, the blend type and the colour
/// type (GIMP 2.10 adds two endpoint types, ignored here as are the alphas).
fn parse_ggr(text: &str, stem: &str, path: &Path) -> Result<Gradient, GradientFileError> {
    let malformed = |line: usize, message: String| GradientFileError::Malformed {
        path: path.to_owned(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line));
    match lines.next() {
        Some((_, header)) if is_ggr_header(header.trim()) => {}
        Some((_, header)) => {
            return Err(malformed(
                1,
                format!("expected \"GIMP Gradient\", found {}", excerpt(header)),
            ));
        }
        None => {
            return Err(GradientFileError::Empty {
                path: path.to_owned(),
                message: "the file is empty".to_owned(),
            });
        }
    }
    let mut name = stem.to_owned();
    let end_of_file = |after: usize, what: &str| {
        malformed(after + 1, format!("the file ends where {what} should be"))
    };
    let (mut count_line, mut count_text) = lines
        .next()
        .ok_or_else(|| end_of_file(1, "the segment count"))?;
    if let Some(given) = count_text.trim_start().strip_prefix("Name:") {
        if !given.trim().is_empty() {
            name = given.trim().to_owned();
        }
        (count_line, count_text) = lines
            .next()
            .ok_or_else(|| end_of_file(count_line, "the segment count"))?;
    }
    let count: usize = count_text.trim().parse().map_err(|_| {
        malformed(
            count_line,
            format!(
                "expected the number of segments, found {}",
                excerpt(count_text)
            ),
        )
    })?;
    if count == 0 || count > MAX_SEGMENTS {
        return Err(malformed(
            count_line,
            format!("{count} segments: a gradient has 1 to {MAX_SEGMENTS}"),
        ));
    }
    let first_segment_line = count_line + 1;
    let mut segments = Vec::with_capacity(count);
    let mut last_line = count_line;
    for (line, text) in lines.by_ref() {
        last_line = line;
        if segments.len() == count {
            if text.trim().is_empty() {
                continue;
            }
            return Err(malformed(
                line,
                format!("more segments than the {count} the file declares"),
            ));
        }
        segments.push(parse_ggr_segment(text).map_err(|message| malformed(line, message))?);
    }
    if segments.len() < count {
        return Err(malformed(
            last_line + 1,
            format!(
                "the file ends after {} of the {count} segments it declares",
                segments.len()
            ),
        ));
    }
    Gradient::new(&name, segments).map_err(|error| match error {
        GradientError::NotANumber { segment } | GradientError::BadPositions { segment, .. } => {
            malformed(first_segment_line + segment - 1, error.to_string())
        }
        other => GradientFileError::Empty {
            path: path.to_owned(),
            message: other.to_string(),
        },
    })
}

fn parse_ggr_segment(text: &str) -> Result<Segment, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 13 && fields.len() != 15 {
        return Err(format!(
            "a segment has 13 fields (15 from GIMP 2.10), this line has {}",
            fields.len()
        ));
    }
    let numbers = fields[..11]
        .iter()
        .map(|field| finite_number(field))
        .collect::<Result<Vec<f64>, String>>()?;
    let colour = |first: usize| -> Colour {
        [numbers[first], numbers[first + 1], numbers[first + 2]].map(|value| value as f32)
    };
    let whole = |field: &str, what: &str| {
        field
            .parse::<u32>()
            .map_err(|_| format!("the {what} {field:?} is not a whole number"))
    };
    let blend_number = whole(fields[11], "blend type")?;
    let blend = Blend::from_ggr_number(blend_number).ok_or_else(|| {
        format!(
            "unknown blend type {blend_number} (0 linear, 1 curved, 2 sine, 3 sphere increasing, 4 sphere decreasing, 5 step)"
        )
    })?;
    let space = match whole(fields[12], "colour type")? {
        0 => ColourSpace::Rgb,
        1 => ColourSpace::HsvCounterClockwise,
        2 => ColourSpace::HsvClockwise,
        other => {
            return Err(format!(
                "unknown colour type {other} (0 RGB, 1 HSV counter-clockwise, 2 HSV clockwise)"
            ));
        }
    };
    if let Some(bad) = numbers[3..11]
        .iter()
        .find(|component| !(-1e-6..=1.0 + 1e-6).contains(*component))
    {
        return Err(format!("colour component {bad} is outside 0 to 1"));
    }
    Ok(Segment {
        start: numbers[0],
        middle: numbers[1],
        end: numbers[2],
        start_colour: colour(3),
        end_colour: colour(7),
        blend,
        space,
    })
}

/// A Fractint map: up to 256 lines, each starting with red, green and blue as whole
/// numbers (256, found in old maps, reads as 255); text after them is a comment, blank
/// lines are skipped, and lines past the 256th colour are ignored, as Fractint does. The
/// colours loop evenly, mixed in Oklab.
fn parse_map(text: &str, stem: &str, path: &Path) -> Result<Gradient, GradientFileError> {
    let mut colours: Vec<[u8; 3]> = Vec::with_capacity(MAP_COLOURS);
    for (index, line) in text.lines().enumerate() {
        if colours.len() == MAP_COLOURS {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut component = || -> Option<u8> {
            let value: u32 = fields.next()?.parse().ok()?;
            Some(value.min(255) as u8)
        };
        match (component(), component(), component()) {
            (Some(red), Some(green), Some(blue)) => colours.push([red, green, blue]),
            _ => {
                return Err(GradientFileError::Malformed {
                    path: path.to_owned(),
                    line: index + 1,
                    message: format!(
                        "expected red, green and blue as whole numbers 0 to 255, found {}",
                        excerpt(line)
                    ),
                });
            }
        }
    }
    if colours.is_empty() {
        return Err(GradientFileError::Empty {
            path: path.to_owned(),
            message: "the map holds no colours (lines of red green blue)".to_owned(),
        });
    }
    Ok(Gradient::evenly_spaced(stem, &colours))
}

/// One gradient of an Ultra Fractal file as read: its name, title, smoothness and points.
struct UgrEntry {
    name: String,
    /// The line its `{` is on.
    line: usize,
    smooth: bool,
    /// (index 0 to 399, colour, line) in file order.
    points: Vec<(u32, [u8; 3], usize)>,
}

/// The `key=value` pairs of a line, values possibly quoted with spaces inside.
fn ugr_pairs(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, found {}", excerpt(rest)))?;
        if key.contains(char::is_whitespace) || key.is_empty() {
            return Err(format!("expected key=value, found {}", excerpt(rest)));
        }
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let (value, after) = quoted
                .split_once('"')
                .ok_or_else(|| format!("the quote after {key}= is never closed"))?;
            (value, after)
        } else {
            after.split_once(char::is_whitespace).unwrap_or((after, ""))
        };
        pairs.push((key.to_owned(), value.to_owned()));
        rest = after.trim_start();
    }
    Ok(pairs)
}

/// An Ultra Fractal gradient file: entries `NAME { gradient: key=value ... opacity: ... }`,
/// points as `index=N color=C` (N from 0 to 399, C an integer with red in the low byte).
/// The points loop around 400 positions; `smooth=no` mixes in sRGB as Ultra Fractal does,
/// `smooth=yes` is drawn by mixing in Oklab (not Ultra Fractal's own spline).
fn parse_ugr(text: &str, wanted: Option<&str>, path: &Path) -> Result<Gradient, GradientFileError> {
    let malformed = |line: usize, message: String| GradientFileError::Malformed {
        path: path.to_owned(),
        line,
        message,
    };
    let mut entries: Vec<UgrEntry> = Vec::new();
    let mut current: Option<UgrEntry> = None;
    let mut in_gradient_section = false;
    let mut pending_index: Option<(u32, usize)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        let Some(entry) = current.as_mut() else {
            let Some(name) = trimmed.strip_suffix('{') else {
                return Err(malformed(
                    line,
                    format!("expected a gradient's NAME {{, found {}", excerpt(raw)),
                ));
            };
            current = Some(UgrEntry {
                name: name.trim().to_owned(),
                line,
                smooth: false,
                points: Vec::new(),
            });
            in_gradient_section = false;
            continue;
        };
        if trimmed == "}" {
            if let Some((_, index_line)) = pending_index.take() {
                return Err(malformed(
                    index_line,
                    "an index without its color".to_owned(),
                ));
            }
            entries.extend(current.take());
            continue;
        }
        if let Some(section) = trimmed.strip_suffix(':') {
            in_gradient_section = section == "gradient";
            continue;
        }
        if !in_gradient_section {
            continue;
        }
        for (key, value) in ugr_pairs(trimmed).map_err(|message| malformed(line, message))? {
            match key.as_str() {
                "index" => {
                    let position: u32 = value
                        .parse()
                        .ok()
                        .filter(|position| *position < UGR_INDICES)
                        .ok_or_else(|| {
                            malformed(line, format!("index {value:?} is not 0 to 399"))
                        })?;
                    if pending_index.replace((position, line)).is_some() {
                        return Err(malformed(line, "two indices without a color".to_owned()));
                    }
                }
                "color" => {
                    let colour: u32 = value
                        .parse()
                        .ok()
                        .filter(|colour| *colour <= 0x00FF_FFFF)
                        .ok_or_else(|| {
                            malformed(
                                line,
                                format!("color {value:?} is not an integer 0 to 16777215"),
                            )
                        })?;
                    let (position, _) = pending_index.take().ok_or_else(|| {
                        malformed(line, "a color without an index before it".to_owned())
                    })?;
                    let [red, green, blue, _] = colour.to_le_bytes();
                    entry.points.push((position, [red, green, blue], line));
                }
                "smooth" => entry.smooth = value == "yes",
                _ => {}
            }
        }
    }
    if let Some(entry) = current {
        return Err(malformed(
            entry.line,
            format!("the gradient {:?} is never closed with }}", entry.name),
        ));
    }
    let entry = match wanted {
        None => entries
            .into_iter()
            .next()
            .ok_or_else(|| GradientFileError::Empty {
                path: path.to_owned(),
                message: "the file holds no gradients".to_owned(),
            })?,
        Some(name) => {
            let available = entries
                .iter()
                .map(|entry| entry.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let found = entries.iter().position(|entry| entry.name == name);
            match found {
                Some(position) => entries.swap_remove(position),
                None => {
                    return Err(GradientFileError::NoSuchGradient {
                        path: path.to_owned(),
                        name: name.to_owned(),
                        available: if available.is_empty() {
                            "none".to_owned()
                        } else {
                            available
                        },
                    });
                }
            }
        }
    };
    ugr_gradient(entry, path)
}

/// The loop an Ultra Fractal entry's points make around its 400 positions.
fn ugr_gradient(mut entry: UgrEntry, path: &Path) -> Result<Gradient, GradientFileError> {
    if entry.points.is_empty() {
        return Err(GradientFileError::Malformed {
            path: path.to_owned(),
            line: entry.line,
            message: format!("the gradient {:?} has no colours", entry.name),
        });
    }
    entry.points.sort_by_key(|(position, _, _)| *position);
    if let Some(pair) = entry.points.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(GradientFileError::Malformed {
            path: path.to_owned(),
            line: pair[1].2,
            message: format!("index {} appears twice", pair[1].0),
        });
    }
    let space = if entry.smooth {
        ColourSpace::Oklab
    } else {
        ColourSpace::Rgb
    };
    let at = |position: u32| f64::from(position) / f64::from(UGR_INDICES);
    let colour = |bytes: [u8; 3]| bytes.map(component_from_byte);
    let (first, last) = (entry.points[0], entry.points[entry.points.len() - 1]);
    // The stretch from the last point round to the first, split where the loop starts.
    let wrap = Segment::linear(
        (at(last.0), at(first.0) + 1.0),
        (colour(last.1), colour(first.1)),
        space,
    );
    let colour_at_zero = if wrap.end - wrap.start > 0.0 {
        let single = Gradient::new(
            "",
            vec![Segment {
                start: 0.0,
                middle: 0.5,
                end: 1.0,
                ..wrap
            }],
        )
        .map_err(|error| GradientFileError::Empty {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        single.colour_at_exact((1.0 - wrap.start) / (wrap.end - wrap.start))
    } else {
        colour(first.1)
    };
    let mut segments = Vec::with_capacity(entry.points.len() + 1);
    if first.0 > 0 {
        segments.push(Segment::linear(
            (0.0, at(first.0)),
            (colour_at_zero, colour(first.1)),
            space,
        ));
    }
    for pair in entry.points.windows(2) {
        segments.push(Segment::linear(
            (at(pair[0].0), at(pair[1].0)),
            (colour(pair[0].1), colour(pair[1].1)),
            space,
        ));
    }
    segments.push(Segment::linear(
        (at(last.0), 1.0),
        (colour(last.1), colour_at_zero),
        space,
    ));
    Gradient::new(&entry.name, segments).map_err(|error| GradientFileError::Empty {
        path: path.to_owned(),
        message: error.to_string(),
    })
}

/// The largest difference, in bytes, allowed between a written `.ggr` and the gradient
/// where an Oklab segment (which GIMP cannot mix) is written as several sRGB ones.
const GGR_TOLERANCE: f32 = 0.5 / 255.0;
/// How many times an Oklab segment may be halved to meet the tolerance.
const GGR_MAX_HALVINGS: u32 = 10;

/// `gradient` as a GIMP gradient file. Segments mixed in Oklab, which GIMP does not know,
/// are written as sRGB pieces short enough to stay within half a byte of it.
pub fn write_ggr(gradient: &Gradient) -> String {
    let mut pieces: Vec<Segment> = Vec::new();
    for segment in gradient.segments() {
        if segment.space == ColourSpace::Oklab {
            split_for_ggr(gradient, segment.start, segment.end, 0, &mut pieces);
        } else {
            pieces.push(*segment);
        }
    }
    let mut text = format!(
        "GIMP Gradient\nName: {}\n{}\n",
        gradient.name().replace(['\n', '\r'], " "),
        pieces.len()
    );
    for piece in &pieces {
        let [r0, g0, b0] = piece.start_colour;
        let [r1, g1, b1] = piece.end_colour;
        let space = match piece.space {
            ColourSpace::Rgb | ColourSpace::Oklab => 0,
            ColourSpace::HsvCounterClockwise => 1,
            ColourSpace::HsvClockwise => 2,
        };
        text.push_str(&format!(
            "{:.6} {:.6} {:.6} {r0:.6} {g0:.6} {b0:.6} 1.000000 {r1:.6} {g1:.6} {b1:.6} 1.000000 {} {space}\n",
            piece.start,
            piece.middle,
            piece.end,
            piece.blend.ggr_number()
        ));
    }
    text
}

/// Writes [start, end] of `gradient` as linear sRGB pieces, halving where a straight
/// sRGB line strays from the gradient by more than the tolerance.
fn split_for_ggr(gradient: &Gradient, start: f64, end: f64, depth: u32, out: &mut Vec<Segment>) {
    // Just inside the ends, so a segment's own colours are used at its boundaries.
    let inside = (end - start) * 1e-9;
    let (from, to) = (
        gradient.colour_at_exact(start + inside),
        gradient.colour_at_exact(end - inside),
    );
    let straight = Segment::linear((start, end), (from, to), ColourSpace::Rgb);
    let strays = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]
        .iter()
        .any(|fraction| {
            let position = start + (end - start) * fraction;
            let wanted = gradient.colour_at_exact(position);
            let drawn = straight.colour_at_exact_rgb(position);
            wanted
                .iter()
                .zip(drawn)
                .any(|(a, b)| (a - b).abs() > GGR_TOLERANCE)
        });
    if strays && depth < GGR_MAX_HALVINGS {
        let middle = (start + end) / 2.0;
        split_for_ggr(gradient, start, middle, depth + 1, out);
        split_for_ggr(gradient, middle, end, depth + 1, out);
    } else {
        out.push(straight);
    }
}

impl Segment {
    /// Its colour at `position` for a linear sRGB segment (the check of `write_ggr`).
    fn colour_at_exact_rgb(&self, position: f64) -> Colour {
        let width = self.end - self.start;
        let along = if width <= 0.0 {
            0.5
        } else {
            ((position - self.start) / width).clamp(0.0, 1.0)
        };
        let lerp = |a: f32, b: f32| a + (b - a) * along as f32;
        [
            lerp(self.start_colour[0], self.end_colour[0]),
            lerp(self.start_colour[1], self.end_colour[1]),
            lerp(self.start_colour[2], self.end_colour[2]),
        ]
    }
}
