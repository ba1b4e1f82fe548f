//! `credits`: the rate-book tools for product managers, the local server, and the load tool.
//!
//! Exit codes: 0 when all is well, 1 when a check or test fails, 2 on a usage error.

mod bench;
mod rates;
mod serve;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's malloc: a charge through `credits serve` makes many short-lived
/// allocations (JSON trees, strings), and glibc's allocator was about a fifth of the server's
/// CPU per charge (BENCHMARKS.md). The Lambdas keep the system allocator (zip size).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "credits", version, about = "A credits ledger for AI platforms")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, test, quote, format and diff rate books.
    #[command(subcommand)]
    Rates(rates::RatesCommand),
    /// Serve the whole HTTP API locally (embedded SQLite, or DynamoDB with --dynamodb-endpoint).
    Serve(serve::ServeArgs),
    /// Drive charges through HTTP with concurrent clients and report throughput and latency.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
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
    match cli.command {
        Command::Rates(command) => rates::run(command),
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
