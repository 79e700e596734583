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
    /// Where kernels run: rayon (CPU), wgpu (a GPU adapter, or an error naming why none
    /// opened) or auto (a hardware GPU if one opens, else rayon). A kernel call the adapter
    /// cannot run (missing feature, over its memory) falls back to rayon with a warning.
    #[arg(long, global = true, env = "PROVA_BACKEND", default_value = "auto")]
    pub backend: prova_compute_wgpu::BackendChoice,
    /// Use the first wgpu adapter whose name contains this (`prova bench` lists them).
    #[arg(long, global = true, env = "PROVA_GPU_ADAPTER")]
    pub gpu_adapter: Option<String>,
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
    /// Run a miner node (see `prova.example.toml`). Without a `[chain]` it runs the embedded
    /// dev chain with the reference rollup and a dev sequencer.
    Node(NodeArgs),
    /// Several miners on the embedded chain, end to end: prints each sequence's path and the
    /// rewards; exits non-zero if a sequence stays unverified, a commitment is left
    /// unrevealed or an honest miner is slashed (a miner too slow to earn is only reported).
    Demo(DemoArgs),
    /// Benchmark the kernels (MSM, NTTs) and one batch proof on rayon, arkworks and every wgpu
    /// adapter found; prints ratios against arkworks and writes JSON and a plot.
    Bench(BenchArgs),
    /// Create encrypted miner keystores (the node never reads a key from its config).
    #[command(subcommand)]
    Keystore(KeystoreCommand),
}

#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// TOML config file; flags and PROVA_* variables override it.
    #[arg(long, env = "PROVA_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "PROVA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Concurrent proof jobs.
    #[arg(long, env = "PROVA_WORKERS")]
    pub workers: Option<usize>,
    /// Skip sequences ending at or below this batch (a new miner need not prove history).
    #[arg(long, env = "PROVA_START_BATCH")]
    pub start_batch: Option<u64>,
    /// Base-chain JSON-RPC URL (overrides `[chain] rpc_url`).
    #[arg(long, env = "PROVA_RPC_URL")]
    pub rpc_url: Option<String>,
    /// Encrypted JSON keystore of the miner key; its password comes from
    /// PROVA_KEYSTORE_PASSWORD or `password_file`.
    #[arg(long, env = "PROVA_KEYSTORE")]
    pub keystore: Option<PathBuf>,
    /// Chain poll interval in milliseconds.
    #[arg(long, env = "PROVA_POLL_MS")]
    pub poll_ms: Option<u64>,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[arg(long, default_value = "transfer-groth16")]
    pub plugin: String,
    /// Miners (1 to 3; each has its own key, store and workers).
    #[arg(long, default_value_t = 3)]
    pub miners: usize,
    /// Worker count of each miner, in order (the last repeats).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub workers: Vec<usize>,
    /// Commit window T1, in blocks: wide enough that every miner that proves gets in.
    #[arg(long, default_value_t = 20)]
    pub t1: u64,
    /// Reveal window T2, in blocks.
    #[arg(long, default_value_t = 40)]
    pub t2: u64,
    /// Exit after this many sequences are verified.
    #[arg(long, default_value_t = 4)]
    pub sequences: u64,
    /// Most batches per sequence (each sequence has 1 to this many).
    #[arg(long, default_value_t = 3)]
    pub max_batches: usize,
    /// Block interval of the embedded chain, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub block_ms: u64,
    /// Seed of the dev sequencer's sample batches and sequence sizes.
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// Give up (non-zero exit) after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
    /// Keep the miners' stores here (default: a temporary folder).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Which backends: rayon (with arkworks, the CPU reference), wgpu (every adapter), or all.
    #[arg(long = "only", default_value = "all", value_parser = ["all", "rayon", "wgpu"])]
    pub only: String,
    /// Kernel sizes as log2 of the element count.
    #[arg(long, value_delimiter = ',', default_value = "16,18,20,22")]
    pub sizes: Vec<u32>,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Skip a size once the previous size of the same kernel and backend predicts more than
    /// this many seconds for it (lavapipe runs 254-bit kernels on the CPU, slowly).
    #[arg(long, default_value_t = 30.0)]
    pub budget_secs: f64,
    /// Skip the end-to-end batch proof.
    #[arg(long)]
    pub no_proof: bool,
    /// Plugin for the batch proof.
    #[arg(long, default_value = "transfer-groth16")]
    pub plugin: String,
    /// Write the results as JSON (schema in README.md, "prova bench").
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a plot comparing the backends: PNG or SVG by extension.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum KeystoreCommand {
    /// A new random key, encrypted with PROVA_KEYSTORE_PASSWORD; prints its address.
    New {
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypt the hex private key in PROVA_IMPORT_KEY (never on the command line, where `ps`
    /// shows it) with PROVA_KEYSTORE_PASSWORD.
    Import {
        #[arg(long)]
        out: PathBuf,
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
    /// Prove and verify a sample sequence through every stage, without a chain, printing each
    /// stage's time.
    Sample {
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
