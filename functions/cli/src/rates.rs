//! `credits rates ...` (being written).
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum RatesCommand {
    /// Check rate books.
    Check,
}

pub fn run(_command: RatesCommand) -> ExitCode {
    ExitCode::from(2)
}
