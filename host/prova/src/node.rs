//! `prova node` and `prova keystore`: configuration (file, then environment and flags) and the
//! node's process life (signals, graceful stop).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use prova_chain::contracts::Deployment;
use prova_chain::dev::dev_signer;
use prova_chain::embedded::EmbeddedChain;
use prova_chain::rpc::{RpcChain, RpcConfig};
use prova_chain::{BaseChain, PrivateKeySigner, U256};
use prova_node::dev::{self, DevParams, DevSequencer, EMBEDDED_CHAIN_ID, ETH};
use prova_node::generator::GeneratorConfig;
use prova_node::node::NodeParams;
use prova_node::prover::{PluginChecker, PluginProver};
use prova_node::upkeep::UpkeepConfig;
use prova_runtime::Plugin;
use prova_store::Store;
use serde::Deserialize;
use tokio::sync::watch;

use crate::chain_cmd::positive_eth;
use crate::checks::{self, DeploymentSource};
use crate::cli::{KeystoreCommand, NodeArgs};

/// The config file. Unknown keys are refused, so a typo is an error, not a silent default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    plugin: Option<String>,
    workers: Option<usize>,
    start_batch: Option<u64>,
    poll_ms: Option<u64>,
    task_timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
    /// Blocks the proofs and batch data of a closed sequence are kept (default 7200: a day of
    /// 12-second blocks).
    retention_blocks: Option<u64>,
    keystore: Option<PathBuf>,
    password_file: Option<PathBuf>,
    chain: Option<ChainConfig>,
    dev: Option<DevConfig>,
}

/// A real chain. Without it the node runs the embedded dev chain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainConfig {
    rpc_url: Option<String>,
    rollup: u32,
    /// A deployment file (`deployment = "deployment.json"`) or a table of the four addresses.
    deployment: toml::Value,
    /// How long to wait for a receipt before bumping fees (default 36 s: three 12-s blocks).
    receipt_timeout_secs: Option<u64>,
    /// Slash other miners' unrevealed commitments when the rollup's keeper share pays for the
    /// gas (default true: it only ever sends a slash that gains).
    keeper: Option<bool>,
    /// Withdraw credited rewards to the miner's account whenever they exceed this many ETH
    /// ("0.5"); default: never (`prova rewards withdraw` by hand).
    withdraw_rewards_above: Option<String>,
}

/// The embedded dev world's knobs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevConfig {
    block_ms: Option<u64>,
    /// The dev sequencer posts a sequence every this many blocks.
    sequence_every: Option<u64>,
    max_batches: Option<usize>,
    /// Sample batches the dev sequencer has (it stops when they are posted).
    batches: Option<u32>,
    seed: Option<u64>,
}

/// The resolved configuration.
struct Config {
    data_dir: PathBuf,
    generator: GeneratorConfig,
    start_batch: u64,
    poll: Duration,
    retention_blocks: u64,
    keystore: Option<PathBuf>,
    password_file: Option<PathBuf>,
    chain: Option<ChainConfig>,
    rpc_url: Option<String>,
    upkeep: UpkeepConfig,
    dev: DevConfig,
}

fn read_file_config(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        // One line: the message and where, not toml's multi-line excerpt.
        let line = e.span().map_or(String::new(), |s| format!(" (line {})", text[..s.start].matches('\n').count() + 1));
        anyhow::anyhow!("config {} is not valid: {}{line}", path.display(), e.message().trim())
    })
}

/// The plugin the node runs: `--plugin` / `PROVA_PLUGIN`, else the config's `plugin`, else the
/// plugin folder's only one.
pub fn plugin_name(a: &NodeArgs) -> Result<Option<String>> {
    Ok(a.plugin.clone().or(read_file_config(a.config.as_deref())?.plugin))
}

fn resolve(a: &NodeArgs) -> Result<Config> {
    let f = read_file_config(a.config.as_deref())?;
    let d = GeneratorConfig::default();
    let generator = GeneratorConfig {
        workers: a.workers.or(f.workers).unwrap_or(d.workers),
        task_timeout: f.task_timeout_secs.map_or(d.task_timeout, Duration::from_secs),
        max_attempts: f.max_attempts.unwrap_or(d.max_attempts),
    };
    if generator.workers == 0 {
        bail!("workers must be at least 1");
    }
    Ok(Config {
        data_dir: a.data_dir.clone().or(f.data_dir).unwrap_or_else(|| PathBuf::from("prova-data")),
        generator,
        start_batch: a.start_batch.or(f.start_batch).unwrap_or(0),
        poll: Duration::from_millis(a.poll_ms.or(f.poll_ms).unwrap_or(500)),
        retention_blocks: f.retention_blocks.unwrap_or(prova_node::node::DEFAULT_RETENTION_BLOCKS),
        keystore: a.keystore.clone().or(f.keystore),
        password_file: f.password_file,
        rpc_url: a.rpc_url.clone().or_else(|| f.chain.as_ref().and_then(|c| c.rpc_url.clone())),
        upkeep: match &f.chain {
            Some(c) => UpkeepConfig {
                keeper: c.keeper.unwrap_or(true),
                withdraw_rewards_at: c
                    .withdraw_rewards_above
                    .as_deref()
                    .map(|s| positive_eth(s, "[chain] withdraw_rewards_above"))
                    .transpose()?,
            },
            None => UpkeepConfig::default(),
        },
        chain: f.chain,
        dev: f.dev.unwrap_or_default(),
    })
}

fn password(file: Option<&Path>) -> Result<String> {
    if let Ok(p) = std::env::var("PROVA_KEYSTORE_PASSWORD") {
        return Ok(p);
    }
    match file {
        Some(f) => {
            Ok(std::fs::read_to_string(f).with_context(|| format!("cannot read password file {}", f.display()))?.trim_end().to_string())
        }
        None => bail!("the keystore needs a password: set PROVA_KEYSTORE_PASSWORD or `password_file`"),
    }
}

pub fn load_signer(keystore: &Path, password_file: Option<&Path>) -> Result<PrivateKeySigner> {
    PrivateKeySigner::decrypt_keystore(keystore, password(password_file)?)
        .with_context(|| format!("cannot open keystore {} (wrong password or not a keystore)", keystore.display()))
}

/// Stops on SIGINT or SIGTERM: the node takes no new work and finishes what is in flight; a
/// second signal exits at once. The handlers are installed before this returns, so a signal
/// that arrives while the node starts is not lost to the default action.
fn stop_on_signals() -> Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping: finishing jobs and transactions in flight (again to force)");
        let _ = tx.send(true);
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        std::process::exit(130);
    });
    Ok(rx)
}

pub fn run(a: &NodeArgs, plugin: Plugin) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let shutdown = {
        let _in_runtime = rt.enter();
        stop_on_signals()?
    };
    let cfg = resolve(a)?;
    // Everything that can be refused is checked before anything is created or started.
    let url = match &cfg.chain {
        Some(_) => Some(cfg.rpc_url.clone().context("[chain] needs rpc_url (or --rpc-url / PROVA_RPC_URL)")?),
        None => None,
    };
    let signer = match (&cfg.keystore, &cfg.chain) {
        (Some(k), _) => Some(load_signer(k, cfg.password_file.as_deref())?),
        (None, Some(_)) => bail!("a chain needs the miner's keystore (keystore = ... or --keystore)"),
        (None, None) => None,
    };
    plugin.validate_keys().map_err(|e| anyhow::anyhow!("plugin {} keys: {e}", plugin.metadata().name))?;
    let source = match &cfg.chain {
        Some(c) => Some(DeploymentSource::from_toml(c.deployment.clone())?),
        None if a.check => bail!("nothing to check: without [chain] the node runs the embedded dev chain"),
        None => None,
    };
    let plugin = Arc::new(plugin);
    rt.block_on(async move {
        // The checks run before anything is written: a node that would fail is refused with
        // one line, and leaves no data folder, store or outbox behind.
        let checked = match (&cfg.chain, &source, &signer) {
            (Some(c), Some(source), Some(signer)) => {
                let checked = checks::run(url.as_deref().expect("checked"), source, c.rollup, signer.address(), &plugin).await?;
                if a.check {
                    for line in &checked.lines {
                        println!("ok  {line}");
                    }
                    return Ok(());
                }
                Some(checked)
            }
            _ => None,
        };
        std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
        // The store is opened once the chain is known: it belongs to one chain, contract,
        // rollup and miner, and refuses to open for another.
        let open = |path: std::path::PathBuf, chain: Arc<dyn BaseChain>, deployment: Deployment, rollup: u32| {
            let (cfg, plugin) = (&cfg, &plugin);
            async move {
                let identity = prova_node::node::identity(chain.as_ref(), &deployment, rollup).await?;
                let store = Arc::new(Store::open(&path, &identity)?);
                anyhow::Ok(NodeParams {
                    chain,
                    deployment,
                    rollup,
                    store,
                    checker: Arc::new(PluginChecker(plugin.clone())),
                    prover: Arc::new(PluginProver(plugin.clone())),
                    generator: cfg.generator.clone(),
                    start_batch: cfg.start_batch,
                    poll: cfg.poll,
                    retention_blocks: cfg.retention_blocks,
                    upkeep: cfg.upkeep.clone(),
                })
            }
        };
        match &cfg.chain {
            Some(c) => {
                let (url, signer) = (url.as_deref().expect("checked"), signer.expect("checked"));
                let rpc_cfg =
                    RpcConfig { receipt_timeout: Duration::from_secs(c.receipt_timeout_secs.unwrap_or(36)), ..RpcConfig::default() };
                let chain = RpcChain::connect(url, signer, &cfg.data_dir.join("outbox.redb"), rpc_cfg).await?;
                println!("miner {} on chain {} via {url}", chain.sender(), chain.chain_id());
                let deployment = checked.expect("checked before").deployment;
                let params = open(cfg.data_dir.join("node.redb"), Arc::new(chain), deployment, c.rollup).await?;
                prova_node::node::run(params, shutdown).await?;
            }
            None => {
                let miner = match signer {
                    Some(s) => s,
                    None => {
                        eprintln!("WARNING: no keystore: mining as the public dev account 1 (embedded dev chain only)");
                        dev_signer(1)
                    }
                };
                // The chain keeps mining until the node has stopped: a transaction in flight at
                // Ctrl-C still gets its block.
                let (stop_chain, chain_rx) = watch::channel(false);
                let (chain, rollup, world) = embedded_world(&plugin, miner.address(), &cfg.dev, shutdown.clone(), chain_rx).await?;
                println!("miner {} on the embedded dev chain (rollup {rollup}); Ctrl-C stops", miner.address());
                // The embedded chain lives in memory and starts from genesis on every run: the
                // state of an earlier run's chain is of no use and is discarded.
                let path = cfg.data_dir.join("dev-node.redb");
                if path.exists() {
                    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                    println!("discarded {} (the store of an earlier embedded chain)", path.display());
                }
                let params = open(path, Arc::new(chain), world.deployment, rollup).await?;
                let result = prova_node::node::run(params, shutdown).await;
                let _ = stop_chain.send(true);
                result?;
            }
        }
        Ok(())
    })
}

/// The embedded chain with the reference rollup deployed, the miner staked, a block timer and
/// the dev sequencer running.
async fn embedded_world(
    plugin: &Arc<Plugin>,
    miner: prova_chain::Address,
    d: &DevConfig,
    shutdown: watch::Receiver<bool>,
    stop_chain: watch::Receiver<bool>,
) -> Result<(prova_chain::embedded::EmbeddedHandle, u32, dev::DevRollup)> {
    let (admin, sequencer) = (dev_signer(0).address(), dev_signer(4).address());
    let chain = EmbeddedChain::new(EMBEDDED_CHAIN_ID, &[admin, sequencer, miner].map(|a| (a, U256::from(1_000_000 * ETH))));
    let mut seq = DevSequencer::new(plugin, d.seed.unwrap_or(1), d.batches.unwrap_or(256), d.max_batches.unwrap_or(4))?;
    let world = dev::deploy_rollup(&chain.handle(admin), plugin, sequencer, seq.genesis(), &DevParams::default()).await?;
    world.deployment.deposit(&chain.handle(miner), U256::from(2 * ETH)).await?;
    chain.set_automine(false);
    tokio::spawn(dev::mine_every(chain.clone(), Duration::from_millis(d.block_ms.unwrap_or(1000)), stop_chain));
    let every = d.sequence_every.unwrap_or(3).max(1);
    let miner_handle = chain.handle(miner);
    let (plugin, seq_chain) = (plugin.clone(), chain.handle(sequencer));
    let mut stop = shutdown;
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            let head = chain.head_number();
            if head >= last + every {
                match seq.post(&plugin, &seq_chain, &world).await {
                    Ok(Some(_)) => last = head,
                    Ok(None) => {
                        eprintln!("dev sequencer: sample used up, no more sequences");
                        return;
                    }
                    Err(e) => eprintln!("dev sequencer: {e}"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
    });
    Ok((miner_handle, world.rollup, world))
}

pub fn keystore(k: &KeystoreCommand) -> Result<()> {
    let (out, signer) = match k {
        KeystoreCommand::New { out } => (out, PrivateKeySigner::random()),
        KeystoreCommand::Import { out } => {
            let key = std::env::var("PROVA_IMPORT_KEY").context("set PROVA_IMPORT_KEY to the hex private key to import")?;
            (out, key.trim().trim_start_matches("0x").parse::<PrivateKeySigner>().context("PROVA_IMPORT_KEY is not a private key")?)
        }
    };
    if out.exists() {
        bail!("{} exists: refusing to overwrite a keystore", out.display());
    }
    let pass = std::env::var("PROVA_KEYSTORE_PASSWORD").context("set PROVA_KEYSTORE_PASSWORD to the keystore's password")?;
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().and_then(|n| n.to_str()).context("the keystore path needs a file name")?;
    PrivateKeySigner::encrypt_keystore(dir, &mut rand08::thread_rng(), signer.to_bytes(), pass, Some(name))
        .with_context(|| format!("cannot write keystore {}", out.display()))?;
    // The key is encrypted, but its file is nobody else's business either (a weak password
    // falls to an offline guess).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600)).with_context(|| format!("cannot restrict {}", out.display()))?;
    println!("keystore {} for {}", out.display(), signer.address());
    Ok(())
}
