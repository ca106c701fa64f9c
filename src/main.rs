//! The `footfall` command: a thin shell over the library crates.
//!
//! `main` only parses arguments, runs the chosen command and turns its result into an exit
//! code (0 ok, 1 error, 2 usage). Each command lives in `commands/`, configuration in
//! `config.rs`, terminal output helpers in `output.rs`. Only this crate uses anyhow.

mod cli;
mod commands;
mod config;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`footfall report | head`) is not an error.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
