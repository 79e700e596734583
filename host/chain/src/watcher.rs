//! Follows the rollup manager's `SequenceBatches` and `SubmitProofHash` events from a cursor the
//! caller persists.
//!
//! Each poll re-reads the last `lookback` blocks (events are idempotent per `finalNewBatch`, so
//! re-reading is harmless; commitments are reported only from blocks not read before, so that
//! one the caller has finished with does not come back) and checks that the block the cursor last saw still has the same hash;
//! if not, a reorg happened and the cursor steps back `lookback` blocks. A node that refuses a
//! log range (many public RPCs cap it) gets the range halved until it answers.

use alloy::primitives::Address;
use alloy::sol_types::SolEvent;
use serde::{Deserialize, Serialize};
use tracing::{instrument, warn};

use crate::bindings::RollupManager;
use crate::contracts::PostedSequence;
use crate::{BaseChain, BlockRef, ChainError};

/// Where a watcher is: persist it with the node's state and hand it back after a restart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// First block not yet read.
    pub next_block: u64,
    /// The last block read, to detect a reorg under it.
    pub last: Option<BlockRef>,
}

pub struct Watcher {
    pub manager: Address,
    pub rollup: u32,
    /// Blocks re-read on every poll, and stepped back on a reorg.
    pub lookback: u64,
    /// Largest log range asked for at once.
    pub max_range: u64,
}

/// A commitment the poll saw (`SubmitProofHash`): whose, for which sequence and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitSeen {
    pub final_batch: u64,
    pub window: u64,
    pub miner: Address,
}

/// What one poll found.
#[derive(Debug, Default)]
pub struct Poll {
    pub sequences: Vec<PostedSequence>,
    /// The commitments in blocks read for the first time (after a reorg, every block read).
    pub commitments: Vec<CommitSeen>,
    /// A reorg was seen under the cursor: the caller should re-check what it derived from it.
    pub reorged: bool,
}

impl Watcher {
    pub fn new(manager: Address, rollup: u32) -> Self {
        // 64 blocks: two Ethereum epochs, past which blocks are final.
        Self { manager, rollup, lookback: 64, max_range: 2_000 }
    }

    #[instrument(skip_all, fields(rollup = self.rollup, from = cursor.next_block))]
    pub async fn poll(&self, chain: &dyn BaseChain, cursor: &mut Cursor) -> Result<Poll, ChainError> {
        let mut out = Poll::default();
        if let Some(last) = cursor.last
            && chain.block_hash(last.number).await? != Some(last.hash)
        {
            warn!(block = last.number, "reorg under the watcher's cursor: stepping back");
            out.reorged = true;
            cursor.next_block = last.number.saturating_sub(self.lookback);
        }
        let head = chain.head().await?;
        let mut from = cursor.next_block.min(head.number + 1).saturating_sub(if out.reorged { 0 } else { self.lookback });
        // Blocks from here on are read for the first time; no range straddles it.
        let fresh_from = if out.reorged { 0 } else { cursor.next_block };
        let mut range = self.max_range.max(1);
        while from <= head.number {
            let mut to = (from + range - 1).min(head.number);
            if from < fresh_from {
                to = to.min(fresh_from - 1);
            }
            match chain.logs(self.manager, from, to).await {
                Ok(logs) => {
                    for l in logs {
                        if let Ok(e) = RollupManager::SequenceBatches::decode_log(&l)
                            && e.rollupId == self.rollup
                        {
                            out.sequences.push(PostedSequence::from(e.data));
                        } else if let Ok(e) = RollupManager::SubmitProofHash::decode_log(&l)
                            && e.rollupId == self.rollup
                            && from >= fresh_from
                        {
                            out.commitments.push(CommitSeen { final_batch: e.finalNewBatch, window: e.window, miner: e.miner });
                        }
                    }
                    from = to + 1;
                }
                Err(e) if range > 1 => {
                    warn!(range, error = %e, "log query refused: halving the range");
                    range /= 2;
                }
                Err(e) => return Err(e),
            }
        }
        cursor.next_block = head.number + 1;
        cursor.last = Some(head);
        out.sequences.sort_by_key(|s| s.final_new_batch);
        out.sequences.dedup_by_key(|s| s.final_new_batch);
        Ok(out)
    }
}
