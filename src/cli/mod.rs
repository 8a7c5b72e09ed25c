//! The command line: `moonbrot render` and `moonbrot bench`, thin adapters over the engine,
//! and, without a command, the explorer window. Parses arguments (clap), runs the command, prints the one error message and maps
//! outcomes to exit codes: 0 success, 1 kernel or input error, 2 usage error.

mod bench;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::engine::kernel::{SHIPPED_KERNELS, ShippedKernel, read_kernel_file, shipped_kernel};
use crate::engine::{Engine, EngineOptions, KernelLog};

/// Lines of kernel `print` output passed to stderr per render.
const PRINT_LINES_PER_RUN: u32 = 200;

#[derive(Parser, Debug)]
#[command(
    name = "moonbrot",
    version,
    about = "A fractal explorer whose fractal is a Lua kernel, rendered by parallel LuaJIT states.\n\
             Without a command, opens the explorer window."
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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Render a kernel to a PNG file.
    Render(render::RenderArgs),
    /// Time the Lua engine (and the native reference) over sizes and thread counts, as the
    /// seed article's table does.
    Bench(bench::BenchArgs),
}

/// A failure the user can fix, reported once on stderr.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad kernel, bad input values, unwritable output: exit code 1.
    Input(String),
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(error: E) -> Self {
        Self::Input(error.to_string())
    }
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Some(Command::Render(args)) => render::run(&args),
        Some(Command::Bench(args)) => bench::run(&args),
        None => crate::gui::run(cli.screenshot, cli.safe_mode).map_err(CliError::Input),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Input(message)) => {
            eprintln!("moonbrot: error: {message}");
            ExitCode::from(1)
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
