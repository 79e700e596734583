//! prova-node: a miner's node.
//!
//! - [`generator`] (Proof Generator): sequences -> task graphs -> a pool of workers running
//!   the rollup's plugin ([`prover`]); every proof stored.
//! - [`manager`] (Proof Manager): `submitPendingProof`, `tryFetchProofToSend`, `processResend`.
//! - [`sender`] (Proof Sender): commit, watch and reveal caches, each drained by its own task,
//!   driving the [`submission`] state machine.
//! - [`upkeep`]: the keeper (slashes others' unrevealed commitments when that pays) and the
//!   automatic withdrawal of rewards.
//! - [`plugins`]: the plugin folder, live: each job runs on its plugin's current version, and
//!   the [`plugins::Reloader`] loads new and replaced files in the background.
//! - [`node`]: one poller per chain, wiring the rollups served on it to the chain watcher, and
//!   one generator whose workers every rollup shares; runs until shutdown.
//!
//! The dev world (deploying, the dev sequencer, in-process miners) is a crate of its own,
//! `prova-dev`: nothing here deploys or posts.
//!
//! Architecture invariant: the node's parts talk through the store and typed messages (task
//! ids, sequence numbers), never shared mutable state; the chain is only a
//! [`prova_chain::BaseChain`], so nothing here knows whether it is anvil, a real RPC node or
//! the embedded chain.

pub mod generator;
pub mod manager;
pub mod node;
pub mod plugins;
pub mod prover;
pub mod sender;
pub mod submission;
pub mod upkeep;

use std::time::{SystemTime, UNIX_EPOCH};

/// Why the node (or one of its parts) stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Store(#[from] prova_store::StoreError),
    #[error(transparent)]
    Chain(#[from] prova_chain::ChainError),
    #[error(transparent)]
    Job(#[from] prova_runtime::JobError),
    #[error("{0}")]
    Config(String),
    /// The store and the node disagree (a bug, or a store edited by hand).
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
}

/// Unix time in milliseconds (task records).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// An identity for stores in unit tests.
#[cfg(test)]
pub(crate) fn test_identity() -> prova_store::Identity {
    prova_store::Identity { chain_id: 1, genesis: [0; 32], manager: [0; 20], rollup: 1, miner: [1; 20] }
}
