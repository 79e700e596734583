//! `prova`: the command-line entry point. Parses arguments, builds the runtime, and turns every
//! failure into one clear line on stderr and a non-zero exit.

mod bench;
mod cli;
mod commands;
mod demo;
mod node;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    // A node is a service: its log is its progress report. One-shot commands print results
    // and log only warnings.
    let quiet = if matches!(args.command, cli::Command::Node(_)) { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROVA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if args.verbose { "debug" } else { quiet }));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).init();
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
