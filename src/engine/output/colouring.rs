//! Colourings: how a render's stored values become colours, chosen without rendering
//! again. `smooth` maps escape values through the palette's gradient (`Palette`);
//! `histogram` equalises them over the image (`EscapeDistribution`); a Lua
//! colouring (`colour(v1, v2, ...)` returning r, g, b in 0..1) runs in sandboxed,
//! stoppable Lua states, one per thread, over slices of the stored values (`colour_image`).
//! Its errors name the colouring's line and the pixel, as a kernel's do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gradient::byte_from_component;
use super::histogram::EscapeDistribution;
use super::palette::Palette;
use crate::engine::error::KernelError;
use crate::engine::kernel::{
    ColouringFailure, LuaColouring, MAX_SOURCE_BYTES, OutputMode, RunFailure, StopContext,
    StopSwitch,
};
use crate::engine::render::{CancelToken, ValueImage};

/// The distance colouring's line width when none is given, in pixels.
pub const DEFAULT_LINE_WIDTH_PX: f32 = 2.0;
/// Where the slope colouring's light comes from when no angle is given: the top right.
pub const DEFAULT_LIGHT_ANGLE_DEGREES: f32 = 45.0;

/// Pixels a thread takes at a time; small enough that threads share the work evenly.
const PIXELS_PER_SLICE: usize = 16_384;
/// How often the waiting thread looks at the cancel token and the deadline.
const STOP_POLL: Duration = Duration::from_millis(5);
/// The job id colouring threads arm their stop switches with (any non-zero id: each
/// switch belongs to one colouring run).
const COLOURING_JOB: u64 = 1;

/// How stored values become colours.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Colouring {
    /// The escape value, smoothed, through the palette's gradient (density, offset).
    #[default]
    Smooth,
    /// The escape values equalised over the image: each colour of the gradient covers
    /// as many pixels as any other.
    Histogram,
    /// The boundary of the set as a dark line a constant number of pixels wide at any
    /// zoom, from the distance estimate, over the smooth colouring.
    Distance {
        /// How wide the line fades, in pixels.
        line_width_px: f32,
    },
    /// Relief lighting: the smooth colouring lit by a light from `light_angle_degrees`
    /// (0: from the right, 90: from the top), from the slope of the escape potential.
    Slope {
        /// Where the light comes from, in degrees counter-clockwise from the right.
        light_angle_degrees: f32,
    },
    /// The user's `colour(v1, ...)` in Lua.
    Lua {
        /// Where it came from (a file's name), for messages.
        name: String,
        /// Its source.
        source: String,
    },
}

impl Colouring {
    /// True when it needs the distance and slope values (`RenderRequest::derivatives`).
    pub fn needs_derivatives(&self) -> bool {
        matches!(self, Self::Distance { .. } | Self::Slope { .. })
    }

    /// Its name with its settings, as `moonbrot info` prints it.
    pub fn summary(&self) -> String {
        match self {
            Self::Distance { line_width_px } => {
                format!("distance (a line {line_width_px} px wide)")
            }
            Self::Slope {
                light_angle_degrees,
            } => format!("slope (light from {light_angle_degrees}°)"),
            _ => self.name().to_owned(),
        }
    }

    /// Why its settings cannot be used (a document's, read from a file), if so.
    pub fn settings_problem(&self) -> Option<String> {
        match self {
            Self::Distance { line_width_px } if !(0.25..=50.0).contains(line_width_px) => Some(
                format!("its line width {line_width_px} is not 0.25 to 50 pixels"),
            ),
            Self::Slope {
                light_angle_degrees,
            } if !light_angle_degrees.is_finite() => {
                Some("its light angle is not a number of degrees".to_owned())
            }
            _ => None,
        }
    }

    /// Its name, as `--colouring` and messages give it.
    pub fn name(&self) -> &str {
        match self {
            Self::Smooth => "smooth",
            Self::Histogram => "histogram",
            Self::Distance { .. } => "distance",
            Self::Slope { .. } => "slope",
            Self::Lua { name, .. } => name,
        }
    }
}

/// What a colouring run may use: threads, time and memory per Lua state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColouringOptions {
    /// Threads, one Lua state each.
    pub threads: usize,
    /// Stop after this long (None: never).
    pub timeout: Option<Duration>,
    /// Memory limit per Lua state, in bytes.
    pub memory_limit_bytes: usize,
}

/// Why a colouring did not colour the image.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ColouringError {
    /// Its code is wrong: a syntax error, an error while it ran, a wrong return value, a
    /// missing `colour` function.
    #[error("colouring {name}: {}{}", colouring_wording(error), pixel_suffix(*pixel))]
    Code {
        /// The colouring's name.
        name: String,
        /// What went wrong (the line is the colouring's).
        error: KernelError,
        /// The pixel (column, row from the top) it went wrong at, if known.
        pixel: Option<(u32, u32)>,
    },
    /// Its source is larger than a kernel may be.
    #[error("colouring {name} is {} KiB, more than the limit of {} KiB", bytes / 1024, MAX_SOURCE_BYTES / 1024)]
    TooLarge {
        /// The colouring's name.
        name: String,
        /// Its size.
        bytes: usize,
    },
    /// It was stopped after its timeout.
    #[error("colouring {name} was stopped after its timeout of {secs} s")]
    TimedOut {
        /// The colouring's name.
        name: String,
        /// The timeout.
        secs: f64,
    },
    /// It was cancelled.
    #[error("the colouring was cancelled")]
    Cancelled,
    /// A bug in moonbrot.
    #[error("internal error while colouring (please report it): {0}")]
    Internal(String),
}

impl ColouringError {
    /// The colouring's line this error points at, if any (for the editor's marker).
    pub fn line(&self) -> Option<u32> {
        match self {
            Self::Code { error, .. } => error.line(),
            _ => None,
        }
    }
}

/// A kernel error's message as said of a colouring: "kernel line" becomes "line".
fn colouring_wording(error: &KernelError) -> String {
    match error {
        KernelError::MemoryLimit { limit_bytes } => format!(
            "ran out of memory: it used more than its limit of {} MiB",
            limit_bytes / (1024 * 1024)
        ),
        KernelError::Load { line, message } => {
            format!("error in its top level: {}{message}", line_text(*line))
        }
        KernelError::Syntax { line, message } => {
            format!("syntax error: {}{message}", line_text(*line))
        }
        KernelError::Runtime { line, message, .. } => {
            format!("runtime error: {}{message}", line_text(*line))
        }
        KernelError::WrongReturn { line, message, .. } => {
            format!("wrong return value: {}{message}", line_text(*line))
        }
        other => other.to_string(),
    }
}

fn line_text(line: Option<u32>) -> String {
    line.map_or_else(String::new, |line| format!("line {line}: "))
}

fn pixel_suffix(pixel: Option<(u32, u32)>) -> String {
    pixel.map_or_else(String::new, |(column, row)| {
        format!(" (at pixel {column}, {row})")
    })
}

/// Colours `image` with `colouring` and `palette`. Direct-colour images (`output =
/// "rgb"`) are only clamped, whatever the colouring.
pub fn colour_image(
    image: &ValueImage,
    palette: &Palette,
    colouring: &Colouring,
    options: &ColouringOptions,
    cancel: &CancelToken,
) -> Result<image::RgbImage, ColouringError> {
    match colouring {
        _ if image.output == OutputMode::Rgb => Ok(palette.colourize(image)),
        Colouring::Smooth => Ok(palette.colourize(image)),
        Colouring::Histogram => {
            Ok(palette.colourize_by_rank(image, EscapeDistribution::of_image(image).as_ref()))
        }
        Colouring::Distance { line_width_px } => {
            let width = line_width_px.max(1e-3);
            Ok(colour_by_channels(
                image,
                palette,
                ["distance"],
                |smooth, [distance]| {
                    // Full colour from line_width_px away, fading to the inside colour at 0.
                    let fade = (distance / width).clamp(0.0, 1.0);
                    mix_bytes(palette.inside, smooth, fade.sqrt())
                },
            ))
        }
        Colouring::Slope {
            light_angle_degrees,
        } => {
            let (sin, cos) = light_angle_degrees.to_radians().sin_cos();
            let names = ["normal_x", "normal_y"];
            Ok(colour_by_channels(
                image,
                palette,
                names,
                |smooth, [x, y]| {
                    // Lambert-like shading: brightest where the escape potential rises
                    // towards the light, a quarter of the colour where it faces away.
                    let facing = x * cos + y * sin;
                    let light = (0.5 + 0.5 * facing).clamp(0.0, 1.0);
                    mix_bytes([0, 0, 0], smooth, 0.25 + 0.75 * light)
                },
            ))
        }
        Colouring::Lua { name, source } => {
            let rgb = colour_with_lua(image, palette, (name, source), options, cancel)?;
            Ok(
                image::RgbImage::from_raw(image.width_px, image.height_px, rgb)
                    .unwrap_or_else(|| image::RgbImage::new(image.width_px, image.height_px)),
            )
        }
    }
}

/// `a` to `b`, `t` of the way (0 to 1), per component.
fn mix_bytes(a: [u8; 3], b: [u8; 3], t: f32) -> [u8; 3] {
    let mut out = [0_u8; 3];
    for ((out, a), b) in out.iter_mut().zip(a).zip(b) {
        *out = (f32::from(a) + (f32::from(b) - f32::from(a)) * t).round() as u8;
    }
    out
}

/// Colours each outside pixel by `shade(its smooth colour, its values of the channels
/// named)`; an image without those channels (a kernel without a formula) keeps its smooth
/// colours, and so does a pixel whose values are not known (NaN: rendered by perturbation,
/// or a derivative that vanished).
fn colour_by_channels<const N: usize>(
    image: &ValueImage,
    palette: &Palette,
    names: [&str; N],
    shade: impl Fn([u8; 3], [f32; N]) -> [u8; 3] + Sync,
) -> image::RgbImage {
    let channels = image.output.channels();
    let mut positions = [0_usize; N];
    for (position, name) in positions.iter_mut().zip(names) {
        match image
            .channel_names
            .iter()
            .position(|channel| channel == name)
        {
            Some(found) => *position = found,
            None => return palette.colourize(image),
        }
    }
    let mut rgb = vec![0_u8; image.values.len() / channels * 3];
    rgb.par_chunks_mut(3 * 4096)
        .zip(image.values.par_chunks(channels * 4096))
        .for_each(|(rgb, values)| {
            for (pixel, values) in rgb.chunks_exact_mut(3).zip(values.chunks_exact(channels)) {
                let smooth = palette.colour_of(values[0]);
                let wanted = positions.map(|position| values[position]);
                let outside = values[0] >= 0.0 && values[0].is_finite();
                pixel.copy_from_slice(&if outside && wanted.iter().all(|v| v.is_finite()) {
                    shade(smooth, wanted)
                } else {
                    smooth
                });
            }
        });
    image::RgbImage::from_raw(image.width_px, image.height_px, rgb)
        .unwrap_or_else(|| image::RgbImage::new(image.width_px, image.height_px))
}

/// Runs a Lua colouring over every pixel, `options.threads` states in parallel, each
/// taking slices until none are left; a stop (cancel, timeout, another thread's failure)
/// trips every state's switch.
fn colour_with_lua(
    image: &ValueImage,
    palette: &Palette,
    (name, source): (&str, &str),
    options: &ColouringOptions,
    cancel: &CancelToken,
) -> Result<Vec<u8>, ColouringError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(ColouringError::TooLarge {
            name: name.to_owned(),
            bytes: source.len(),
        });
    }
    let channels = image.output.channels();
    let pixel_count = image.values.len() / channels;
    let mut rgb = vec![0_u8; pixel_count * 3];
    let table: Arc<[f32]> = palette.gradient.table_components().into();
    let threads = options.threads.clamp(1, 64);
    let stopped = AtomicBool::new(false);
    let next_slice = AtomicUsize::new(0);
    let switches: Vec<StopSwitch> = (0..threads).map(|_| StopSwitch::default()).collect();
    let outputs: Vec<std::sync::Mutex<&mut [u8]>> = rgb
        .chunks_mut(PIXELS_PER_SLICE * 3)
        .map(std::sync::Mutex::new)
        .collect();
    let deadline = options.timeout.map(|timeout| Instant::now() + timeout);
    let failure: std::sync::Mutex<Option<(usize, ColouringFailure)>> = std::sync::Mutex::new(None);
    let is_stopped = || stopped.load(Ordering::SeqCst);
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for switch in &switches {
            let (table, next_slice, outputs, failure, done) =
                (&table, &next_slice, &outputs, &failure, &done);
            let is_stopped = &is_stopped;
            scope.spawn(move || {
                let stop = StopContext {
                    switch,
                    job_id: COLOURING_JOB,
                    is_stopped,
                };
                let result = colour_slices(
                    source,
                    (image, channels, palette),
                    Arc::clone(table),
                    options.memory_limit_bytes,
                    (next_slice, outputs),
                    &stop,
                );
                if let Err(error) = result {
                    let mut first = crate::engine::sync::lock(failure);
                    let index = error.0;
                    if first.as_ref().is_none_or(|(earlier, _)| index < *earlier) {
                        *first = Some(error);
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        // Wait, stopping every state on a cancel, the deadline or the first failure.
        while done.load(Ordering::SeqCst) < threads {
            let must_stop = cancel.is_cancelled()
                || deadline.is_some_and(|deadline| Instant::now() >= deadline)
                || crate::engine::sync::lock(&failure).is_some();
            if must_stop {
                stopped.store(true, Ordering::SeqCst);
                for switch in &switches {
                    switch.trip(COLOURING_JOB);
                }
            }
            std::thread::sleep(STOP_POLL);
        }
    });
    drop(outputs);
    let failure = failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match failure {
        None => Ok(rgb),
        Some((pixel_index, ColouringFailure::Lua { error, .. })) => {
            let width = image.width_px.max(1) as usize;
            Err(ColouringError::Code {
                name: name.to_owned(),
                error,
                pixel: Some(((pixel_index % width) as u32, (pixel_index / width) as u32)),
            })
        }
        Some((_, ColouringFailure::Run(RunFailure::Kernel(error)))) => Err(ColouringError::Code {
            name: name.to_owned(),
            error,
            pixel: None,
        }),
        Some((_, ColouringFailure::Run(RunFailure::Internal(message)))) => {
            Err(ColouringError::Internal(message))
        }
        Some((_, ColouringFailure::Run(RunFailure::Stopped))) if cancel.is_cancelled() => {
            Err(ColouringError::Cancelled)
        }
        Some((_, ColouringFailure::Run(RunFailure::Stopped))) => Err(ColouringError::TimedOut {
            name: name.to_owned(),
            secs: options.timeout.map_or(0.0, |timeout| timeout.as_secs_f64()),
        }),
    }
}

/// One thread's part: compiles the colouring, then colours slices until none are left.
/// A failure comes with the index of the pixel it happened at (the slice's first pixel
/// when it is not known, `usize::MAX` for a compile failure, which precedes none).
fn colour_slices(
    source: &str,
    (image, channels, palette): (&ValueImage, usize, &Palette),
    table: Arc<[f32]>,
    memory_limit_bytes: usize,
    (next_slice, outputs): (&AtomicUsize, &[std::sync::Mutex<&mut [u8]>]),
    stop: &StopContext<'_>,
) -> Result<(), (usize, ColouringFailure)> {
    let colouring = LuaColouring::compile(source, table, memory_limit_bytes, stop)
        .map_err(|failure| (0, ColouringFailure::Run(failure)))?;
    let mut colours = vec![0.0_f32; PIXELS_PER_SLICE * 3];
    loop {
        let slice = next_slice.fetch_add(1, Ordering::SeqCst);
        let Some(output) = outputs.get(slice) else {
            return Ok(());
        };
        let first_pixel = slice * PIXELS_PER_SLICE;
        let mut output = crate::engine::sync::lock(output);
        let count = output.len() / 3;
        let values = &image.values[first_pixel * channels..(first_pixel + count) * channels];
        colouring
            .colour_slice(values, channels, &mut colours[..count * 3], stop)
            .map_err(|failure| {
                let pixel = match &failure {
                    ColouringFailure::Lua { pixel, .. } => pixel.unwrap_or(0),
                    ColouringFailure::Run(_) => 0,
                };
                (first_pixel + pixel, failure)
            })?;
        for (index, (pixel, colour)) in output
            .chunks_exact_mut(3)
            .zip(colours.chunks_exact(3))
            .enumerate()
        {
            let first_value = values[index * channels];
            let inside = !(first_value >= 0.0 && first_value.is_finite());
            if inside && !colouring.with_inside {
                pixel.copy_from_slice(&palette.inside);
            } else {
                for (byte, component) in pixel.iter_mut().zip(colour) {
                    *byte = byte_from_component(*component);
                }
            }
        }
    }
}
