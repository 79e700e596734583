//! prova-dev, the development world: contracts and rollups of any plugin on any chain, a dev
//! sequencer that posts batches from the plugin's sample, the embedded chain's block timer, and
//! miners started in this process. `prova node` uses it when no chain is configured, `prova
//! demo` always, and the tests on anvil; a node on a real chain never links it... except through
//! the `prova` binary, which holds every command.

use std::sync::Arc;
use std::time::Duration;

use prova_chain::contracts::{Deployment, PostedSequence, RollupParams};
use prova_chain::embedded::EmbeddedChain;
use prova_chain::{Address, B256, BaseChain, Bytes, U256};
use prova_runtime::Plugin;
use prova_store::{Store, StoreFile, SubmissionState};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tracing::info;

use prova_node::NodeError;
use prova_node::generator::GeneratorConfig;
use prova_node::node::{ChainParams, DEFAULT_RETENTION_BLOCKS, DEFAULT_WEIGHT, NodeParams, ServedRollup, identity};
use prova_node::prover::{PluginChecker, PluginProver};
use prova_node::upkeep::UpkeepConfig;

pub const ETH: u128 = 1_000_000_000_000_000_000;
/// The embedded chain's id (anvil's is 31337; a different one keeps signatures apart).
pub const EMBEDDED_CHAIN_ID: u64 = 1337;

/// The rollup's on-chain settings in the dev world.
#[derive(Debug, Clone)]
pub struct DevParams {
    pub t1: u64,
    pub t2: u64,
    /// Stake withdrawal delay; must exceed T1 + T2.
    pub withdraw_delay: u64,
    pub reward_per_sequence: U256,
    pub reward_fund: U256,
    pub min_stake: U256,
    pub incorrect_proof_punish: U256,
    pub no_proof_punish: U256,
    /// Share of a no-reveal slash credited to the keeper who settles it, in basis points.
    pub keeper_share_bps: u16,
    /// Gas per (batches + 3) forwarded to the verifier (~80k per pairing-sized unit measured
    /// on the reference verifier, see README's gas table).
    pub verifier_gas_unit: u64,
}

impl Default for DevParams {
    fn default() -> Self {
        // Short windows so a demo moves: with 1-second blocks, 5 s to commit and 10 s to
        // reveal. A batch proof takes ~4 s here, so every miner that proves at all gets in.
        Self {
            t1: 5,
            t2: 10,
            withdraw_delay: 50,
            reward_per_sequence: U256::from(ETH),
            reward_fund: U256::from(1_000 * ETH),
            min_stake: U256::from(ETH),
            incorrect_proof_punish: U256::from(ETH / 2),
            no_proof_punish: U256::from(3 * ETH / 10),
            keeper_share_bps: 1_000,
            verifier_gas_unit: 80_000,
        }
    }
}

/// A deployed dev rollup.
#[derive(Debug, Clone, Copy)]
pub struct DevRollup {
    pub deployment: Deployment,
    pub rollup: u32,
}

/// Deploys the contracts and registers the plugin's rollup with `sequencer`, funded.
pub async fn deploy_rollup(
    admin: &dyn BaseChain,
    plugin: &Plugin,
    sequencer: Address,
    genesis: B256,
    p: &DevParams,
) -> Result<DevRollup, NodeError> {
    let deployment = Deployment::deploy(admin, p.withdraw_delay).await?;
    register_rollup(admin, deployment, plugin, sequencer, genesis, p).await
}

/// Registers the plugin's rollup with `sequencer` on an existing deployment (with the verifier
/// the plugin names), funded: a second rollup type beside the first.
pub async fn register_rollup(
    admin: &dyn BaseChain,
    deployment: Deployment,
    plugin: &Plugin,
    sequencer: Address,
    genesis: B256,
    p: &DevParams,
) -> Result<DevRollup, NodeError> {
    let vk = plugin.metadata().verifying_key.clone().ok_or_else(|| {
        NodeError::Config(format!("plugin {} has no verifying key: run `prova plugins setup` first", plugin.metadata().name))
    })?;
    let params = RollupParams {
        verifier: deployment.verifier_for(admin, plugin.metadata().own_verifier()).await?,
        verifyingKey: Bytes::from(vk),
        sequencer,
        genesisStateRoot: genesis,
        t1: p.t1,
        t2: p.t2,
        rewardPerSequence: p.reward_per_sequence,
        minStake: p.min_stake,
        incorrectProofPunishAmount: p.incorrect_proof_punish,
        noProofPunishAmount: p.no_proof_punish,
        verifierGasUnit: p.verifier_gas_unit,
        keeperShareBps: p.keeper_share_bps,
    };
    let rollup = deployment.register_rollup(admin, params).await?;
    deployment.fund_rewards(admin, rollup, p.reward_fund).await?;
    info!(?deployment, rollup, plugin = plugin.metadata().name, "dev rollup registered");
    Ok(DevRollup { deployment, rollup })
}

/// Posts the plugin's sample batches as sequences of random length.
pub struct DevSequencer {
    witnesses: Vec<Vec<u8>>,
    genesis: B256,
    next: usize,
    max_batches: usize,
    rng: StdRng,
}

impl DevSequencer {
    /// `total` sample batches from `seed`, posted `1..=max_batches` at a time.
    pub fn new(plugin: &Plugin, seed: u64, total: u32, max_batches: usize) -> Result<Self, NodeError> {
        let witnesses = plugin.sample_sequence(total, seed)?;
        let first = plugin.inspect_batch("dev sequencer genesis", &witnesses[0])?;
        Ok(Self {
            witnesses,
            genesis: B256::from_slice(&first.old_state_root),
            next: 0,
            max_batches: max_batches.max(1),
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// The state root before the first sample batch: the rollup's genesis.
    pub fn genesis(&self) -> B256 {
        self.genesis
    }

    pub fn remaining(&self) -> usize {
        self.witnesses.len() - self.next
    }

    /// Posts the next sequence (its commitments from the plugin); `None` once the sample is used up.
    pub async fn post(&mut self, plugin: &Plugin, chain: &dyn BaseChain, rollup: &DevRollup) -> Result<Option<PostedSequence>, NodeError> {
        let n = self.rng.random_range(1..=self.max_batches).min(self.remaining());
        if n == 0 {
            return Ok(None);
        }
        let batch = &self.witnesses[self.next..self.next + n];
        let mut commitments = vec![];
        for (i, w) in batch.iter().enumerate() {
            commitments.push(B256::from_slice(&plugin.inspect_batch(&format!("dev sequencer batch {}", self.next + i), w)?.commitment));
        }
        let data = batch.iter().map(|w| Bytes::from(w.clone())).collect();
        let posted = rollup.deployment.sequence_batches(chain, rollup.rollup, commitments, data).await?;
        self.next += n;
        info!(final_batch = posted.final_new_batch, batches = n, "dev sequencer posted a sequence");
        Ok(Some(posted))
    }
}

/// Mines a block of the embedded chain every `interval` until `shutdown`.
pub async fn mine_every(chain: EmbeddedChain, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => chain.mine(1),
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}

/// How an in-process miner runs.
#[derive(Debug, Clone)]
pub struct MinerConfig {
    pub generator: GeneratorConfig,
    pub poll: Duration,
    /// Sequences ending at or below this batch are skipped.
    pub start_batch: u64,
    pub upkeep: UpkeepConfig,
}

/// A rollup an in-process miner serves: the chain it is on (the miner's own client of it),
/// where it is deployed and its plugin.
pub struct Serve {
    pub chain: Arc<dyn BaseChain>,
    pub world: DevRollup,
    pub plugin: Arc<Plugin>,
}

/// A node started in this process (the demo's and the tests' miners).
pub struct Miner {
    /// One per rollup served, in the order given.
    pub stores: Vec<Arc<Store>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), NodeError>>,
}

impl Miner {
    /// Starts a node for `chain`'s sender serving one rollup, with its own store at `store_path`.
    pub async fn start(
        chain: Arc<dyn BaseChain>,
        world: &DevRollup,
        plugin: Arc<Plugin>,
        store_path: &std::path::Path,
        cfg: MinerConfig,
    ) -> Result<Self, NodeError> {
        Self::serve(vec![Serve { chain, world: *world, plugin }], store_path, cfg).await
    }

    /// Starts one node serving every rollup in `rollups`, with one store file at `store_path`.
    /// Rollups on the same chain client and deployment share that chain's poller; every rollup
    /// shares the node's workers.
    pub async fn serve(rollups: Vec<Serve>, store_path: &std::path::Path, cfg: MinerConfig) -> Result<Self, NodeError> {
        let file = StoreFile::open(store_path)?;
        let mut chains: Vec<ChainParams> = vec![];
        let mut stores = vec![];
        for s in rollups {
            let store = Arc::new(file.rollup(&identity(s.chain.as_ref(), &s.world.deployment, s.world.rollup).await?)?);
            stores.push(store.clone());
            let r = ServedRollup {
                rollup: s.world.rollup,
                store,
                prover: Arc::new(PluginProver(s.plugin.clone())),
                checker: Arc::new(PluginChecker(s.plugin)),
                start_batch: cfg.start_batch,
                weight: DEFAULT_WEIGHT,
            };
            match chains.iter_mut().find(|c| Arc::ptr_eq(&c.chain, &s.chain) && c.deployment.manager == s.world.deployment.manager) {
                Some(c) => c.rollups.push(r),
                None => chains.push(ChainParams {
                    name: format!("chain-{}", chains.len()),
                    chain: s.chain,
                    deployment: s.world.deployment,
                    upkeep: cfg.upkeep.clone(),
                    rollups: vec![r],
                }),
            }
        }
        let (stop, rx) = watch::channel(false);
        let params =
            NodeParams { chains, generator: cfg.generator, poll: cfg.poll, retention_blocks: DEFAULT_RETENTION_BLOCKS, reloader: None };
        let task = tokio::spawn(prova_node::node::run(params, rx));
        Ok(Self { stores, stop, task })
    }

    /// The store of the (first) rollup the miner serves.
    pub fn store(&self) -> &Arc<Store> {
        &self.stores[0]
    }

    /// Graceful stop: returns once running jobs and the step in hand are finished; gives back
    /// the first rollup's store.
    pub async fn stop(self) -> Result<Arc<Store>, NodeError> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| NodeError::Inconsistent(format!("node panicked: {e}")))??;
        Ok(self.stores.into_iter().next().expect("a miner serves at least one rollup"))
    }
}

/// What a miner's store says of its submissions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Sequences revealed and accepted (late ones included).
    pub revealed: Vec<u64>,
    /// Sequences verified by others before this miner could commit.
    pub missed: Vec<u64>,
    /// Slashed submissions: must stay empty for an honest miner.
    pub slashed: Vec<u64>,
    /// Proofs that failed the local check after their commit: never revealed.
    pub rejected: Vec<u64>,
    /// Commitments made for data a reorg replaced: never revealed.
    pub abandoned: Vec<u64>,
    /// Committed (or committing, revealing) and not settled: a commitment at risk.
    pub open: Vec<u64>,
    /// Sum of the rewards the reveals were credited, in wei.
    pub rewards: U256,
}

pub fn audit(store: &Store) -> Result<Audit, NodeError> {
    let mut a = Audit::default();
    for s in store.submissions()? {
        match &s.state {
            SubmissionState::Revealed { reward_wei, .. } => {
                a.revealed.push(s.final_batch);
                a.rewards += U256::from(*reward_wei);
            }
            SubmissionState::Missed => a.missed.push(s.final_batch),
            SubmissionState::Slashed { .. } => a.slashed.push(s.final_batch),
            SubmissionState::Rejected { .. } => a.rejected.push(s.final_batch),
            SubmissionState::Abandoned => a.abandoned.push(s.final_batch),
            _ => a.open.push(s.final_batch),
        }
    }
    Ok(a)
}

/// Waits until the rollup's last verified batch reaches `final_batch`.
pub async fn wait_verified(chain: &dyn BaseChain, world: &DevRollup, final_batch: u64, timeout: Duration) -> Result<(), NodeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let verified = world.deployment.rollup_state(chain, world.rollup).await?.last_verified_batch;
        if verified >= final_batch {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(NodeError::Inconsistent(format!("batch {final_batch} not verified after {timeout:?} (verified up to {verified})")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until no miner has an unsettled submission (late reveals land after the first).
pub async fn wait_settled(stores: &[Arc<Store>], timeout: Duration) -> Result<(), NodeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut open = 0;
        for s in stores {
            open += audit(s)?.open.len();
        }
        if open == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(NodeError::Inconsistent(format!("{open} submission(s) still open after {timeout:?}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
