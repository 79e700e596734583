//! One miner node: the chain poller (watcher, head, reconcile, resend) around the generator,
//! the manager and the sender.

use std::sync::Arc;
use std::time::Duration;

use prova_chain::contracts::{CommitmentStatus, Deployment, PostedSequence};
use prova_chain::watcher::{Cursor, Poll, Watcher};
use prova_chain::{B256, BaseChain, ChainError};
use prova_store::{Added, Identity, Sequence, SequenceStatus, Store, SubmissionState, WatchedCommitment};
use tokio::sync::{RwLock, mpsc, watch};
use tokio::task::AbortHandle;
use tracing::{Instrument, info, info_span, warn};

use crate::NodeError;
use crate::generator::{self, GeneratorConfig, GeneratorHandle};
use crate::manager;
use crate::plugins::Reloader;
use crate::prover::{Checker, Prover};
use crate::sender::{ChainCtx, Sender, Which};
use crate::upkeep::{self, UpkeepConfig};

/// Store key of the watcher's cursor.
const CURSOR: &str = "watcher";

/// Blocks the proofs and batch data of a closed sequence are kept by default: a day of
/// 12-second blocks, long enough for an operator to look at what just happened.
pub const DEFAULT_RETENTION_BLOCKS: u64 = 7_200;

/// Everything a node runs with: the chains it follows, each with the rollups it serves there.
pub struct NodeParams {
    pub chains: Vec<ChainParams>,
    /// Local workers, shared by every rollup.
    pub generator: GeneratorConfig,
    /// How often each chain is polled.
    pub poll: Duration,
    /// Blocks after which the proofs and batch data of a closed sequence are pruned.
    pub retention_blocks: u64,
    /// Follows the plugin folder, polling this often (none: the plugins are fixed).
    pub reloader: Option<(Reloader, Duration)>,
}

/// One base chain: one client (so one nonce sequence and one outbox for the node's key), one
/// poller, and the rollups served on it.
pub struct ChainParams {
    /// How logs name the chain (the config's `[[chains]] name`).
    pub name: String,
    pub chain: Arc<dyn BaseChain>,
    pub deployment: Deployment,
    /// The keeper (for every rollup) and the automatic rewards withdrawal (once per chain:
    /// rewards are credited per miner, not per rollup).
    pub upkeep: UpkeepConfig,
    pub rollups: Vec<ServedRollup>,
}

/// One rollup the node serves.
pub struct ServedRollup {
    pub rollup: u32,
    /// Opened for [`identity`] of this chain, contract, rollup and key.
    pub store: Arc<Store>,
    /// Checks posted batches and final proofs (the rollup's plugin, in a node).
    pub checker: Arc<dyn Checker>,
    /// Runs proof jobs (the plugin, in a node).
    pub prover: Arc<dyn Prover>,
    /// Sequences ending at or below this batch are history: not proved (a new miner's setting).
    pub start_batch: u64,
    /// Among tasks of several rollups needed at the same block, a higher weight goes first.
    pub weight: u32,
}

/// The default weight of a rollup.
pub const DEFAULT_WEIGHT: u32 = 1;

/// Who a node's store belongs to, read from the chain: chain id and genesis, manager, rollup
/// and miner.
pub async fn identity(chain: &dyn BaseChain, deployment: &Deployment, rollup: u32) -> Result<Identity, NodeError> {
    let genesis = chain.block_hash(0).await?.ok_or_else(|| NodeError::Config("the chain has no block 0".into()))?;
    Ok(Identity { chain_id: chain.chain_id(), genesis: genesis.0, manager: deployment.manager.0.0, rollup, miner: chain.sender().0.0 })
}

/// Aborts the node's tasks when the node's future is dropped (a crash in the simulation, a
/// cancelled caller): no task outlives the node that spawned it.
struct Tasks(Vec<AbortHandle>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Reads the chain until it answers: a node that starts during an RPC outage waits it out. A
/// refusal or an answer that does not decode is an error at once (a wrong rollup or address).
async fn until_answered<T, F: std::future::Future<Output = Result<T, ChainError>>>(
    what: &str,
    poll: Duration,
    mut read: impl FnMut() -> F,
) -> Result<T, NodeError> {
    loop {
        match read().await {
            Err(e @ ChainError::Rpc { .. }) => {
                warn!(error = %e, "{what}: the chain does not answer; retrying");
                tokio::time::sleep(poll).await;
            }
            r => return Ok(r?),
        }
    }
}

/// Runs the node until `shutdown` turns true; then it takes no new work, lets running jobs
/// store their proofs and the sender finish the step in hand, and returns.
pub async fn run(p: NodeParams, shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
    let miners: Vec<String> = p.chains.iter().map(|c| c.chain.sender().to_string()).collect();
    let span = info_span!("node", miner = %miners.first().map_or("", String::as_str));
    run_inner(p, shutdown).instrument(span).await
}

/// What the node keeps of one rollup while it runs.
struct Live {
    ctx: Arc<ChainCtx>,
    sender: Arc<Sender>,
    generator: GeneratorHandle,
    start_batch: u64,
}

async fn run_inner(p: NodeParams, shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
    if p.chains.iter().all(|c| c.rollups.is_empty()) {
        return Err(NodeError::Config("no rollup to serve".into()));
    }
    // Per chain: its head and its rollups' windows, read before anything starts.
    let mut lanes = vec![];
    let mut started = vec![];
    for c in &p.chains {
        let chain = c.chain.clone();
        if let Err(e) = chain.reconcile().await {
            warn!(chain = c.name, error = %e, "outbox reconcile failed at start: retried on each block");
        }
        let head = until_answered("head", p.poll, || chain.head()).await?.number;
        let (head_tx, head_rx) = watch::channel(head);
        let mut rollups = vec![];
        for r in &c.rollups {
            let (t1, t2) = until_answered("windows", p.poll, || c.deployment.windows(chain.as_ref(), r.rollup)).await?;
            info!(chain = c.name, rollup = r.rollup, t1, t2, head, start_batch = r.start_batch, weight = r.weight, "serving rollup");
            let (finals_tx, finals_rx) = mpsc::unbounded_channel();
            lanes.push(generator::Lane {
                store: r.store.clone(),
                prover: r.prover.clone(),
                miner: chain.sender().0.0,
                finals: finals_tx,
                horizon: t1,
                weight: r.weight,
                head: head_rx.clone(),
            });
            rollups.push(finals_rx);
        }
        started.push((head_tx, head_rx, rollups));
    }
    info!(chains = p.chains.len(), rollups = lanes.len(), workers = p.generator.workers, "node starting");
    let (handles, gen_task) = generator::spawn(lanes, p.generator.clone(), shutdown.clone())?;
    let mut handles = handles.into_iter();
    let mut tasks = Tasks(vec![gen_task.abort_handle()]);
    if let Some((reloader, every)) = p.reloader {
        tasks.0.push(tokio::spawn(reloader.run(every, shutdown.clone()).instrument(info_span!("plugins"))).abort_handle());
    }
    let mut joins = vec![];
    let mut pollers = vec![];
    for (c, (head_tx, head_rx, finals)) in p.chains.into_iter().zip(started) {
        let reveal_gate = Arc::new(RwLock::new(()));
        let mut served = vec![];
        for (i, (r, finals_rx)) in c.rollups.into_iter().zip(finals).enumerate() {
            let generator = handles.next().ok_or_else(|| NodeError::Inconsistent("a rollup without a generator lane".into()))?;
            let ctx = Arc::new(ChainCtx {
                chain: c.chain.clone(),
                deployment: c.deployment,
                rollup: r.rollup,
                store: r.store.clone(),
                checker: r.checker.clone(),
                head: head_rx.clone(),
                reveal_gate: reveal_gate.clone(),
            });
            let span = info_span!("rollup", chain = c.name, rollup = r.rollup);
            let sender = Sender::new(ctx.clone(), generator.clone(), p.generator.max_attempts);
            for t in sender.spawn(shutdown.clone()) {
                tasks.0.push(t.abort_handle());
                joins.push(t);
            }
            span.in_scope(|| manager::submit_pending_proof(&r.store, &sender))?;
            let fetch = tokio::spawn(manager::try_fetch_proof_to_send(sender.clone(), finals_rx).instrument(span.clone()));
            tasks.0.push(fetch.abort_handle());
            // Rewards are credited per miner: the first rollup of a chain withdraws them.
            let upkeep_cfg = UpkeepConfig { withdraw_rewards_at: c.upkeep.withdraw_rewards_at.filter(|_| i == 0), ..c.upkeep.clone() };
            if upkeep_cfg.keeper || upkeep_cfg.withdraw_rewards_at.is_some() {
                span.in_scope(|| info!(keeper = upkeep_cfg.keeper, withdraw_rewards_at = ?upkeep_cfg.withdraw_rewards_at, "upkeep on"));
            }
            let upkeep_task = upkeep::spawn(ctx.clone(), sender.clone(), upkeep_cfg, shutdown.clone());
            tasks.0.push(upkeep_task.abort_handle());
            joins.push(upkeep_task);
            served.push(Live { ctx, sender, generator, start_batch: r.start_batch });
        }
        let mut rollups = vec![];
        for s in served {
            let cursor = match s.ctx.store.cursor(CURSOR)? {
                Some(c) => c,
                None => Cursor {
                    next_block: until_answered("registration", p.poll, || {
                        s.ctx.deployment.registered_at(s.ctx.chain.as_ref(), s.ctx.rollup)
                    })
                    .await?,
                    last: None,
                },
            };
            rollups.push(RollupPoller { watcher: Watcher::new(s.ctx.deployment.manager, s.ctx.rollup), cursor, live: s, paused: None });
        }
        let poller = Poller {
            name: c.name.clone(),
            chain: c.chain.clone(),
            rollups,
            head_tx,
            keeper: c.upkeep.keeper,
            last_head: None,
            retention_blocks: p.retention_blocks,
        };
        let poll = p.poll;
        let task = tokio::spawn(poller.run(poll, shutdown.clone()).instrument(info_span!("chain", chain = c.name)));
        tasks.0.push(task.abort_handle());
        pollers.push(task);
    }
    for t in pollers {
        let _ = t.await;
    }
    info!("stopping: no new work; finishing what is in flight");
    let gen_result = gen_task.await.map_err(|e| NodeError::Inconsistent(format!("generator panicked: {e}")))?;
    for t in joins {
        let _ = t.await;
    }
    drop(tasks);
    info!("stopped");
    gen_result
}

/// One chain's poller: one head read per poll, and on a new head the outbox, then each rollup's
/// resend scan, watcher and pruning.
struct Poller {
    name: String,
    chain: Arc<dyn BaseChain>,
    rollups: Vec<RollupPoller>,
    head_tx: watch::Sender<u64>,
    /// Record other miners' commitments for the keeper.
    keeper: bool,
    last_head: Option<u64>,
    retention_blocks: u64,
}

/// A rollup as its chain's poller follows it.
struct RollupPoller {
    live: Live,
    watcher: Watcher,
    cursor: Cursor,
    /// Why it takes no new sequences now (its plugin was removed), as last logged.
    paused: Option<String>,
}

impl Poller {
    async fn run(mut self, poll: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.poll().await {
                warn!(chain = self.name, error = %e, "chain poll failed: retrying");
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One poll: nothing but the head when it has not moved; on a new head, the outbox, then
    /// per rollup the resend scan, the watcher and pruning.
    async fn poll(&mut self) -> Result<(), NodeError> {
        let head = self.chain.head().await?.number;
        if self.last_head == Some(head) {
            return Ok(());
        }
        let _ = self.head_tx.send(head);
        self.chain.reconcile().await?;
        let mut first_error = None;
        for r in &mut self.rollups {
            let span = info_span!("rollup", rollup = r.live.ctx.rollup);
            if let Err(e) = r.poll(head, self.keeper, self.retention_blocks).instrument(span).await {
                // The other rollups still get their turn; this one is retried on this head.
                warn!(rollup = r.live.ctx.rollup, error = %e, "rollup poll failed: retrying");
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Last: a failed step above is retried on this head by the next poll.
        self.last_head = Some(head);
        Ok(())
    }
}

impl RollupPoller {
    async fn poll(&mut self, head: u64, keeper: bool, retention_blocks: u64) -> Result<(), NodeError> {
        let ctx = self.live.ctx.clone();
        let chain = ctx.chain.as_ref();
        manager::process_resend(&ctx, &self.live.sender, &self.live.generator).await?;
        // A rollup whose plugin is gone reads nothing new: its cursor stays where it is, so
        // what is posted meanwhile is read when the plugin is back.
        let paused = ctx.checker.accepts_new().err();
        if paused != self.paused {
            match &paused {
                Some(why) => warn!("{why}: this rollup takes no new sequences; those taken are finished"),
                None => info!("taking new sequences again"),
            }
            self.paused = paused;
        }
        if self.paused.is_some() {
            return Ok(());
        }
        let mut cursor = self.cursor.clone();
        let found = self.watcher.poll(chain, &mut cursor).await?;
        if found.reorged {
            warn!("reorg under the watcher: open sequences checked against the chain, sequences re-read");
            self.close_orphans(head).await?;
            self.reopen_undone(head).await?;
        }
        let last_verified = ctx.deployment.rollup_state(chain, ctx.rollup).await?.last_verified_batch;
        let watch = self.to_watch(&found, keeper);
        for s in found.sequences {
            self.ingest(s, head, last_verified).await?;
        }
        ctx.store.advance_cursor(CURSOR, &cursor, &watch)?;
        self.cursor = cursor;
        let pruned = ctx.store.prune(head.saturating_sub(retention_blocks))?;
        if pruned > 0 {
            info!(pruned, "proofs and batch data of closed sequences pruned");
        }
        Ok(())
    }

    /// Other miners' commitments the keeper should watch (none when the keeper is off).
    fn to_watch(&self, found: &Poll, keeper: bool) -> Vec<WatchedCommitment> {
        let me = self.live.ctx.me();
        found
            .commitments
            .iter()
            .filter(|c| keeper && c.miner != me)
            .map(|c| WatchedCommitment { final_batch: c.final_batch, window: c.window, miner: c.miner.0.0 })
            .collect()
    }
    /// After a reorg: open sequences the chain no longer has as stored (taken, or posted with
    /// other data) are closed; what was posted again is stored afresh by the re-read.
    async fn close_orphans(&self, head: u64) -> Result<(), NodeError> {
        let ctx = &self.live.ctx;
        let (store, chain) = (&ctx.store, ctx.chain.as_ref());
        for seq in store.open_sequences()? {
            let f = seq.final_batch;
            let on_chain = ctx.deployment.sequence_of(chain, ctx.rollup, f).await?;
            if on_chain != Some((seq.init_batch, B256::from(seq.acc_input_hash))) && store.close_replaced(f, head)? {
                warn!(sequence = f, "a reorg took the sequence's data: work on it stopped");
                self.live.generator.forget(f);
            }
        }
        Ok(())
    }

    /// After a reorg: submissions settled in the last blocks whose settling transaction the
    /// reorg undid (our reveal re-included too early and refused, the others' verification gone)
    /// are opened again, so that the sender observes them and reveals or commits anew.
    async fn reopen_undone(&self, head: u64) -> Result<(), NodeError> {
        let ctx = &self.live.ctx;
        let (store, chain, me) = (&ctx.store, ctx.chain.as_ref(), ctx.me());
        let (d, rollup) = (&ctx.deployment, ctx.rollup);
        for f in store.closed_since(head.saturating_sub(self.watcher.lookback))? {
            let Some(sub) = store.submission(f)? else { continue };
            let back = match (&sub.state, sub.windows.last()) {
                (SubmissionState::Revealed { .. } | SubmissionState::Slashed { .. }, Some(&w)) => {
                    (d.commitment(chain, rollup, f, w, me).await?.status == CommitmentStatus::Committed)
                        .then_some(SubmissionState::Committed)
                }
                (SubmissionState::Missed, _) => {
                    d.window_state(chain, rollup, f).await?.verified_at.is_none().then_some(SubmissionState::Ready)
                }
                _ => None,
            };
            if let Some(state) = back
                && store.reopen(f, state)?
            {
                warn!(sequence = f, was = ?sub.state, "a reorg undid how this submission settled: observing it again");
                self.live.sender.push(Which::Watch, f);
            }
        }
        Ok(())
    }

    /// Stores a new (or reorg-replaced) sequence and schedules it, after checking its data
    /// against its commitments; the status it is stored with decides whether it gets tasks.
    async fn ingest(&self, s: PostedSequence, head: u64, last_verified: u64) -> Result<(), NodeError> {
        let f = s.final_new_batch;
        if f <= self.live.start_batch || f <= last_verified {
            return Ok(());
        }
        let ctx = &self.live.ctx;
        let store = &ctx.store;
        let data: Vec<Vec<u8>> = s.data.iter().map(|d| d.to_vec()).collect();
        let commitments: Vec<[u8; 32]> = s.commitments.iter().map(|c| c.0).collect();
        let mut record = Sequence {
            init_batch: s.init_num_batch,
            final_batch: f,
            acc_input_hash: s.acc_input_hash.0,
            commitments,
            seen_block: head,
            status: SequenceStatus::Proving,
            closed_block: None,
        };
        let known = store.sequence(f)?;
        if let Some(k) = &known
            && k.init_batch == record.init_batch
            && k.acc_input_hash == record.acc_input_hash
            && k.status != SequenceStatus::Replaced
        {
            return Ok(());
        }
        if let Some(reason) = check_batches(ctx.checker.as_ref(), f, &data, &record.commitments).await {
            warn!(sequence = f, reason, "posted data does not match its commitments: not proving it");
            record.status = SequenceStatus::Unprovable { reason };
            record.closed_block = Some(head);
        }
        let added = if known.is_some() {
            // A reorg replaced the data: everything derived from the old data goes.
            warn!(sequence = f, "a reorg replaced the sequence's data: proving the new data");
            self.live.generator.forget(f);
            store.replace_sequence(&record, &data)?;
            Added::New
        } else {
            store.add_sequence(&record, &data)?
        };
        if added == Added::New && record.status == SequenceStatus::Proving {
            info!(sequence = f, batches = record.batches(), "new sequence");
            self.live.generator.add_sequence(f);
        }
        Ok(())
    }
}

/// Why a sequence's posted data cannot be proved, if it cannot: each batch must state the
/// posted commitment, and the batches must chain (one's new root is the next one's old root).
async fn check_batches(checker: &dyn Checker, f: u64, data: &[Vec<u8>], commitments: &[[u8; 32]]) -> Option<String> {
    if data.len() != commitments.len() || data.is_empty() {
        return Some(format!("{} batches of data for {} commitments", data.len(), commitments.len()));
    }
    let mut prev_root: Option<Vec<u8>> = None;
    for (i, (d, c)) in data.iter().zip(commitments).enumerate() {
        let st = match checker.inspect_batch(&format!("inspect {f}/{i}"), d.clone()).await {
            Ok(st) => st,
            Err(e) => return Some(format!("batch {i}: {e}")),
        };
        if st.commitment != c.as_slice() {
            return Some(format!("batch {i}: its data commits to 0x{}, the chain has 0x{}", hex::encode(&st.commitment), hex::encode(c)));
        }
        if prev_root.as_ref().is_some_and(|r| *r != st.old_state_root) {
            return Some(format!("batch {i} does not start where batch {} ends", i - 1));
        }
        prev_root = Some(st.new_state_root);
    }
    None
}
