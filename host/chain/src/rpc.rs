//! [`BaseChain`] over any EVM JSON-RPC node, with our own nonces and a durable outbox.
//!
//! Sending a transaction:
//! 1. `eth_estimateGas` first: a call that would revert (too early, already committed, ...) is
//!    refused here, before a nonce is taken. alloy's default cached nonce filler reserves the
//!    nonce before the estimate and burns it when the estimate fails; we use no fillers.
//! 2. Under the nonce lock (a `std::sync::Mutex`, so nothing can await under it): take the next
//!    nonce, sign, store the signed bytes in the [`Outbox`] (committed to disk), advance the
//!    nonce. The broadcast happens after the lock is released.
//! 3. Poll for the receipt; if none arrives within `receipt_timeout`, re-sign the same nonce
//!    with fees raised by `fee_bump_percent` (replace-by-fee) and broadcast again, up to
//!    `max_bumps` times. Any of the broadcast hashes may be the one mined.
//!
//! Nonce rules:
//! - Only a definitive refusal (the node answered that it rejects the transaction: nonce too
//!   low, underpriced, insufficient funds, invalid, ...) frees a nonce: the entry leaves the
//!   outbox. A freed nonce below one a concurrent send already took is a gap, which
//!   `reconcile` fills with a zero-value transfer to ourselves.
//! - An ambiguous failure (transport error, timeout, an error answer we do not recognise) may
//!   have propagated: the entry stays, the nonce stays spent, and `send` broadcasts the stored
//!   bytes again while it waits for the receipt.
//! - A refusal of the nonce itself (too low, too high, replacement underpriced: another
//!   transaction of this key holds it) resyncs the next nonce with the chain's pending count,
//!   never below a nonce the outbox still holds, and the send is retried once.
//! - An entry whose nonce the chain's count has passed while none of its hashes has a receipt
//!   was consumed by a transaction sent from outside with the same key: it is dropped.
//! - Every RPC request is bounded by `request_timeout`.
//!
//! [`RpcChain::reconcile`], called on every new head, settles every stored transaction against
//! the chain: one whose block hash changed (a reorg) is looked up again and, if gone,
//! rebroadcast from the stored bytes at its nonce; one pending longer than `receipt_timeout`,
//! or priced under the next block's base fee, is re-signed with higher fees (stored first, all
//! hashes kept); one buried `finality_depth` blocks deep is forgotten. Then the next nonce is
//! resynced with the chain and gaps are filled. [`RpcChain::connect`] does the same with what a
//! crash left behind.

use std::collections::{HashMap, HashSet};
use std::future::IntoFuture;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip1559::Eip1559Estimation;
use alloy::eips::eip2718::{Decodable2718, Encodable2718};
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::network::{TransactionBuilder, TxSignerSync};
use alloy::primitives::{Address, B256, Bytes, Log, TxKind, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
use async_trait::async_trait;
use tokio::time::Instant;
use tracing::{debug, info, instrument, warn};

use crate::outbox::{Outbox, OutboxTx};
use crate::{BaseChain, BlockRef, ChainError, Receipt, TxRequest};

/// Tuning of [`RpcChain`]; the defaults suit a 12-second chain.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// How long to wait for a receipt before bumping the fees.
    pub receipt_timeout: Duration,
    /// Receipt polling interval.
    pub poll: Duration,
    /// Fee increase of a replacement, in percent. Nodes (geth, reth) require at least 10.
    pub fee_bump_percent: u128,
    /// Replacements before `send` gives up (the transaction stays in the outbox). `reconcile`
    /// replaces a transaction pending too long as many times again, no more.
    pub max_bumps: u32,
    /// Blocks after which a mined transaction is final and leaves the outbox.
    pub finality_depth: u64,
    /// Gas limit headroom over the estimate, in percent: state can change between estimate
    /// and inclusion (a reveal that becomes the consolidating one does more work).
    pub gas_headroom_percent: u64,
    /// Limit on every single RPC request; one that takes longer fails with "timed out after".
    pub request_timeout: Duration,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            receipt_timeout: Duration::from_secs(36),
            poll: Duration::from_millis(250),
            fee_bump_percent: 13,
            max_bumps: 3,
            finality_depth: 64,
            gas_headroom_percent: 30,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What the nonce lock guards. Every write to the outbox happens under it too, so a nonce is
/// taken and stored in one step.
#[derive(Debug, Default)]
struct Nonces {
    /// The nonce the next new transaction gets.
    next: u64,
    /// Nonces a `send` is waiting on: it bumps their fees itself, `reconcile` does not.
    waiting: HashSet<u64>,
    /// When each pending nonce was signed at its current fees (or first seen after a restart):
    /// in memory, as a tokio instant cannot be stored.
    priced: HashMap<u64, Instant>,
}

/// Marks a nonce as waited on by a `send` until dropped (also when the send is cancelled).
struct Waiting<'a> {
    nonces: &'a Mutex<Nonces>,
    nonce: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner).waiting.remove(&self.nonce);
    }
}

pub struct RpcChain {
    reader: RpcReader,
    signer: PrivateKeySigner,
    sender: Address,
    outbox: Outbox,
    nonces: Mutex<Nonces>,
}

/// A read-only JSON-RPC connection: what a check or a `show` command needs, and the reading half
/// of [`RpcChain`]. Opening one writes nothing, so a bad URL or an unreachable node is refused
/// before a command creates an outbox or a store. As a [`BaseChain`] it calls from the zero
/// address and refuses to send.
pub struct RpcReader {
    provider: DynProvider,
    chain_id: u64,
    cfg: RpcConfig,
}

/// What a failed connection means, in the words an operator searches for: the transport error's
/// whole source chain is read (alloy's own message is "error sending request").
fn describe_transport(e: &RpcError<TransportErrorKind>) -> String {
    let mut chain = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push(s.to_string());
        source = s.source();
    }
    let all = chain.join(": ").to_lowercase();
    if all.contains("connection refused") {
        "connection refused (is the node running, and is this its RPC port?)".into()
    } else if all.contains("dns error") || all.contains("lookup address") || all.contains("name or service not known") {
        "no such host".into()
    } else {
        chain.last().cloned().unwrap_or_default()
    }
}

impl RpcReader {
    /// Connects to an http(s) JSON-RPC URL and reads its chain id.
    pub async fn connect(url: &str, cfg: RpcConfig) -> Result<Self, ChainError> {
        let parsed: alloy::transports::http::reqwest::Url =
            url.parse().map_err(|e| ChainError::rpc("connect", format!("bad RPC URL {url:?}: {e}")))?;
        match parsed.scheme() {
            "http" | "https" => {}
            "ws" | "wss" => {
                return Err(ChainError::rpc(
                    "connect",
                    format!("{url}: WebSocket URLs are not supported; use the node's http(s) endpoint"),
                ));
            }
            other => return Err(ChainError::rpc("connect", format!("{url}: unsupported scheme {other:?}; use http:// or https://"))),
        }
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(parsed).erased();
        let chain_id = timed(cfg.request_timeout, "connect", provider.get_chain_id())
            .await?
            .map_err(|e| ChainError::rpc("connect", format!("{url}: {}", describe_transport(&e))))?;
        Ok(Self { provider, chain_id, cfg })
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn request<T>(
        &self,
        purpose: &str,
        request: impl IntoFuture<Output = Result<T, RpcError<TransportErrorKind>>>,
    ) -> Result<T, ChainError> {
        timed(self.cfg.request_timeout, purpose, request).await?.map_err(|e| ChainError::rpc(purpose, e))
    }

    async fn head(&self) -> Result<BlockRef, ChainError> {
        let b = self
            .request("head", self.provider.get_block(BlockId::latest()))
            .await?
            .ok_or_else(|| ChainError::rpc("head", "node has no latest block"))?;
        Ok(BlockRef { number: b.header.number, hash: b.header.hash })
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        let b = self.request("block hash", self.provider.get_block(BlockId::number(number))).await?;
        Ok(b.map(|b| b.header.hash))
    }

    async fn call(&self, from: Address, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        self.eth_call(TransactionRequest::default().with_from(from).with_to(to).with_input(data), "call").await
    }

    /// The runtime code `creation` deploys: the creation code run as a call without a recipient
    /// at the newest block, so nothing is written. What a contract's deployment must hold.
    pub async fn code_created_by(&self, creation: Bytes) -> Result<Bytes, ChainError> {
        self.eth_call(TransactionRequest::default().with_deploy_code(creation), "creation call").await
    }

    /// `eth_call` at the newest mined block, as `BaseChain::call` promises: alloy's default is the
    /// pending block, whose state includes transactions not mined yet (a reveal seen as verified
    /// before it is, which a later read at `latest` contradicts).
    async fn eth_call(&self, req: TransactionRequest, purpose: &str) -> Result<Bytes, ChainError> {
        timed(self.cfg.request_timeout, purpose, self.provider.call(req).latest()).await?.map_err(|e| classify(purpose, e))
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let filter = Filter::new().address(address).from_block(from).to_block(to);
        let logs = self.request("logs", self.provider.get_logs(&filter)).await?;
        Ok(logs.into_iter().map(|l| l.inner).collect())
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.request("balance", self.provider.get_balance(who)).await
    }

    async fn code(&self, who: Address) -> Result<Bytes, ChainError> {
        self.request("code", self.provider.get_code_at(who)).await
    }

    async fn gas_price(&self) -> Result<u128, ChainError> {
        self.request("gas price", self.provider.get_gas_price()).await
    }
}

#[async_trait]
impl BaseChain for RpcReader {
    fn sender(&self) -> Address {
        Address::ZERO
    }

    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn head(&self) -> Result<BlockRef, ChainError> {
        RpcReader::head(self).await
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        RpcReader::block_hash(self, number).await
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        RpcReader::call(self, Address::ZERO, to, data).await
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt, ChainError> {
        Err(ChainError::rpc(&tx.purpose, "a read-only connection cannot send"))
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        RpcReader::logs(self, address, from, to).await
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        RpcReader::balance(self, who).await
    }

    async fn code(&self, who: Address) -> Result<Bytes, ChainError> {
        RpcReader::code(self, who).await
    }

    async fn gas_price(&self) -> Result<u128, ChainError> {
        RpcReader::gas_price(self).await
    }
}

/// Turns an RPC error into a revert (with the contract's reason) when it carries revert data.
fn classify(purpose: &str, e: RpcError<TransportErrorKind>) -> ChainError {
    if let Some(payload) = e.as_error_resp() {
        if let Some(data) = payload.as_revert_data() {
            return ChainError::reverted(purpose, data);
        }
        if payload.message.contains("revert") {
            return ChainError::Reverted { purpose: purpose.into(), reason: payload.message.to_string(), data: Bytes::new() };
        }
    }
    ChainError::rpc(purpose, e)
}

/// Why a broadcast failed, as far as the answer proves anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Definitively refused for its nonce: another transaction of this key holds it (or it
    /// skips one the node will not queue past).
    Nonce,
    /// Definitively refused for another reason (price, funds, validity, a rate limit): it did
    /// not enter the node's pool.
    Other,
    /// Nothing proves it was refused (a transport error, a timeout, an error answer we do not
    /// recognise): it may have propagated.
    Ambiguous,
}

/// Answers (lowercased, `_` as space) that mean the node refused the transaction for its nonce.
const NONCE_REFUSALS: &[&str] = &[
    "nonce too low",
    "nonce too high",
    "oldnonce",
    "nonce gap",
    "noncegap",
    "invalid nonce",
    "nonce has already been used",
    "replacement transaction underpriced",
    "replacement underpriced",
    "replacement fee too low",
    "future transaction tries to replace pending",
];

/// Answers that mean the node refused the transaction for another reason.
const REFUSALS: &[&str] = &[
    "underpriced",
    "fee too low",
    "feetoolow",
    "less than block base fee",
    "fee cap",
    "insufficient funds",
    "insufficientfunds",
    "intrinsic gas",
    "gas limit",
    "exceeds the configured cap",
    "priority fee",
    "invalid",
    "oversized",
    "pool is full",
    "rejected",
    "not supported",
    "chain id",
    "replay-protected",
    "revert",
    "rate limit",
];

/// Answers that mean the node already has exactly these bytes (a hash match: signing is
/// deterministic, so the same nonce and fields give the same hash).
const KNOWN: &[&str] = &["already known", "already imported", "known transaction", "alreadyknown"];

/// Classifies a failed `eth_sendRawTransaction`: `None` when the node already has the
/// transaction, else how definite the refusal is. Only a JSON-RPC error answer can be definite;
/// EIP-1474's "transaction rejected" (-32003) and "limit exceeded" (-32005) codes are too.
fn classify_broadcast(e: &RpcError<TransportErrorKind>) -> Option<Refusal> {
    let Some(payload) = e.as_error_resp() else { return Some(Refusal::Ambiguous) };
    let message = payload.message.to_lowercase().replace('_', " ");
    let says = |needles: &[&str]| needles.iter().any(|n| message.contains(n));
    if says(KNOWN) {
        None
    } else if says(NONCE_REFUSALS) {
        Some(Refusal::Nonce)
    } else if says(REFUSALS) || matches!(payload.code, -32003 | -32005) {
        Some(Refusal::Other)
    } else {
        Some(Refusal::Ambiguous)
    }
}

/// Runs one RPC request with a time limit; running past it is an `Rpc` error saying so.
async fn timed<F: IntoFuture>(limit: Duration, purpose: &str, request: F) -> Result<F::Output, ChainError> {
    tokio::time::timeout(limit, request).await.map_err(|_| ChainError::rpc(purpose, format!("timed out after {limit:?}")))
}

impl RpcChain {
    /// Connects to `url` (http), opens the outbox at `outbox_path` and resumes from it: the next
    /// nonce is the chain's pending count or past the highest stored one, and what is still
    /// pending is broadcast again.
    pub async fn connect(url: &str, signer: PrivateKeySigner, outbox_path: &Path, cfg: RpcConfig) -> Result<Self, ChainError> {
        let reader = RpcReader::connect(url, cfg).await?;
        let outbox = Outbox::open(outbox_path)?;
        let chain = Self { reader, sender: signer.address(), signer, outbox, nonces: Mutex::new(Nonces::default()) };
        let resent = chain.reconcile().await?;
        info!(sender = %chain.sender, chain_id = chain.reader.chain_id, next_nonce = chain.nonces().next, resent = resent.len(), "rpc chain connected");
        Ok(chain)
    }

    /// The alloy provider, for dev-node controls in tests (anvil_mine, anvil_reorg, ...).
    pub fn provider(&self) -> &DynProvider {
        &self.reader.provider
    }

    /// The outbox, to inspect (tests, diagnostics); only this handle writes it.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Settles the outbox against the chain (see the module docs). Returns the hashes it
    /// broadcast again.
    #[instrument(skip(self), fields(sender = %self.sender))]
    pub async fn reconcile(&self) -> Result<Vec<B256>, ChainError> {
        let head = self.request("reconcile", self.reader.provider.get_block_number()).await?;
        let (latest, pending) = self.counts("reconcile").await?;
        let base_fee = self.next_base_fee().await;
        let mut resent = vec![];
        for t in self.outbox.all()? {
            if let Some(b) = t.included {
                if self.block_hash(b.number).await? == Some(b.hash) {
                    if head >= b.number + self.reader.cfg.finality_depth {
                        self.forget(&t)?;
                    }
                    continue;
                }
                warn!(nonce = t.nonce, purpose = %t.purpose, block = b.number, "block of a mined transaction was reorged away");
            }
            if let Some((r, _)) = self.find_receipt(&t).await? {
                self.set_included(t.nonce, Some(r.block))?;
                continue;
            }
            if t.nonce < latest {
                warn!(nonce = t.nonce, purpose = %t.purpose, "nonce used by another transaction from the same key: dropped from the outbox");
                self.forget(&t)?;
                continue;
            }
            if t.included.is_some() {
                self.set_included(t.nonce, None)?;
            }
            let t = match self.stuck(&t, base_fee) {
                None => t,
                Some(why) => match self.bump(t.nonce, base_fee)? {
                    Some(bumped) => {
                        warn!(nonce = t.nonce, purpose = %t.purpose, why, hash = %bumped.hash, max_fee_per_gas = bumped.max_fee_per_gas,
                            "stuck: replaced with higher fees");
                        bumped
                    }
                    None => continue,
                },
            };
            match self.broadcast(&t).await {
                Ok(()) => {
                    info!(nonce = t.nonce, purpose = %t.purpose, hash = %t.hash, "rebroadcast from the outbox");
                    resent.push(t.hash);
                }
                Err((refusal, e)) => warn!(nonce = t.nonce, ?refusal, error = %e, "rebroadcast failed: tried again on the next reconcile"),
            }
        }
        let next = self.set_next(latest, pending)?;
        self.fill_gaps(latest.max(pending), next).await?;
        Ok(resent)
    }

    fn nonces(&self) -> MutexGuard<'_, Nonces> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One RPC request, bounded by `request_timeout`.
    async fn request<T>(
        &self,
        purpose: &str,
        request: impl IntoFuture<Output = Result<T, RpcError<TransportErrorKind>>>,
    ) -> Result<T, ChainError> {
        self.reader.request(purpose, request).await
    }

    /// The sender's mined (`latest`) and `pending` transaction counts.
    async fn counts(&self, purpose: &str) -> Result<(u64, u64), ChainError> {
        let latest = self.request(purpose, self.reader.provider.get_transaction_count(self.sender).latest()).await?;
        let pending = self.request(purpose, self.reader.provider.get_transaction_count(self.sender).pending()).await?;
        Ok((latest, pending))
    }

    /// The next block's base fee, where the node tells it (`eth_feeHistory`).
    async fn next_base_fee(&self) -> Option<u128> {
        let history = self.request("fee history", self.reader.provider.get_fee_history(1, BlockNumberOrTag::Latest, &[])).await;
        history.inspect_err(|e| debug!(error = %e, "no fee history: stuck transactions are found by time only")).ok()?.next_block_base_fee()
    }

    /// Why the pending `t` needs higher fees, if it does. Nonces a `send` waits on are its own.
    fn stuck(&self, t: &OutboxTx, base_fee: Option<u128>) -> Option<&'static str> {
        let mut n = self.nonces();
        if n.waiting.contains(&t.nonce) {
            return None;
        }
        if base_fee.is_some_and(|b| b > t.max_fee_per_gas) {
            return Some("max fee under the next base fee");
        }
        let since = *n.priced.entry(t.nonce).or_insert_with(Instant::now);
        let signings_allowed = 2 * (self.reader.cfg.max_bumps as usize + 1);
        (since.elapsed() >= self.reader.cfg.receipt_timeout && t.hashes.len() < signings_allowed)
            .then_some("pending past the receipt timeout")
    }

    /// The receipt of whichever of `t`'s broadcasts was mined, and whether it succeeded.
    async fn find_receipt(&self, t: &OutboxTx) -> Result<Option<(Receipt, bool)>, ChainError> {
        for h in t.hashes.iter().rev() {
            let r = self.request(&t.purpose, self.reader.provider.get_transaction_receipt(*h)).await?;
            if let Some(r) = r {
                let (Some(number), Some(hash)) = (r.block_number, r.block_hash) else { continue };
                return Ok(Some((
                    Receipt {
                        tx_hash: *h,
                        block: BlockRef { number, hash },
                        gas_used: r.gas_used,
                        logs: r.inner.logs().iter().map(|l| l.inner.clone()).collect(),
                        contract_address: r.contract_address,
                    },
                    r.status(),
                )));
            }
        }
        Ok(None)
    }

    /// Sends `t`'s stored bytes. `Ok` when the node has them (now or already); else how the
    /// failure classifies (see [`Refusal`]) with the error.
    async fn broadcast(&self, t: &OutboxTx) -> Result<(), (Refusal, ChainError)> {
        match timed(self.reader.cfg.request_timeout, &t.purpose, self.reader.provider.send_raw_transaction(&t.raw)).await {
            Err(timeout) => Err((Refusal::Ambiguous, timeout)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => match classify_broadcast(&e) {
                None => Ok(()),
                Some(refusal) => Err((refusal, classify(&t.purpose, e))),
            },
        }
    }

    /// Broadcasts `t` again while a `send` waits on it; true once the node has answered.
    async fn rebroadcast(&self, t: &OutboxTx) -> bool {
        match self.broadcast(t).await {
            Ok(()) => true,
            Err((Refusal::Ambiguous, e)) => {
                warn!(nonce = t.nonce, hash = %t.hash, error = %e, "broadcast unanswered: stays in the outbox, sent again");
                false
            }
            Err((refusal, e)) => {
                warn!(nonce = t.nonce, hash = %t.hash, ?refusal, error = %e, "broadcast refused: waiting for any earlier hash");
                true
            }
        }
    }

    /// Signs `tx` with the sender's key: its hash and EIP-2718 bytes. Local and synchronous.
    fn sign(&self, mut tx: TxEip1559, purpose: &str) -> Result<(B256, Bytes), ChainError> {
        let signature = self.signer.sign_transaction_sync(&mut tx).map_err(|e| ChainError::rpc(purpose, format!("signing: {e}")))?;
        let envelope = TxEnvelope::from(tx.into_signed(signature));
        Ok((*envelope.tx_hash(), envelope.encoded_2718().into()))
    }

    /// Signs `tx` at its nonce and stores it; the caller holds the nonce lock.
    fn store_new(&self, n: &mut Nonces, tx: TxEip1559, purpose: &str) -> Result<OutboxTx, ChainError> {
        let (hash, raw) = self.sign(tx.clone(), purpose)?;
        let t = OutboxTx {
            nonce: tx.nonce,
            hash,
            hashes: vec![hash],
            raw,
            purpose: purpose.to_string(),
            gas_limit: tx.gas_limit,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            included: None,
        };
        // Durable before it leaves the process: a crash after this line cannot lose it.
        self.outbox.put(&t)?;
        n.priced.insert(t.nonce, Instant::now());
        Ok(t)
    }

    /// Takes the next nonce for `tx`, signs and stores it, in one step under the nonce lock.
    /// The guard marks the nonce as waited on by the calling `send`.
    fn reserve(&self, mut tx: TxEip1559, purpose: &str) -> Result<(OutboxTx, Waiting<'_>), ChainError> {
        let mut n = self.nonces();
        // The next nonce is past every stored one; this only guards that rule.
        while self.outbox.get(n.next)?.is_some() {
            n.next += 1;
        }
        tx.nonce = n.next;
        let t = self.store_new(&mut n, tx, purpose)?;
        n.next += 1;
        n.waiting.insert(t.nonce);
        let waiting = Waiting { nonces: &self.nonces, nonce: t.nonce };
        Ok((t, waiting))
    }

    /// Frees the nonce of a transaction the node definitively refused: its entry leaves the
    /// outbox and, when no later nonce was taken meanwhile, the nonce is the next one again
    /// (else it is a gap, filled by `reconcile`).
    fn release(&self, t: &OutboxTx) -> Result<(), ChainError> {
        let mut n = self.nonces();
        if self.outbox.get(t.nonce)?.is_some_and(|s| s.hashes == t.hashes) {
            self.outbox.remove(t.nonce)?;
        }
        n.priced.remove(&t.nonce);
        if n.next == t.nonce + 1 {
            n.next = t.nonce;
        }
        Ok(())
    }

    /// Drops `t` from the outbox, unless it was re-signed since (the new hash may be mined).
    fn forget(&self, t: &OutboxTx) -> Result<(), ChainError> {
        let mut n = self.nonces();
        if self.outbox.get(t.nonce)?.is_some_and(|s| s.hashes == t.hashes) {
            self.outbox.remove(t.nonce)?;
            n.priced.remove(&t.nonce);
        }
        Ok(())
    }

    /// Records where the transaction at `nonce` was mined, or (`None`) that it no longer is.
    fn set_included(&self, nonce: u64, block: Option<BlockRef>) -> Result<(), ChainError> {
        let mut n = self.nonces();
        if let Some(mut t) = self.outbox.get(nonce)?
            && t.included != block
        {
            t.included = block;
            self.outbox.put(&t)?;
        }
        if block.is_some() {
            n.priced.remove(&nonce);
        }
        Ok(())
    }

    /// Re-signs the transaction at `nonce` with fees raised by `fee_bump_percent`, and at least
    /// to twice `base_fee` (the next block's) plus the tip, and stores it (all hashes kept)
    /// before anyone broadcasts it. `None` when the outbox no longer holds the nonce.
    fn bump(&self, nonce: u64, base_fee: Option<u128>) -> Result<Option<OutboxTx>, ChainError> {
        let mut n = self.nonces();
        let Some(mut t) = self.outbox.get(nonce)? else { return Ok(None) };
        let mut tx = match TxEnvelope::decode_2718(&mut t.raw.as_ref()) {
            Ok(TxEnvelope::Eip1559(signed)) => signed.tx().clone(),
            Ok(other) => return Err(ChainError::rpc(&t.purpose, format!("cannot bump a transaction of type {}", other.tx_type()))),
            Err(e) => return Err(ChainError::rpc(&t.purpose, format!("stored transaction does not decode: {e}"))),
        };
        let raise = |v: u128| v * (100 + self.reader.cfg.fee_bump_percent) / 100 + 1;
        tx.max_priority_fee_per_gas = raise(tx.max_priority_fee_per_gas);
        tx.max_fee_per_gas = raise(tx.max_fee_per_gas).max(base_fee.map_or(0, |b| 2 * b + tx.max_priority_fee_per_gas));
        let (hash, raw) = self.sign(tx.clone(), &t.purpose)?;
        t.hash = hash;
        t.hashes.push(hash);
        t.raw = raw;
        t.max_fee_per_gas = tx.max_fee_per_gas;
        t.max_priority_fee_per_gas = tx.max_priority_fee_per_gas;
        t.included = None;
        self.outbox.put(&t)?;
        n.priced.insert(nonce, Instant::now());
        Ok(Some(t))
    }

    /// Sets the next nonce from the chain: its pending count, but past every nonce the outbox
    /// holds. This lowers it too, past nonces freed at the top.
    fn set_next(&self, latest: u64, pending: u64) -> Result<u64, ChainError> {
        let mut n = self.nonces();
        let held = self.outbox.all()?.iter().map(|t| t.nonce + 1).max().unwrap_or(0);
        let next = latest.max(pending).max(held);
        if next != n.next {
            info!(from = n.next, to = next, latest, pending, held, "next nonce resynced with the chain");
            n.next = next;
        }
        Ok(next)
    }

    /// After a nonce refusal: settles the entries whose nonce the chain passed (mined, or
    /// consumed by an outside transaction and dropped) and resyncs the next nonce.
    async fn resync(&self, purpose: &str) -> Result<u64, ChainError> {
        let (latest, pending) = self.counts(purpose).await?;
        for t in self.outbox.all()? {
            if t.nonce >= latest || t.included.is_some() {
                continue;
            }
            match self.find_receipt(&t).await? {
                Some((r, _)) => self.set_included(t.nonce, Some(r.block))?,
                None => {
                    warn!(nonce = t.nonce, purpose = %t.purpose, "nonce used by another transaction from the same key: dropped from the outbox");
                    self.forget(&t)?;
                }
            }
        }
        self.set_next(latest, pending)
    }

    /// Fills the nonces in `from..next` that the outbox does not hold (a refused send whose
    /// successor was already taken) with a zero-value transfer to ourselves, so that the later
    /// ones can be mined. `from` is the chain's pending count: lower nonces are taken.
    async fn fill_gaps(&self, from: u64, next: u64) -> Result<(), ChainError> {
        let held: HashSet<u64> = self.outbox.all()?.iter().map(|t| t.nonce).collect();
        let gaps: Vec<u64> = (from..next).filter(|g| !held.contains(g)).collect();
        if gaps.is_empty() {
            return Ok(());
        }
        let purpose = "nonce gap filler";
        let fees: Eip1559Estimation = self.request(purpose, self.reader.provider.estimate_eip1559_fees()).await?;
        for nonce in gaps {
            let t = {
                let mut n = self.nonces();
                if nonce >= n.next || self.outbox.get(nonce)?.is_some() {
                    continue;
                }
                let tip = fees.max_priority_fee_per_gas.max(1);
                let tx = TxEip1559 {
                    chain_id: self.reader.chain_id,
                    nonce,
                    gas_limit: 21_000,
                    max_fee_per_gas: fees.max_fee_per_gas.max(tip),
                    max_priority_fee_per_gas: tip,
                    to: TxKind::Call(self.sender),
                    value: U256::ZERO,
                    access_list: Default::default(),
                    input: Bytes::new(),
                };
                self.store_new(&mut n, tx, purpose)?
            };
            warn!(nonce, hash = %t.hash, "filling a nonce gap with a transfer to ourselves");
            match self.broadcast(&t).await {
                Ok(()) => {}
                Err((Refusal::Ambiguous, e)) => warn!(nonce, error = %e, "gap filler unanswered: stays in the outbox"),
                Err((refusal, e)) => {
                    warn!(nonce, ?refusal, error = %e, "gap filler refused: tried again on the next reconcile");
                    self.release(&t)?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BaseChain for RpcChain {
    fn sender(&self) -> Address {
        self.sender
    }

    async fn reconcile(&self) -> Result<(), ChainError> {
        RpcChain::reconcile(self).await.map(drop)
    }

    fn chain_id(&self) -> u64 {
        self.reader.chain_id
    }

    async fn head(&self) -> Result<BlockRef, ChainError> {
        self.reader.head().await
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        self.reader.block_hash(number).await
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        self.reader.call(self.sender, to, data).await
    }

    #[instrument(skip_all, fields(purpose = %tx.purpose, sender = %self.sender))]
    async fn send(&self, tx: TxRequest) -> Result<Receipt, ChainError> {
        let purpose = tx.purpose.clone();
        let mut req = TransactionRequest::default().with_from(self.sender).with_input(tx.data.clone()).with_value(tx.value);
        req = match tx.to {
            Some(to) => req.with_to(to),
            None => req.into_create(),
        };
        let estimate = timed(self.reader.cfg.request_timeout, &purpose, self.reader.provider.estimate_gas(req))
            .await?
            .map_err(|e| classify(&purpose, e))?;
        let fees = self.request(&purpose, self.reader.provider.estimate_eip1559_fees()).await?;
        let tip = fees.max_priority_fee_per_gas.max(1);
        let unsigned = TxEip1559 {
            chain_id: self.reader.chain_id,
            nonce: 0,
            gas_limit: estimate * (100 + self.reader.cfg.gas_headroom_percent) / 100,
            max_fee_per_gas: fees.max_fee_per_gas.max(tip),
            max_priority_fee_per_gas: tip,
            to: tx.to.map_or(TxKind::Create, TxKind::Call),
            value: tx.value,
            access_list: Default::default(),
            input: tx.data,
        };
        let mut retried = false;
        let (mut t, _waiting, mut answered) = loop {
            let (t, waiting) = self.reserve(unsigned.clone(), &purpose)?;
            match self.broadcast(&t).await {
                Ok(()) => break (t, waiting, true),
                Err((Refusal::Ambiguous, e)) => {
                    // It may have propagated: keep the nonce, send the same bytes again below.
                    warn!(nonce = t.nonce, hash = %t.hash, error = %e, "broadcast unanswered: stays in the outbox, sent again");
                    break (t, waiting, false);
                }
                Err((refusal, e)) => {
                    self.release(&t)?;
                    if refusal == Refusal::Nonce && !retried {
                        retried = true;
                        let next = self.resync(&purpose).await?;
                        warn!(refused = t.nonce, next, error = %e, "nonce refused: resynced with the chain, retrying once");
                        continue;
                    }
                    return Err(e);
                }
            }
        };
        let nonce = t.nonce;
        info!(nonce, hash = %t.hash, gas_limit = t.gas_limit, "broadcast");
        let mut bumps = 0;
        loop {
            let waited = Instant::now();
            while waited.elapsed() < self.reader.cfg.receipt_timeout {
                // The stored entry, not ours: it has every hash, whoever signed it.
                t = self
                    .outbox
                    .get(nonce)?
                    .ok_or_else(|| ChainError::rpc(&purpose, format!("nonce {nonce} was used by another transaction from the same key")))?;
                if let Some((r, ok)) = self.find_receipt(&t).await? {
                    self.set_included(nonce, Some(r.block))?;
                    if !ok {
                        // State moved between estimate and inclusion; the nonce is spent either way.
                        return Err(ChainError::Reverted { purpose, reason: "mined but reverted".into(), data: Bytes::new() });
                    }
                    return Ok(r);
                }
                if !answered {
                    answered = self.rebroadcast(&t).await;
                }
                tokio::time::sleep(self.reader.cfg.poll).await;
            }
            if bumps == self.reader.cfg.max_bumps {
                return Err(ChainError::NotMined { purpose, hash: t.hash, bumps });
            }
            bumps += 1;
            // None: the entry is gone, which the next look at the outbox reports.
            if let Some(bumped) = self.bump(nonce, None)? {
                t = bumped;
                warn!(nonce, hash = %t.hash, bumps, "not mined in time: replaced with higher fees");
                answered = self.rebroadcast(&t).await;
            }
        }
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        self.reader.logs(address, from, to).await
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.reader.balance(who).await
    }

    async fn code(&self, who: Address) -> Result<Bytes, ChainError> {
        self.reader.code(who).await
    }

    async fn gas_price(&self) -> Result<u128, ChainError> {
        self.reader.gas_price().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON-RPC error answer (built from JSON: alloy does not re-export the payload type).
    fn answer(code: i64, message: &str) -> RpcError<TransportErrorKind> {
        RpcError::ErrorResp(serde_json::from_value(serde_json::json!({ "code": code, "message": message })).expect("error payload"))
    }

    #[test]
    fn only_an_answer_that_proves_a_refusal_frees_a_nonce() {
        let cases = [
            (answer(-32000, "nonce too low"), Some(Refusal::Nonce)),
            (answer(-32003, "Nonce too high"), Some(Refusal::Nonce)),
            (answer(-32000, "replacement transaction underpriced"), Some(Refusal::Nonce)),
            (answer(-32010, "OldNonce"), Some(Refusal::Nonce)),
            (answer(-32000, "REPLACEMENT_UNDERPRICED"), Some(Refusal::Nonce)),
            (answer(-32000, "transaction underpriced"), Some(Refusal::Other)),
            (answer(-32003, "Insufficient funds for gas * price + value"), Some(Refusal::Other)),
            (answer(-32000, "max fee per gas less than block base fee"), Some(Refusal::Other)),
            (answer(-32000, "intrinsic gas too low"), Some(Refusal::Other)),
            (answer(-32602, "invalid transaction"), Some(Refusal::Other)),
            (answer(-32003, "something new"), Some(Refusal::Other)),
            (answer(-32005, "too many requests"), Some(Refusal::Other)),
            (answer(-32000, "already known"), None),
            (answer(-32010, "AlreadyKnown"), None),
            (answer(-32000, "request timed out"), Some(Refusal::Ambiguous)),
            (answer(-32603, "internal error"), Some(Refusal::Ambiguous)),
            (TransportErrorKind::custom_str("connection reset by peer"), Some(Refusal::Ambiguous)),
            (TransportErrorKind::backend_gone(), Some(Refusal::Ambiguous)),
            (RpcError::NullResp, Some(Refusal::Ambiguous)),
        ];
        for (e, want) in cases {
            assert_eq!(classify_broadcast(&e), want, "{e}");
        }
    }

    #[tokio::test]
    async fn a_request_that_never_answers_times_out_with_the_limit_in_the_message() {
        let never = std::future::pending::<()>();
        let e = timed(Duration::from_millis(30), "head", never).await.expect_err("timed out");
        assert_eq!(e.to_string(), "head: rpc: timed out after 30ms");
    }
}
