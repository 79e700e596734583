//! Errors of the chain layer, with contract reverts decoded by name.

use alloy::primitives::{B256, Bytes};
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
