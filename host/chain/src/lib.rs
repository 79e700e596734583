//! prova-chain: everything the node says to, and reads from, the base chain.
//!
//! - [`BaseChain`]: the one narrow trait the node talks through (head, block hashes, calls,
//!   transactions, logs), with two implementations: [`rpc::RpcChain`] for any EVM JSON-RPC node
//!   (own nonces, a durable [`outbox::Outbox`], fee bumps, reorg reconciliation) and
//!   [`embedded::EmbeddedChain`] (revm in-process, the default when no chain is configured).
//! - [`contracts`]: the typed contract API (deploy, register, sequence, commit, reveal, stake,
//!   pool) written once over the trait, so the node cannot tell which chain it talks to.
//! - [`watcher`]: sequences since a persisted cursor, with a lookback, reorg detection by block
//!   hash, and log queries split when a node limits their range.
//!
//! Architecture invariant: only this crate knows alloy and revm; callers see [`BaseChain`],
//! [`contracts::Deployment`] and plain types.

pub mod bindings;
pub mod contracts;
pub mod deployment;
pub mod dev;
pub mod embedded;
mod error;
pub mod outbox;
pub mod rpc;
pub mod sim;
pub mod units;
pub mod watcher;

pub use alloy::primitives::{Address, B256, Bytes, U256};
pub use alloy::signers::local::PrivateKeySigner;
pub use error::{ChainError, RevertKind, describe_revert};

use alloy::primitives::Log;
use async_trait::async_trait;

/// A block by number and hash: what reorg detection compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
}

/// A transaction to send: a call (`to` set) or a contract creation.
#[derive(Debug, Clone)]
pub struct TxRequest {
    pub to: Option<Address>,
    pub data: Bytes,
    pub value: U256,
    /// What it is for, in words: stored in the outbox and in every log line about it.
    pub purpose: String,
}

/// A mined transaction's outcome.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub tx_hash: B256,
    pub block: BlockRef,
    pub gas_used: u64,
    pub logs: Vec<Log>,
    pub contract_address: Option<Address>,
}

/// The base chain as the node needs it. Implementations own the sender's key and nonces.
#[async_trait]
pub trait BaseChain: Send + Sync {
    /// The account that signs (or, embedded, sends) this handle's transactions.
    fn sender(&self) -> Address;
    fn chain_id(&self) -> u64;
    /// The newest block.
    async fn head(&self) -> Result<BlockRef, ChainError>;
    /// The hash of block `number` on the current chain, if it exists.
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError>;
    /// Executes a read-only call against the newest block, as this handle's sender.
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError>;
    /// Sends a transaction and waits for it to be mined. A transaction that would revert is
    /// refused before it is signed (no nonce spent) with [`ChainError::Reverted`].
    async fn send(&self, tx: TxRequest) -> Result<Receipt, ChainError>;
    /// Logs emitted by `address` in blocks `from..=to`.
    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError>;
    /// What one unit of gas costs now, in wei (the node's suggested price; 0 on the embedded
    /// chain): what the start-up check and the keeper weigh transactions with.
    async fn gas_price(&self) -> Result<u128, ChainError>;
    /// Native balance of `who`.
    async fn balance(&self, who: Address) -> Result<U256, ChainError>;
    /// The runtime code at `who` (empty for an account without code).
    async fn code(&self, who: Address) -> Result<Bytes, ChainError>;
    /// Settles this handle's sent transactions against the chain: rebroadcasts what a reorg or
    /// a node restart dropped. Nothing to do where transactions cannot be dropped.
    async fn reconcile(&self) -> Result<(), ChainError> {
        Ok(())
    }
}
