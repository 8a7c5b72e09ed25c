//! The `moonbrot` binary: hands the command line to `moonbrot::cli`.

fn main() -> std::process::ExitCode {
    moonbrot::cli::main()
}
