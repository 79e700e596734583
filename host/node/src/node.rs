//! One miner node: the chain poller (watcher, head, reconcile, resend) around the generator,
//! the manager and the sender.

use std::sync::Arc;
use std::time::Duration;

use prova_chain::BaseChain;
use prova_chain::contracts::{Deployment, PostedSequence};
use prova_chain::watcher::{Cursor, Watcher};
use prova_runtime::Plugin;
use prova_store::{Sequence, SequenceStatus, Store};
use tokio::sync::{mpsc, watch};
use tracing::{Instrument, info, info_span, warn};

use crate::NodeError;
use crate::generator::{self, GeneratorConfig, GeneratorHandle};
use crate::manager;
use crate::prover::Prover;
use crate::sender::{ChainCtx, Sender};

/// Store key of the watcher's cursor.
const CURSOR: &str = "watcher";

/// Everything a node runs with.
pub struct NodeParams {
    pub chain: Arc<dyn BaseChain>,
    pub deployment: Deployment,
    pub rollup: u32,
    pub store: Arc<Store>,
    /// The rollup's plugin: checks posted batches and final proofs.
    pub plugin: Arc<Plugin>,
    /// Runs proof jobs (the plugin, in a node).
    pub prover: Arc<dyn Prover>,
    pub generator: GeneratorConfig,
    /// Sequences ending at or below this batch are history: not proved (a new miner's setting).
    pub start_batch: u64,
    /// How often the chain is polled.
    pub poll: Duration,
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
    let (t1, t2) = p.deployment.windows(chain.as_ref(), p.rollup).await?;
    let head = chain.head().await?.number;
    info!(rollup = p.rollup, t1, t2, head, workers = p.generator.workers, start_batch = p.start_batch, "node starting");

    let (head_tx, head_rx) = watch::channel(head);
    let (finals_tx, finals_rx) = mpsc::unbounded_channel();
    let (generator_handle, gen_task) =
        generator::spawn(p.store.clone(), p.prover.clone(), me.0.0, p.generator.clone(), finals_tx, shutdown.clone())?;
    let ctx = Arc::new(ChainCtx {
        chain: chain.clone(),
        deployment: p.deployment,
        rollup: p.rollup,
        store: p.store.clone(),
        plugin: p.plugin.clone(),
        head: head_rx,
    });
    let sender = Sender::new(ctx.clone(), generator_handle.clone());
    let sender_tasks = sender.spawn(shutdown.clone());
    manager::submit_pending_proof(&p.store, &sender)?;
    let fetch = tokio::spawn(manager::try_fetch_proof_to_send(p.store.clone(), sender.clone(), finals_rx));

    let mut poller = Poller {
        ctx: ctx.clone(),
        sender: sender.clone(),
        generator_handle,
        watcher: Watcher::new(p.deployment.manager, p.rollup),
        cursor: match p.store.cursor(CURSOR)? {
            Some(c) => c,
            None => Cursor { next_block: p.deployment.registered_at(chain.as_ref(), p.rollup).await?, last: None },
        },
        head_tx,
        last_head: None,
        start_batch: p.start_batch,
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = poller.poll().await {
            warn!(error = %e, "chain poll failed: retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(p.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    info!("stopping: no new work; finishing what is in flight");
    let gen_result = gen_task.await.map_err(|e| NodeError::Inconsistent(format!("generator panicked: {e}")))?;
    for t in sender_tasks {
        let _ = t.await;
    }
    fetch.abort();
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
    last_head: Option<u64>,
    start_batch: u64,
}

impl Poller {
    async fn poll(&mut self) -> Result<(), NodeError> {
        let chain = self.ctx.chain.as_ref();
        let head = chain.head().await?.number;
        if self.last_head != Some(head) {
            self.last_head = Some(head);
            let _ = self.head_tx.send(head);
            chain.reconcile().await?;
            manager::process_resend(&self.ctx, &self.sender, &self.generator_handle).await?;
        }
        let mut cursor = self.cursor.clone();
        let found = self.watcher.poll(chain, &mut cursor).await?;
        if found.reorged {
            warn!("reorg under the watcher: sequences re-read, submissions re-checked on chain");
        }
        let (_, last_verified, _, _) = self.ctx.deployment.rollup_state(chain, self.ctx.rollup).await?;
        for s in found.sequences {
            self.ingest(s, head, last_verified).await?;
        }
        self.ctx.store.set_cursor(CURSOR, &cursor)?;
        self.cursor = cursor;
        Ok(())
    }

    /// Stores a new sequence and schedules it, after checking its data against its commitments.
    async fn ingest(&self, s: PostedSequence, head: u64, last_verified: u64) -> Result<(), NodeError> {
        let f = s.final_new_batch;
        if f <= self.start_batch || f <= last_verified || self.ctx.store.sequence(f)?.is_some() {
            return Ok(());
        }
        let plugin = self.ctx.plugin.clone();
        let (data, commitments): (Vec<Vec<u8>>, Vec<[u8; 32]>) =
            (s.data.iter().map(|d| d.to_vec()).collect(), s.commitments.iter().map(|c| c.0).collect());
        let checked = (data.clone(), commitments.clone());
        let problem = tokio::task::spawn_blocking(move || check_batches(&plugin, f, &checked.0, &checked.1))
            .await
            .map_err(|e| NodeError::Inconsistent(format!("batch check panicked: {e}")))?;
        let status = match &problem {
            None => SequenceStatus::Proving,
            Some(reason) => {
                warn!(sequence = f, reason, "posted data does not match its commitments: not proving it");
                SequenceStatus::Unprovable { reason: reason.clone() }
            }
        };
        let record = Sequence {
            init_batch: s.init_num_batch,
            final_batch: f,
            acc_input_hash: s.acc_input_hash.0,
            commitments,
            seen_block: head,
            status,
        };
        if self.ctx.store.add_sequence(&record, &data)? {
            if problem.is_none() {
                info!(sequence = f, batches = record.batches(), "new sequence");
                self.generator_handle.add_sequence(f);
            } else {
                self.ctx.store.drop_tasks(f)?;
            }
        }
        Ok(())
    }
}

/// Why a sequence's posted data cannot be proved, if it cannot: each batch must state the
/// posted commitment, and the batches must chain (one's new root is the next one's old root).
fn check_batches(plugin: &Plugin, f: u64, data: &[Vec<u8>], commitments: &[[u8; 32]]) -> Option<String> {
    if data.len() != commitments.len() || data.is_empty() {
        return Some(format!("{} batches of data for {} commitments", data.len(), commitments.len()));
    }
    let mut prev_root: Option<Vec<u8>> = None;
    for (i, (d, c)) in data.iter().zip(commitments).enumerate() {
        let st = match plugin.inspect_batch(&format!("inspect {f}/{i}"), d) {
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
