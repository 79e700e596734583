//! The Proof Manager: decides what the sender works on.
//!
//! - [`submit_pending_proof`], once at start: every submission this node began and did not
//!   settle goes back to the sender (the watch step finds where it stands on chain: revealed,
//!   still to reveal even if someone else verified meanwhile, or to commit again), and every
//!   final proof with no submission goes to the commit cache.
//! - [`try_fetch_proof_to_send`], continuously: final proofs from the generator go to the
//!   commit cache.
//! - [`process_resend`], on each new block: unsettled submissions that no cache holds (a step
//!   gave up on an error) go back to the sender, and sequences verified by others before this
//!   node had a proof are no longer proved.

use std::sync::Arc;

use prova_store::{SequenceStatus, Store};
use tokio::sync::mpsc;
use tracing::info;

use crate::NodeError;
use crate::generator::GeneratorHandle;
use crate::sender::{ChainCtx, Sender};

pub fn submit_pending_proof(store: &Store, sender: &Sender) -> Result<(), NodeError> {
    let mut resumed = 0;
    for sub in store.submissions()? {
        if !sub.state.is_settled() {
            sender.watch.push(sub.final_batch);
            resumed += 1;
        }
    }
    let mut fresh = 0;
    for seq in store.sequences()? {
        if seq.status == SequenceStatus::Proved && store.submission(seq.final_batch)?.is_none() {
            sender.commits.push(seq.final_batch);
            fresh += 1;
        }
    }
    info!(resumed, fresh, "pending submissions handed to the sender");
    Ok(())
}

pub async fn try_fetch_proof_to_send(store: Arc<Store>, sender: Arc<Sender>, mut finals: mpsc::UnboundedReceiver<u64>) {
    while let Some(f) = finals.recv().await {
        match store.submission(f) {
            Ok(Some(s)) if s.state.is_settled() => {}
            _ => sender.commits.push(f),
        }
    }
}

pub async fn process_resend(ctx: &ChainCtx, sender: &Sender, generator: &GeneratorHandle) -> Result<(), NodeError> {
    for sub in ctx.store.submissions()? {
        if !sub.state.is_settled() && !sender.holds(sub.final_batch) {
            info!(sequence = sub.final_batch, state = ?sub.state, "resending");
            sender.watch.push(sub.final_batch);
        }
    }
    let (_, last_verified, _, _) = ctx.deployment.rollup_state(ctx.chain.as_ref(), ctx.rollup).await?;
    for seq in ctx.store.sequences()? {
        if seq.final_batch <= last_verified && seq.status == SequenceStatus::Proving && ctx.store.submission(seq.final_batch)?.is_none() {
            generator.forget(seq.final_batch);
            ctx.store.set_sequence_status(seq.final_batch, SequenceStatus::Settled)?;
        }
    }
    Ok(())
}
