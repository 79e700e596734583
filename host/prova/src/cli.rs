//! The command line, declared with clap.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "prova", version, about = "A proving orchestrator for rollup proofs (ZK-PoW aggregator).")]
pub struct Args {
    /// Folder of plugin components (`*.wasm`); key sets live beside them as `*.keys`.
    #[arg(long, global = true, env = "PROVA_PLUGINS", default_value = "dist/plugins")]
    pub plugins: PathBuf,
    /// Folder for precompiled plugins (`*.cwasm`). Must be private to this host.
    /// Default: $XDG_CACHE_HOME/prova/cwasm or ~/.cache/prova/cwasm.
    #[arg(long, global = true, env = "PROVA_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Kernel threads (0: one per core).
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// Fuel per job (about one unit per guest instruction).
    #[arg(long, global = true)]
    pub fuel: Option<u64>,
    /// Wall-time bound per job, in seconds.
    #[arg(long, global = true)]
    pub timeout_secs: Option<u64>,
    /// Log debug output (also PROVA_LOG=<filter>).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Prove one stage from input files.
    #[command(subcommand)]
    Prove(ProveCommand),
    /// Verify a proof of a stage; exits non-zero and names the failed check if it does not hold.
    Verify {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long)]
        stage: prova_runtime::Stage,
        proof: PathBuf,
    },
    /// Prove and verify a sample sequence end to end, printing each stage's time.
    Demo {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long, default_value_t = 3)]
        batches: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The miner address the proofs are bound to.
        #[arg(long, default_value = "0x00000000000000000000000000000000000000a1")]
        prover: String,
        /// Also write every witness and proof here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// List the plugins in the folder with their metadata (and why any failed to load).
    List,
    /// Load the given component files and report whether the host accepts them.
    Check { files: Vec<PathBuf> },
    /// Run a plugin's deterministic dev setup (INSECURE) and install its keys beside it.
    Setup {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long, default_value = "prova-dev")]
        seed: String,
    },
    /// Write the plugin's verifying key, the bytes a rollup registers on chain.
    VerifyingKey {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a sample sequence of batch witnesses (`batch-<i>.bin`) with consistent roots.
    SampleInput {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long, default_value_t = 3)]
        batches: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ProveCommand {
    /// Prove one batch from its witness.
    Batch {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long)]
        witness: PathBuf,
        #[arg(long)]
        prover: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Combine a sequence's batch proofs, in batch order.
    Aggregate {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        batch_proofs: Vec<PathBuf>,
    },
    /// Bind a batch proof or aggregate to the submitter, ready for the chain.
    Finalize {
        #[arg(long, default_value = "transfer-groth16")]
        plugin: String,
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        submitter: String,
        #[arg(long)]
        out: PathBuf,
    },
}
