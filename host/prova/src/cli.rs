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
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
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
    /// Deploy the contracts to a chain (README, "Run on a real chain").
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Register, fund and inspect a rollup.
    #[command(subcommand)]
    Rollup(RollupCommand),
    /// A miner's stake: deposit, request a withdrawal, withdraw, show.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// A miner's rewards: show, withdraw.
    #[command(subcommand)]
    Rewards(RewardsCommand),
    /// Post sequences as the rollup's sequencer.
    #[command(subcommand)]
    Sequencer(SequencerCommand),
}

/// How a chain command reaches the chain and signs.
#[derive(clap::Args, Debug, Clone)]
pub struct ChainOpts {
    /// Base-chain JSON-RPC URL (http or https).
    #[arg(long, env = "PROVA_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Encrypted keystore that signs; its password from PROVA_KEYSTORE_PASSWORD or --password-file.
    #[arg(long, env = "PROVA_KEYSTORE")]
    pub keystore: Option<PathBuf>,
    #[arg(long, env = "PROVA_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Sign with the well-known dev account N (anvil's mnemonic); only on a dev chain (chain id
    /// 31337 or 1337).
    #[arg(long, conflicts_with = "keystore")]
    pub dev_account: Option<usize>,
    /// The deployment file `prova chain deploy` wrote.
    #[arg(long, env = "PROVA_DEPLOYMENT", default_value = "deployment.json")]
    pub deployment: PathBuf,
    /// Folder of the commands' transaction outbox (one file per chain and account).
    /// Default: $XDG_STATE_HOME/prova or ~/.local/state/prova.
    #[arg(long, env = "PROVA_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ChainCommand {
    /// Deploy Stake, RollupManager, the reference verifier and ProofPool, wire the operators,
    /// and write the deployment file (--deployment, default deployment.json; never overwritten).
    Deploy {
        #[command(flatten)]
        chain: ChainOpts,
        /// Blocks between a stake withdrawal request and the withdrawal; every rollup's T1 + T2
        /// must stay below it.
        #[arg(long, default_value_t = 1_000)]
        withdraw_delay: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum RollupCommand {
    /// Register the plugin's rollup (verifying key from the plugin); prints its id.
    Register {
        #[command(flatten)]
        chain: ChainOpts,
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        /// The only account allowed to post sequences.
        #[arg(long)]
        sequencer: String,
        /// Commit window, in blocks.
        #[arg(long, default_value_t = 20)]
        t1: u64,
        /// Reveal window, in blocks.
        #[arg(long, default_value_t = 40)]
        t2: u64,
        /// Reward per verified sequence, in ETH.
        #[arg(long, default_value = "0.1")]
        reward: String,
        /// Stake a miner needs to commit, in ETH.
        #[arg(long, default_value = "1")]
        min_stake: String,
        /// Slashed for a proof that fails verification, in ETH.
        #[arg(long, default_value = "0.5")]
        incorrect_proof_punish: String,
        /// Slashed for a commitment never revealed, in ETH.
        #[arg(long, default_value = "0.3")]
        no_proof_punish: String,
        /// Share of a no-reveal slash paid to whoever slashes it (a keeper), in basis points
        /// (at most 5000: half).
        #[arg(long, default_value_t = 1_000)]
        keeper_share_bps: u16,
        /// Gas forwarded to the verifier per (batches + 3).
        #[arg(long, default_value_t = 80_000)]
        verifier_gas_unit: u64,
        /// The rollup's state root before its first batch (0x + 64 hex digits). Default: the
        /// root before the plugin's sample batches (`prova sequencer post --sample-seed`).
        #[arg(long)]
        genesis_root: Option<String>,
        /// Seed of the plugin's sample, for the default genesis root.
        #[arg(long, default_value_t = 1)]
        sample_seed: u64,
    },
    /// Add to a rollup's reward pool.
    Fund {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        rollup: u32,
        /// In ETH.
        #[arg(long)]
        amount: String,
    },
    /// A rollup's state, windows and configuration.
    Show {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        rollup: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum StakeCommand {
    /// Deposit stake (in ETH) for the signing account.
    Deposit {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        amount: String,
    },
    /// Move stake (in ETH) out of the active stake; it can leave after the withdrawal delay.
    RequestWithdraw {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        amount: String,
    },
    /// Withdraw the pending stake once its delay has passed.
    Withdraw {
        #[command(flatten)]
        chain: ChainOpts,
    },
    /// Active and pending stake of an account (default: the signing one).
    Show {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        address: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RewardsCommand {
    /// Rewards credited and not withdrawn (default: the signing account).
    Show {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        address: Option<String>,
    },
    /// Withdraw every credited reward to the signing account.
    Withdraw {
        #[command(flatten)]
        chain: ChainOpts,
    },
}

#[derive(Subcommand, Debug)]
pub enum SequencerCommand {
    /// Post one sequence: batch witness files in order, or the next batches of the plugin's
    /// sample (`--sample-seed`, `--batches`), each batch's commitment computed by the plugin.
    Post {
        #[command(flatten)]
        chain: ChainOpts,
        #[arg(long)]
        rollup: u32,
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        /// Post the next batches of the plugin's sample from this seed (the seed the rollup's
        /// genesis root came from).
        #[arg(long, conflicts_with = "files")]
        sample_seed: Option<u64>,
        /// How many sample batches.
        #[arg(long, default_value_t = 1)]
        batches: u32,
        /// Batch witness files, in order.
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// TOML config file; flags and PROVA_* variables override it.
    #[arg(long, env = "PROVA_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "PROVA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The rollup's plugin, by the name in its metadata (overrides `plugin`; default: the
    /// plugins folder's only one).
    #[arg(long, env = "PROVA_PLUGIN")]
    pub plugin: Option<String>,
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
    /// Check the chain, contracts, rollup, verifying key, stake and gas, print one line per
    /// check, and exit (every start runs the same checks).
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// The plugins, by the names in their metadata: one rollup each, served side by side by
    /// every miner's one node (repeat the flag or separate by commas; default: the plugins
    /// folder's only one).
    #[arg(long, env = "PROVA_PLUGIN", value_delimiter = ',')]
    pub plugin: Vec<String>,
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
    /// Exit after this many sequences of each rollup are verified.
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
    /// The plugin for the batch proof, by the name in its metadata (default: the plugins folder's only one).
    #[arg(long, env = "PROVA_PLUGIN")]
    pub plugin: Option<String>,
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
    /// Write a new plugin crate NAME from the template (a counter rollup on the SDK's Groth16
    /// kit) that builds, passes its tests and proves a sample as it is.
    New {
        /// The plugin's name (lowercase letters, digits and '-'); also the crate's folder.
        name: String,
        /// Where to create the crate's folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The guest SDK (`plugins/sdk` of a prova checkout); default: the checkout this
        /// `prova` was built from.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Load the given component files and report whether the host accepts them.
    Check { files: Vec<PathBuf> },
    /// Run a plugin's deterministic dev setup (INSECURE) and install its keys beside it.
    Setup {
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        #[arg(long, default_value = "prova-dev")]
        seed: String,
    },
    /// Write the plugin's verifying key, the bytes a rollup registers on chain.
    VerifyingKey {
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a batch witness's state roots and the commitment a sequencer posts for it.
    InspectBatch {
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        file: PathBuf,
    },
    /// Write a sample sequence of batch witnesses (`batch-<i>.bin`) with consistent roots.
    SampleInput {
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
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
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
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
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        #[arg(long)]
        witness: PathBuf,
        #[arg(long)]
        prover: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Combine a sequence's batch proofs, in batch order.
    Aggregate {
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        #[arg(long)]
        out: PathBuf,
        #[arg(required = true)]
        batch_proofs: Vec<PathBuf>,
    },
    /// Bind a batch proof or aggregate to the submitter, ready for the chain.
    Finalize {
        /// The plugin, by the name in its metadata (default: the plugins folder's only one).
        #[arg(long, env = "PROVA_PLUGIN")]
        plugin: Option<String>,
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        submitter: String,
        #[arg(long)]
        out: PathBuf,
    },
}
