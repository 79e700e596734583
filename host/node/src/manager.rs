//! The Proof Manager: decides what the sender works on.
//!
//! - [`submit_pending_proof`], once at start: every submission this node began and did not
//!   settle goes back to the sender (its first observation finds where it stands on chain), and
//!   every final proof with no submission is offered for a commit.
//! - [`try_fetch_proof_to_send`], continuously: final proofs from the generator are offered.
//! - [`process_resend`], on each new block: unsettled submissions that no cache holds go back to
//!   the sender, and sequences verified by others before this node had a proof are no longer
//!   proved.
//!
//! All three read only the open sequences (an index in the store): their cost follows what is
//! open, not history.

use std::sync::Arc;

use prova_store::{SequenceStatus, Store};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::NodeError;
use crate::generator::GeneratorHandle;
use crate::sender::{ChainCtx, Sender, Which};

pub fn submit_pending_proof(store: &Store, sender: &Sender) -> Result<(), NodeError> {
    let (mut resumed, mut fresh) = (0, 0);
    for seq in store.open_sequences()? {
        match store.submission(seq.final_batch)? {
            Some(sub) if !sub.state.is_settled() => {
                sender.push(Which::Watch, seq.final_batch);
                resumed += 1;
            }
            None if seq.status == SequenceStatus::Proved => {
                sender.offer(seq.final_batch)?;
                fresh += 1;
            }
            _ => {}
        }
    }
    info!(resumed, fresh, "pending submissions handed to the sender");
    Ok(())
}

pub async fn try_fetch_proof_to_send(sender: Arc<Sender>, mut finals: mpsc::UnboundedReceiver<u64>) {
    while let Some(f) = finals.recv().await {
        if let Err(e) = sender.offer(f) {
            // The resend scan offers it again on the next block.
            warn!(sequence = f, error = %e, "final proof not offered to the sender");
        }
    }
}

/// Each block: the open sequences only.
pub async fn process_resend(ctx: &ChainCtx, sender: &Sender, generator: &GeneratorHandle) -> Result<(), NodeError> {
    let last_verified = ctx.deployment.rollup_state(ctx.chain.as_ref(), ctx.rollup).await?.last_verified_batch;
    for seq in ctx.store.open_sequences()? {
        let f = seq.final_batch;
        match (ctx.store.submission(f)?, &seq.status) {
            (Some(sub), _) if !sub.state.is_settled() && !sender.holds(f) => {
                info!(sequence = f, state = ?sub.state, "resending");
                sender.push(Which::Watch, f);
            }
            (None, SequenceStatus::Proved) if !sender.holds(f) => sender.offer(f)?,
            (None, SequenceStatus::Proving) if f <= last_verified => {
                if ctx.store.drop_sequence(f, ctx.head())? {
                    info!(sequence = f, "verified by others before we had a proof");
                }
                generator.forget(f);
            }
            _ => {}
        }
    }
    Ok(())
}
