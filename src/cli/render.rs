//! `moonbrot render`: renders one image to a PNG, with a progress bar on a terminal when the
//! render is long, and a timing summary on stderr.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, choose_kernel, for_flag, stderr_engine};
use crate::engine::kernel::{default_kernel, parse_settings, read_kernel_file};
use crate::engine::output::{
    Colouring, DEFAULT_LIGHT_ANGLE_DEGREES, DEFAULT_LINE_WIDTH_PX, Document, Film, Gradient,
    Palette, PosterError, PosterFormat, PosterJob, PosterOutput, PosterProgress,
    SHIPPED_GRADIENT_NAMES, read_document, read_gradient_file, render_film, render_poster,
    shard_rows, supersample_from,
};
use crate::engine::render::{
    default_thread_count, image_size_from, max_iter_from, memory_limit_from_mib, thread_count_from,
    timeout_from_secs,
};
use crate::engine::{CancelToken, MaxIterChoice, Precision, PrecisionChoice, RenderRequest, View};

/// Show a progress bar only once a render has taken this long.
const PROGRESS_BAR_DELAY: Duration = Duration::from_millis(400);

#[derive(Args, Debug)]
pub(crate) struct RenderArgs {
    /// Kernel: a Lua file, or a shipped kernel's name (mandelbrot, julia, burning_ship,
    /// tricorn, multibrot, newton, seed). Default: mandelbrot, or the --from image's.
    #[arg(long, value_name = "FILE|NAME")]
    kernel: Option<PathBuf>,
    /// Render the document stored in a PNG moonbrot exported (kernel, view, max_iter,
    /// palette, parameters, size); any other flag overrides the stored value.
    #[arg(long, value_name = "IMAGE.png")]
    from: Option<PathBuf>,
    /// Image size in pixels, WIDTHxHEIGHT. Default: 1280x720, or the --from image's.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    size: Option<(i64, i64)>,
    /// Centre of the view in the complex plane, X,Y, as decimals with every digit kept (a
    /// location copied from the window pastes here). Default: the kernel's home.
    #[arg(long, value_name = "X,Y", allow_hyphen_values = true)]
    center: Option<String>,
    /// Height of the view in the complex plane, a decimal (any depth reads; spans down to
    /// about 1e-20000 render, past 1e-140 or so by perturbation only). Default: the
    /// kernel's home span.
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    span: Option<String>,
    /// Iteration limit passed to the kernel as `max_iter`. Default: the kernel's own, raised
    /// automatically with the depth for kernels with a formula (the summary says so).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    max_iter: Option<i64>,
    /// Worker threads, one Lua state each. Default: the machine's cores.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    threads: Option<i64>,
    /// Palette: a shipped gradient (classic, fire, ocean, grayscale, rainbow, twilight)
    /// or a gradient file: GIMP .ggr, Fractint .map, Ultra Fractal .ugr (its first
    /// gradient, or FILE.ugr:NAME for another). Default: classic, or the --from image's.
    #[arg(long, value_name = "NAME|FILE")]
    palette: Option<String>,
    /// Colour cycles per 4 units of the square root of the escape value, 0.01 to 100
    /// (higher: narrower bands). Default: 1, or the --from image's.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    density: Option<f64>,
    /// Shift around the gradient's loop, in turns, 0 to 1. Default: 0, or the --from
    /// image's.
    #[arg(long, value_name = "TURNS", allow_hyphen_values = true)]
    offset: Option<f64>,
    /// The colour of points inside the set: #RRGGBB or R,G,B (0 to 255 each). Default:
    /// black, or the --from image's.
    #[arg(long, value_name = "COLOUR", allow_hyphen_values = true)]
    inside_colour: Option<String>,
    /// How values become colours: smooth (the palette's gradient), histogram (escape
    /// values equalised over the image), distance (the boundary as a line --line-width
    /// pixels wide at any zoom), slope (relief lit from --light-angle), or a Lua file
    /// defining colour(v1, ...) that returns r, g, b in 0..1. Distance and slope need a
    /// kernel with a formula. Default: smooth, or the --from image's.
    #[arg(long, value_name = "NAME|FILE.lua")]
    colouring: Option<String>,
    /// The distance colouring's line width, in pixels (0.25 to 50). Default: 2.
    #[arg(long, value_name = "PX", allow_hyphen_values = true)]
    line_width: Option<f64>,
    /// Where the slope colouring's light comes from, in degrees counter-clockwise from
    /// the right (90: from the top). Default: 45.
    #[arg(long, value_name = "DEGREES", allow_hyphen_values = true)]
    light_angle: Option<f64>,
    /// Set a kernel parameter (repeatable): NAME=VALUE; a complex value is RE,IM, a
    /// boolean true or false, a choice its name. `moonbrot info KERNEL` lists them.
    #[arg(long = "set", value_name = "NAME=VALUE", allow_hyphen_values = true)]
    set: Vec<String>,
    /// Solid guessing: fill flat regions (the set's inside) from their outline instead of
    /// computing every pixel; direct-colour kernels are always computed in full. Default:
    /// on, or what the --from image used.
    #[arg(long, value_name = "on|off")]
    guessing: Option<Switch>,
    /// Use the symmetry the kernel declares (`symmetry = "real_axis"`): rows that mirror
    /// rows across the axis are copied, not computed. The image is the same either way,
    /// bit for bit; off is for measuring what it saves.
    #[arg(long, value_name = "on|off", default_value = "on")]
    symmetry: Switch,
    /// Skips (bilinear approximation) in a render by perturbation: many steps taken as one
    /// linear map where a pixel is close to the reference, and the first iterations every
    /// pixel shares taken at once from a power series. Off runs every step (to measure what
    /// they save, or to check a pixel).
    #[arg(long, value_name = "on|off", default_value = "on")]
    skips: Switch,
    /// Arithmetic of the pixels' coordinates: auto switches where f64 runs out of digits
    /// (about a span of 1e-10 per 1000 pixels) to perturbation for kernels that declare a
    /// `formula`, else to double-double (the kernel's `pixel_deep`); at shallower views of
    /// 1000 to 117,000 iterations it takes the formula's interleaved pixels (three a loop)
    /// where a probe render shows them 1.15 times as fast as the kernel's `pixel` (in
    /// images of 100,000 pixels or more), or
    /// perturbation where it is 1.5 times as fast and faster still; f64 (always the
    /// kernel's `pixel`), double-double and perturbation force one (double-double needs
    /// `pixel_deep`, perturbation a formula).
    #[arg(
        long,
        value_name = "auto|f64|double-double|perturbation",
        default_value = "auto"
    )]
    precision: PrecisionArg,
    /// N×N samples per pixel (1 to 8), averaged in linear light: smooth edges and
    /// filaments, N² times the work. Default: 1, or the --from image's.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    supersample: Option<i64>,
    /// Render only shard I of N (I from 0): band I of N of the image, written to -o as a
    /// band file; `moonbrot stitch` joins the bands into the poster.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// Memory for one band of rows, in MiB: images are rendered and written band by band,
    /// so any size fits in this much (plus the Lua states).
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 256,
        allow_hyphen_values = true
    )]
    band_memory: i64,
    /// A zoom film: N frames (2 to 100000) from the view to the one given by --zoom-to,
    /// written to the folder -o as frame-00000.png, frame-00001.png... (each a document).
    /// With --shard I/N, only every N-th frame from frame I.
    #[arg(
        long,
        value_name = "N",
        requires = "zoom_to",
        allow_hyphen_values = true
    )]
    frames: Option<i64>,
    /// The film's last view: centre X,Y and span. The span changes geometrically from
    /// frame to frame, and the centre moves with it, so the zoom looks steady.
    #[arg(
        long,
        value_name = "X,Y,SPAN",
        allow_hyphen_values = true,
        requires = "frames"
    )]
    zoom_to: Option<String>,
    /// Memory limit of each Lua state (one per thread), in MiB.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 512,
        allow_hyphen_values = true
    )]
    memory_limit: i64,
    /// Stop the render with an error after this many seconds.
    #[arg(long, value_name = "SECS", allow_hyphen_values = true)]
    timeout: Option<f64>,
    /// The file to write (replaced atomically if it exists): a PNG, or, ending in .npy,
    /// the kernel's raw values as a NumPy float32 array (NaN inside). With --frames, a
    /// folder for the frames.
    #[arg(short = 'o', long = "output", value_name = "OUT.png")]
    output: PathBuf,
}

/// "WxH" into a pair; whether the numbers are usable is the engine's check.
fn parse_size(text: &str) -> Result<(i64, i64), String> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, like 1280x720, got {text:?}"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<i64>()
            .map_err(|_| format!("expected WIDTHxHEIGHT with whole numbers, got {text:?}"))
    };
    Ok((number(width)?, number(height)?))
}

/// The most frames a film may have.
const MAX_FRAMES: i64 = 100_000;

/// "I/N" into a shard index and count (I below N).
fn parse_shard(text: &str) -> Result<(u32, u32), String> {
    let parsed = text.split_once('/').and_then(|(index, count)| {
        Some((
            index.trim().parse::<u32>().ok()?,
            count.trim().parse::<u32>().ok()?,
        ))
    });
    match parsed {
        Some((index, count)) if count > 0 && index < count => Ok((index, count)),
        _ => Err(format!(
            "expected I/N with 0 <= I < N, like 0/4, got {text:?}"
        )),
    }
}

/// "X,Y" (`what` is "the centre") or "X,Y,SPAN" as its decimal texts, `count` of them.
fn split_numbers<'a>(text: &'a str, count: usize, what: &str) -> Result<Vec<&'a str>, String> {
    let numbers: Vec<&str> = text.split(',').map(str::trim).collect();
    if numbers.len() == count {
        Ok(numbers)
    } else if count == 2 {
        Err(format!(
            "{what}: expected X,Y, like -0.75,0.1, got {text:?}"
        ))
    } else {
        Err(format!(
            "{what}: expected X,Y,SPAN, like -0.75,0.1,0.001, got {text:?}"
        ))
    }
}

/// The span and centre the user gave (each replacing the base view's), read as exact
/// decimals: every digit counts at depth.
fn view_from_flags(base: View, center: Option<&str>, span: Option<&str>) -> Result<View, String> {
    let span_text = span.map_or_else(|| base.span.to_decimal(), str::to_owned);
    let (x, y) = match center {
        Some(text) => {
            let numbers = split_numbers(text, 2, "the centre")?;
            (numbers[0].to_owned(), numbers[1].to_owned())
        }
        None => (base.center_x.to_decimal(), base.center_y.to_decimal()),
    };
    View::from_decimals(&x, &y, &span_text).map_err(|error| {
        let what = if center.is_some() {
            "the centre or span"
        } else {
            "the span"
        };
        format!("{what}: {error}")
    })
}

/// The image size when neither --size nor --from gives one.
const DEFAULT_SIZE_PX: (u32, u32) = (1280, 720);

/// `moonbrot render`'s arguments, checked by the engine's rules: everything that can be
/// checked before the kernel runs. With --from, the stored document is the base.
struct RenderJob {
    kernel: super::KernelChoice,
    /// The document of --from, if given.
    stored: Option<Document>,
    palette: Palette,
    colouring: Colouring,
    size_px: (u32, u32),
    threads: usize,
    max_iter: Option<u32>,
    timeout: Option<Duration>,
    memory_limit_bytes: usize,
    guessing: bool,
    symmetry: bool,
    samples: u32,
    band_bytes: usize,
}

/// `--precision`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PrecisionArg {
    /// f64, or where f64 runs out of digits perturbation (kernels with a formula) or
    /// double-double (kernels with `pixel_deep`); the formula's interleaved pixels or
    /// perturbation also where a probe shows them clearly faster than the kernel's pixel.
    Auto,
    /// Always f64, with the kernel's own `pixel`.
    F64,
    /// Always double-double.
    DoubleDouble,
    /// Always perturbation.
    Perturbation,
}

impl From<PrecisionArg> for PrecisionChoice {
    fn from(argument: PrecisionArg) -> Self {
        match argument {
            PrecisionArg::Auto => PrecisionChoice::Auto,
            PrecisionArg::F64 => PrecisionChoice::Double,
            PrecisionArg::DoubleDouble => PrecisionChoice::DoubleDouble,
            PrecisionArg::Perturbation => PrecisionChoice::Perturbation,
        }
    }
}

/// A setting that is on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

impl RenderJob {
    fn from_args(args: &RenderArgs) -> Result<Self, CliError> {
        let stored = args
            .from
            .as_deref()
            .map(read_document)
            .transpose()
            .map_err(|error| CliError::Input(error.to_string()))?;
        let mut palette = stored
            .as_ref()
            .map_or_else(Palette::default, |doc| doc.palette.clone());
        if let Some(spec) = &args.palette {
            palette.gradient = gradient_from_spec(spec)?;
        }
        if let Some(density) = args.density {
            palette.density = density_from(density)?;
        }
        if let Some(offset) = args.offset {
            palette.offset = offset_from(offset)?;
        }
        if let Some(colour) = &args.inside_colour {
            palette.inside = colour_from_text(colour)?;
        }
        let mut colouring = match &args.colouring {
            Some(spec) => colouring_from_spec(spec)?,
            None => stored
                .as_ref()
                .map_or(Colouring::Smooth, |doc| doc.colouring.clone()),
        };
        match (&mut colouring, args.line_width, args.light_angle) {
            (Colouring::Distance { line_width_px }, Some(width), _) => {
                if !(width.is_finite() && (0.25..=50.0).contains(&width)) {
                    return Err(CliError::Input(format!(
                        "--line-width {width} must be 0.25 to 50 pixels"
                    )));
                }
                *line_width_px = width as f32;
            }
            (
                Colouring::Slope {
                    light_angle_degrees,
                },
                _,
                Some(angle),
            ) => {
                if !angle.is_finite() {
                    return Err(CliError::Input(format!(
                        "--light-angle {angle} is not a number of degrees"
                    )));
                }
                *light_angle_degrees = angle.rem_euclid(360.0) as f32;
            }
            (_, Some(_), _) => {
                return Err(CliError::Input(
                    "--line-width applies to --colouring distance".to_owned(),
                ));
            }
            (_, _, Some(_)) => {
                return Err(CliError::Input(
                    "--light-angle applies to --colouring slope".to_owned(),
                ));
            }
            _ => {}
        }
        let kernel = match (&args.kernel, &stored, &args.from) {
            (None, Some(doc), Some(path)) => super::KernelChoice {
                name: path.display().to_string(),
                source: Arc::from(doc.kernel_source.as_str()),
            },
            (kernel, _, _) => choose_kernel(kernel.as_ref(), default_kernel())?,
        };
        let size_px = match (args.size, stored.as_ref().and_then(|doc| doc.size_px)) {
            (Some((width, height)), _) => {
                image_size_from(width, height).map_err(for_flag("--size"))?
            }
            (None, Some(size)) => size,
            (None, None) => DEFAULT_SIZE_PX,
        };
        let max_iter = match args.max_iter {
            Some(max_iter) => Some(max_iter_from(max_iter).map_err(for_flag("--max-iter"))?),
            None => stored.as_ref().map(|doc| doc.max_iter),
        };
        Ok(Self {
            kernel,
            palette,
            colouring,
            size_px,
            threads: args
                .threads
                .map_or(Ok(default_thread_count()), thread_count_from)
                .map_err(for_flag("--threads"))?,
            max_iter,
            timeout: (args.timeout.map(timeout_from_secs).transpose())
                .map_err(for_flag("--timeout"))?,
            memory_limit_bytes: memory_limit_from_mib(args.memory_limit)
                .map_err(for_flag("--memory-limit"))?,
            samples: match (args.supersample, &stored) {
                (Some(samples), _) => {
                    supersample_from(samples).map_err(for_flag("--supersample"))?
                }
                (None, Some(doc)) => doc.supersample,
                (None, None) => 1,
            },
            band_bytes: usize::try_from(args.band_memory)
                .ok()
                .filter(|mib| (16..=65_536).contains(mib))
                .map(|mib| mib * 1024 * 1024)
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "--band-memory {} must be 16 to 65536 MiB",
                        args.band_memory
                    ))
                })?,
            symmetry: args.symmetry == Switch::On,
            guessing: match (args.guessing, &stored) {
                (Some(switch), _) => switch == Switch::On,
                (None, Some(doc)) => doc.guessing,
                (None, None) => true,
            },
            stored,
        })
    }
}

/// The shipped gradient called `spec`, or the gradient file it names; a message listing
/// both kinds of answer when it is neither.
fn gradient_from_spec(spec: &str) -> Result<Gradient, CliError> {
    if let Some(gradient) = Gradient::shipped(spec) {
        return Ok(gradient);
    }
    let looks_like_a_file = spec.contains(['.', '/', '\\']) || Path::new(spec).exists();
    if !looks_like_a_file {
        return Err(CliError::Input(format!(
            "unknown palette {spec:?}: choose one of {}, or give a .ggr, .map or .ugr file",
            SHIPPED_GRADIENT_NAMES.join(", ")
        )));
    }
    read_gradient_file(spec).map_err(|error| CliError::Input(error.to_string()))
}

/// `--colouring`: a shipped colouring's name, or a Lua file (at most the kernel size
/// limit, UTF-8).
fn colouring_from_spec(spec: &str) -> Result<Colouring, CliError> {
    match spec {
        "smooth" => return Ok(Colouring::Smooth),
        "histogram" => return Ok(Colouring::Histogram),
        "distance" => {
            return Ok(Colouring::Distance {
                line_width_px: DEFAULT_LINE_WIDTH_PX,
            });
        }
        "slope" => {
            return Ok(Colouring::Slope {
                light_angle_degrees: DEFAULT_LIGHT_ANGLE_DEGREES,
            });
        }
        _ => {}
    }
    let path = Path::new(spec);
    if !spec.ends_with(".lua") && !path.exists() {
        return Err(CliError::Input(format!(
            "unknown colouring {spec:?}: choose smooth, histogram, distance or slope, or give a Lua file defining colour(v1, ...)"
        )));
    }
    let source = read_kernel_file(path).map_err(|error| {
        CliError::Input(format!(
            "--colouring: {}",
            error.to_string().replace("kernel", "colouring")
        ))
    })?;
    Ok(Colouring::Lua {
        name: path.file_name().map_or_else(
            || spec.to_owned(),
            |name| name.to_string_lossy().into_owned(),
        ),
        source,
    })
}

/// `--density`, checked.
fn density_from(density: f64) -> Result<f32, CliError> {
    if density.is_finite() && (0.01..=100.0).contains(&density) {
        Ok(density as f32)
    } else {
        Err(CliError::Input(format!(
            "--density {density} must be 0.01 to 100"
        )))
    }
}

/// `--offset`, checked.
fn offset_from(offset: f64) -> Result<f32, CliError> {
    if offset.is_finite() && (0.0..=1.0).contains(&offset) {
        Ok(offset as f32)
    } else {
        Err(CliError::Input(format!(
            "--offset {offset} must be 0 to 1 (turns of the loop)"
        )))
    }
}

/// A colour written `#RRGGBB` or `R,G,B` (0 to 255 each).
fn colour_from_text(text: &str) -> Result<[u8; 3], CliError> {
    let bad = || {
        CliError::Input(format!(
            "--inside-colour {text:?} is not a colour: write #RRGGBB (like #1a2b3c) or R,G,B (0 to 255 each)"
        ))
    };
    let text = text.trim();
    if let Some(hex) = text.strip_prefix('#') {
        if hex.len() != 6 || !hex.is_ascii() {
            return Err(bad());
        }
        let byte = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).map_err(|_| bad());
        return Ok([byte(0)?, byte(2)?, byte(4)?]);
    }
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [red, green, blue] => {
            let byte = |part: &str| part.parse::<u8>().map_err(|_| bad());
            Ok([byte(red)?, byte(green)?, byte(blue)?])
        }
        _ => Err(bad()),
    }
}

pub(crate) fn run(args: &RenderArgs) -> Result<(), CliError> {
    let RenderJob {
        kernel,
        stored,
        palette,
        colouring,
        size_px: (width_px, height_px),
        threads,
        max_iter,
        timeout,
        memory_limit_bytes,
        guessing,
        symmetry,
        samples,
        band_bytes,
    } = RenderJob::from_args(args)?;
    let engine = stderr_engine(memory_limit_bytes);
    let cancel = CancelToken::new();
    let moves_view = args.center.is_some() || args.span.is_some();
    // What the kernel declares, when the view or the parameters need it.
    let info =
        (!args.set.is_empty() || (stored.is_none() && moves_view) || colouring.needs_derivatives())
            .then(|| engine.inspect_within(&kernel.source, &cancel, timeout))
            .transpose()?;
    if colouring.needs_derivatives() && info.as_ref().is_some_and(|info| info.formula.is_none()) {
        return Err(CliError::Input(format!(
            "--colouring {} needs a kernel that declares a formula (its derivative gives the distance and the slope), and {} declares none: choose smooth, histogram or a Lua colouring",
            colouring.name(),
            kernel.name
        )));
    }
    // The view: the stored one, or the kernel's home when the user moves it, with whatever
    // the user gave replacing its parts.
    let base_view = match (&stored, &info) {
        (Some(doc), _) => Some(doc.view.clone()),
        (None, Some(info)) if moves_view => Some(info.home_or_default()),
        _ => None,
    };
    let view = base_view
        .map(|base| {
            view_from_flags(base, args.center.as_deref(), args.span.as_deref())
                .map_err(CliError::Input)
        })
        .transpose()?;
    let mut parameters = stored
        .as_ref()
        .map(Document::parameter_values)
        .unwrap_or_default();
    if let Some(info) = &info {
        parameters.extend(parse_settings(&info.parameters, &args.set).map_err(for_flag("--set"))?);
    }
    let request = RenderRequest {
        view,
        max_iter,
        threads,
        timeout,
        parameters,
        guessing,
        symmetry,
        skips: args.skips == Switch::On,
        precision: args.precision.into(),
        derivatives: colouring.needs_derivatives(),
        ..RenderRequest::new(kernel.source.clone(), width_px, height_px)
    };
    // Each band is checked as it is rendered; the whole image need not fit in memory.
    RenderRequest {
        rows: Some(crate::engine::render::RowRange { first: 0, count: 1 }),
        ..request.clone()
    }
    .validate()?;

    if let (Some(frames), Some(target)) = (args.frames, &args.zoom_to) {
        let frames = u32::try_from(frames)
            .ok()
            .filter(|frames| (2..=MAX_FRAMES).contains(&i64::from(*frames)))
            .ok_or_else(|| {
                CliError::Input(format!("--frames {frames} must be 2 to {MAX_FRAMES}"))
            })?;
        let end = split_numbers(target, 3, "--zoom-to")
            .and_then(|numbers| {
                View::from_decimals(numbers[0], numbers[1], numbers[2])
                    .map_err(|error| format!("--zoom-to: {error}"))
            })
            .map_err(CliError::Input)?;
        end.check_renderable().map_err(for_flag("--zoom-to"))?;
        let start = match request.view.clone() {
            Some(view) => view,
            None => engine
                .inspect_within(&request.source, &cancel, timeout)?
                .home_or_default(),
        };
        let film = Film {
            poster: PosterJob {
                request,
                palette,
                colouring,
                supersample: samples,
                rows: None,
                band_bytes,
                format: PosterFormat::Png,
            },
            start,
            end,
            frames,
            shard: args.shard,
        };
        return record_film(&engine, &kernel.name, &film, &args.output, &cancel);
    }
    let rows = match args.shard {
        None => None,
        Some((index, count)) => match shard_rows(&request, index, count) {
            Some(rows) => Some(rows),
            None => {
                // More tasks than bands: this one has nothing to do, which is no failure
                // for the scheduler that started it.
                eprintln!(
                    "shard {index}/{count}: the image has fewer bands than shards; this shard \
                     has no rows and writes nothing"
                );
                return Ok(());
            }
        },
    };
    let format = if args
        .output
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("npy"))
    {
        PosterFormat::Npy
    } else {
        PosterFormat::Png
    };
    let job = PosterJob {
        request,
        palette,
        colouring,
        supersample: samples,
        rows,
        band_bytes,
        format,
    };
    let started = Instant::now();
    let progress = LateProgressBar::new();
    let written = render_poster(&engine, &job, &args.output, &cancel, &mut |step| {
        progress.show_poster(started, step);
    });
    progress.finish();
    let written = written.map_err(poster_error)?;
    eprintln!("{}", summary(&kernel.name, &job, &written, &args.output));
    Ok(())
}

/// Renders the film's frames (this shard's, with --shard) into `folder`, with a progress
/// bar and a summary.
fn record_film(
    engine: &crate::engine::Engine,
    kernel_name: &str,
    film: &Film,
    folder: &Path,
    cancel: &CancelToken,
) -> Result<(), CliError> {
    let started = Instant::now();
    let progress = LateProgressBar::new();
    let written = render_film(engine, film, folder, cancel, &mut |frame| {
        progress.update(started, frame.done as usize, frame.total as usize);
    })
    .map_err(poster_error)?;
    progress.finish();
    let request = &film.poster.request;
    eprintln!(
        "rendered {written} frames of {} ({kernel_name}, {}x{}) in {:.3} s; wrote {}",
        film.frames,
        request.width_px,
        request.height_px,
        started.elapsed().as_secs_f64(),
        folder.display()
    );
    Ok(())
}

/// A poster failure as the CLI reports it.
pub(crate) fn poster_error(error: PosterError) -> CliError {
    match error {
        PosterError::Render(error) => error.into(),
        other => CliError::Input(other.to_string()),
    }
}

/// The summary printed after a render: size, time, speed, bands and peak memory.
fn summary(kernel_name: &str, job: &PosterJob, written: &PosterOutput, path: &Path) -> String {
    let (width, rows) = (job.request.width_px, written.rows.count);
    let samples = u64::from(job.supersample) * u64::from(job.supersample);
    let pixels = u64::from(width) * u64::from(rows) * samples;
    let mut extras = Vec::new();
    if job.supersample > 1 {
        extras.push(format!("{0}x{0} samples per pixel", job.supersample));
    }
    if let Some(band) = written.metadata.band {
        extras.push(format!(
            "rows {} to {} of {}",
            band.first,
            band.end(),
            job.request.height_px
        ));
    }
    if written.precision != Precision::Double {
        extras.push(format!("{} precision", written.precision.label()));
    }
    if let Some(speedup) = written.interleaved {
        extras.push(format!(
            "interleaved pixels, chosen over the kernel's pixel, {speedup:.1}x as fast in a probe"
        ));
    }
    if job.colouring.needs_derivatives() && !written.precision.carries_derivatives() {
        extras.push(format!(
            "no {} in double-double: smooth colours",
            job.colouring.name()
        ));
    }
    if let Some(reference) = written.reference {
        extras.push(reference.to_string());
    }
    extras.push(format!(
        "{} band{} of up to {} rows",
        written.bands,
        if written.bands == 1 { "" } else { "s" },
        written.band_rows
    ));
    if let Some(peak_mib) = peak_memory_mib() {
        extras.push(format!("peak memory {peak_mib} MiB"));
    }
    format!(
        "rendered {} {}x{} (max_iter {}{}) in {:.3} s, {:.2} Mpx/s on {} threads [{}]; wrote {}",
        kernel_name,
        width,
        rows,
        written.metadata.max_iter,
        match written.max_iter_choice {
            MaxIterChoice::Given => "",
            MaxIterChoice::Automatic {
                still_cuts: false, ..
            } => ", automatic: fitted to the view",
            MaxIterChoice::Automatic {
                still_cuts: true,
                memory_bound: false,
            } => {
                ", automatic: fitted to the view; many pixels still reach it, a higher \
                 --max-iter shows more"
            }
            MaxIterChoice::Automatic {
                still_cuts: true,
                memory_bound: true,
            } => {
                ", automatic: fitted to the view; many pixels still reach it, and a higher \
                 limit's reference orbit needs a higher --memory-limit"
            }
        },
        written.render_secs,
        pixels as f64 / written.render_secs.max(1e-9) / 1e6,
        job.request.threads,
        extras.join(", "),
        path.display()
    )
}

/// The process's peak resident memory in MiB (Linux: VmHWM in /proc/self/status).
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// A progress bar on stderr that appears only for long renders on a terminal.
pub(crate) struct LateProgressBar {
    bar: Option<ProgressBar>,
}

impl LateProgressBar {
    pub(crate) fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self { bar }
    }

    /// Shows a poster's progress: its reference orbit's iterations, then its rows.
    pub(crate) fn show_poster(&self, started: Instant, step: PosterProgress) {
        let Some(bar) = &self.bar else { return };
        let (done, total, what) = match step {
            PosterProgress::Reference {
                iterations_done,
                max_iter,
            } => (iterations_done, max_iter, "reference orbit iterations"),
            PosterProgress::Rows { written, total } => (written, total, "rows"),
        };
        bar.set_message(what);
        self.update(started, done as usize, total as usize);
    }

    pub(crate) fn update(&self, started: Instant, done: usize, total: usize) {
        let Some(bar) = &self.bar else { return };
        if bar.is_hidden() && started.elapsed() >= PROGRESS_BAR_DELAY {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
