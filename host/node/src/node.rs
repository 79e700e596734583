//! One miner node: the chain poller (watcher, head, reconcile, resend) around the generator,
//! the manager and the sender.

use std::sync::Arc;
use std::time::Duration;

use prova_chain::contracts::{CommitmentStatus, Deployment, PostedSequence};
use prova_chain::watcher::{Cursor, Poll, Watcher};
use prova_chain::{B256, BaseChain, ChainError};
use prova_store::{Added, Identity, Sequence, SequenceStatus, Store, SubmissionState, WatchedCommitment};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tracing::{Instrument, info, info_span, warn};

use crate::NodeError;
use crate::generator::{self, GeneratorConfig, GeneratorHandle};
use crate::manager;
use crate::prover::{Checker, Prover};
use crate::sender::{ChainCtx, Sender, Which};
use crate::upkeep::{self, UpkeepConfig};

/// Store key of the watcher's cursor.
const CURSOR: &str = "watcher";

/// Blocks the proofs and batch data of a closed sequence are kept by default: a day of
/// 12-second blocks, long enough for an operator to look at what just happened.
pub const DEFAULT_RETENTION_BLOCKS: u64 = 7_200;

/// Everything a node runs with.
pub struct NodeParams {
    pub chain: Arc<dyn BaseChain>,
    pub deployment: Deployment,
    pub rollup: u32,
    /// Opened for [`identity`] of this chain, contract, rollup and key.
    pub store: Arc<Store>,
    /// Checks posted batches and final proofs (the rollup's plugin, in a node).
    pub checker: Arc<dyn Checker>,
    /// Runs proof jobs (the plugin, in a node).
    pub prover: Arc<dyn Prover>,
    pub generator: GeneratorConfig,
    /// Sequences ending at or below this batch are history: not proved (a new miner's setting).
    pub start_batch: u64,
    /// How often the chain is polled.
    pub poll: Duration,
    /// Blocks after which the proofs and batch data of a closed sequence are pruned.
    pub retention_blocks: u64,
    /// The keeper and the automatic rewards withdrawal.
    pub upkeep: UpkeepConfig,
}

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
    let span = info_span!("node", miner = %p.chain.sender());
    run_inner(p, shutdown).instrument(span).await
}

async fn run_inner(p: NodeParams, mut shutdown: watch::Receiver<bool>) -> Result<(), NodeError> {
    let chain = p.chain.clone();
    let me = chain.sender();
    if let Err(e) = chain.reconcile().await {
        warn!(error = %e, "outbox reconcile failed at start: retried on each block");
    }
    let (t1, t2) = until_answered("windows", p.poll, || p.deployment.windows(chain.as_ref(), p.rollup)).await?;
    let head = until_answered("head", p.poll, || chain.head()).await?.number;
    info!(rollup = p.rollup, t1, t2, head, workers = p.generator.workers, start_batch = p.start_batch, "node starting");

    let (head_tx, head_rx) = watch::channel(head);
    let (finals_tx, finals_rx) = mpsc::unbounded_channel();
    let (generator_handle, gen_task) =
        generator::spawn(p.store.clone(), p.prover.clone(), me.0.0, p.generator.clone(), finals_tx, head_rx.clone(), shutdown.clone())?;
    let mut tasks = Tasks(vec![gen_task.abort_handle()]);
    let ctx = Arc::new(ChainCtx {
        chain: chain.clone(),
        deployment: p.deployment,
        rollup: p.rollup,
        store: p.store.clone(),
        checker: p.checker.clone(),
        head: head_rx,
    });
    let sender = Sender::new(ctx.clone(), generator_handle.clone(), p.generator.max_attempts);
    let sender_tasks = sender.spawn(shutdown.clone());
    tasks.0.extend(sender_tasks.iter().map(|t| t.abort_handle()));
    manager::submit_pending_proof(&p.store, &sender)?;
    let fetch = tokio::spawn(manager::try_fetch_proof_to_send(sender.clone(), finals_rx));
    tasks.0.push(fetch.abort_handle());
    if p.upkeep.keeper || p.upkeep.withdraw_rewards_at.is_some() {
        info!(keeper = p.upkeep.keeper, withdraw_rewards_at = ?p.upkeep.withdraw_rewards_at, "upkeep on");
    }
    let upkeep_task = upkeep::spawn(ctx.clone(), sender.clone(), p.upkeep.clone(), shutdown.clone());
    tasks.0.push(upkeep_task.abort_handle());

    let mut poller = Poller {
        ctx: ctx.clone(),
        sender: sender.clone(),
        generator_handle,
        watcher: Watcher::new(p.deployment.manager, p.rollup),
        cursor: match p.store.cursor(CURSOR)? {
            Some(c) => c,
            None => Cursor {
                next_block: until_answered("registration", p.poll, || p.deployment.registered_at(chain.as_ref(), p.rollup)).await?,
                last: None,
            },
        },
        head_tx,
        keeper: p.upkeep.keeper,
        last_head: None,
        start_batch: p.start_batch,
        retention_blocks: p.retention_blocks,
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = poller.poll().await {
            warn!(error = %e, "chain poll failed: retrying");
        }
        tokio::select! {
            biased;
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(p.poll) => {}
        }
    }
    info!("stopping: no new work; finishing what is in flight");
    let gen_result = gen_task.await.map_err(|e| NodeError::Inconsistent(format!("generator panicked: {e}")))?;
    for t in sender_tasks {
        let _ = t.await;
    }
    let _ = upkeep_task.await;
    drop(tasks);
    info!("stopped");
    gen_result
}

struct Poller {
    ctx: Arc<ChainCtx>,
    sender: Arc<Sender>,
    generator_handle: GeneratorHandle,
    watcher: Watcher,
    cursor: Cursor,
    head_tx: watch::Sender<u64>,
    /// Record other miners' commitments for the keeper.
    keeper: bool,
    last_head: Option<u64>,
    start_batch: u64,
    retention_blocks: u64,
}

impl Poller {
    /// One poll: nothing but the head when it has not moved; on a new head, the outbox, the
    /// resend scan, the watcher and pruning.
    async fn poll(&mut self) -> Result<(), NodeError> {
        let chain = self.ctx.chain.as_ref();
        let head = chain.head().await?.number;
        if self.last_head == Some(head) {
            return Ok(());
        }
        let _ = self.head_tx.send(head);
        chain.reconcile().await?;
        manager::process_resend(&self.ctx, &self.sender, &self.generator_handle).await?;
        let mut cursor = self.cursor.clone();
        let found = self.watcher.poll(chain, &mut cursor).await?;
        if found.reorged {
            warn!("reorg under the watcher: open sequences checked against the chain, sequences re-read");
            self.close_orphans(head).await?;
            self.reopen_undone(head).await?;
        }
        let last_verified = self.ctx.deployment.rollup_state(chain, self.ctx.rollup).await?.last_verified_batch;
        let watch = self.to_watch(&found);
        for s in found.sequences {
            self.ingest(s, head, last_verified).await?;
        }
        self.ctx.store.advance_cursor(CURSOR, &cursor, &watch)?;
        self.cursor = cursor;
        let pruned = self.ctx.store.prune(head.saturating_sub(self.retention_blocks))?;
        if pruned > 0 {
            info!(pruned, "proofs and batch data of closed sequences pruned");
        }
        // Last: a failed step above is retried on this head by the next poll.
        self.last_head = Some(head);
        Ok(())
    }

    /// Other miners' commitments the keeper should watch (none when the keeper is off).
    fn to_watch(&self, found: &Poll) -> Vec<WatchedCommitment> {
        let me = self.ctx.me();
        found
            .commitments
            .iter()
            .filter(|c| self.keeper && c.miner != me)
            .map(|c| WatchedCommitment { final_batch: c.final_batch, window: c.window, miner: c.miner.0.0 })
            .collect()
    }

    /// After a reorg: open sequences the chain no longer has as stored (taken, or posted with
    /// other data) are closed; what was posted again is stored afresh by the re-read.
    async fn close_orphans(&self, head: u64) -> Result<(), NodeError> {
        let (store, chain) = (&self.ctx.store, self.ctx.chain.as_ref());
        for seq in store.open_sequences()? {
            let f = seq.final_batch;
            let on_chain = self.ctx.deployment.sequence_of(chain, self.ctx.rollup, f).await?;
            if on_chain != Some((seq.init_batch, B256::from(seq.acc_input_hash))) && store.close_replaced(f, head)? {
                warn!(sequence = f, "a reorg took the sequence's data: work on it stopped");
                self.generator_handle.forget(f);
            }
        }
        Ok(())
    }

    /// After a reorg: submissions settled in the last blocks whose settling transaction the
    /// reorg undid (our reveal re-included too early and refused, the others' verification gone)
    /// are opened again, so that the sender observes them and reveals or commits anew.
    async fn reopen_undone(&self, head: u64) -> Result<(), NodeError> {
        let (store, chain, me) = (&self.ctx.store, self.ctx.chain.as_ref(), self.ctx.me());
        let (d, rollup) = (&self.ctx.deployment, self.ctx.rollup);
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
                self.sender.push(Which::Watch, f);
            }
        }
        Ok(())
    }

    /// Stores a new (or reorg-replaced) sequence and schedules it, after checking its data
    /// against its commitments; the status it is stored with decides whether it gets tasks.
    async fn ingest(&self, s: PostedSequence, head: u64, last_verified: u64) -> Result<(), NodeError> {
        let f = s.final_new_batch;
        if f <= self.start_batch || f <= last_verified {
            return Ok(());
        }
        let store = &self.ctx.store;
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
        if let Some(reason) = check_batches(self.ctx.checker.as_ref(), f, &data, &record.commitments).await {
            warn!(sequence = f, reason, "posted data does not match its commitments: not proving it");
            record.status = SequenceStatus::Unprovable { reason };
            record.closed_block = Some(head);
        }
        let added = if known.is_some() {
            // A reorg replaced the data: everything derived from the old data goes.
            warn!(sequence = f, "a reorg replaced the sequence's data: proving the new data");
            self.generator_handle.forget(f);
            store.replace_sequence(&record, &data)?;
            Added::New
        } else {
            store.add_sequence(&record, &data)?
        };
        if added == Added::New && record.status == SequenceStatus::Proving {
            info!(sequence = f, batches = record.batches(), "new sequence");
            self.generator_handle.add_sequence(f);
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
