//! Upkeep on every new head, beside the sender: the keeper, which slashes other miners'
//! commitments that were never revealed when the rollup's keeper share of the slash pays for
//! the gas, and the automatic withdrawal of credited rewards above a threshold.
//!
//! The keeper's watch list is durable: the poller records every other miner's commitment it
//! reads (`SubmitProofHash`) in the store together with its cursor, in one transaction. Each
//! block the keeper reads the window of each watched sequence (one view per sequence with
//! watched commitments, not per commitment); only for a commitment whose reveal can no longer
//! come ([`due`]) does it read the commitment and the miner's stake, and [`weigh`] decides. A
//! commitment leaves the list when it is settled (revealed, or slashed by anyone), when a reorg
//! took it, or when there is nothing to take; so each block costs work in proportion to the
//! commitments still open, not to history.

use std::collections::BTreeMap;
use std::sync::Arc;

use prova_chain::contracts::{CommitmentStatus, Punishments, WindowState, gas};
use prova_chain::units::format_ether;
use prova_chain::{Address, RevertKind, U256};
use prova_store::WatchedCommitment;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::NodeError;
use crate::sender::ChainCtx;

/// What the node does for itself besides proving.
#[derive(Debug, Clone, Default)]
pub struct UpkeepConfig {
    /// Slash other miners' unrevealed commitments when the keeper fee pays for the gas.
    pub keeper: bool,
    /// Withdraw credited rewards (and keeper fees) once they reach this many wei.
    pub withdraw_rewards_at: Option<U256>,
}

/// Whether a watched commitment's reveal can still come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Its window is open, or its deadline waits for the previous sequence.
    NotYet,
    /// A later window opened, or the deadline has passed: the contract lets anyone slash it.
    Now,
}

/// Whether the commitment in `window` is slashable at `head`, from its sequence's window. The
/// contract refuses a slash while `block <= deadline`; waiting until the head is past it means
/// the transaction lands at least two blocks after.
pub fn due(window: u64, w: &WindowState, head: u64) -> Due {
    if window < w.window {
        return Due::Now;
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
    /// The fee does not pay for the gas at today's price: ask again on the next block.
    NotWorthIt { fee: U256, cost: U256 },
    /// Slash it: the fee is more than the gas costs.
    Slash { fee: U256, cost: U256 },
}

/// The keeper's one decision: slash only when the caller gains from it.
pub fn weigh(status: CommitmentStatus, fee: U256, cost: U256) -> Verdict {
    if status != CommitmentStatus::Committed {
        Verdict::Settled(status)
    } else if fee.is_zero() {
        Verdict::NothingToGain
    } else if fee <= cost {
        Verdict::NotWorthIt { fee, cost }
    } else {
        Verdict::Slash { fee, cost }
    }
}

/// Runs the upkeep on every new head until `shutdown`; a failed step is logged and retried on
/// the next head.
pub fn spawn(ctx: Arc<ChainCtx>, cfg: UpkeepConfig, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let mut head = ctx.head.clone();
    tokio::spawn(
        async move {
            let mut upkeep = Upkeep { ctx, cfg, punishments: None };
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
                if let Err(e) = upkeep.step(h).await {
                    warn!(error = %e, "upkeep failed: retried on the next block");
                }
            }
        }
        .instrument(info_span!("upkeep")),
    )
}

struct Upkeep {
    ctx: Arc<ChainCtx>,
    cfg: UpkeepConfig,
    /// The rollup's punishments, read once (they are fixed at registration).
    punishments: Option<Punishments>,
}

impl Upkeep {
    async fn step(&mut self, head: u64) -> Result<(), NodeError> {
        if let Some(at) = self.cfg.withdraw_rewards_at {
            self.withdraw_rewards(at).await?;
        }
        if self.cfg.keeper {
            self.keep(head).await?;
        }
        Ok(())
    }

    async fn withdraw_rewards(&self, at: U256) -> Result<(), NodeError> {
        let (d, chain) = (&self.ctx.deployment, self.ctx.chain.as_ref());
        let credited = d.rewards_of(chain, self.ctx.me()).await?;
        if credited.is_zero() || credited < at {
            return Ok(());
        }
        let amount = d.withdraw_rewards(chain).await?;
        info!(amount_eth = %format_ether(amount), threshold_eth = %format_ether(at), "rewards withdrawn to the miner");
        Ok(())
    }

    async fn keep(&mut self, head: u64) -> Result<(), NodeError> {
        let (d, chain, rollup, store) = (&self.ctx.deployment, self.ctx.chain.as_ref(), self.ctx.rollup, &self.ctx.store);
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
            by_sequence.entry(c.final_batch).or_default().push(c);
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
            for c in list.iter().filter(|c| due(c.window, &w, head) == Due::Now) {
                let miner = Address::from(c.miner);
                let status = d.commitment(chain, rollup, f, c.window, miner).await?.status;
                let (fee, cost) = if status == CommitmentStatus::Committed {
                    let a = d.stake_account(chain, miner).await?;
                    let price = match price {
                        Some(p) => p,
                        None => *price.insert(chain.gas_price().await?),
                    };
                    (punishments.keeper_fee(a.active + a.pending), U256::from(gas::SLASH_UNREVEALED) * U256::from(price))
                } else {
                    (U256::ZERO, U256::ZERO)
                };
                self.act(c, miner, weigh(status, fee, cost)).instrument(span.clone()).await?;
            }
        }
        Ok(())
    }

    async fn act(&self, c: &WatchedCommitment, miner: Address, verdict: Verdict) -> Result<(), NodeError> {
        let (d, chain, rollup, store) = (&self.ctx.deployment, self.ctx.chain.as_ref(), self.ctx.rollup, &self.ctx.store);
        match verdict {
            Verdict::Settled(status) => {
                debug!(%miner, window = c.window, ?status, "settled: no longer watched");
                store.unwatch(c)?;
            }
            Verdict::NothingToGain => {
                info!(%miner, window = c.window, "unrevealed, but a slash would pay the keeper nothing: left alone");
                store.unwatch(c)?;
            }
            Verdict::NotWorthIt { fee, cost } => {
                debug!(%miner, window = c.window, fee_eth = %format_ether(fee), gas_eth = %format_ether(cost), "unrevealed; the fee does not pay for the gas yet");
            }
            Verdict::Slash { fee, cost } => match d.slash_unrevealed(chain, rollup, c.final_batch, c.window, miner).await {
                Ok(s) => {
                    info!(%miner, window = c.window, taken_eth = %format_ether(s.taken), fee_eth = %format_ether(s.keeper_fee),
                        expected_fee_eth = %format_ether(fee), gas_budget_eth = %format_ether(cost), gas_used = s.gas_used,
                        "slashed an unrevealed commitment: keeper fee credited");
                    store.unwatch(c)?;
                }
                Err(e) if e.revert_kind() == Some(RevertKind::AlreadySettled) => {
                    debug!(%miner, window = c.window, "settled by someone else first");
                    store.unwatch(c)?;
                }
                Err(e) => return Err(e.into()),
            },
        }
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
    fn a_fee_that_only_pays_for_the_gas_is_not_worth_it() {
        let v = weigh(CommitmentStatus::Committed, U256::from(5), U256::from(5));
        assert_eq!(v, Verdict::NotWorthIt { fee: U256::from(5), cost: U256::from(5) });
    }

    #[test]
    fn a_fee_above_the_gas_is_slashed() {
        let v = weigh(CommitmentStatus::Committed, U256::from(6), U256::from(5));
        assert_eq!(v, Verdict::Slash { fee: U256::from(6), cost: U256::from(5) });
    }

    #[test]
    fn the_keeper_fee_is_its_share_of_what_there_is_to_take() {
        let p = Punishments { incorrect_proof: U256::from(50), no_proof: U256::from(30), keeper_share_bps: 1_000 };
        assert_eq!(p.keeper_fee(U256::from(100)), U256::from(3), "10% of the punishment");
        assert_eq!(p.keeper_fee(U256::from(20)), U256::from(2), "10% of the stake left");
    }
}
