//! Upkeep on every new head, beside the sender: the keeper, which slashes other miners'
//! commitments that were never revealed when the rollup's keeper share of the slash pays for
//! the gas, and the automatic withdrawal of credited rewards above a threshold.
//!
//! The keeper's watch list is durable: the poller records every other miner's commitment it
//! reads for the first time (`SubmitProofHash`) in the store together with its cursor, in one
//! transaction. Each block the keeper reads the window of each watched sequence (one view per
//! sequence with watched commitments, not per commitment); only for a commitment whose reveal
//! can no longer come ([`due`]) does it read the commitment and the miner's stake, and
//! [`weigh`] decides. A commitment leaves the list when it is settled (revealed, or slashed by
//! anyone), when a reorg took its window, when there is nothing to take, or when it has not been
//! worth slashing for [`GIVE_UP_BLOCKS`]; one not worth it yet is looked at again only every
//! [`RETRY_BLOCKS`]. So each block costs work in proportion to the commitments still open.
//!
//! Keeper and withdrawal transactions wait for the node's own reveals
//! ([`Sender::yield_to_reveals`]), as commits do; an error on one commitment is logged and the
//! others are still looked at.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prova_chain::contracts::{CommitmentStatus, Punishments, WindowState, gas};
use prova_chain::units::format_ether;
use prova_chain::{Address, RevertKind, U256};
use prova_store::WatchedCommitment;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::NodeError;
use crate::sender::{ChainCtx, Sender};

/// A slash is sent only when the fee is at least this many times its gas cost: a race lost to
/// another keeper still costs a reverted transaction, and the fee costs a withdrawal later.
pub const MARGIN: u64 = 2;
/// Blocks between two looks at a commitment not worth slashing yet (gas may get cheaper).
pub const RETRY_BLOCKS: u64 = 32;
/// Blocks after which a commitment still not worth slashing is given up: a day of 12-s blocks.
pub const GIVE_UP_BLOCKS: u64 = 7_200;

/// What the node does for itself besides proving.
#[derive(Debug, Clone, Default)]
pub struct UpkeepConfig {
    /// Slash other miners' unrevealed commitments when the keeper fee pays for the gas.
    pub keeper: bool,
    /// Withdraw credited rewards (and keeper fees) whenever they exceed this many wei.
    pub withdraw_rewards_at: Option<U256>,
}

/// Whether a watched commitment's reveal can still come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Its window is open, or its deadline waits for the previous sequence.
    NotYet,
    /// A later window opened, or the deadline has passed: the contract lets anyone slash it.
    Now,
    /// Its window is newer than the sequence's: a reorg took it (and the commitment with it).
    Gone,
}

/// Whether the commitment in `window` is slashable at `head`, from its sequence's window. The
/// contract refuses a slash while `block <= deadline`; waiting until the head is past it means
/// the transaction lands at least two blocks after.
pub fn due(window: u64, w: &WindowState, head: u64) -> Due {
    if window < w.window {
        return Due::Now;
    }
    if window > w.window {
        return Due::Gone;
    }
    match w.deadline {
        Some(d) if head > d => Due::Now,
        _ => Due::NotYet,
    }
}

/// What to do with a commitment that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Revealed, slashed by someone, or gone (a reorg): stop watching it.
    Settled(CommitmentStatus),
    /// The miner has nothing left to take, or the rollup pays keepers nothing: stop watching.
    NothingToGain,
    /// The fee is under [`MARGIN`] times the gas at today's price: look again later.
    NotWorthIt { fee: U256, cost: U256 },
    /// Slash it: the fee is at least [`MARGIN`] times what the gas costs.
    Slash { fee: U256, cost: U256 },
}

/// The keeper's one decision: slash only when the caller gains from it, by a margin.
pub fn weigh(status: CommitmentStatus, fee: U256, cost: U256) -> Verdict {
    if status != CommitmentStatus::Committed {
        Verdict::Settled(status)
    } else if fee.is_zero() {
        Verdict::NothingToGain
    } else if fee < cost * U256::from(MARGIN) {
        Verdict::NotWorthIt { fee, cost }
    } else {
        Verdict::Slash { fee, cost }
    }
}

/// Runs the upkeep on every new head until `shutdown`; a failed step is logged and retried on
/// the next head.
pub fn spawn(ctx: Arc<ChainCtx>, sender: Arc<Sender>, cfg: UpkeepConfig, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut head = ctx.head.clone();
    tokio::spawn(
        async move {
            let mut upkeep = Upkeep { ctx, sender, cfg, punishments: None, deferred: HashMap::new() };
            loop {
                tokio::select! {
                    biased;
                    _ = shutdown.changed() => {}
                    r = head.changed() => if r.is_err() { return },
                }
                if *shutdown.borrow() {
                    return;
                }
                let h = *head.borrow_and_update();
                upkeep.step(h).await;
            }
        }
        .instrument(info_span!("upkeep")),
    )
}

/// A commitment not worth slashing yet: when it was first found so, and when to look again.
/// Kept in memory only: after a restart each is looked at once more, and its day starts again.
struct Deferred {
    since: u64,
    next: u64,
}

struct Upkeep {
    ctx: Arc<ChainCtx>,
    sender: Arc<Sender>,
    cfg: UpkeepConfig,
    /// The rollup's punishments, read once (they are fixed at registration).
    punishments: Option<Punishments>,
    deferred: HashMap<WatchedCommitment, Deferred>,
}

impl Upkeep {
    /// The withdrawal and the keeper fail apart: each logs its error and is tried again on the
    /// next block.
    async fn step(&mut self, head: u64) {
        if let Some(at) = self.cfg.withdraw_rewards_at
            && let Err(e) = self.withdraw_rewards(at).await
        {
            warn!(error = %e, "rewards withdrawal failed: tried again on the next block");
        }
        if self.cfg.keeper
            && let Err(e) = self.keep(head).await
        {
            warn!(error = %e, "keeper failed: tried again on the next block");
        }
    }

    async fn withdraw_rewards(&self, at: U256) -> Result<(), NodeError> {
        let (d, chain) = (&self.ctx.deployment, self.ctx.chain.as_ref());
        let credited = d.rewards_of(chain, self.ctx.me()).await?;
        if credited <= at {
            return Ok(());
        }
        self.sender.yield_to_reveals().await;
        let amount = d.withdraw_rewards(chain).await?;
        info!(amount_eth = %format_ether(amount), threshold_eth = %format_ether(at), "rewards withdrawn to the miner");
        Ok(())
    }

    async fn keep(&mut self, head: u64) -> Result<(), NodeError> {
        let ctx = self.ctx.clone();
        let (d, chain, rollup, store) = (&ctx.deployment, ctx.chain.as_ref(), ctx.rollup, &ctx.store);
        let punishments = match &self.punishments {
            Some(p) => p.clone(),
            None => {
                let p = d.punishments(chain, rollup).await?;
                if p.keeper_share_bps == 0 {
                    info!("the rollup pays keepers nothing: the keeper stays idle");
                }
                self.punishments.insert(p).clone()
            }
        };
        let mut by_sequence: BTreeMap<u64, Vec<WatchedCommitment>> = BTreeMap::new();
        for c in store.watched()? {
            if self.deferred.get(&c).is_none_or(|d| d.next <= head) {
                by_sequence.entry(c.final_batch).or_default().push(c);
            }
        }
        let mut price = None;
        for (f, list) in by_sequence {
            let span = info_span!("keeper", sequence = f);
            let w = match d.window_state(chain, rollup, f).instrument(span.clone()).await {
                Ok(w) => w,
                Err(e) if e.revert_kind() == Some(RevertKind::UnknownSequence) => {
                    span.in_scope(|| debug!("a reorg took the sequence: its commitments are no longer watched"));
                    for c in &list {
                        store.unwatch(c)?;
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for c in &list {
                match due(c.window, &w, head) {
                    Due::NotYet => continue,
                    Due::Gone => {
                        span.in_scope(|| debug!(window = c.window, "a reorg took the window: no longer watched"));
                        store.unwatch(c)?;
                        continue;
                    }
                    Due::Now => {}
                }
                // One commitment's failure does not hold back the others.
                if let Err(e) = self.judge(c, &punishments, &mut price, head).instrument(span.clone()).await {
                    span.in_scope(|| warn!(window = c.window, miner = %Address::from(c.miner), error = %e, "keeper: tried again later"));
                }
            }
        }
        Ok(())
    }

    /// Reads what [`weigh`] needs for a due commitment, and acts on its verdict.
    async fn judge(
        &mut self,
        c: &WatchedCommitment,
        punishments: &Punishments,
        price: &mut Option<u128>,
        head: u64,
    ) -> Result<(), NodeError> {
        let (d, chain, rollup) = (&self.ctx.deployment, self.ctx.chain.as_ref(), self.ctx.rollup);
        let miner = Address::from(c.miner);
        let status = d.commitment(chain, rollup, c.final_batch, c.window, miner).await?.status;
        let (fee, cost) = if status == CommitmentStatus::Committed {
            let a = d.stake_account(chain, miner).await?;
            let price = match price {
                Some(p) => *p,
                None => *price.insert(chain.gas_price().await?),
            };
            (punishments.keeper_fee(a.active + a.pending), U256::from(gas::SLASH_UNREVEALED) * U256::from(price))
        } else {
            (U256::ZERO, U256::ZERO)
        };
        self.act(c, miner, weigh(status, fee, cost), head).await
    }

    async fn act(&mut self, c: &WatchedCommitment, miner: Address, verdict: Verdict, head: u64) -> Result<(), NodeError> {
        let ctx = self.ctx.clone();
        let (d, chain, rollup) = (&ctx.deployment, ctx.chain.as_ref(), ctx.rollup);
        match verdict {
            Verdict::Settled(status) => {
                debug!(%miner, window = c.window, ?status, "settled: no longer watched");
                self.forget(c)?;
            }
            Verdict::NothingToGain => {
                info!(%miner, window = c.window, "unrevealed, but a slash would pay the keeper nothing: left alone");
                self.forget(c)?;
            }
            Verdict::NotWorthIt { fee, cost } => {
                let since = self.deferred.get(c).map_or(head, |d| d.since);
                if head.saturating_sub(since) >= GIVE_UP_BLOCKS {
                    info!(%miner, window = c.window, fee_eth = %format_ether(fee), gas_eth = %format_ether(cost),
                        "unrevealed, but not worth slashing for a day of blocks: given up");
                    self.forget(c)?;
                } else {
                    debug!(%miner, window = c.window, fee_eth = %format_ether(fee), gas_eth = %format_ether(cost),
                        "unrevealed; the fee does not pay for the gas yet: looked at again later");
                    self.deferred.insert(*c, Deferred { since, next: head + RETRY_BLOCKS });
                }
            }
            Verdict::Slash { fee, cost } => {
                self.sender.yield_to_reveals().await;
                match d.slash_unrevealed(chain, rollup, c.final_batch, c.window, miner).await {
                    Ok(s) => {
                        info!(%miner, window = c.window, taken_eth = %format_ether(s.taken), fee_eth = %format_ether(s.keeper_fee),
                            expected_fee_eth = %format_ether(fee), gas_cost_eth = %format_ether(cost), gas_used = s.gas_used,
                            "slashed an unrevealed commitment: keeper fee credited");
                        self.forget(c)?;
                    }
                    Err(e) if e.revert_kind() == Some(RevertKind::AlreadySettled) => {
                        debug!(%miner, window = c.window, "settled by someone else first");
                        self.forget(c)?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn forget(&mut self, c: &WatchedCommitment) -> Result<(), NodeError> {
        self.deferred.remove(c);
        self.ctx.store.unwatch(c)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(window: u64, deadline: Option<u64>) -> WindowState {
        WindowState {
            window,
            start: 10,
            last_commit_block: 14,
            first_reveal_block: 15,
            deadline,
            verified_at: None,
            previous_verified: deadline.is_some(),
            committed_stake: U256::from(1),
        }
    }

    #[test]
    fn a_commitment_from_an_older_window_is_due_at_once() {
        assert_eq!(due(1, &window(2, None), 11), Due::Now);
    }

    #[test]
    fn a_commitment_is_due_only_after_its_deadline() {
        assert_eq!(due(2, &window(2, Some(25)), 25), Due::NotYet, "at the deadline a reveal still lands");
        assert_eq!(due(2, &window(2, Some(25)), 26), Due::Now);
    }

    #[test]
    fn a_commitment_from_a_window_a_reorg_took_is_gone() {
        assert_eq!(due(3, &window(2, Some(25)), 30), Due::Gone);
    }

    #[test]
    fn a_commitment_waiting_for_the_previous_sequence_is_never_due() {
        assert_eq!(due(2, &window(2, None), 1_000_000), Due::NotYet);
    }

    #[test]
    fn settled_commitments_leave_whatever_the_fee() {
        for s in [CommitmentStatus::Proved, CommitmentStatus::Slashed, CommitmentStatus::None] {
            assert_eq!(weigh(s, U256::from(9), U256::from(1)), Verdict::Settled(s));
        }
    }

    #[test]
    fn nothing_to_take_is_never_slashed_even_when_gas_is_free() {
        assert_eq!(weigh(CommitmentStatus::Committed, U256::ZERO, U256::ZERO), Verdict::NothingToGain);
    }

    #[test]
    fn a_fee_under_the_margin_over_the_gas_is_not_worth_it() {
        let v = weigh(CommitmentStatus::Committed, U256::from(9), U256::from(5));
        assert_eq!(v, Verdict::NotWorthIt { fee: U256::from(9), cost: U256::from(5) });
    }

    #[test]
    fn a_fee_of_the_margin_over_the_gas_is_slashed() {
        let v = weigh(CommitmentStatus::Committed, U256::from(10), U256::from(5));
        assert_eq!(v, Verdict::Slash { fee: U256::from(10), cost: U256::from(5) });
    }

    #[test]
    fn the_keeper_fee_is_its_share_of_what_there_is_to_take() {
        let p = Punishments { incorrect_proof: U256::from(50), no_proof: U256::from(30), keeper_share_bps: 1_000 };
        assert_eq!(p.keeper_fee(U256::from(100)), U256::from(3), "10% of the punishment");
        assert_eq!(p.keeper_fee(U256::from(20)), U256::from(2), "10% of the stake left");
    }
}
