//! The `moonbrot` binary: parses the command line, then opens the window (no command) or
//! runs the headless CLI (`render`, `bench`, `info`, `stitch`). Without the `gui` cargo
//! feature the binary has no window and says so when asked for one.

use std::process::ExitCode;

use moonbrot::cli::{self, CliError, Invocation, WindowOptions};

fn main() -> ExitCode {
    match cli::parse_command_line() {
        Err(exit_code) => exit_code,
        Ok(Invocation::Command(command)) => cli::run(command),
        Ok(Invocation::Window(options)) => cli::exit_code(open_window(options)),
    }
}

#[cfg(feature = "gui")]
fn open_window(options: WindowOptions) -> Result<(), CliError> {
    moonbrot::gui::run(options).map_err(CliError::Input)
}

#[cfg(not(feature = "gui"))]
fn open_window(_options: WindowOptions) -> Result<(), CliError> {
    Err(CliError::Usage(
        "this moonbrot was built without its window (the `gui` cargo feature is off): use \
         `moonbrot render` or `moonbrot bench`, or build moonbrot with default features"
            .to_owned(),
    ))
}
