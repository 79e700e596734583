//! `prova`: the command-line entry point. Parses arguments, builds the runtime, and turns every
//! failure into one clear line on stderr and a non-zero exit.

mod bench;
mod chain_cmd;
mod checks;
mod cli;
mod commands;
mod demo;
mod new_plugin;
mod node;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set" to stderr when
/// wgpu looks for adapters in a session without one (a service, CI, ssh), which reads like a
/// failure of ours. Give the process a private one per user, as a login session would.
#[cfg(target_os = "linux")]
fn ensure_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else { return };
    let dir = std::env::temp_dir().join(format!("prova-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    // Only a folder of ours that nobody else can enter.
    let ours = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0);
    if ours {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

#[cfg(not(target_os = "linux"))]
fn ensure_runtime_dir() {}

fn main() -> ExitCode {
    ensure_runtime_dir();
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
