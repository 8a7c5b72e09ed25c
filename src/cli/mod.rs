//! The command line: parses the arguments once (clap), and either hands back the window's
//! options (the binary's `main` opens the window; this module never touches the GUI) or
//! runs `moonbrot render`, `bench`, `info` or `stitch`, thin adapters over the engine.
//! Every failure is reported once on stderr, with an exit code of its kind: 2 usage,
//! 1 input (a bad kernel, file or value), 70 internal (a bug).

mod api;
mod bench;
mod deep_locations;
mod info;
mod render;
mod stitch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::engine::kernel::{
    KernelFileError, SHIPPED_KERNELS, ShippedKernel, read_kernel_file, shipped_kernel,
};
use crate::engine::{
    Engine, EngineOptions, ExportError, KernelLog, PRINT_LINES_PER_RUN, RenderError, RequestError,
};

/// Exit code of a usage error (bad flag, missing argument, no window in this build).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of an input error: a bad kernel, file or value.
pub const EXIT_INPUT: u8 = 1;
/// Exit code of an internal error (a bug in moonbrot), as sysexits' EX_SOFTWARE.
pub const EXIT_INTERNAL: u8 = 70;

#[derive(Parser, Debug)]
#[command(
    name = "moonbrot",
    version,
    about = "A fractal explorer whose fractal is a Lua kernel, rendered by parallel LuaJIT states.\n\
             Without a command, opens the explorer window (on FILE, a .lua kernel or a moonbrot \
             PNG, if given).",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 success, 1 bad input (kernel, file or value), 2 usage error, \
                  70 internal error (a bug: please report it)."
)]
struct Cli {
    /// Open the window, save a screenshot of it to FILE (PNG) after the first full render,
    /// and exit.
    #[arg(long, value_name = "FILE")]
    screenshot: Option<PathBuf>,
    /// Open the window with automatic rendering paused: the saved kernel is shown but runs
    /// only when you ask (the same happens by itself after a render was interrupted by a
    /// crash or a kill).
    #[arg(long)]
    safe_mode: bool,
    /// Open the window on the unsaved work of a window that closed or was killed, kept in
    /// FOLDER (a folder under the state folder's `windows`). moonbrot does this by itself:
    /// the first window started reopens every other window that ended with unsaved text.
    #[arg(long, value_name = "FOLDER")]
    recover_window: Option<PathBuf>,
    /// A .lua kernel or a moonbrot PNG to open in the window.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Subcommands>,
}

#[derive(Subcommand, Debug)]
enum Subcommands {
    /// Render a kernel to a PNG file.
    Render(Box<render::RenderArgs>),
    /// Time the Lua engine (and the native reference) over sizes and thread counts, as the
    /// seed article's table does.
    Bench(bench::BenchArgs),
    /// Show what a kernel or a moonbrot PNG holds: parameters (kinds, ranges, values),
    /// home view, iteration limit, and for a PNG its view, palette, size and version.
    Info(info::InfoArgs),
    /// The kernel API for your own editor: `--lua-ls` gives definitions for the Lua
    /// language server (VS Code, Neovim), so kernels complete and are checked as you type.
    Api(api::ApiArgs),
    /// Join the band files written by `render --shard I/N` into one poster.
    Stitch(stitch::StitchArgs),
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// No command: open the explorer window.
    Window(WindowOptions),
    /// A headless command, for `run`.
    Command(HeadlessCommand),
}

/// How to open the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowOptions {
    /// Save a screenshot here after the first full render, then exit.
    pub screenshot: Option<PathBuf>,
    /// Start with automatic rendering paused.
    pub safe_mode: bool,
    /// The window folder of an earlier window to take up.
    pub recover_window: Option<PathBuf>,
    /// A .lua kernel or moonbrot PNG to open.
    pub file: Option<PathBuf>,
}

/// A parsed `render` or `bench` command.
#[derive(Debug)]
pub struct HeadlessCommand(Subcommands);

/// A failure, reported once on stderr; its kind decides the exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// The command line itself is wrong, or asks for what this build cannot do: exit 2.
    #[error("{0}")]
    Usage(String),
    /// A bad kernel, file or value: exit 1.
    #[error("{0}")]
    Input(String),
    /// A bug in moonbrot: exit 70.
    #[error("{0} (this is a bug in moonbrot: please report it)")]
    Internal(String),
}

impl CliError {
    /// The process exit code for this kind of failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Input(_) => EXIT_INPUT,
            Self::Internal(_) => EXIT_INTERNAL,
        }
    }
}

impl From<RequestError> for CliError {
    fn from(error: RequestError) -> Self {
        Self::Input(error.to_string())
    }
}

impl From<RenderError> for CliError {
    fn from(error: RenderError) -> Self {
        match error {
            // Its message already asks for a report.
            RenderError::Internal(_) => Self::Internal(error.to_string()),
            error => Self::Input(error.to_string()),
        }
    }
}

impl From<ExportError> for CliError {
    fn from(error: ExportError) -> Self {
        Self::Input(error.to_string())
    }
}

impl From<KernelFileError> for CliError {
    fn from(error: KernelFileError) -> Self {
        Self::Input(error.to_string())
    }
}

/// Turns the engine's refusal of a value into an input error that names the flag it came
/// from (the engine knows the value, not how the user typed it).
fn for_flag(flag: &'static str) -> impl Fn(RequestError) -> CliError {
    move |error| CliError::Input(format!("{flag}: {error}"))
}

/// Parses the process's arguments. Help and version requests, and usage errors, are printed
/// here and come back as the exit code to end with.
pub fn parse_command_line() -> Result<Invocation, ExitCode> {
    let cli = Cli::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            ExitCode::from(EXIT_USAGE)
        } else {
            ExitCode::SUCCESS
        }
    })?;
    if let Some(file) = cli.file.as_deref().filter(|file| !file.exists()) {
        // A mistyped command reads as a file name: say both.
        let error = CliError::Usage(format!(
            "{:?} is neither a command (render, bench, info, stitch, api) nor an existing file",
            file.display().to_string()
        ));
        return Err(exit_code(Err(error)));
    }
    Ok(match cli.command {
        Some(command) => Invocation::Command(HeadlessCommand(command)),
        None => Invocation::Window(WindowOptions {
            screenshot: cli.screenshot,
            safe_mode: cli.safe_mode,
            recover_window: cli.recover_window,
            file: cli.file,
        }),
    })
}

/// Runs a headless command and returns the process's exit code.
pub fn run(command: HeadlessCommand) -> ExitCode {
    let result = match command.0 {
        Subcommands::Render(args) => render::run(&args),
        Subcommands::Bench(args) => bench::run(&args),
        Subcommands::Info(args) => info::run(&args),
        Subcommands::Api(args) => api::run(&args),
        Subcommands::Stitch(args) => stitch::run(&args),
    };
    exit_code(result)
}

/// Reports the error, if any, once on stderr, and returns the exit code.
pub fn exit_code(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("moonbrot: error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// A kernel named on the command line: a shipped kernel's name or a file.
#[derive(Debug, Clone)]
pub(crate) struct KernelChoice {
    /// What to call it in messages and tables.
    pub name: String,
    /// Its source.
    pub source: Arc<str>,
}

/// Resolves `--kernel`: an existing file, or else the name of a shipped kernel; a path that
/// looks like a file but does not exist is reported as a missing file.
pub(crate) fn choose_kernel(
    argument: Option<&PathBuf>,
    default: &ShippedKernel,
) -> Result<KernelChoice, CliError> {
    let Some(path) = argument else {
        return Ok(KernelChoice {
            name: default.name.to_owned(),
            source: Arc::from(default.source),
        });
    };
    let as_name = path
        .to_str()
        .filter(|_| !path.exists())
        .and_then(shipped_kernel);
    if let Some(shipped) = as_name {
        return Ok(KernelChoice {
            name: shipped.name.to_owned(),
            source: Arc::from(shipped.source),
        });
    }
    if !path.exists() && path.extension().is_none() && path.components().count() == 1 {
        let names: Vec<&str> = SHIPPED_KERNELS.iter().map(|kernel| kernel.name).collect();
        return Err(CliError::Input(format!(
            "no kernel file or shipped kernel named {:?} (shipped kernels: {})",
            path.display().to_string(),
            names.join(", ")
        )));
    }
    let source = read_kernel_file(path)?;
    Ok(KernelChoice {
        name: path.display().to_string(),
        source: Arc::from(source),
    })
}

/// An engine whose kernels print to stderr, with this memory limit per Lua state.
pub(crate) fn stderr_engine(memory_limit_bytes: usize) -> Engine {
    Engine::new(EngineOptions {
        log: Arc::new(KernelLog::new(PRINT_LINES_PER_RUN, |line| {
            eprintln!("kernel: {line}");
        })),
        memory_limit_bytes,
    })
}

/// Parses "a,b,c" into numbers, for list options.
fn parse_list<T: std::str::FromStr>(text: &str) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    text.split(',')
        .map(|item| {
            item.trim()
                .parse::<T>()
                .map_err(|error| format!("{:?}: {error}", item.trim()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_failures_map_to_input_or_internal_exit_codes() {
        let internal = CliError::from(RenderError::Internal("a worker panicked".to_owned()));
        assert_eq!(internal.exit_code(), EXIT_INTERNAL);
        assert!(internal.to_string().contains("please report it"));
        let kernel = CliError::from(RenderError::Cancelled);
        assert_eq!(kernel.exit_code(), EXIT_INPUT);
        let request = CliError::from(RequestError::Threads {
            threads: 0,
            max: 64,
        });
        assert_eq!(request.exit_code(), EXIT_INPUT);
        assert_eq!(CliError::Usage(String::new()).exit_code(), EXIT_USAGE);
    }
}
