//! The two-step submission of one sequence as an explicit state machine: the stored
//! [`SubmissionState`], the [`Event`]s that move it, and one [`transition`] function. It is pure
//! (no chain, no store, no clock): the sender reads the chain into an [`Event::Observed`], runs
//! the transition, stores the new state, and only then carries out the [`Action`].
//!
//! The transition table is in ARCHITECTURE.md (`host/node`); each row has a unit test below.
//!
//! Wait means: observe again on the next block. Nothing here counts retries: a step that cannot
//! act now is simply observed again, and the chain decides.

use prova_chain::contracts::{Commitment, CommitmentStatus, RevealOutcome, SlashReason, WindowState};
use prova_chain::{B256, RevertKind};
use prova_store::{SlashKind, Submission, SubmissionState};

/// What the chain says of one sequence, read on a new head.
#[derive(Debug, Clone)]
pub struct View {
    /// The block a transaction sent now lands in at the earliest (head + 1).
    pub next_block: u64,
    pub window: WindowState,
    /// Our commitment in the current window (`None` before any window).
    pub current: Option<Commitment>,
    /// Our commitment in the last window we committed in, when that is an older one.
    pub older: Option<Commitment>,
    /// How our proved or slashed commitment was settled, from its event (read only when
    /// `current` or `older` says so; `None` if the event could not be found).
    pub settled: Option<RevealOutcome>,
    /// The hash our commitment must hold: `proof_hash(final proof, us)`.
    pub our_hash: B256,
}

#[derive(Debug, Clone)]
pub enum Event {
    /// A fresh read of the chain: on every new head, and at start after a crash.
    Observed(Box<View>),
    /// Our commit was mined, in `window`.
    CommitLanded { window: u64, block: u64 },
    /// Our reveal was mined and judged.
    RevealLanded { outcome: RevealOutcome, block: u64 },
    /// The chain refused our transaction (at estimate, or mined and reverted).
    Refused(RevertKind),
    /// The transaction's fate is not known (RPC error, timeout): it may have landed.
    Unknown,
    /// Our final proof failed the local check (verification, binding to us, or its hash).
    CheckFailed(String),
}

/// What the sender does after a transition (the new state is stored first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the commit (the stored state says `Committing`).
    Commit,
    /// Check the proof locally, then send the reveal (the stored state says `Revealing`).
    Reveal,
    /// Observe again on the next block.
    Wait,
    /// The proof is bad and nothing of it is on chain: have it proved again.
    Reprove,
    /// Settled: nothing more to do.
    Stop,
}

/// A new submission for a stored final proof: nothing sent yet.
pub fn ready(init_batch: u64, final_batch: u64, proof_hash: B256) -> Submission {
    Submission {
        init_batch,
        final_batch,
        proof_hash: proof_hash.0,
        state: SubmissionState::Ready,
        windows: vec![],
        commit_block: None,
        reveal_block: None,
    }
}

/// The one transition function: the state after `event`, and what to do next.
pub fn transition(sub: &Submission, event: &Event) -> (Submission, Action) {
    let mut s = sub.clone();
    if s.state.is_settled() {
        return (s, Action::Stop);
    }
    let action = match event {
        Event::Observed(v) => observe(&mut s, v),
        Event::CommitLanded { window, block } => {
            if !s.windows.contains(window) {
                s.windows.push(*window);
            }
            s.state = SubmissionState::Committed;
            s.commit_block = Some(*block);
            Action::Wait
        }
        Event::RevealLanded { outcome, block } => {
            s.reveal_block = Some(*block);
            s.state = settled(outcome);
            Action::Stop
        }
        Event::Refused(kind) => match (&s.state, kind) {
            (SubmissionState::Ready | SubmissionState::Committing, RevertKind::AlreadyVerified) => {
                s.state = SubmissionState::Missed;
                Action::Stop
            }
            (SubmissionState::Revealing, _) => {
                s.state = SubmissionState::Committed;
                Action::Wait
            }
            _ => Action::Wait,
        },
        Event::Unknown => Action::Wait,
        Event::CheckFailed(reason) => {
            if s.windows.is_empty() {
                s.state = SubmissionState::Ready;
                Action::Reprove
            } else {
                s.state = SubmissionState::Rejected { reason: reason.clone() };
                Action::Stop
            }
        }
    };
    (s, action)
}

fn observe(s: &mut Submission, v: &View) -> Action {
    for c in [&v.current, &v.older].into_iter().flatten() {
        match c.status {
            CommitmentStatus::Proved => {
                s.state = match &v.settled {
                    Some(o @ RevealOutcome::Accepted { .. }) => settled(o),
                    // The event is out of reach (a pruned node): the reveal was accepted, the
                    // amount is unknown and recorded as zero.
                    _ => SubmissionState::Revealed { late: false, reward_wei: 0 },
                };
                return Action::Stop;
            }
            CommitmentStatus::Slashed => {
                s.state = match &v.settled {
                    Some(o @ RevealOutcome::Slashed { .. }) => settled(o),
                    _ => SubmissionState::Slashed { reason: SlashKind::NoReveal, amount_wei: 0 },
                };
                return Action::Stop;
            }
            CommitmentStatus::None | CommitmentStatus::Committed => {}
        }
    }
    let w = &v.window;
    let next = v.next_block;
    if let Some(c) = v.current.as_ref().filter(|c| c.status == CommitmentStatus::Committed) {
        if c.proof_hash != v.our_hash {
            // Ours, but not for this proof: made for data a reorg replaced. Revealing this proof
            // would be slashed for the mismatch; the commitment is left alone.
            s.state = SubmissionState::Abandoned;
            return Action::Stop;
        }
        if !s.windows.contains(&w.window) {
            s.windows.push(w.window);
        }
        s.commit_block = Some(c.committed_at);
        let expired = w.verified_at.is_none() && w.deadline.is_some_and(|d| next > d);
        if expired {
            // Our own window ran out with nobody proving: commit again, which opens the next.
            s.state = SubmissionState::Committing;
            return Action::Commit;
        }
        if next >= w.first_reveal_block && w.previous_verified {
            s.state = SubmissionState::Revealing;
            return Action::Reveal;
        }
        s.state = SubmissionState::Committed;
        return Action::Wait;
    }
    if w.verified_at.is_some() {
        s.state = SubmissionState::Missed;
        return Action::Stop;
    }
    if w.opens_at(next) || w.joins_at(next) {
        s.state = SubmissionState::Committing;
        return Action::Commit;
    }
    Action::Wait
}

fn settled(outcome: &RevealOutcome) -> SubmissionState {
    match outcome {
        RevealOutcome::Accepted { late, reward, .. } => {
            SubmissionState::Revealed { late: *late, reward_wei: u128::try_from(*reward).unwrap_or(u128::MAX) }
        }
        RevealOutcome::Slashed { reason, amount } => SubmissionState::Slashed {
            reason: match reason {
                SlashReason::HashMismatch => SlashKind::HashMismatch,
                SlashReason::InvalidProof => SlashKind::InvalidProof,
                SlashReason::NoReveal => SlashKind::NoReveal,
            },
            amount_wei: u128::try_from(*amount).unwrap_or(u128::MAX),
        },
    }
}

#[cfg(test)]
mod tests {
    use prova_chain::U256;

    use super::*;

    const OURS: B256 = B256::repeat_byte(0xaa);
    const T1: u64 = 5;
    const T2: u64 = 5;

    fn sub(state: SubmissionState, windows: &[u64]) -> Submission {
        Submission { state, windows: windows.to_vec(), ..ready(0, 2, OURS) }
    }

    /// A window opened at `start` (0: none), the previous sequence verified.
    fn window(n: u64, start: u64) -> WindowState {
        WindowState {
            window: n,
            start,
            last_commit_block: if start == 0 { 0 } else { start + T1 - 1 },
            first_reveal_block: if start == 0 { 0 } else { start + T1 },
            deadline: (start != 0).then_some(start + T1 + T2),
            verified_at: None,
            previous_verified: true,
            committed_stake: U256::ZERO,
        }
    }

    fn commitment(status: CommitmentStatus, hash: B256) -> Commitment {
        Commitment { proof_hash: hash, stake: U256::from(1), committed_at: 10, status }
    }

    fn observed(next_block: u64, window: WindowState, current: Option<Commitment>) -> Event {
        Event::Observed(Box::new(View { next_block, window, current, older: None, settled: None, our_hash: OURS }))
    }

    fn run(s: &Submission, e: &Event) -> (SubmissionState, Action) {
        let (n, a) = transition(s, e);
        (n.state, a)
    }

    #[test]
    fn settled_states_never_move() {
        for st in [
            SubmissionState::Revealed { late: false, reward_wei: 1 },
            SubmissionState::Slashed { reason: SlashKind::NoReveal, amount_wei: 1 },
            SubmissionState::Missed,
            SubmissionState::Rejected { reason: "x".into() },
            SubmissionState::Abandoned,
        ] {
            let s = sub(st.clone(), &[1]);
            assert_eq!(run(&s, &observed(20, window(1, 10), None)), (st.clone(), Action::Stop));
            assert_eq!(run(&s, &Event::Unknown), (st, Action::Stop));
        }
    }

    #[test]
    fn ready_commits_into_a_new_or_open_window_and_waits_when_its_commit_phase_is_over() {
        let s = sub(SubmissionState::Ready, &[]);
        assert_eq!(run(&s, &observed(3, window(0, 0), None)), (SubmissionState::Committing, Action::Commit), "opens");
        assert_eq!(run(&s, &observed(14, window(1, 10), None)), (SubmissionState::Committing, Action::Commit), "joins");
        assert_eq!(run(&s, &observed(15, window(1, 10), None)), (SubmissionState::Ready, Action::Wait), "commit phase over");
        assert_eq!(run(&s, &observed(21, window(1, 10), None)), (SubmissionState::Committing, Action::Commit), "expired: opens the next");
    }

    #[test]
    fn verified_by_others_before_we_committed_is_missed() {
        let mut w = window(1, 10);
        w.verified_at = Some(16);
        for st in [SubmissionState::Ready, SubmissionState::Committing] {
            assert_eq!(run(&sub(st, &[]), &observed(17, w.clone(), None)), (SubmissionState::Missed, Action::Stop));
        }
        assert_eq!(
            run(&sub(SubmissionState::Committing, &[]), &Event::Refused(RevertKind::AlreadyVerified)),
            (SubmissionState::Missed, Action::Stop)
        );
    }

    #[test]
    fn a_commit_found_on_chain_is_committed_and_revealed_once_the_reveal_opens() {
        let mine = Some(commitment(CommitmentStatus::Committed, OURS));
        let s = sub(SubmissionState::Committing, &[]);
        let (n, a) = transition(&s, &observed(12, window(1, 10), mine.clone()));
        assert_eq!((n.state.clone(), a, n.windows.clone(), n.commit_block), (SubmissionState::Committed, Action::Wait, vec![1], Some(10)));
        assert_eq!(run(&n, &observed(15, window(1, 10), mine.clone())), (SubmissionState::Revealing, Action::Reveal));
        let mut unverified_previous = window(1, 10);
        unverified_previous.previous_verified = false;
        unverified_previous.deadline = None;
        assert_eq!(
            run(&n, &observed(30, unverified_previous, mine)),
            (SubmissionState::Committed, Action::Wait),
            "waits for the previous sequence"
        );
    }

    #[test]
    fn our_own_window_expiring_unverified_recommits_instead_of_looping() {
        // At 9c702b9 the watch step sent it to commit, and commit's reconcile found the old
        // commitment and sent it back to watch: a hot loop that never recommitted.
        let s = sub(SubmissionState::Committed, &[1]);
        let mine = Some(commitment(CommitmentStatus::Committed, OURS));
        assert_eq!(run(&s, &observed(21, window(1, 10), mine.clone())), (SubmissionState::Committing, Action::Commit));
        let (n, _) = transition(&sub(SubmissionState::Committing, &[1]), &Event::CommitLanded { window: 2, block: 21 });
        assert_eq!((n.state, n.windows, n.commit_block), (SubmissionState::Committed, vec![1, 2], Some(21)));
    }

    #[test]
    fn a_late_reveal_after_someone_proved_is_still_sent() {
        let mut w = window(1, 10);
        w.verified_at = Some(16);
        let mine = Some(commitment(CommitmentStatus::Committed, OURS));
        assert_eq!(run(&sub(SubmissionState::Committed, &[1]), &observed(40, w, mine)), (SubmissionState::Revealing, Action::Reveal));
    }

    #[test]
    fn proved_or_slashed_on_chain_is_settled_from_the_event() {
        let s = sub(SubmissionState::Revealing, &[1]);
        let mut v = View {
            next_block: 17,
            window: window(1, 10),
            current: Some(commitment(CommitmentStatus::Proved, OURS)),
            older: None,
            settled: Some(RevealOutcome::Accepted { late: false, reward: U256::from(7), consolidated: false }),
            our_hash: OURS,
        };
        assert_eq!(
            run(&s, &Event::Observed(Box::new(v.clone()))),
            (SubmissionState::Revealed { late: false, reward_wei: 7 }, Action::Stop)
        );
        v.current = Some(commitment(CommitmentStatus::Slashed, OURS));
        v.settled = Some(RevealOutcome::Slashed { reason: SlashReason::InvalidProof, amount: U256::from(3) });
        assert_eq!(
            run(&s, &Event::Observed(Box::new(v.clone()))),
            (SubmissionState::Slashed { reason: SlashKind::InvalidProof, amount_wei: 3 }, Action::Stop)
        );
        v.current = None;
        v.older = Some(commitment(CommitmentStatus::Proved, OURS));
        v.settled = None;
        assert_eq!(
            run(&s, &Event::Observed(Box::new(v))),
            (SubmissionState::Revealed { late: false, reward_wei: 0 }, Action::Stop),
            "event out of reach"
        );
    }

    #[test]
    fn a_commitment_for_other_data_is_abandoned_not_revealed() {
        let theirs = Some(commitment(CommitmentStatus::Committed, B256::repeat_byte(1)));
        assert_eq!(
            run(&sub(SubmissionState::Committed, &[1]), &observed(15, window(1, 10), theirs)),
            (SubmissionState::Abandoned, Action::Stop)
        );
    }

    #[test]
    fn a_commitment_a_reorg_took_is_committed_again() {
        assert_eq!(
            run(&sub(SubmissionState::Committed, &[1]), &observed(12, window(1, 10), None)),
            (SubmissionState::Committing, Action::Commit)
        );
    }

    #[test]
    fn reveal_outcomes_settle_and_refusals_go_back_to_committed() {
        let s = sub(SubmissionState::Revealing, &[1]);
        let accepted =
            Event::RevealLanded { outcome: RevealOutcome::Accepted { late: true, reward: U256::ZERO, consolidated: false }, block: 16 };
        let (n, a) = transition(&s, &accepted);
        assert_eq!((n.state, n.reveal_block, a), (SubmissionState::Revealed { late: true, reward_wei: 0 }, Some(16), Action::Stop));
        let slashed =
            Event::RevealLanded { outcome: RevealOutcome::Slashed { reason: SlashReason::HashMismatch, amount: U256::from(5) }, block: 16 };
        assert_eq!(run(&s, &slashed), (SubmissionState::Slashed { reason: SlashKind::HashMismatch, amount_wei: 5 }, Action::Stop));
        assert_eq!(run(&s, &Event::Refused(RevertKind::TooEarly { first_reveal_block: 15 })), (SubmissionState::Committed, Action::Wait));
        assert_eq!(
            run(
                &sub(SubmissionState::Committing, &[]),
                &Event::Refused(RevertKind::StakeTooLow { stake: U256::ZERO, min_stake: U256::from(1) })
            ),
            (SubmissionState::Committing, Action::Wait)
        );
    }

    #[test]
    fn an_unknown_outcome_keeps_the_intent_for_the_chain_to_decide() {
        for st in [SubmissionState::Committing, SubmissionState::Revealing] {
            assert_eq!(run(&sub(st.clone(), &[1]), &Event::Unknown), (st, Action::Wait));
        }
    }

    #[test]
    fn a_proof_that_fails_the_local_check_is_reproved_before_a_commit_and_rejected_after() {
        // At 9c702b9 it returned Done with nothing recorded, and was verified again every block.
        let bad = Event::CheckFailed("does not verify".into());
        assert_eq!(run(&sub(SubmissionState::Committing, &[]), &bad), (SubmissionState::Ready, Action::Reprove));
        assert_eq!(
            run(&sub(SubmissionState::Revealing, &[1]), &bad),
            (SubmissionState::Rejected { reason: "does not verify".into() }, Action::Stop)
        );
    }
}
