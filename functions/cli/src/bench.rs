//! `credits bench` (being written).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> ExitCode {
    ExitCode::from(2)
}
