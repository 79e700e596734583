//! Deterministic simulation of miner nodes: the real generator, manager, sender and store
//! against the embedded chain, with simulated provers and tokio's paused clock, and faults
//! drawn from one seed (RPC errors and lost responses, hung RPC calls, node crashes at any await
//! point with a restart from the store, reorgs of depth 1 to 3, provers that fail, hang or
//! return a bad proof, store write failures, several miners competing).
//!
//! One seed expands into a [`Scenario`] (printed on failure), runs a chaos phase with every
//! fault on and a calm phase without faults, and then checks the invariants of a miner's
//! income (see [`check`]). A failing seed replays with one command:
//! `SIM_SEED=<seed> SIM_LOG=info cargo nextest run -p prova-tests --test sim replay --no-capture`.
//!
//! Why not a framework: the node's seams (`BaseChain`, `Prover`, `Checker`, the store's redb
//! backend) are enough, and everything runs on one current-thread runtime whose clock only
//! moves when every task waits (see `../shared/research/simulation.md`).

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use alloy::primitives::{Log, keccak256};
use async_trait::async_trait;
use prova_chain::contracts::{CommitmentStatus, Deployment, RollupParams};
use prova_chain::embedded::{EmbeddedChain, EmbeddedHandle};
use prova_chain::{Address, B256, BaseChain, BlockRef, Bytes, ChainError, Receipt, TxRequest, U256};
use prova_node::NodeError;
use prova_node::generator::GeneratorConfig;
use prova_node::node::{ChainParams, DEFAULT_WEIGHT, NodeParams, ServedRollup, identity};
use prova_node::prover::{Checker, JobInput, Prover};
use prova_runtime::{BatchStatement, Claim, Stage};
use prova_store::{SequenceStatus, Store, SubmissionState, TaskKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const ETH: u128 = 1_000_000_000_000_000_000;
/// Virtual seconds per block.
const BLOCK: Duration = Duration::from_secs(12);
const CHAIN_ID: u64 = 7777;

/// Everything a seed decides, drawn before the run starts.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub miners: usize,
    pub t1: u64,
    pub t2: u64,
    pub sequences: u64,
    pub max_batches: u64,
    /// A sequence is posted every this many blocks.
    pub every: u64,
    /// Blocks with faults on; then faults stop.
    pub chaos_blocks: u64,
    /// Per RPC call: an error before it reaches the chain.
    pub rpc_error: f64,
    /// Per transaction: sent and mined, but the answer is lost.
    pub lost_response: f64,
    /// Per RPC call: hangs for a while, then fails.
    pub hang: f64,
    /// Per node and block: a crash (restarted 1 to 3 blocks later).
    pub crash: f64,
    /// Per block: a reorg of depth 1 to 3.
    pub reorg: f64,
    /// Per job: fails, hangs, returns a bad final proof.
    pub prove_fail: f64,
    pub prove_hang: f64,
    pub prove_bad: f64,
    /// Per node and block: the store's next write fails (the node dies of it).
    pub store_fault: f64,
}

impl Scenario {
    pub fn from_seed(seed: u64) -> Self {
        let mut r = StdRng::seed_from_u64(seed ^ 0x5eed);
        // Many seeds run with a fault switched off, so that each fault is also seen alone.
        let mut p = |max: f64| if r.random_bool(0.3) { 0.0 } else { r.random_range(0.0..max) };
        let (rpc_error, lost_response, hang, crash, reorg) = (p(0.05), p(0.1), p(0.01), p(0.03), p(0.06));
        let (prove_fail, prove_hang, prove_bad, store_fault) = (p(0.15), p(0.05), p(0.08), p(0.01));
        let t1 = r.random_range(4..=7);
        Self {
            seed,
            miners: r.random_range(1..=3),
            t1,
            t2: r.random_range(t1 + 2..=t1 + 6),
            sequences: r.random_range(2..=6),
            max_batches: r.random_range(1..=3),
            every: r.random_range(1..=3),
            chaos_blocks: r.random_range(15..=40),
            rpc_error,
            lost_response,
            hang,
            crash,
            reorg,
            prove_fail,
            prove_hang,
            prove_bad,
            store_fault,
        }
    }
}

/// What one seed did, for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub blocks: u64,
    pub crashes: u64,
    pub reorgs: u64,
    pub revealed: u64,
    pub max_calls_per_block: u64,
    /// A digest of the run (chain head and every store's submissions): equal for equal seeds.
    pub digest: B256,
}

/// A seed that broke an invariant.
#[derive(Debug)]
pub struct Failure {
    pub scenario: Scenario,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} failed: {}\n  scenario: {:?}\n  replay: SIM_SEED={} SIM_LOG=info cargo nextest run -p prova-tests --test sim replay --no-capture",
            self.scenario.seed, self.message, self.scenario, self.scenario.seed
        )
    }
}

// ---------------------------------------------------------------------------------- the disk

/// An in-memory disk for redb that outlives the node using it (a crash drops the database, not
/// the disk) and can be told to fail its next write.
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    bytes: Arc<Mutex<Vec<u8>>>,
    fail_next_write: Arc<AtomicBool>,
}

impl SimDisk {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl redb::StorageBackend for SimDisk {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let b = self.lock();
        let (start, end) = (offset as usize, offset as usize + out.len());
        if end > b.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"));
        }
        out.copy_from_slice(&b[start..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.lock().resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.fail_next_write.swap(false, Ordering::SeqCst) {
            return Err(io::Error::other("simulated disk failure"));
        }
        let mut b = self.lock();
        let end = offset as usize + data.len();
        if end > b.len() {
            b.resize(end, 0);
        }
        b[offset as usize..end].copy_from_slice(data);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------- the chain

/// One node's view of the shared embedded chain, with faults and a call counter.
struct FaultyChain {
    inner: EmbeddedHandle,
    rng: Mutex<StdRng>,
    faults: Arc<Faults>,
    calls: AtomicU64,
}

/// Fault probabilities, switched off for the calm phase.
struct Faults {
    on: AtomicBool,
    rpc_error: f64,
    lost_response: f64,
    hang: f64,
}

impl FaultyChain {
    fn draw(&self, p: f64) -> bool {
        self.faults.on.load(Ordering::Relaxed) && p > 0.0 && self.rng.lock().unwrap().random_bool(p)
    }

    /// Counts the call and fails it (after a hang, sometimes) before it reaches the chain.
    async fn before(&self, what: &str) -> Result<(), ChainError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.draw(self.faults.hang) {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return Err(rpc(what, "timed out"));
        }
        if self.draw(self.faults.rpc_error) {
            return Err(rpc(what, "connection reset"));
        }
        Ok(())
    }
}

fn rpc(purpose: &str, message: &str) -> ChainError {
    ChainError::Rpc { purpose: purpose.to_string(), message: format!("simulated: {message}") }
}

#[async_trait]
impl BaseChain for FaultyChain {
    fn sender(&self) -> Address {
        self.inner.sender()
    }

    fn chain_id(&self) -> u64 {
        self.inner.chain_id()
    }

    async fn head(&self) -> Result<BlockRef, ChainError> {
        self.before("head").await?;
        self.inner.head().await
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        self.before("block hash").await?;
        self.inner.block_hash(number).await
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        self.before("call").await?;
        self.inner.call(to, data).await
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt, ChainError> {
        self.before(&tx.purpose.clone()).await?;
        let purpose = tx.purpose.clone();
        let r = self.inner.send(tx).await?;
        if self.draw(self.faults.lost_response) {
            return Err(rpc(&purpose, "response lost"));
        }
        Ok(r)
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        self.before("logs").await?;
        self.inner.logs(address, from, to).await
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.before("balance").await?;
        self.inner.balance(who).await
    }

    async fn code(&self, who: Address) -> Result<Bytes, ChainError> {
        self.before("code").await?;
        self.inner.code(who).await
    }

    async fn gas_price(&self) -> Result<u128, ChainError> {
        self.before("gas price").await?;
        self.inner.gas_price().await
    }
}

// ---------------------------------------------------------------------------------- proofs

/// The simulated rollup: batch `b` moves the state from root `b - 1` to root `b`, where a root
/// depends on the seed and on how often a reorg made the sequencer post that batch anew.
fn root(seed: u64, batch: u64, epoch: u64) -> B256 {
    keccak256([seed.to_be_bytes(), batch.to_be_bytes(), epoch.to_be_bytes()].concat())
}

/// Batch data: old root ‖ new root; its commitment is its hash.
fn batch_data(old: B256, new: B256) -> Vec<u8> {
    [old.as_slice(), new.as_slice()].concat()
}

fn roots(data: &[u8]) -> Result<(B256, B256), String> {
    if data.len() != 64 {
        return Err(format!("{} bytes of batch data, not 64", data.len()));
    }
    Ok((B256::from_slice(&data[..32]), B256::from_slice(&data[32..])))
}

/// Checks posted batches and final proofs as the plugin would, for the simulated rollup.
struct SimChecker;

#[async_trait]
impl Checker for SimChecker {
    async fn inspect_batch(&self, _: &str, data: Vec<u8>) -> Result<BatchStatement, String> {
        let (old, new) = roots(&data)?;
        Ok(BatchStatement { old_state_root: old.to_vec(), new_state_root: new.to_vec(), commitment: keccak256(&data).to_vec() })
    }

    async fn verify_final(&self, _: &str, proof: Vec<u8>) -> Result<Claim, String> {
        let (old, new, prover) = prova_chain::sim::check_sim_proof(&proof)?;
        Ok(Claim {
            stage: Stage::Final,
            old_state_root: old.to_vec(),
            new_state_root: new.to_vec(),
            batch_commitments: vec![],
            prover: prover.to_vec(),
        })
    }
}

/// Counts kept by the harness across crashes.
#[derive(Default)]
struct ProverLog {
    /// (miner, sequence) whose final proof came out bad at least once.
    bad_finals: HashSet<(usize, u64)>,
}

/// A prover whose proofs are the roots they connect, with faults.
struct SimProver {
    miner: usize,
    rng: Mutex<StdRng>,
    faults: Arc<Faults>,
    fail: f64,
    hang: f64,
    bad: f64,
    log: Arc<Mutex<ProverLog>>,
}

impl SimProver {
    fn draw(&self, p: f64) -> bool {
        self.faults.on.load(Ordering::Relaxed) && p > 0.0 && self.rng.lock().unwrap().random_bool(p)
    }
}

#[async_trait]
impl Prover for SimProver {
    async fn prove(&self, job: &str, input: JobInput, miner: [u8; 20]) -> Result<Vec<u8>, String> {
        let work = Duration::from_millis(self.rng.lock().unwrap().random_range(500..20_000));
        tokio::time::sleep(work).await;
        if self.draw(self.hang) {
            // Past the node's task timeout, until the runtime's wall-time limit ends it.
            tokio::time::sleep(Duration::from_secs(600)).await;
            return Err("wall time exceeded".into());
        }
        if self.draw(self.fail) {
            return Err("simulated prover failure".into());
        }
        match input {
            JobInput::Batch(data) => {
                roots(&data)?;
                Ok(data)
            }
            JobInput::Aggregate(proofs) => {
                let (first, _) = roots(proofs.first().ok_or("no batch proofs")?)?;
                let (_, last) = roots(proofs.last().ok_or("no batch proofs")?)?;
                Ok(batch_data(first, last))
            }
            JobInput::Final(p) => {
                let (old, new) = roots(&p)?;
                let mut proof = prova_chain::sim::sim_proof(old, new, Address::from(miner));
                if self.draw(self.bad) {
                    proof[0] ^= 1;
                    let seq = prova_store::TaskId::parse(job).map(|id| id.sequence()).unwrap_or(0);
                    self.log.lock().unwrap().bad_finals.insert((self.miner, seq));
                }
                Ok(proof)
            }
        }
    }
}

// ---------------------------------------------------------------------------------- the world

/// A running node: its task, its stop signal, and its store (to see it gone after a crash).
type Running = (JoinHandle<Result<(), NodeError>>, watch::Sender<bool>, Weak<Store>);

struct SimNode {
    chain: Arc<FaultyChain>,
    prover: Arc<SimProver>,
    disk: SimDisk,
    running: Option<Running>,
    /// Down until this block (after a crash).
    down_until: Option<u64>,
    /// Store identity (fixed for the run).
    identity: prova_store::Identity,
    /// Its disk will fail a write: it is crashed at the next block.
    doomed: bool,
}

struct World {
    chain: EmbeddedChain,
    deployment: Deployment,
    rollup: u32,
    sequencer: EmbeddedHandle,
    admin: EmbeddedHandle,
    miners: Vec<Address>,
    stakes: Vec<U256>,
    faults: Arc<Faults>,
    nodes: Vec<SimNode>,
    rng: StdRng,
    reward_per_sequence: U256,
}

fn addr(i: u64) -> Address {
    Address::from_word(keccak256(i.to_be_bytes()))
}

impl World {
    async fn new(s: Scenario) -> Result<Self, String> {
        let (admin, sequencer) = (addr(1_000), addr(1_001));
        let miners: Vec<Address> = (0..s.miners as u64).map(addr).collect();
        let funded: Vec<(Address, U256)> =
            [admin, sequencer].iter().chain(&miners).map(|a| (*a, U256::from(1_000_000u128 * ETH))).collect();
        let chain = EmbeddedChain::new(CHAIN_ID, &funded);
        let (a, sq) = (chain.handle(admin), chain.handle(sequencer));
        let e = |e: ChainError| e.to_string();
        let deployment = Deployment::deploy(&a, s.t1 + s.t2 + 10).await.map_err(e)?;
        let verifier = prova_chain::sim::deploy_sim_verifier(&a).await.map_err(e)?;
        let reward_per_sequence = U256::from(ETH);
        let params = RollupParams {
            verifier,
            verifyingKey: Bytes::from(vec![1u8; 32]),
            sequencer,
            genesisStateRoot: root(s.seed, 0, 0),
            t1: s.t1,
            t2: s.t2,
            rewardPerSequence: reward_per_sequence,
            minStake: U256::from(ETH),
            incorrectProofPunishAmount: U256::from(ETH / 2),
            noProofPunishAmount: U256::from(ETH / 4),
            verifierGasUnit: 50_000,
            keeperShareBps: 0,
        };
        let rollup = deployment.register_rollup(&a, params).await.map_err(e)?;
        deployment.fund_rewards(&a, rollup, U256::from(1_000 * ETH)).await.map_err(e)?;
        let mut rng = StdRng::seed_from_u64(s.seed);
        let mut stakes = vec![];
        for m in &miners {
            let stake = U256::from(rng.random_range(1..=4u128) * ETH);
            deployment.deposit(&chain.handle(*m), stake).await.map_err(e)?;
            stakes.push(stake);
        }
        chain.set_automine(false);
        let faults = Arc::new(Faults { on: AtomicBool::new(true), rpc_error: s.rpc_error, lost_response: s.lost_response, hang: s.hang });
        let log = Arc::new(Mutex::new(ProverLog::default()));
        let mut nodes = vec![];
        for (i, m) in miners.iter().enumerate() {
            let chain = Arc::new(FaultyChain {
                inner: chain.handle(*m),
                rng: Mutex::new(StdRng::seed_from_u64(s.seed.wrapping_mul(31).wrapping_add(i as u64))),
                faults: faults.clone(),
                calls: AtomicU64::new(0),
            });
            let prover = Arc::new(SimProver {
                miner: i,
                rng: Mutex::new(StdRng::seed_from_u64(s.seed.wrapping_mul(37).wrapping_add(i as u64))),
                faults: faults.clone(),
                fail: s.prove_fail,
                hang: s.prove_hang,
                bad: s.prove_bad,
                log: log.clone(),
            });
            let identity = identity(&chain.inner, &deployment, rollup).await.map_err(|e| e.to_string())?;
            nodes.push(SimNode { chain, prover, disk: SimDisk::default(), running: None, down_until: None, identity, doomed: false });
        }
        let world = Self { chain, deployment, rollup, sequencer: sq, admin: a, miners, stakes, faults, nodes, rng, reward_per_sequence };
        Ok(world)
    }

    fn start(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        let store = Arc::new(Store::open_with_backend(&format!("sim-miner-{i}"), n.disk.clone(), &n.identity).map_err(|e| e.to_string())?);
        let (stop, stop_rx) = watch::channel(false);
        let params = NodeParams {
            chains: vec![ChainParams {
                name: "sim".into(),
                chain: n.chain.clone(),
                deployment: self.deployment,
                // Off: the simulation audits each miner's own submissions; the keeper is tested on anvil.
                upkeep: Default::default(),
                rollups: vec![ServedRollup {
                    rollup: self.rollup,
                    store: store.clone(),
                    checker: Arc::new(SimChecker),
                    prover: n.prover.clone(),
                    start_batch: 0,
                    weight: DEFAULT_WEIGHT,
                }],
            }],
            generator: GeneratorConfig { workers: 2, task_timeout: Duration::from_secs(60), max_attempts: 3 },
            poll: Duration::from_secs(3),
            retention_blocks: 20,
            reloader: None,
        };
        let weak = Arc::downgrade(&store);
        drop(store);
        n.running = Some((tokio::spawn(prova_node::node::run(params, stop_rx)), stop, weak));
        n.down_until = None;
        Ok(())
    }

    /// Kills node `i` at whatever await point its tasks are, and waits until nothing of it is
    /// left (its store dropped): a restart must never meet a second writer.
    async fn crash(&mut self, i: usize, block: u64) -> Result<(), String> {
        let Some((task, _stop, weak)) = self.nodes[i].running.take() else { return Ok(()) };
        task.abort();
        let _ = task.await;
        for _ in 0..1_000 {
            if weak.strong_count() == 0 {
                let down = self.rng.random_range(1..=3);
                self.nodes[i].down_until = Some(block + down);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(format!("a task of crashed node {i} outlived it (its store is still open)"))
    }
}

/// The rollup's sequencer: posts the scenario's sequences, one every `every` blocks, and after a
/// reorg took some, posts them again (half the time with other data, so that the nodes see a
/// sequence replaced).
struct Sequencer {
    chain: EmbeddedHandle,
    deployment: Deployment,
    rollup: u32,
    seed: u64,
    total: u64,
    max_batches: u64,
    every: u64,
    rng: StdRng,
    /// Final batches of the sequences it posted and the chain still has.
    posted: Vec<u64>,
    /// Epoch of each batch's data (index = batch number; 0 = first data).
    epochs: Vec<u64>,
}

impl Sequencer {
    async fn run(mut self, mut head: watch::Receiver<u64>, done: Arc<AtomicBool>) {
        while head.changed().await.is_ok() {
            let h = *head.borrow();
            if !h.is_multiple_of(self.every) {
                continue;
            }
            match self.post().await {
                Ok(true) => {}
                Ok(false) => done.store(true, Ordering::SeqCst),
                // Refused or dropped by a reorg: tried again at the next turn.
                Err(_) => {}
            }
        }
    }

    async fn post(&mut self) -> Result<bool, ChainError> {
        let last = self.deployment.rollup_state(&self.chain, self.rollup).await?.last_sequenced_batch;
        let renew = self.posted.last().is_some_and(|&f| f > last);
        if renew {
            self.posted.retain(|&f| f <= last);
            self.epochs.truncate(last as usize + 1);
        }
        if self.posted.len() as u64 >= self.total {
            return Ok(false);
        }
        let n = self.rng.random_range(1..=self.max_batches);
        let new_data = renew && self.rng.random_bool(0.5);
        let (mut commitments, mut data, mut epochs) = (vec![], vec![], vec![]);
        for b in last + 1..=last + n {
            let prev = if b == last + 1 { self.epochs[last as usize] } else { *epochs.last().unwrap() };
            let epoch = if new_data { self.rng.random_range(1..1_000_000) } else { 0 };
            let d = batch_data(root(self.seed, b - 1, prev), root(self.seed, b, epoch));
            commitments.push(keccak256(&d));
            data.push(Bytes::from(d));
            epochs.push(epoch);
        }
        self.deployment.sequence_batches(&self.chain, self.rollup, commitments, data).await?;
        self.epochs.extend(epochs);
        self.posted.push(last + n);
        Ok(true)
    }
}

/// Runs one seed to the end and checks it.
pub fn run(seed: u64) -> Result<Report, Box<Failure>> {
    let scenario = Scenario::from_seed(seed);
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("runtime");
    let fail = |message: String| Box::new(Failure { scenario: scenario.clone(), message });
    rt.block_on(async { simulate(scenario.clone()).await }).map_err(fail)
}

// The block loop indexes nodes by number: `w` is borrowed mutably inside it.
#[allow(clippy::needless_range_loop)]
async fn simulate(s: Scenario) -> Result<Report, String> {
    let mut w = World::new(s.clone()).await?;
    let mut report = Report::default();
    let (head_tx, head_rx) = watch::channel(w.chain.head_number());
    let sequencer_done = Arc::new(AtomicBool::new(false));
    let sequencer = Sequencer {
        chain: w.sequencer.clone(),
        deployment: w.deployment,
        rollup: w.rollup,
        seed: s.seed,
        total: s.sequences,
        max_batches: s.max_batches,
        every: s.every,
        rng: StdRng::seed_from_u64(s.seed.wrapping_add(99)),
        posted: vec![],
        epochs: vec![0],
    };
    let seq_task = tokio::spawn(sequencer.run(head_rx, sequencer_done.clone()));
    for i in 0..w.nodes.len() {
        w.start(i)?;
    }
    // Liveness bound: the chaos phase, then enough calm blocks for every sequence to go through
    // a full window (and one expired window) one after the other.
    let limit = s.chaos_blocks + (s.sequences + 2) * (2 * (s.t1 + s.t2) + 4) + 40;
    let mut calls_before: Vec<u64> = vec![0; w.nodes.len()];
    let mut block = w.chain.head_number();
    let setup_head = block;
    let mut stalled = None;
    let mut tail = 0;
    loop {
        tokio::time::sleep(BLOCK).await;
        block += 1;
        let chaos = block < s.chaos_blocks;
        w.faults.on.store(chaos, Ordering::SeqCst);
        for i in 0..w.nodes.len() {
            let calls = w.nodes[i].chain.calls.load(Ordering::Relaxed);
            report.max_calls_per_block = report.max_calls_per_block.max(calls - calls_before[i]);
            calls_before[i] = calls;
            if w.nodes[i].doomed {
                // Its store failed a write during the last block: the node dies of it.
                w.crash(i, block).await?;
                w.nodes[i].doomed = false;
                w.nodes[i].disk.fail_next_write.store(false, Ordering::SeqCst);
                report.crashes += 1;
            } else if chaos && w.nodes[i].running.is_some() {
                if s.store_fault > 0.0 && w.rng.random_bool(s.store_fault) {
                    w.nodes[i].doomed = true;
                    // The next write fails; a node dies of a store error, so it is crashed at
                    // the next block, after the failure had its effect.
                    w.nodes[i].disk.fail_next_write.store(true, Ordering::SeqCst);
                } else if s.crash > 0.0 && w.rng.random_bool(s.crash) {
                    w.crash(i, block).await?;
                    report.crashes += 1;
                }
            }
            if let Some((task, ..)) = &w.nodes[i].running
                && task.is_finished()
            {
                let (task, ..) = w.nodes[i].running.take().expect("running");
                return Err(format!("node {i} stopped by itself: {:?}", task.await));
            }
            let due = match w.nodes[i].down_until {
                Some(b) => b <= block || !chaos,
                None => false,
            };
            if w.nodes[i].running.is_none() && due {
                w.start(i)?;
            }
        }
        // Reorgs never reach into the setup blocks (contracts, stakes).
        let depth = w.rng.random_range(1..=3u64);
        if chaos && s.reorg > 0.0 && w.rng.random_bool(s.reorg) && block > setup_head + depth {
            // Transactions of the removed blocks come back (geth; a node's outbox rebroadcasts
            // them on anvil). Posts that no longer fit make the sequencer post other sequences.
            w.chain.reorg_keeping_txs(depth);
            block = w.chain.head_number();
            report.reorgs += 1;
        } else {
            w.chain.mine(1);
        }
        let _ = head_tx.send(block);
        check_stakes(&w).await?;
        if !chaos && sequencer_done.load(Ordering::SeqCst) && settled(&w).await? {
            // A few more blocks for every node to see the end (a sequence others verified
            // while it was still proving is closed on the next block).
            tail += 1;
            if tail > 3 {
                break;
            }
        }
        if block > limit {
            // Legitimate only where every node gave the next sequence up (its provers failed
            // every attempt): checked on the stores below.
            stalled = Some(format!("not settled after {block} blocks: {}", progress(&w).await));
            break;
        }
    }
    report.blocks = block;
    seq_task.abort();
    // A graceful stop, then the stores are read.
    for n in &mut w.nodes {
        if let Some((task, stop, _)) = n.running.take() {
            let _ = stop.send(true);
            // The stop waits for transactions in flight, which wait for blocks.
            let mut task = task;
            loop {
                tokio::select! {
                    // Biased: an unbiased select draws its order from an unseeded generator.
                    biased;
                    r = &mut task => {
                        r.map_err(|e| format!("node panicked: {e}"))?.map_err(|e| format!("node failed to stop: {e}"))?;
                        break;
                    }
                    _ = tokio::time::sleep(BLOCK) => w.chain.mine(1),
                }
            }
        }
    }
    let stalled_at = match stalled {
        None => None,
        Some(why) => Some(gave_up(&w).await?.ok_or(why)?),
    };
    check(&w, &mut report, stalled_at).await?;
    Ok(report)
}

/// The first unverified sequence, if every node gave it up after its provers failed it on
/// every attempt (a node that gave up is not stuck: it says why and proves nothing more of it).
async fn gave_up(w: &World) -> Result<Option<u64>, String> {
    let st = w.deployment.rollup_state(&w.admin, w.rollup).await.map_err(|e| e.to_string())?;
    let Some(&next) = sequence_ends(w).await?.iter().find(|&&f| f > st.last_verified_batch) else { return Ok(None) };
    for (i, n) in w.nodes.iter().enumerate() {
        let store = Store::open_with_backend(&format!("sim-miner-{i}"), n.disk.clone(), &n.identity).map_err(|e| e.to_string())?;
        let given_up =
            matches!(store.sequence(next).map_err(|e| e.to_string())?.map(|q| q.status), Some(SequenceStatus::Unprovable { .. }));
        if !given_up {
            return Ok(None);
        }
    }
    Ok(Some(next))
}

/// Whether every sequence is verified and no commitment of any miner is left to reveal.
async fn settled(w: &World) -> Result<bool, String> {
    let st = w.deployment.rollup_state(&w.admin, w.rollup).await.map_err(|e| e.to_string())?;
    if st.last_verified_batch < st.last_sequenced_batch {
        return Ok(false);
    }
    // A commitment may stay unrevealed only once its deadline is well past: then the stores
    // must say why (checked at the end: only a commitment for data a reorg replaced may).
    let head = w.chain.head_number();
    for (_, f, _) in open_commitments(w).await? {
        let ws = w.deployment.window_state(&w.admin, w.rollup, f).await.map_err(|e| e.to_string())?;
        if ws.deadline.is_none_or(|d| head <= d + 3) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// (miner, sequence, window) of every commitment still waiting for its reveal in the
/// sequence's current window.
async fn open_commitments(w: &World) -> Result<Vec<(usize, u64, u64)>, String> {
    let e = |e: ChainError| e.to_string();
    let d = &w.deployment;
    let mut open = vec![];
    for f in sequence_ends(w).await? {
        let ws = d.window_state(&w.admin, w.rollup, f).await.map_err(e)?;
        for (i, m) in w.miners.iter().enumerate() {
            if ws.window != 0 && d.commitment(&w.admin, w.rollup, f, ws.window, *m).await.map_err(e)?.status == CommitmentStatus::Committed
            {
                open.push((i, f, ws.window));
            }
        }
    }
    Ok(open)
}

/// Final batches of the sequences on chain, from its events.
async fn sequence_ends(w: &World) -> Result<Vec<u64>, String> {
    let head = w.chain.head_number();
    let logs = w.admin.logs(w.deployment.manager, 0, head).await.map_err(|e| e.to_string())?;
    let mut ends: Vec<u64> = logs
        .iter()
        .filter_map(|l| <prova_chain::bindings::RollupManager::SequenceBatches as alloy::sol_types::SolEvent>::decode_log(l).ok())
        .map(|e| e.finalNewBatch)
        .collect();
    ends.sort();
    ends.dedup();
    Ok(ends)
}

async fn progress(w: &World) -> String {
    let st = w.deployment.rollup_state(&w.admin, w.rollup).await;
    let open = open_commitments(w).await;
    format!("rollup {st:?}; commitments waiting for a reveal (miner, sequence, window): {open:?}")
}

/// No honest miner ever loses stake.
async fn check_stakes(w: &World) -> Result<(), String> {
    for (i, m) in w.miners.iter().enumerate() {
        let stake = w.deployment.stake_of(&w.admin, *m).await.map_err(|e| e.to_string())?;
        if stake != w.stakes[i] {
            return Err(format!("miner {i} was slashed: stake {stake}, was {}", w.stakes[i]));
        }
    }
    Ok(())
}

/// The invariants, read from the chain and the stores after the nodes stopped.
async fn check(w: &World, report: &mut Report, stalled_at: Option<u64>) -> Result<(), String> {
    let e = |e: ChainError| e.to_string();
    let d = &w.deployment;
    check_stakes(w).await?;
    let unrevealed = open_commitments(w).await?;
    let mut digest = w.chain.head_number().to_be_bytes().to_vec();
    for (i, n) in w.nodes.iter().enumerate() {
        let store = Store::open_with_backend(&format!("sim-miner-{i}"), n.disk.clone(), &n.identity).map_err(|e| e.to_string())?;
        let bad_finals = n.prover.log.lock().unwrap().bad_finals.clone();
        let mut credited = U256::ZERO;
        for sub in store.submissions().map_err(|e| e.to_string())? {
            let f = sub.final_batch;
            digest.extend(format!("{i}:{f}:{:?}:{:?}", sub.state, sub.windows).bytes());
            match &sub.state {
                SubmissionState::Revealed { late, reward_wei } => {
                    report.revealed += 1;
                    credited += U256::from(*reward_wei);
                    let window = *sub.windows.last().ok_or(format!("miner {i}: sequence {f} revealed in no window"))?;
                    let c = d.commitment(&w.admin, w.rollup, f, window, w.miners[i]).await.map_err(e)?;
                    if c.status != CommitmentStatus::Proved {
                        return Err(format!("miner {i}: sequence {f} recorded as revealed, but its commitment is {:?}", c.status));
                    }
                    let ws = d.window_state(&w.admin, w.rollup, f).await.map_err(e)?;
                    let share =
                        if *late || ws.window != window { U256::ZERO } else { w.reward_per_sequence * c.stake / ws.committed_stake };
                    if U256::from(*reward_wei) != share {
                        return Err(format!("miner {i}: sequence {f} credited {reward_wei}, the pro-rata rule says {share}"));
                    }
                }
                SubmissionState::Missed | SubmissionState::Abandoned => {}
                // Behind a sequence every node gave up: waits for it, as it must.
                _ if stalled_at.is_some_and(|s| f > s) => {}
                other => return Err(format!("miner {i}: sequence {f} left as {other:?}")),
            }
        }
        for &(_, f, window) in unrevealed.iter().filter(|(m, ..)| *m == i) {
            let state = store.submission(f).map_err(|e| e.to_string())?.map(|s| s.state);
            if state != Some(SubmissionState::Abandoned) && stalled_at.is_none_or(|s| f <= s) {
                return Err(format!("miner {i}: commitment for sequence {f} in window {window} never revealed; the store says {state:?}"));
            }
        }
        let on_chain = d.rewards_of(&w.admin, w.miners[i]).await.map_err(e)?;
        if on_chain != credited {
            return Err(format!("miner {i}: the store credits {credited}, the chain {on_chain}"));
        }
        for t in store.tasks().map_err(|e| e.to_string())? {
            // A final proof that failed the local check is deleted and proved again.
            let allowed = if t.id.kind() == TaskKind::Final && bad_finals.contains(&(i, t.id.sequence())) { 1 + t.rejections } else { 1 };
            if t.completions > allowed {
                return Err(format!("miner {i}: task {} was proved and stored {} times", t.id, t.completions));
            }
        }
        for q in store.sequences().map_err(|e| e.to_string())? {
            if q.status.is_open() && stalled_at.is_none_or(|s| q.final_batch <= s) {
                return Err(format!("miner {i}: sequence {} still {:?}", q.final_batch, q.status));
            }
            if let SequenceStatus::Unprovable { reason } = &q.status
                && !reason.contains("rejected")
                && !reason.contains("failed")
            {
                return Err(format!("miner {i}: sequence {} unprovable: {reason}", q.final_batch));
            }
        }
    }
    report.digest = keccak256(&digest);
    Ok(())
}

/// The calls per node and block stay bounded whatever the history: the simulation's bound.
pub const MAX_CALLS_PER_BLOCK: u64 = 200;
