//! [`BaseChain`] over any EVM JSON-RPC node, with the node's own nonces and a durable outbox.
//!
//! Sending a transaction:
//! 1. `eth_estimateGas` first: a call that would revert (too early, already committed, ...) is
//!    refused here, before a nonce is taken. alloy's default cached nonce filler reserves the
//!    nonce before the estimate and burns it when the estimate fails; we use no fillers.
//! 2. Under the nonce lock: sign with the next nonce, store the signed bytes in the
//!    [`Outbox`] (committed to disk), broadcast, advance the nonce.
//! 3. Poll for the receipt; if none arrives within `receipt_timeout`, re-sign the same nonce
//!    with fees raised by `fee_bump_percent` (replace-by-fee) and broadcast again, up to
//!    `max_bumps` times. Any of the broadcast hashes may be the one mined.
//!
//! [`RpcChain::reconcile`], called on every new head, settles every stored transaction against
//! the chain: one whose block hash changed (a reorg) is looked up again and, if gone,
//! rebroadcast from the stored bytes at its nonce; one buried `finality_depth` blocks deep is
//! forgotten. [`RpcChain::connect`] rebroadcasts what a crash left pending.

use std::path::Path;
use std::time::{Duration, Instant};

use alloy::eips::BlockId;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, Log, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
use async_trait::async_trait;
use tokio::sync::Mutex;
use tracing::{info, instrument, warn};

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
    /// Replacements before `send` gives up (the transaction stays in the outbox).
    pub max_bumps: u32,
    /// Blocks after which a mined transaction is final and leaves the outbox.
    pub finality_depth: u64,
    /// Gas limit headroom over the estimate, in percent: state can change between estimate
    /// and inclusion (a reveal that becomes the consolidating one does more work).
    pub gas_headroom_percent: u64,
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
        }
    }
}

pub struct RpcChain {
    provider: DynProvider,
    wallet: EthereumWallet,
    sender: Address,
    chain_id: u64,
    outbox: Outbox,
    next_nonce: Mutex<u64>,
    cfg: RpcConfig,
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

fn already_known(e: &RpcError<TransportErrorKind>) -> bool {
    let m = e.to_string().to_lowercase();
    m.contains("already known") || m.contains("already imported") || m.contains("known transaction")
}

impl RpcChain {
    /// Connects to `url` (http), opens the outbox at `outbox_path` and resumes from it: the next
    /// nonce is the chain's count or past the highest stored one, and what is still pending is
    /// broadcast again.
    pub async fn connect(url: &str, signer: PrivateKeySigner, outbox_path: &Path, cfg: RpcConfig) -> Result<Self, ChainError> {
        let url = url.parse().map_err(|e| ChainError::rpc("connect", format!("bad RPC URL {url:?}: {e}")))?;
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(url).erased();
        let chain_id = provider.get_chain_id().await.map_err(|e| ChainError::rpc("connect", e))?;
        let sender = signer.address();
        let outbox = Outbox::open(outbox_path)?;
        let mined = provider.get_transaction_count(sender).latest().await.map_err(|e| ChainError::rpc("connect", e))?;
        let stored = outbox.all()?;
        let next = stored.iter().filter(|t| t.nonce >= mined).map(|t| t.nonce + 1).max().unwrap_or(mined).max(mined);
        let chain = Self { provider, wallet: EthereumWallet::from(signer), sender, chain_id, outbox, next_nonce: Mutex::new(next), cfg };
        let resent = chain.reconcile().await?;
        info!(%sender, chain_id, next_nonce = next, resent = resent.len(), "rpc chain connected");
        Ok(chain)
    }

    /// The alloy provider, for dev-node controls in tests (anvil_mine, anvil_reorg, ...).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Settles the outbox against the chain (see the module docs). Returns the hashes it
    /// broadcast again.
    #[instrument(skip(self), fields(sender = %self.sender))]
    pub async fn reconcile(&self) -> Result<Vec<B256>, ChainError> {
        let head = self.provider.get_block_number().await.map_err(|e| ChainError::rpc("reconcile", e))?;
        let mut resent = vec![];
        for mut t in self.outbox.all()? {
            if let Some(b) = t.included {
                if self.block_hash(b.number).await? == Some(b.hash) {
                    if head >= b.number + self.cfg.finality_depth {
                        self.outbox.remove(t.nonce)?;
                    }
                    continue;
                }
                warn!(nonce = t.nonce, purpose = %t.purpose, block = b.number, "block of a mined transaction was reorged away");
            }
            if let Some((r, _)) = self.find_receipt(&t).await? {
                t.included = Some(r.block);
            } else {
                t.included = None;
                self.broadcast(&t).await?;
                resent.push(t.hash);
                info!(nonce = t.nonce, purpose = %t.purpose, hash = %t.hash, "rebroadcast from the outbox");
            }
            self.outbox.put(&t)?;
        }
        Ok(resent)
    }

    /// The receipt of whichever of `t`'s broadcasts was mined, and whether it succeeded.
    async fn find_receipt(&self, t: &OutboxTx) -> Result<Option<(Receipt, bool)>, ChainError> {
        for h in t.hashes.iter().rev() {
            let r = self.provider.get_transaction_receipt(*h).await.map_err(|e| ChainError::rpc(&t.purpose, e))?;
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

    async fn broadcast(&self, t: &OutboxTx) -> Result<(), ChainError> {
        match self.provider.send_raw_transaction(&t.raw).await {
            Ok(_) => Ok(()),
            Err(e) if already_known(&e) => Ok(()),
            Err(e) => Err(classify(&t.purpose, e)),
        }
    }

    async fn sign(&self, req: &TransactionRequest, t: &mut OutboxTx) -> Result<(), ChainError> {
        let req = req
            .clone()
            .with_nonce(t.nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(t.gas_limit)
            .with_max_fee_per_gas(t.max_fee_per_gas)
            .with_max_priority_fee_per_gas(t.max_priority_fee_per_gas);
        let envelope = <TransactionRequest as NetworkTransactionBuilder<Ethereum>>::build(req, &self.wallet)
            .await
            .map_err(|e| ChainError::rpc(&t.purpose, format!("signing: {e}")))?;
        t.hash = *envelope.tx_hash();
        t.hashes.push(t.hash);
        t.raw = envelope.encoded_2718().into();
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
        self.chain_id
    }

    async fn head(&self) -> Result<BlockRef, ChainError> {
        let b = self
            .provider
            .get_block(BlockId::latest())
            .await
            .map_err(|e| ChainError::rpc("head", e))?
            .ok_or_else(|| ChainError::rpc("head", "node has no latest block"))?;
        Ok(BlockRef { number: b.header.number, hash: b.header.hash })
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        let b = self.provider.get_block(BlockId::number(number)).await.map_err(|e| ChainError::rpc("block hash", e))?;
        Ok(b.map(|b| b.header.hash))
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let req = TransactionRequest::default().with_from(self.sender).with_to(to).with_input(data);
        self.provider.call(req).await.map_err(|e| classify("call", e))
    }

    #[instrument(skip_all, fields(purpose = %tx.purpose, sender = %self.sender))]
    async fn send(&self, tx: TxRequest) -> Result<Receipt, ChainError> {
        let purpose = tx.purpose.clone();
        let mut req = TransactionRequest::default().with_from(self.sender).with_input(tx.data).with_value(tx.value);
        req = match tx.to {
            Some(to) => req.with_to(to),
            None => req.into_create(),
        };
        let estimate = self.provider.estimate_gas(req.clone()).await.map_err(|e| classify(&purpose, e))?;
        let fees = self.provider.estimate_eip1559_fees().await.map_err(|e| ChainError::rpc(&purpose, e))?;
        let mut t = OutboxTx {
            nonce: 0,
            hash: B256::ZERO,
            hashes: vec![],
            raw: Bytes::new(),
            purpose: purpose.clone(),
            gas_limit: estimate * (100 + self.cfg.gas_headroom_percent) / 100,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.max(1),
            included: None,
        };
        {
            let mut next = self.next_nonce.lock().await;
            t.nonce = *next;
            self.sign(&req, &mut t).await?;
            // Durable before it leaves the process: a crash after this line cannot lose it.
            self.outbox.put(&t)?;
            if let Err(e) = self.broadcast(&t).await {
                // Never broadcast: free the nonce again.
                self.outbox.remove(t.nonce)?;
                return Err(e);
            }
            *next += 1;
        }
        info!(nonce = t.nonce, hash = %t.hash, gas_limit = t.gas_limit, "broadcast");
        let mut bumps = 0;
        loop {
            let waited = Instant::now();
            while waited.elapsed() < self.cfg.receipt_timeout {
                if let Some((r, ok)) = self.find_receipt(&t).await? {
                    t.included = Some(r.block);
                    self.outbox.put(&t)?;
                    if !ok {
                        // State moved between estimate and inclusion; the nonce is spent either way.
                        return Err(ChainError::Reverted { purpose, reason: "mined but reverted".into(), data: Bytes::new() });
                    }
                    return Ok(r);
                }
                tokio::time::sleep(self.cfg.poll).await;
            }
            if bumps == self.cfg.max_bumps {
                return Err(ChainError::NotMined { purpose, hash: t.hash, bumps });
            }
            bumps += 1;
            let bump = |v: u128| v * (100 + self.cfg.fee_bump_percent) / 100 + 1;
            t.max_fee_per_gas = bump(t.max_fee_per_gas);
            t.max_priority_fee_per_gas = bump(t.max_priority_fee_per_gas);
            self.sign(&req, &mut t).await?;
            self.outbox.put(&t)?;
            warn!(nonce = t.nonce, hash = %t.hash, bumps, "not mined in time: replaced with higher fees");
            self.broadcast(&t).await?;
        }
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let filter = Filter::new().address(address).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(|e| ChainError::rpc("logs", e))?;
        Ok(logs.into_iter().map(|l| l.inner).collect())
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.provider.get_balance(who).await.map_err(|e| ChainError::rpc("balance", e))
    }
}
