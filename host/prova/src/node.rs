//! `prova node` and `prova keystore`: configuration (file, then environment and flags) and the
//! node's process life (signals, graceful stop).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use prova_chain::dev::dev_signer;
use prova_chain::embedded::EmbeddedChain;
use prova_chain::rpc::{RpcChain, RpcConfig};
use prova_chain::{BaseChain, PrivateKeySigner, U256};
use prova_dev::{self as dev, DevParams, DevSequencer, EMBEDDED_CHAIN_ID, ETH};
use prova_node::generator::GeneratorConfig;
use prova_node::node::{ChainParams, DEFAULT_WEIGHT, NodeParams, ServedRollup};
use prova_node::plugins::{DEFAULT_RELOAD_POLL, LivePlugins, Registered, Reloader};
use prova_node::prover::{PluginChecker, PluginProver};
use prova_node::upkeep::UpkeepConfig;
use prova_runtime::{Plugin, Runtime};
use prova_store::{Store, StoreFile};
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
    /// The one rollup's plugin (with `[chain]`, or the embedded dev world).
    plugin: Option<String>,
    workers: Option<usize>,
    start_batch: Option<u64>,
    poll_ms: Option<u64>,
    /// How often the plugin folder is looked at for new, replaced and removed files.
    plugin_poll_ms: Option<u64>,
    task_timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
    /// Blocks the proofs and batch data of a closed sequence are kept (default 7200: a day of
    /// 12-second blocks).
    retention_blocks: Option<u64>,
    keystore: Option<PathBuf>,
    password_file: Option<PathBuf>,
    /// One rollup on one chain (the form before `[[chains]]`; read as one entry of each).
    chain: Option<ChainKeys>,
    chains: Option<Vec<ChainKeys>>,
    rollups: Option<Vec<RollupEntry>>,
    dev: Option<DevConfig>,
}

/// `[chain]` (one chain and its one rollup, the form before `[[chains]]`) and each
/// `[[chains]]` (a chain by name). One table for both, so that unknown keys are refused in
/// both (serde cannot refuse them across a flattened table); which keys each needs is checked
/// in [`resolve_target`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainKeys {
    /// `[[chains]]` only.
    name: Option<String>,
    /// `[chain]` only: with `[[chains]]`, rollups are listed in `[[rollups]]`.
    rollup: Option<u32>,
    rpc_url: Option<String>,
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

/// `[[rollups]]`: a rollup on a named chain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollupEntry {
    chain: String,
    rollup: u32,
    /// Default: the plugin folder's only plugin.
    plugin: Option<String>,
    /// Among tasks of several rollups needed at the same block, a higher weight goes first.
    weight: Option<u32>,
    start_batch: Option<u64>,
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

/// A chain the node follows, resolved.
struct ChainSpec {
    name: String,
    rpc_url: String,
    deployment: DeploymentSource,
    receipt_timeout: Duration,
    upkeep: UpkeepConfig,
}

/// A rollup the node serves, resolved.
struct RollupSpec {
    /// Index into the chains.
    chain: usize,
    rollup: u32,
    plugin: Option<String>,
    weight: u32,
    start_batch: u64,
}

/// What the node runs against.
enum Target {
    /// No chain configured: the embedded dev world with one plugin.
    Embedded {
        plugin: Option<String>,
        start_batch: u64,
    },
    Chains {
        chains: Vec<ChainSpec>,
        rollups: Vec<RollupSpec>,
    },
}

/// The resolved configuration.
struct Config {
    data_dir: PathBuf,
    generator: GeneratorConfig,
    poll: Duration,
    plugin_poll: Duration,
    retention_blocks: u64,
    keystore: Option<PathBuf>,
    password_file: Option<PathBuf>,
    target: Target,
    dev: DevConfig,
    /// `--check`: run the checks, print them, and exit.
    check_only: bool,
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

impl ChainKeys {
    fn resolve(self, name: String, where_: &str) -> Result<ChainSpec> {
        Ok(ChainSpec {
            rpc_url: self.rpc_url.with_context(|| format!("{where_} needs rpc_url (or --rpc-url / PROVA_RPC_URL)"))?,
            deployment: DeploymentSource::from_toml(self.deployment)?,
            receipt_timeout: Duration::from_secs(self.receipt_timeout_secs.unwrap_or(36)),
            upkeep: UpkeepConfig {
                keeper: self.keeper.unwrap_or(true),
                withdraw_rewards_at: self
                    .withdraw_rewards_above
                    .as_deref()
                    .map(|s| positive_eth(s, &format!("{where_} withdraw_rewards_above")))
                    .transpose()?,
            },
            name,
        })
    }
}

/// The chains and rollups of the config: `[chain]` (one of each, the older form) or
/// `[[chains]]` and `[[rollups]]`; the flags `--rpc-url`, `--plugin` and `--start-batch` apply
/// when there is only one chain or one rollup for them to apply to.
fn resolve_target(a: &NodeArgs, f: &mut FileConfig) -> Result<Target> {
    let (chain, chains, rollups) = (f.chain.take(), f.chains.take(), f.rollups.take());
    let (mut chains, mut rollups) = match (chain, chains, rollups) {
        (None, None, None) => {
            return Ok(Target::Embedded {
                plugin: a.plugin.clone().or(f.plugin.take()),
                start_batch: a.start_batch.or(f.start_batch).unwrap_or(0),
            });
        }
        (Some(mut chain), None, None) => {
            if chain.name.is_some() {
                bail!("[chain] takes no name (names are for [[chains]])");
            }
            let rollup = chain.rollup.take().context("[chain] needs rollup = N (ids start at 1)")?;
            chain.rpc_url = a.rpc_url.clone().or(chain.rpc_url);
            let spec = chain.resolve("chain".into(), "[chain]")?;
            let rollup = RollupSpec {
                chain: 0,
                rollup,
                plugin: a.plugin.clone().or(f.plugin.take()),
                weight: DEFAULT_WEIGHT,
                start_batch: a.start_batch.or(f.start_batch).unwrap_or(0),
            };
            return Ok(Target::Chains { chains: vec![spec], rollups: vec![rollup] });
        }
        (Some(_), _, _) => bail!("[chain] is the one-rollup form: use either it or [[chains]] and [[rollups]], not both"),
        (None, chains, rollups) => (chains.unwrap_or_default(), rollups.unwrap_or_default()),
    };
    if chains.is_empty() || rollups.is_empty() {
        bail!("[[chains]] and [[rollups]] go together: each rollup names the chain it is on");
    }
    if f.plugin.is_some() {
        bail!("with [[rollups]], each rollup names its plugin: `plugin` at the top level is for [chain] only");
    }
    if let Some(url) = &a.rpc_url {
        let [only] = chains.as_mut_slice() else { bail!("--rpc-url applies to a config with one chain; set rpc_url in each [[chains]]") };
        only.rpc_url = Some(url.clone());
    }
    for (flag, set) in [("--plugin", a.plugin.is_some()), ("--start-batch", a.start_batch.is_some())] {
        if set && rollups.len() > 1 {
            bail!("{flag} applies to a config with one rollup; set it in each [[rollups]]");
        }
    }
    if let [only] = rollups.as_mut_slice() {
        only.plugin = a.plugin.clone().or(only.plugin.take());
        only.start_batch = a.start_batch.or(only.start_batch);
    }
    let mut specs: Vec<ChainSpec> = vec![];
    for (i, mut c) in chains.into_iter().enumerate() {
        let name = c.name.take().with_context(|| format!("[[chains]] entry {} needs a name (rollups name their chain by it)", i + 1))?;
        if let Err(why) = prova_runtime::check_plugin_name(&name) {
            bail!("[[chains]] name {name:?} {why} (the rules of plugin names: it names files and logs)");
        }
        if specs.iter().any(|s| s.name == name) {
            bail!("[[chains]] name {name:?} is used twice");
        }
        if let Some(r) = c.rollup {
            bail!("[[chains]] {name:?} has rollup = {r}: with [[chains]], rollups go in [[rollups]] (chain = {name:?}, rollup = {r})");
        }
        let where_ = format!("[[chains]] {name:?}");
        specs.push(c.resolve(name, &where_)?);
    }
    let mut out: Vec<RollupSpec> = vec![];
    for r in rollups {
        let chain = specs.iter().position(|c| c.name == r.chain).with_context(|| {
            let names: Vec<&str> = specs.iter().map(|c| c.name.as_str()).collect();
            format!("[[rollups]] rollup {} is on chain {:?}, which is not in [[chains]] ({})", r.rollup, r.chain, names.join(", "))
        })?;
        if out.iter().any(|o| o.chain == chain && o.rollup == r.rollup) {
            bail!("[[rollups]] rollup {} on chain {:?} is listed twice", r.rollup, r.chain);
        }
        if r.weight == Some(0) {
            bail!("[[rollups]] rollup {} on chain {:?}: weight must be at least 1", r.rollup, r.chain);
        }
        out.push(RollupSpec {
            chain,
            rollup: r.rollup,
            plugin: r.plugin,
            weight: r.weight.unwrap_or(DEFAULT_WEIGHT),
            start_batch: r.start_batch.unwrap_or(0),
        });
    }
    Ok(Target::Chains { chains: specs, rollups: out })
}

fn resolve(a: &NodeArgs) -> Result<Config> {
    let mut f = read_file_config(a.config.as_deref())?;
    let d = GeneratorConfig::default();
    let generator = GeneratorConfig {
        workers: a.workers.or(f.workers).unwrap_or(d.workers),
        task_timeout: f.task_timeout_secs.map_or(d.task_timeout, Duration::from_secs),
        max_attempts: f.max_attempts.unwrap_or(d.max_attempts),
    };
    if generator.workers == 0 {
        bail!("workers must be at least 1");
    }
    let target = resolve_target(a, &mut f)?;
    Ok(Config {
        data_dir: a.data_dir.clone().or(f.data_dir).unwrap_or_else(|| PathBuf::from("prova-data")),
        generator,
        poll: Duration::from_millis(a.poll_ms.or(f.poll_ms).unwrap_or(500)),
        plugin_poll: f.plugin_poll_ms.map_or(DEFAULT_RELOAD_POLL, |ms| Duration::from_millis(ms.max(100))),
        retention_blocks: f.retention_blocks.unwrap_or(prova_node::node::DEFAULT_RETENTION_BLOCKS),
        keystore: a.keystore.clone().or(f.keystore),
        password_file: f.password_file,
        target,
        dev: f.dev.unwrap_or_default(),
        check_only: a.check,
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

/// Runs the node the config describes, with plugins from `plugins_dir`.
pub fn run(a: &NodeArgs, runtime: Runtime, plugins_dir: &Path) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let shutdown = {
        let _in_runtime = rt.enter();
        stop_on_signals()?
    };
    let mut cfg = resolve(a)?;
    // Everything that can be refused is checked before anything is created or started.
    let signer = match (&cfg.keystore, &cfg.target) {
        (Some(k), _) => Some(load_signer(k, cfg.password_file.as_deref())?),
        (None, Target::Chains { .. }) => bail!("a chain needs the miner's keystore (keystore = ... or --keystore)"),
        (None, Target::Embedded { .. }) => None,
    };
    match std::mem::replace(&mut cfg.target, Target::Embedded { plugin: None, start_batch: 0 }) {
        Target::Embedded { .. } if a.check => bail!("nothing to check: without [chain] or [[chains]] the node runs the embedded dev chain"),
        Target::Embedded { plugin, start_batch } => {
            let plugin = crate::commands::plugin(&runtime, plugins_dir, plugin.as_deref())?;
            plugin.validate_keys().map_err(|e| anyhow::anyhow!("plugin {} keys: {e}", plugin.metadata().name))?;
            rt.block_on(run_embedded(&cfg, Arc::new(plugin), signer, start_batch, shutdown))
        }
        Target::Chains { chains, rollups } => {
            let catalog = runtime.catalog(plugins_dir)?;
            let names = rollups.iter().map(|r| catalog.name_of(r.plugin.as_deref())).collect::<Result<Vec<_>, _>>()?;
            let plugins: BTreeMap<String, Arc<Plugin>> =
                catalog.into_plugins().into_iter().filter(|(n, _)| names.contains(n)).map(|(n, p)| (n, Arc::new(p))).collect();
            for p in plugins.values() {
                p.validate_keys().map_err(|e| anyhow::anyhow!("plugin {} keys: {e}", p.metadata().name))?;
            }
            let served = rollups.into_iter().zip(names).map(|(r, n)| (r, plugins[&n].clone())).collect();
            rt.block_on(run_chains(&cfg, Arc::new(runtime), plugins_dir, chains, served, signer.expect("checked above"), shutdown))
        }
    }
}

/// The node on configured chains: every check, then one client per chain and one store file.
async fn run_chains(
    cfg: &Config,
    runtime: Arc<Runtime>,
    plugins_dir: &Path,
    chains: Vec<ChainSpec>,
    rollups: Vec<(RollupSpec, Arc<Plugin>)>,
    signer: PrivateKeySigner,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    // The checks run before anything is written: a node that would fail is refused with one
    // line, and leaves no data folder, store or outbox behind.
    let miner = signer.address();
    let mut checked = vec![];
    for (i, c) in chains.iter().enumerate() {
        let on = |e: anyhow::Error| if chains.len() > 1 { e.context(format!("chain {}", c.name)) } else { e };
        let ch = checks::chain(&c.rpc_url, &c.deployment).await.map_err(on)?;
        let mut lines = ch.lines.clone();
        let here: Vec<_> = rollups.iter().filter(|(r, _)| r.chain == i).collect();
        for (r, plugin) in &here {
            lines.extend(checks::rollup(&ch, r.rollup, miner, plugin).await.map_err(on)?);
        }
        lines.push(checks::gas(&ch, miner, here.len() as u64).await.map_err(on)?);
        if cfg.check_only {
            for line in &lines {
                match chains.len() {
                    1 => println!("ok  {line}"),
                    _ => println!("ok  [{}] {line}", c.name),
                }
            }
        }
        if let Some(j) = checked.iter().position(|(_, id)| *id == ch.reader.chain_id()) {
            bail!(
                "[[chains]] {:?} and {:?} are both chain {}: list each chain once (one client per chain keeps one nonce sequence \
                 for the key; two deployments on one chain are not supported yet)",
                chains[j].name,
                c.name,
                ch.reader.chain_id()
            );
        }
        checked.push((ch.deployment, ch.reader.chain_id()));
    }
    if cfg.check_only {
        return Ok(());
    }
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    // The store belongs to one key; each rollup (chain, contract, rollup) has its own records.
    let file = StoreFile::open(&cfg.data_dir.join("node.redb"))?;
    adopt_one_chain_outbox(&cfg.data_dir, &file)?;
    let live = LivePlugins::new(rollups.iter().map(|(_, p)| p.clone()));
    let mut params = vec![];
    for (i, (c, (deployment, chain_id))) in chains.iter().zip(checked).enumerate() {
        let rpc_cfg = RpcConfig { receipt_timeout: c.receipt_timeout, ..RpcConfig::default() };
        let chain: Arc<dyn BaseChain> =
            Arc::new(RpcChain::connect(&c.rpc_url, signer.clone(), &cfg.data_dir.join(outbox_name(chain_id)), rpc_cfg).await?);
        println!("miner {} on chain {} ({}) via {}", chain.sender(), chain.chain_id(), c.name, c.rpc_url);
        let mut served = vec![];
        for (r, plugin) in rollups.iter().filter(|(r, _)| r.chain == i) {
            let identity = prova_node::node::identity(chain.as_ref(), &deployment, r.rollup).await?;
            let live = live.prover(&plugin.metadata().name);
            served.push(ServedRollup {
                rollup: r.rollup,
                store: Arc::new(file.rollup(&identity)?),
                checker: live.clone(),
                prover: live,
                start_batch: r.start_batch,
                weight: r.weight,
            });
            println!("  rollup {} with plugin {}", r.rollup, plugin.metadata().name);
        }
        params.push(ChainParams { name: c.name.clone(), chain, deployment, upkeep: c.upkeep.clone(), rollups: served });
    }
    // The plugin folder is followed while the node runs; a new version must keep the verifying
    // key each rollup registered (the start checks found them equal to the loaded ones).
    let mut registered: BTreeMap<String, Vec<Registered>> = BTreeMap::new();
    for (r, plugin) in &rollups {
        registered.entry(plugin.metadata().name.clone()).or_default().push(Registered {
            rollup: format!("rollup {} on chain {}", r.rollup, chains[r.chain].name),
            verifying_key: plugin.metadata().verifying_key.clone().unwrap_or_default(),
        });
    }
    let reloader = Reloader::new(runtime, plugins_dir, live, registered);
    let params = NodeParams {
        chains: params,
        generator: cfg.generator.clone(),
        poll: cfg.poll,
        retention_blocks: cfg.retention_blocks,
        reloader: Some((reloader, cfg.plugin_poll)),
    };
    prova_node::node::run(params, shutdown).await?;
    Ok(())
}

/// The node on the embedded dev chain, with the dev key unless a keystore is given.
async fn run_embedded(
    cfg: &Config,
    plugin: Arc<Plugin>,
    signer: Option<PrivateKeySigner>,
    start_batch: u64,
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let miner = match signer {
        Some(s) => s,
        None => {
            eprintln!("WARNING: no keystore: mining as the public dev account 1 (embedded dev chain only)");
            dev_signer(1)
        }
    };
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    // The chain keeps mining until the node has stopped: a transaction in flight at Ctrl-C
    // still gets its block.
    let (stop_chain, chain_rx) = watch::channel(false);
    let (chain, rollup, world) = embedded_world(&plugin, miner.address(), &cfg.dev, shutdown.clone(), chain_rx).await?;
    println!("miner {} on the embedded dev chain (rollup {rollup}); Ctrl-C stops", miner.address());
    // The embedded chain lives in memory and starts from genesis on every run: the state of an
    // earlier run's chain is of no use and is discarded.
    let path = cfg.data_dir.join("dev-node.redb");
    if path.exists() {
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        println!("discarded {} (the store of an earlier embedded chain)", path.display());
    }
    let chain: Arc<dyn BaseChain> = Arc::new(chain);
    let identity = prova_node::node::identity(chain.as_ref(), &world.deployment, rollup).await?;
    let served = ServedRollup {
        rollup,
        store: Arc::new(Store::open(&path, &identity)?),
        checker: Arc::new(PluginChecker(plugin.clone())),
        prover: Arc::new(PluginProver(plugin)),
        start_batch,
        weight: DEFAULT_WEIGHT,
    };
    let params = NodeParams {
        chains: vec![ChainParams {
            name: "embedded".into(),
            chain,
            deployment: world.deployment,
            upkeep: UpkeepConfig::default(),
            rollups: vec![served],
        }],
        generator: cfg.generator.clone(),
        poll: cfg.poll,
        retention_blocks: cfg.retention_blocks,
        reloader: None,
    };
    let result = prova_node::node::run(params, shutdown).await;
    let _ = stop_chain.send(true);
    Ok(result?)
}

/// The outbox of the node's key on chain `chain_id`: one per chain, so one nonce sequence each.
fn outbox_name(chain_id: u64) -> String {
    format!("outbox-{chain_id}.redb")
}

/// The release before `[[chains]]` kept one outbox, `outbox.redb`, for its one chain: it becomes
/// that chain's outbox (the chain of the store's first rollup; a store without one never sent).
fn adopt_one_chain_outbox(dir: &Path, file: &StoreFile) -> Result<()> {
    let old = dir.join("outbox.redb");
    let Some(first) = file.identities()?.into_iter().next() else { return Ok(()) };
    if !old.exists() {
        return Ok(());
    }
    let new = dir.join(outbox_name(first.chain_id));
    if new.exists() {
        bail!(
            "{} and {} both exist: keep the one whose transactions are pending (`prova` reads only the second)",
            old.display(),
            new.display()
        );
    }
    std::fs::rename(&old, &new).with_context(|| format!("cannot rename {} to {}", old.display(), new.display()))?;
    println!("{} is now {} (one outbox per chain)", old.display(), new.display());
    Ok(())
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
