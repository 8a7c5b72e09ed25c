//! `moonbrot info`: what a kernel or a moonbrot PNG holds. For a kernel (a file or a shipped
//! kernel's name): its output, iteration limit, home view and parameters (kind, range,
//! default). For a PNG moonbrot exported: the stored document (format, version, size, view,
//! iteration limit, palette, parameter values) and, compiled in the sandbox, what its
//! kernel declares.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CliError, choose_kernel, stderr_engine};
use crate::engine::kernel::{FALLBACK_MAX_ITER, default_kernel};
use crate::engine::kernel::{ParameterValue, resolve};
use crate::engine::output::{Document, looks_like_png, read_document};
use crate::engine::render::DEFAULT_MEMORY_LIMIT_BYTES;
use crate::engine::{CancelToken, KernelInfo, OutputMode, View};

/// A kernel's top level must finish within this long for `info` to describe it.
const INSPECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub(crate) struct InfoArgs {
    /// A kernel (a .lua file or a shipped kernel's name) or a PNG exported by moonbrot.
    #[arg(value_name = "FILE|NAME")]
    target: PathBuf,
}

pub(crate) fn run(args: &InfoArgs) -> Result<(), CliError> {
    let engine = stderr_engine(DEFAULT_MEMORY_LIMIT_BYTES);
    let cancel = CancelToken::new();
    let mut text = String::new();
    let (source, stored) = if looks_like_png(&args.target) {
        let stored =
            read_document(&args.target).map_err(|error| CliError::Input(error.to_string()))?;
        describe_document(&mut text, &args.target, &stored);
        (Arc::from(stored.kernel_source.as_str()), Some(stored))
    } else {
        let kernel = choose_kernel(Some(&args.target), default_kernel())?;
        let _ = writeln!(text, "kernel: {}", kernel.name);
        (kernel.source, None)
    };
    let info = engine
        .inspect_within(&source, &cancel, Some(INSPECT_TIMEOUT))
        .map_err(|error| in_target(&args.target, error.into()))?;
    if let Some(stored) = &stored {
        // The stored values must still fit what the kernel declares.
        resolve(&info.parameters, &stored.parameter_values())
            .map_err(|error| in_target(&args.target, error.into()))?;
    }
    describe_kernel(&mut text, &info, stored.as_ref());
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())
        .map_err(|error| CliError::Input(format!("cannot write the description: {error}")))
}

/// `error`, saying which file's kernel it is about.
fn in_target(target: &Path, error: CliError) -> CliError {
    match error {
        CliError::Input(message) => {
            CliError::Input(format!("the kernel of {}: {message}", target.display()))
        }
        other => other,
    }
}

/// The view as the arguments that render it again (every digit of the centre).
fn describe_view(view: &View) -> String {
    view.location_text()
}

fn describe_document(text: &mut String, path: &Path, stored: &Document) {
    let _ = writeln!(
        text,
        "document: {} (written by moonbrot {})",
        path.display(),
        stored.version
    );
    if let Some((width, height)) = stored.size_px {
        let _ = writeln!(text, "image: {width}x{height} px");
    }
    let _ = writeln!(text, "view: {}", describe_view(&stored.view));
    let _ = writeln!(text, "max_iter: {}", stored.max_iter);
    let _ = writeln!(
        text,
        "solid guessing: {}",
        if stored.guessing { "on" } else { "off" }
    );
    let palette = &stored.palette;
    let [red, green, blue] = palette.inside;
    let _ = writeln!(
        text,
        "palette: {}, density {}, offset {}, inside #{red:02x}{green:02x}{blue:02x}",
        palette.gradient.name(),
        palette.density,
        palette.offset
    );
    let _ = writeln!(text, "colouring: {}", stored.colouring.summary());
    let _ = writeln!(
        text,
        "kernel: {} lines, {} bytes",
        stored.kernel_source.lines().count(),
        stored.kernel_source.len()
    );
}

fn describe_kernel(text: &mut String, info: &KernelInfo, stored: Option<&Document>) {
    let _ = writeln!(
        text,
        "output: {}",
        match info.output {
            OutputMode::ESCAPE => "escape values (coloured by the palette)".to_owned(),
            OutputMode::Escape { .. } => format!(
                "{} values per pixel: {} (the first coloured by the palette)",
                info.channel_names.len(),
                info.channel_names.join(", ")
            ),
            OutputMode::Rgb => "direct colour (rgb)".to_owned(),
        }
    );
    let _ = match info.default_max_iter {
        Some(max_iter) => writeln!(text, "kernel's max_iter: {max_iter}"),
        None => writeln!(
            text,
            "kernel's max_iter: none (moonbrot uses {FALLBACK_MAX_ITER})"
        ),
    };
    let _ = writeln!(text, "home: {}", describe_view(&info.home_or_default()));
    if let Some(formula) = &info.formula {
        let _ = writeln!(text, "formula: {formula}");
        let _ = writeln!(
            text,
            "deep views: {}",
            match (formula.reads_parameters, info.deep) {
                (false, _) => "by perturbation from the formula",
                (true, true) => {
                    "by perturbation from the formula, recorded with each render's parameter \
                     values (pixel_deep at values its step cannot be followed with)"
                }
                (true, false) => {
                    "by perturbation from the formula, recorded with each render's parameter \
                     values (f64 at values its step cannot be followed with)"
                }
            }
        );
    } else if info.deep {
        let _ = writeln!(text, "deep views: pixel_deep (double-double)");
    }
    if info.parameters.is_empty() {
        let _ = writeln!(text, "parameters: none");
        return;
    }
    let _ = writeln!(text, "parameters (set with --set NAME=VALUE):");
    for spec in &info.parameters {
        let stored_value = stored.and_then(|doc| {
            doc.parameters
                .iter()
                .find(|(name, _)| name == &spec.name)
                .map(|(_, value)| value)
        });
        let value = stored_value.unwrap_or(&spec.default);
        let label = spec
            .label
            .as_deref()
            .map(|label| format!(" ({label})"))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "  {}{label}: {} = {}{}",
            spec.name,
            spec.kind.describe(),
            value,
            default_note(stored_value, &spec.default)
        );
    }
}

/// ", default X" when a stored value differs from the kernel's default.
fn default_note(stored: Option<&ParameterValue>, default: &ParameterValue) -> String {
    match stored {
        Some(value) if value != default => format!(" (default {default})"),
        _ => String::new(),
    }
}
