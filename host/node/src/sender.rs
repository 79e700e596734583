//! The Proof Sender: the two-step submission through three caches, each drained by its own task.
//!
//! - `commit` (the seed's `finalProofMsgCache`): final proofs whose hash is to be committed.
//! - `watch` (`monitPHTxCache`): submissions observed again on every new head.
//! - `reveal` (`ProofHashCache`): proofs to reveal.
//!
//! A cache holds sequence numbers (final batch), so it is deduplicated by sequence and drained
//! lowest first. What to do with a sequence is decided by the submission state machine
//! ([`crate::submission`]): a step reads the chain into an observation, runs the transition,
//! stores the new state, and only then sends what the action says (the stored state is the
//! intent: after a crash the next observation finds out whether the transaction landed). The
//! action also says which cache the sequence goes to next.
//!
//! Reveals take priority: a reveal holds a read guard of the chain's `reveal_gate` while it is
//! sent, and a commit takes the write guard (and drops it) before it is sent, so a commit never
//! takes a nonce ahead of a reveal in flight, whichever rollup on the chain either is for. Guards are released on every path, errors included.
//!
//! New heads reach the drains through one task (`follow_head`) that wakes them in a fixed order,
//! reveal, commit, watch, rather than through a `watch::Receiver` each: a tokio watch wakes its
//! receivers in a random order (it spreads them over eight `Notify` at random), so which step
//! ran first at a block would differ between runs, and a simulation seed would not replay.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use prova_chain::contracts::{CommitmentStatus, Deployment, proof_hash};
use prova_chain::{Address, B256, BaseChain, ChainError};
use prova_store::{Store, Submission, TaskId, TaskKind};
use tokio::sync::{Notify, RwLock, watch};
use tracing::{Instrument, error, info, info_span, warn};

use crate::NodeError;
use crate::generator::GeneratorHandle;
use crate::prover::Checker;
use crate::submission::{self, Action, Event, View};

/// What every part of the node that talks to the chain shares.
pub struct ChainCtx {
    pub chain: Arc<dyn BaseChain>,
    pub deployment: Deployment,
    pub rollup: u32,
    pub store: Arc<Store>,
    pub checker: Arc<dyn Checker>,
    /// The newest block number seen by the node's poller.
    pub head: watch::Receiver<u64>,
    /// Held for reading while a reveal is sent, for writing (and dropped) before any other
    /// transaction: shared by every rollup on the chain, whose transactions share one nonce
    /// sequence.
    pub reveal_gate: Arc<RwLock<()>>,
}

impl ChainCtx {
    pub fn me(&self) -> Address {
        self.chain.sender()
    }

    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Commit,
    Watch,
    Reveal,
}

/// The three caches and the sequences a step has in hand, under one lock: a sequence is always
/// in exactly one place, so the resend scan never finds one held nowhere.
#[derive(Default)]
struct Caches {
    commit: BTreeSet<u64>,
    watch: BTreeSet<u64>,
    reveal: BTreeSet<u64>,
    in_hand: HashSet<u64>,
}

impl Caches {
    fn of(&mut self, which: Which) -> &mut BTreeSet<u64> {
        match which {
            Which::Commit => &mut self.commit,
            Which::Watch => &mut self.watch,
            Which::Reveal => &mut self.reveal,
        }
    }

    fn holds(&self, f: u64) -> bool {
        self.in_hand.contains(&f) || self.commit.contains(&f) || self.watch.contains(&f) || self.reveal.contains(&f)
    }
}

pub struct Sender {
    ctx: Arc<ChainCtx>,
    generator: GeneratorHandle,
    caches: Mutex<Caches>,
    wake: [Notify; 3],
    /// Final proofs that passed the local check in this process (a restart checks again).
    checked: Mutex<HashSet<u64>>,
    /// Rejected final proofs of one sequence before it is given up (the generator's attempts).
    max_rejections: u32,
}

fn index(which: Which) -> usize {
    match which {
        Which::Commit => 0,
        Which::Watch => 1,
        Which::Reveal => 2,
    }
}

impl Sender {
    /// Waits until no reveal of ours is being sent. Every transaction other than a reveal calls
    /// it first, so that none takes a nonce ahead of a reveal in flight (a stuck one would hold
    /// the reveal back past its deadline).
    pub async fn yield_to_reveals(&self) {
        drop(self.ctx.reveal_gate.write().await);
    }

    pub fn new(ctx: Arc<ChainCtx>, generator: GeneratorHandle, max_rejections: u32) -> Arc<Self> {
        Arc::new(Self { ctx, generator, caches: Mutex::default(), wake: Default::default(), checked: Mutex::default(), max_rejections })
    }

    fn caches(&self) -> MutexGuard<'_, Caches> {
        // Nothing panics while holding it; a poisoned lock still holds consistent sets.
        self.caches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a sequence in a cache, unless a cache or a step holds it already.
    pub fn push(&self, which: Which, f: u64) {
        let mut c = self.caches();
        if !c.holds(f) {
            c.of(which).insert(f);
            self.wake_on_push(which);
        }
    }

    /// Commits and reveals act on a push at once; the watch cache waits for the next head.
    fn wake_on_push(&self, which: Which) {
        if which != Which::Watch {
            self.wake[index(which)].notify_one();
        }
    }

    /// Whether a sequence is in a cache or in a step's hands.
    pub fn holds(&self, f: u64) -> bool {
        self.caches().holds(f)
    }

    /// Creates the submission of a newly proved sequence (nothing sent yet) and queues its
    /// commit. A sequence with a submission already is left to the resend scan.
    pub fn offer(&self, f: u64) -> Result<(), NodeError> {
        let store = &self.ctx.store;
        if store.submission(f)?.is_none() {
            let Some(seq) = store.sequence(f)? else { return Ok(()) };
            let Some(proof) = store.proof(&TaskId::new(f, TaskKind::Final))? else { return Ok(()) };
            store.put_submission(&submission::ready(seq.init_batch, f, proof_hash(&proof, self.ctx.me())), self.ctx.head())?;
        }
        self.push(Which::Commit, f);
        Ok(())
    }

    /// Starts the three drains and the head follower; they return on `shutdown`, a drain after
    /// the step in hand.
    pub fn spawn(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks: Vec<_> = [Which::Commit, Which::Watch, Which::Reveal]
            .into_iter()
            .map(|w| tokio::spawn(self.clone().drain(w, shutdown.clone())))
            .collect();
        tasks.push(tokio::spawn(self.clone().follow_head(shutdown)));
        tasks
    }

    /// Wakes the drains on every new head: reveals first, as they are the most urgent.
    async fn follow_head(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut head = self.ctx.head.clone();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                changed = head.changed() => if changed.is_err() { return },
            }
            for which in [Which::Reveal, Which::Commit, Which::Watch] {
                self.wake[index(which)].notify_one();
            }
        }
    }

    async fn drain(self: Arc<Self>, which: Which, mut shutdown: watch::Receiver<bool>) {
        loop {
            let items: Vec<u64> = {
                let mut c = self.caches();
                let items = std::mem::take(c.of(which));
                c.in_hand.extend(items.iter().copied());
                items.into_iter().collect()
            };
            for f in items {
                let action = if *shutdown.borrow() {
                    None
                } else {
                    let span = info_span!("submission", sequence = f, step = ?which);
                    Some(self.step(f, which).instrument(span).await.unwrap_or_else(|e| {
                        warn!(sequence = f, error = %e, "step failed: observed again next block");
                        Action::Wait
                    }))
                };
                let mut c = self.caches();
                c.in_hand.remove(&f);
                let to = match action {
                    None => Some(which),
                    Some(Action::Commit) => Some(Which::Commit),
                    Some(Action::Reveal) => Some(Which::Reveal),
                    Some(Action::Wait) => Some(Which::Watch),
                    Some(Action::Reprove | Action::Stop) => None,
                };
                if let Some(to) = to {
                    c.of(to).insert(f);
                    if to != which {
                        self.wake_on_push(to);
                    }
                }
            }
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                _ = self.wake[index(which)].notified() => {}
            }
        }
    }

    /// One step of one sequence: observe, transition, store, and carry out this cache's action.
    async fn step(&self, f: u64, which: Which) -> Result<Action, NodeError> {
        let store = &self.ctx.store;
        let Some(sub) = store.submission(f)? else { return Ok(Action::Stop) };
        if sub.state.is_settled() {
            return Ok(Action::Stop);
        }
        let Some(proof) = store.proof(&TaskId::new(f, TaskKind::Final))? else {
            error!("unsettled submission without its final proof: left alone");
            return Ok(Action::Stop);
        };
        let our_hash = proof_hash(&proof, self.ctx.me());
        let view = self.observe(&sub, our_hash).await?;
        let (sub, action) = self.apply(&sub, Event::Observed(Box::new(view)))?;
        let event = match (which, action) {
            (Which::Commit, Action::Commit) => self.send_commit(&sub, &proof).await,
            (Which::Reveal, Action::Reveal) => self.send_reveal(&sub, proof, our_hash).await,
            _ => return Ok(action),
        };
        Ok(self.apply(&sub, event)?.1)
    }

    /// Runs the transition, stores the new state when it changed, and carries out a reprove.
    fn apply(&self, sub: &Submission, event: Event) -> Result<(Submission, Action), NodeError> {
        let (next, action) = submission::transition(sub, &event);
        if next != *sub {
            info!(from = ?sub.state, to = ?next.state, ?action, "submission");
            if !self.ctx.store.put_submission(&next, self.ctx.head())? {
                return Ok((next, Action::Stop));
            }
        }
        if let Event::RevealLanded { .. } = event
            && action == Action::Stop
        {
            info!(state = ?next.state, block = next.reveal_block, "reveal judged on chain");
        }
        if action == Action::Reprove {
            let f = sub.final_batch;
            self.checked.lock().unwrap_or_else(|p| p.into_inner()).remove(&f);
            let reason = match &event {
                Event::CheckFailed(r) => r.as_str(),
                _ => "rejected",
            };
            let state = self.ctx.store.reject_final(f, reason, self.max_rejections, self.ctx.head())?;
            error!(sequence = f, reason, ?state, "our final proof failed the local check before its commit");
            self.generator.reprove(f);
        }
        Ok((next, action))
    }

    /// Reads what the chain says of `sub`'s sequence and of our commitments.
    async fn observe(&self, sub: &Submission, our_hash: B256) -> Result<View, ChainError> {
        let (ctx, me, f) = (&self.ctx, self.ctx.me(), sub.final_batch);
        let chain = ctx.chain.as_ref();
        let window = ctx.deployment.window_state(chain, ctx.rollup, f).await?;
        let current = match window.window {
            0 => None,
            w => Some(ctx.deployment.commitment(chain, ctx.rollup, f, w, me).await?),
        };
        let older = match sub.windows.last() {
            Some(&w) if w != window.window => Some(ctx.deployment.commitment(chain, ctx.rollup, f, w, me).await?),
            _ => None,
        };
        let mut settled = None;
        for (w, c) in [(window.window, &current), (sub.windows.last().copied().unwrap_or(0), &older)] {
            if let Some(c) = c
                && matches!(c.status, CommitmentStatus::Proved | CommitmentStatus::Slashed)
            {
                settled = ctx.deployment.settlement(chain, ctx.rollup, f, w, me, c.committed_at).await?;
                break;
            }
        }
        Ok(View { next_block: ctx.head() + 1, window, current, older, settled, our_hash })
    }

    /// The local check of our final proof: it verifies and is bound to us.
    async fn check(&self, f: u64, proof: Vec<u8>) -> Result<B256, String> {
        let claim = self
            .ctx
            .checker
            .verify_final(&format!("check {f}"), proof)
            .await
            .map_err(|e| format!("our final proof does not verify: {e}"))?;
        if claim.prover != self.ctx.me().as_slice() {
            return Err("our final proof is bound to another miner".into());
        }
        if claim.new_state_root.len() != 32 {
            return Err(format!("our final proof claims a state root of {} bytes", claim.new_state_root.len()));
        }
        Ok(B256::from_slice(&claim.new_state_root))
    }

    async fn send_commit(&self, sub: &Submission, proof: &[u8]) -> Event {
        let (ctx, f) = (&self.ctx, sub.final_batch);
        let known_good = self.checked.lock().unwrap_or_else(|p| p.into_inner()).contains(&f);
        if !known_good {
            if let Err(reason) = self.check(f, proof.to_vec()).await {
                return Event::CheckFailed(reason);
            }
            self.checked.lock().unwrap_or_else(|p| p.into_inner()).insert(f);
        }
        self.yield_to_reveals().await;
        let hash = B256::from(sub.proof_hash);
        match ctx.deployment.submit_proof_hash(ctx.chain.as_ref(), ctx.rollup, sub.init_batch, f, hash).await {
            Ok((receipt, window)) => {
                info!(window, block = receipt.block.number, tx = %receipt.tx_hash, "proof hash committed");
                Event::CommitLanded { window, block: receipt.block.number }
            }
            Err(e) => tx_failed("commit", e),
        }
    }

    async fn send_reveal(&self, sub: &Submission, proof: Vec<u8>, our_hash: B256) -> Event {
        let (ctx, f) = (&self.ctx, sub.final_batch);
        if our_hash.0 != sub.proof_hash {
            return Event::CheckFailed("the committed hash is not our proof's".into());
        }
        let root = match self.check(f, proof.clone()).await {
            Ok(root) => root,
            Err(reason) => return Event::CheckFailed(reason),
        };
        let _sending = self.ctx.reveal_gate.read().await;
        match ctx.deployment.verify_batches(ctx.chain.as_ref(), ctx.rollup, sub.init_batch, f, root, proof.into()).await {
            Ok((outcome, block)) => Event::RevealLanded { outcome, block },
            Err(e) => tx_failed("reveal", e),
        }
    }
}

/// A failed send as an event: a revert is a refusal (nothing changed on chain), anything else
/// may have landed.
fn tx_failed(what: &str, e: ChainError) -> Event {
    match e.revert_kind() {
        Some(kind) => {
            warn!(error = %e, "{what} refused");
            Event::Refused(kind)
        }
        None => {
            warn!(error = %e, "{what} outcome unknown: the chain is observed again next block");
            Event::Unknown
        }
    }
}
