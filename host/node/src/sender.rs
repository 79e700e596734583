//! The Proof Sender: the two-step submission through three caches, each drained by its own task.
//!
//! - `commits` (the seed's `finalProofMsgCache`): final proofs whose hash is to be committed.
//! - `watch` (`monitPHTxCache`): committed hashes, watched until the reveal may go out.
//! - `reveals` (`ProofHashCache`): proofs to reveal.
//!
//! A cache holds sequence numbers (final batch), so it is deduplicated by sequence and drained
//! lowest first; what a step needs it reads from the store and the chain. Each step first
//! reconciles with the chain (is our commitment there? in which window? was the sequence
//! verified?) and only then acts, so an ambiguous failure (a crash, an RPC outage, a reorg) is
//! settled by reading the chain, never by guessing. Every step writes its intent to the store
//! before it sends; every transaction goes through the chain handle's outbox.
//!
//! A step that cannot act yet (too early, predecessor unverified, commit phase over) leaves the
//! sequence in its cache for the next block. Reveals take priority: a commit waits while a
//! reveal is being sent, so a reveal never queues behind new commits for a nonce.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prova_chain::contracts::{Deployment, RevealOutcome, WindowState, proof_hash};
use prova_chain::{Address, B256, BaseChain, ChainError};
use prova_runtime::{Plugin, Stage};
use prova_store::{SequenceStatus, Store, Submission, SubmissionState, TaskId, TaskKind};
use tokio::sync::{Notify, watch};
use tracing::{Instrument, error, info, info_span, warn};

use crate::NodeError;
use crate::generator::GeneratorHandle;

/// A sequence-ordered, deduplicated cache with a wake-up.
#[derive(Default)]
pub struct Cache {
    items: Mutex<BTreeSet<u64>>,
    notify: Notify,
}

impl Cache {
    /// Adds a sequence and wakes the cache's task.
    pub fn push(&self, final_batch: u64) {
        self.items.lock().expect("cache lock").insert(final_batch);
        self.notify.notify_one();
    }

    /// Adds a sequence back for the next block, without waking the task now.
    fn keep(&self, final_batch: u64) {
        self.items.lock().expect("cache lock").insert(final_batch);
    }

    fn take_all(&self) -> Vec<u64> {
        std::mem::take(&mut *self.items.lock().expect("cache lock")).into_iter().collect()
    }

    pub fn contains(&self, final_batch: u64) -> bool {
        self.items.lock().expect("cache lock").contains(&final_batch)
    }
}

/// Where a step sends a sequence next.
enum Route {
    Commit,
    Watch,
    Reveal,
    /// Not now: the same cache, next block.
    Wait,
    /// Nothing more to do.
    Done,
}

/// What every part of the node that talks to the chain shares.
pub struct ChainCtx {
    pub chain: Arc<dyn BaseChain>,
    pub deployment: Deployment,
    pub rollup: u32,
    pub store: Arc<Store>,
    pub plugin: Arc<Plugin>,
    /// The newest block number seen by the node's poller.
    pub head: watch::Receiver<u64>,
}

impl ChainCtx {
    pub fn me(&self) -> Address {
        self.chain.sender()
    }
}

pub struct Sender {
    ctx: Arc<ChainCtx>,
    generator: GeneratorHandle,
    pub commits: Cache,
    pub watch: Cache,
    pub reveals: Cache,
    /// Sequences a step is working on right now (the manager's resend scan leaves them alone).
    in_flight: Mutex<HashSet<u64>>,
    reveals_sending: AtomicUsize,
    reveal_sent: Notify,
}

#[derive(Clone, Copy, Debug)]
enum Which {
    Commit,
    Watch,
    Reveal,
}

impl Sender {
    pub fn new(ctx: Arc<ChainCtx>, generator: GeneratorHandle) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            generator,
            commits: Cache::default(),
            watch: Cache::default(),
            reveals: Cache::default(),
            in_flight: Mutex::new(HashSet::new()),
            reveals_sending: AtomicUsize::new(0),
            reveal_sent: Notify::new(),
        })
    }

    /// Whether a sequence is in a cache or being worked on.
    pub fn holds(&self, final_batch: u64) -> bool {
        self.in_flight.lock().expect("lock").contains(&final_batch)
            || self.commits.contains(final_batch)
            || self.watch.contains(final_batch)
            || self.reveals.contains(final_batch)
    }

    /// Starts the three tasks; they return on `shutdown`, after the step in hand.
    pub fn spawn(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        [Which::Commit, Which::Watch, Which::Reveal].into_iter().map(|w| tokio::spawn(self.clone().drain(w, shutdown.clone()))).collect()
    }

    fn cache(&self, which: Which) -> &Cache {
        match which {
            Which::Commit => &self.commits,
            Which::Watch => &self.watch,
            Which::Reveal => &self.reveals,
        }
    }

    async fn drain(self: Arc<Self>, which: Which, mut shutdown: watch::Receiver<bool>) {
        let mut head = self.ctx.head.clone();
        loop {
            let items = self.cache(which).take_all();
            // Held while taken: the resend scan must not think them lost.
            self.in_flight.lock().expect("lock").extend(items.iter().copied());
            for f in items {
                if *shutdown.borrow() {
                    self.cache(which).keep(f);
                    self.in_flight.lock().expect("lock").remove(&f);
                    continue;
                }
                let span = info_span!("submission", sequence = f, step = ?which);
                let route = async {
                    let r = match which {
                        Which::Commit => self.commit(f).await,
                        Which::Watch => self.check(f, false).await,
                        Which::Reveal => self.reveal(f).await,
                    };
                    r.unwrap_or_else(|e| {
                        warn!(error = %e, "step failed: retrying next block");
                        Route::Wait
                    })
                }
                .instrument(span)
                .await;
                // Into the next cache before it leaves `in_flight`, so that the resend scan never
                // sees it held nowhere.
                match route {
                    Route::Commit => self.commits.push(f),
                    Route::Watch => self.watch.push(f),
                    Route::Reveal => self.reveals.push(f),
                    Route::Wait => self.cache(which).keep(f),
                    Route::Done => {}
                }
                self.in_flight.lock().expect("lock").remove(&f);
            }
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                _ = self.cache(which).notify.notified() => {}
                _ = head.changed() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn head(&self) -> Result<u64, ChainError> {
        Ok(self.ctx.chain.head().await?.number)
    }

    async fn window(&self, f: u64) -> Result<WindowState, ChainError> {
        self.ctx.deployment.window_state(self.ctx.chain.as_ref(), self.ctx.rollup, f).await
    }

    fn final_proof(&self, f: u64) -> Result<Vec<u8>, NodeError> {
        self.ctx
            .store
            .proof(&TaskId::new(f, TaskKind::Final))?
            .ok_or_else(|| NodeError::Inconsistent(format!("no final proof of sequence {f}")))
    }

    fn settle(&self, sub: &mut Submission, state: SubmissionState) -> Result<(), NodeError> {
        sub.state = state;
        self.ctx.store.put_submission(sub)?;
        self.ctx.store.set_sequence_status(sub.final_batch, SequenceStatus::Settled)?;
        Ok(())
    }

    /// Step 1: commit the proof hash, inside the hash window (or opening a new one).
    async fn commit(&self, f: u64) -> Result<Route, NodeError> {
        let (ctx, me) = (&self.ctx, self.ctx.me());
        let seq = ctx.store.sequence(f)?.ok_or_else(|| NodeError::Inconsistent(format!("sequence {f} not stored")))?;
        let proof = self.final_proof(f)?;
        let hash = proof_hash(&proof, me);
        let mut sub = ctx.store.submission(f)?.unwrap_or(Submission {
            init_batch: seq.init_batch,
            final_batch: f,
            proof_hash: hash.0,
            state: SubmissionState::Committing,
            windows: vec![],
            commit_block: None,
            reveal_block: None,
        });
        if sub.state.is_settled() {
            return Ok(Route::Done);
        }
        let ws = self.window(f).await?;
        // Reconcile first: a commit sent before a crash or an RPC error may have landed.
        if ws.window != 0 {
            let c = ctx.deployment.commitment(ctx.chain.as_ref(), ctx.rollup, f, ws.window, me).await?;
            if c.status != 0 {
                if !sub.windows.contains(&ws.window) {
                    sub.windows.push(ws.window);
                }
                sub.state = SubmissionState::Committed;
                sub.commit_block = Some(c.committedAt);
                ctx.store.put_submission(&sub)?;
                return Ok(Route::Watch);
            }
        }
        if ws.verifiedAt != 0 {
            info!("verified by others before we committed");
            self.settle(&mut sub, SubmissionState::Missed)?;
            self.generator.forget(f);
            return Ok(Route::Done);
        }
        let next = self.head().await? + 1;
        let opens = ws.start == 0 || next > ws.deadline;
        let joins = ws.start != 0 && next <= ws.lastCommitBlock;
        if !(opens || joins) {
            return Ok(Route::Wait);
        }
        while self.reveals_sending.load(Ordering::SeqCst) > 0 {
            let wake = self.reveal_sent.notified();
            if self.reveals_sending.load(Ordering::SeqCst) == 0 {
                break;
            }
            wake.await;
        }
        sub.state = SubmissionState::Committing;
        ctx.store.put_submission(&sub)?;
        match ctx.deployment.submit_proof_hash(ctx.chain.as_ref(), ctx.rollup, sub.init_batch, f, B256::from(hash)).await {
            Ok((receipt, window)) => {
                sub.windows.push(window);
                sub.state = SubmissionState::Committed;
                sub.commit_block = Some(receipt.block.number);
                ctx.store.put_submission(&sub)?;
                info!(window, block = receipt.block.number, tx = %receipt.tx_hash, "proof hash committed");
                Ok(Route::Watch)
            }
            Err(e) => {
                warn!(error = %e, "commit not sent: the chain is checked again next block");
                Ok(Route::Wait)
            }
        }
    }

    /// Where a committed sequence stands on chain; with `revealing`, whether to reveal now.
    async fn check(&self, f: u64, revealing: bool) -> Result<Route, NodeError> {
        let (ctx, me) = (&self.ctx, self.ctx.me());
        let Some(mut sub) = ctx.store.submission(f)? else { return Ok(Route::Commit) };
        if sub.state.is_settled() {
            return Ok(Route::Done);
        }
        let Some(&window) = sub.windows.last() else { return Ok(Route::Commit) };
        let c = ctx.deployment.commitment(ctx.chain.as_ref(), ctx.rollup, f, window, me).await?;
        match c.status {
            // Our commit is not on chain (a reorg took it, or it never landed): commit again.
            0 => {
                warn!(window, "our commitment is not on chain: committing again");
                sub.windows.retain(|w| *w != window);
                sub.state = SubmissionState::Committing;
                ctx.store.put_submission(&sub)?;
                return Ok(Route::Commit);
            }
            2 => {
                // Revealed before a restart: the reward was credited then.
                self.settle(&mut sub, SubmissionState::Revealed { late: false, reward: "credited before restart".into() })?;
                return Ok(Route::Done);
            }
            3 => {
                error!(window, "our commitment was slashed");
                self.settle(&mut sub, SubmissionState::Slashed { reason: "seen on chain".into(), amount: "unknown".into() })?;
                return Ok(Route::Done);
            }
            _ => {}
        }
        let ws = self.window(f).await?;
        let next = self.head().await? + 1;
        if ws.window != window || (ws.verifiedAt == 0 && next > ws.deadline) {
            // The window expired with nobody proving (our reveal could not land in time): the
            // proof is still good, so commit it again in the next window.
            warn!(window, "window expired unverified: recommitting");
            return Ok(Route::Commit);
        }
        if next >= ws.firstRevealBlock && ws.previousVerified {
            return Ok(if revealing { Route::Done } else { Route::Reveal });
        }
        Ok(Route::Wait)
    }

    /// Step 2: reveal, after checking the proof locally and recomputing its hash.
    async fn reveal(&self, f: u64) -> Result<Route, NodeError> {
        match self.check(f, true).await? {
            Route::Done => {}
            other => return Ok(other),
        }
        let (ctx, me) = (&self.ctx, self.ctx.me());
        let Some(mut sub) = ctx.store.submission(f)? else { return Ok(Route::Commit) };
        if sub.state.is_settled() {
            return Ok(Route::Done);
        }
        let proof = self.final_proof(f)?;
        let plugin = ctx.plugin.clone();
        let checked = proof.clone();
        let claim = tokio::task::spawn_blocking(move || plugin.verify(&format!("reveal check {f}"), Stage::Final, &checked))
            .await
            .map_err(|e| NodeError::Inconsistent(format!("verify job panicked: {e}")))?;
        let window = *sub.windows.last().expect("checked");
        let on_chain = ctx.deployment.commitment(ctx.chain.as_ref(), ctx.rollup, f, window, me).await?;
        let problem = match &claim {
            Err(e) => Some(format!("our final proof does not verify: {e}")),
            Ok(c) if c.prover != me.as_slice() => Some("our final proof is bound to another miner".into()),
            Ok(_) if proof_hash(&proof, me) != on_chain.proofHash => Some("the committed hash is not our proof's".into()),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            // Revealing would be slashed for a bad proof; not revealing is slashed too, but the
            // operator must look at this either way.
            error!(problem, "not revealing");
            return Ok(Route::Done);
        }
        let root = B256::from_slice(&claim.expect("checked").new_state_root);
        self.reveals_sending.fetch_add(1, Ordering::SeqCst);
        sub.state = SubmissionState::Revealing;
        ctx.store.put_submission(&sub)?;
        let sent = ctx.deployment.verify_batches(ctx.chain.as_ref(), ctx.rollup, sub.init_batch, f, root, proof.into()).await;
        self.reveals_sending.fetch_sub(1, Ordering::SeqCst);
        self.reveal_sent.notify_waiters();
        match sent {
            Ok((RevealOutcome::Accepted { late, reward, consolidated }, block)) => {
                sub.reveal_block = Some(block);
                self.settle(&mut sub, SubmissionState::Revealed { late, reward: reward.to_string() })?;
                info!(block, late, %reward, consolidated, "proof revealed and accepted");
                Ok(Route::Done)
            }
            Ok((RevealOutcome::Slashed { reason, amount }, block)) => {
                sub.reveal_block = Some(block);
                error!(?reason, %amount, "reveal slashed");
                self.settle(&mut sub, SubmissionState::Slashed { reason: format!("{reason:?}"), amount: amount.to_string() })?;
                Ok(Route::Done)
            }
            Err(ChainError::Reverted { reason, .. }) => {
                sub.state = SubmissionState::Committed;
                ctx.store.put_submission(&sub)?;
                warn!(reason, "reveal refused");
                Ok(if reason.starts_with("TooLate") || reason.starts_with("CommitmentFromOlderWindow") {
                    Route::Commit
                } else {
                    Route::Watch
                })
            }
            Err(e) => {
                // Ambiguous (it may have landed): the watch step reads the commitment's status.
                warn!(error = %e, "reveal outcome unknown: checking the chain");
                Ok(Route::Watch)
            }
        }
    }
}
