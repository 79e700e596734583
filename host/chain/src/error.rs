//! Errors of the chain layer, with contract reverts decoded by name.

use alloy::primitives::{B256, Bytes, U256};
use alloy::sol_types::SolInterface;

use crate::bindings::{ProofPool, RollupManager, Stake};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The call would revert, or did; `reason` is the decoded custom error when known.
    #[error("{purpose}: reverted: {reason}")]
    Reverted { purpose: String, reason: String, data: Bytes },
    /// The node could not be reached or answered with an error.
    #[error("{purpose}: rpc: {message}")]
    Rpc { purpose: String, message: String },
    /// Broadcast (and re-broadcast with higher fees) but not mined in time. The transaction
    /// stays in the outbox; a later `reconcile` settles it.
    #[error("{purpose}: transaction {hash} not mined after {bumps} fee bump(s)")]
    NotMined { purpose: String, hash: B256, bumps: u32 },
    /// The outbox could not be read or written.
    #[error("outbox {path}: {message}")]
    Outbox { path: String, message: String },
    /// A response that does not decode as the contract's ABI says.
    #[error("{purpose}: cannot decode the answer: {message}")]
    Decode { purpose: String, message: String },
    /// The embedded chain refused the transaction (bad nonce, not enough funds, ...).
    #[error("{purpose}: embedded chain: {message}")]
    Embedded { purpose: String, message: String },
}

impl ChainError {
    pub(crate) fn rpc(purpose: &str, e: impl std::fmt::Display) -> Self {
        Self::Rpc { purpose: purpose.to_string(), message: e.to_string() }
    }

    pub(crate) fn reverted(purpose: &str, data: Bytes) -> Self {
        Self::Reverted { purpose: purpose.to_string(), reason: describe_revert(&data), data }
    }

    /// The decoded revert, if this is one.
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            Self::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// What the node acts on in a revert, decoded from the ABI error selector; `None` if this
    /// is no revert.
    pub fn revert_kind(&self) -> Option<RevertKind> {
        match self {
            Self::Reverted { data, .. } => Some(RevertKind::decode(data)),
            _ => None,
        }
    }
}

/// The reverts of the rollup manager that the node decides on, decoded from their selectors.
/// Everything else is [`RevertKind::Other`]: the node retries it on a later block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertKind {
    /// A reveal before the window's first reveal block.
    TooEarly { first_reveal_block: u64 },
    /// A reveal after the deadline while nobody proved: the window expired.
    TooLate { deadline: u64 },
    /// Our last commitment is from an older window than the current one.
    CommitmentFromOlderWindow { committed: u64, current: u64 },
    /// A reveal while the previous sequence is unverified.
    PreviousSequenceNotVerified,
    /// The sequence is verified already: a commit is pointless.
    AlreadyVerified,
    /// We committed in this window already.
    AlreadyCommitted { window: u64 },
    /// The commit phase of the open window is over.
    CommitWindowClosed { last_commit_block: u64 },
    /// The miner's stake is below the rollup's minimum.
    StakeTooLow { stake: U256, min_stake: U256 },
    /// No commitment of ours to reveal.
    NoCommitment,
    /// Our commitment was settled already (revealed or slashed).
    AlreadySettled,
    /// The sequence is not on chain (a reorg removed it, or it never was).
    UnknownSequence,
    /// No rollup with this id is registered.
    UnknownRollup,
    /// Anything else, described.
    Other(String),
}

impl RevertKind {
    pub fn decode(data: &[u8]) -> Self {
        use RollupManager::RollupManagerErrors as E;
        match E::abi_decode(data) {
            Ok(E::TooEarly(e)) => Self::TooEarly { first_reveal_block: e.firstRevealBlock },
            Ok(E::TooLate(e)) => Self::TooLate { deadline: e.deadline },
            Ok(E::CommitmentFromOlderWindow(e)) => {
                Self::CommitmentFromOlderWindow { committed: e.committedWindow, current: e.currentWindow }
            }
            Ok(E::PreviousSequenceNotVerified(_)) => Self::PreviousSequenceNotVerified,
            Ok(E::AlreadyVerified(_)) => Self::AlreadyVerified,
            Ok(E::AlreadyCommitted(e)) => Self::AlreadyCommitted { window: e.window },
            Ok(E::CommitWindowClosed(e)) => Self::CommitWindowClosed { last_commit_block: e.lastCommitBlock },
            Ok(E::StakeTooLow(e)) => Self::StakeTooLow { stake: e.stake, min_stake: e.minStake },
            Ok(E::NoCommitment(_)) => Self::NoCommitment,
            Ok(E::AlreadySettled(_)) => Self::AlreadySettled,
            Ok(E::UnknownSequence(_)) => Self::UnknownSequence,
            Ok(E::UnknownRollup(_)) => Self::UnknownRollup,
            _ => Self::Other(describe_revert(data)),
        }
    }
}

/// Names a revert: a custom error of our contracts with its fields, a `require` string, or hex.
pub fn describe_revert(data: &[u8]) -> String {
    if let Ok(e) = RollupManager::RollupManagerErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = Stake::StakeErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Ok(e) = ProofPool::ProofPoolErrors::abi_decode(data) {
        return format!("{e:?}");
    }
    if let Some(s) = alloy::sol_types::decode_revert_reason(data) {
        return s;
    }
    if data.is_empty() { "no reason given".into() } else { format!("0x{}", alloy::hex::encode(data)) }
}
