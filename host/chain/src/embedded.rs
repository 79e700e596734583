//! An EVM chain in-process: revm executing the same bytecode as anvil or a real chain, with the
//! block counter, mempool, receipts and logs that revm itself does not have.
//!
//! It is the node's default when no chain is configured, and the second implementation the
//! scenario tests run against. Transactions are not signed: a handle acts as its sender
//! ([`EmbeddedChain::handle`]), as an unlocked dev account does on anvil. Blocks are mined per
//! transaction (automine, anvil's default), on demand ([`EmbeddedChain::mine`]), or by the
//! caller's timer; transactions sent while automine is off wait in the mempool for the next
//! block, so that several can share one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, Log, U256, keccak256};
use async_trait::async_trait;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::TxKind;
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{Context, Database, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use tracing::debug;

use crate::{BaseChain, BlockRef, ChainError, Receipt, TxRequest};

/// Seconds between blocks, as on Ethereum: only timestamps depend on it.
const BLOCK_TIME_SECS: u64 = 12;
/// Gas per block and per transaction: mainnet's limit, ample for any reveal of 64 batches.
const GAS_LIMIT: u64 = 30_000_000;
/// How long `send` waits for a block while automine is off before giving up.
const INCLUSION_TIMEOUT: Duration = Duration::from_secs(60);

/// What a mined transaction left behind.
enum Mined {
    Ok(Receipt),
    Reverted(Bytes),
}

struct PendingTx {
    hash: B256,
    env: TxEnv,
}

struct State {
    db: CacheDB<EmptyDB>,
    chain_id: u64,
    /// Hash of block i at index i (block 0 is genesis).
    blocks: Vec<B256>,
    logs: Vec<(u64, Log)>,
    mempool: Vec<PendingTx>,
    mined: HashMap<B256, Mined>,
    automine: bool,
    /// Nonces handed out to queued transactions (the db's nonce lags until they are mined).
    next_nonce: HashMap<Address, u64>,
}

/// A shared in-process chain. Clone it freely; each [`EmbeddedChain::handle`] sends as one account.
#[derive(Clone)]
pub struct EmbeddedChain {
    state: Arc<Mutex<State>>,
}

/// One account's view of an [`EmbeddedChain`].
#[derive(Clone)]
pub struct EmbeddedHandle {
    chain: EmbeddedChain,
    sender: Address,
}

impl EmbeddedChain {
    /// A fresh chain at block 0 with `funded` accounts.
    pub fn new(chain_id: u64, funded: &[(Address, U256)]) -> Self {
        let mut db = CacheDB::new(EmptyDB::default());
        for (a, balance) in funded {
            db.insert_account_info(*a, AccountInfo { balance: *balance, ..Default::default() });
        }
        let genesis = keccak256([chain_id.to_be_bytes().as_slice(), b"prova embedded genesis"].concat());
        let state = State {
            db,
            chain_id,
            blocks: vec![genesis],
            logs: vec![],
            mempool: vec![],
            mined: HashMap::new(),
            automine: true,
            next_nonce: HashMap::new(),
        };
        Self { state: Arc::new(Mutex::new(state)) }
    }

    /// A handle that sends as `sender`.
    pub fn handle(&self, sender: Address) -> EmbeddedHandle {
        EmbeddedHandle { chain: self.clone(), sender }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the chain as it was before the panicking call.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mines `n` blocks; the first takes every queued transaction.
    pub fn mine(&self, n: u64) {
        let mut s = self.lock();
        for _ in 0..n {
            s.mine_block();
        }
    }

    /// With automine on (the default) every transaction gets a block of its own.
    pub fn set_automine(&self, on: bool) {
        self.lock().automine = on;
    }

    pub fn head_number(&self) -> u64 {
        self.lock().head()
    }
}

impl State {
    fn head(&self) -> u64 {
        self.blocks.len() as u64 - 1
    }

    fn evm_at(&mut self, number: u64) -> revm::handler::MainnetEvm<revm::handler::MainnetContext<&mut CacheDB<EmptyDB>>> {
        let chain_id = self.chain_id;
        Context::mainnet()
            .with_db(&mut self.db)
            .modify_cfg_chained(|c| {
                c.chain_id = chain_id;
                // The fork the contracts are compiled for (foundry.toml evm_version).
                c.set_spec_and_mainnet_gas_params(SpecId::CANCUN);
            })
            .modify_block_chained(|b| {
                b.number = U256::from(number);
                b.timestamp = U256::from(number * BLOCK_TIME_SECS);
                b.gas_limit = GAS_LIMIT;
                b.basefee = 0;
            })
            .build_mainnet()
    }

    /// `who`'s account as of the last mined block (an untouched account is empty).
    fn account(&mut self, who: Address) -> AccountInfo {
        // CacheDB over EmptyDB cannot fail: every miss is an empty account.
        self.db.basic(who).ok().flatten().unwrap_or_default()
    }

    /// The nonce `who`'s next transaction takes, counting those still in the mempool.
    fn nonce_of(&mut self, who: Address) -> u64 {
        let mined = self.account(who).nonce;
        mined.max(self.next_nonce.get(&who).copied().unwrap_or(0))
    }

    fn tx_env(&mut self, from: Address, tx: &TxRequest, nonce: u64) -> Result<TxEnv, ChainError> {
        TxEnv::builder()
            .caller(from)
            .kind(tx.to.map_or(TxKind::Create, TxKind::Call))
            .data(tx.data.clone())
            .value(tx.value)
            .nonce(nonce)
            .gas_limit(GAS_LIMIT)
            .gas_price(0)
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| ChainError::Embedded { purpose: tx.purpose.clone(), message: format!("{e:?}") })
    }

    /// Runs `env` against the head state without keeping anything: eth_call / eth_estimateGas.
    fn simulate(&mut self, env: TxEnv, purpose: &str) -> Result<Bytes, ChainError> {
        let number = self.head() + 1;
        let result = self
            .evm_at(number)
            .transact(env)
            .map_err(|e| ChainError::Embedded { purpose: purpose.to_string(), message: format!("{e:?}") })?;
        match result.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(ChainError::reverted(purpose, output)),
            ExecutionResult::Halt { reason, .. } => {
                Err(ChainError::Reverted { purpose: purpose.to_string(), reason: format!("halted: {reason:?}"), data: Bytes::new() })
            }
        }
    }

    fn mine_block(&mut self) {
        let number = self.head() + 1;
        let txs = std::mem::take(&mut self.mempool);
        let parent = *self.blocks.last().expect("genesis");
        let hash = keccak256([parent.as_slice(), &number.to_be_bytes(), &txs.iter().flat_map(|t| t.hash.0).collect::<Vec<u8>>()].concat());
        let block = BlockRef { number, hash };
        for t in txs {
            let mined = match self.evm_at(number).transact_commit(t.env) {
                Ok(ExecutionResult::Success { gas, logs, output, .. }) => {
                    let contract_address = match output {
                        Output::Create(_, a) => a,
                        Output::Call(_) => None,
                    };
                    self.logs.extend(logs.iter().cloned().map(|l| (number, l)));
                    Mined::Ok(Receipt { tx_hash: t.hash, block, gas_used: gas.tx_gas_used(), logs, contract_address })
                }
                Ok(ExecutionResult::Revert { output, .. }) => Mined::Reverted(output),
                Ok(ExecutionResult::Halt { .. }) => Mined::Reverted(Bytes::new()),
                // Invalid (nonce, funds): dropped, as a node drops it from the block.
                Err(e) => {
                    debug!(error = ?e, "embedded chain dropped a transaction");
                    Mined::Reverted(Bytes::new())
                }
            };
            self.mined.insert(t.hash, mined);
        }
        self.blocks.push(hash);
    }
}

#[async_trait]
impl BaseChain for EmbeddedHandle {
    fn sender(&self) -> Address {
        self.sender
    }

    fn chain_id(&self) -> u64 {
        self.chain.lock().chain_id
    }

    async fn head(&self) -> Result<BlockRef, ChainError> {
        let s = self.chain.lock();
        Ok(BlockRef { number: s.head(), hash: *s.blocks.last().expect("genesis") })
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        Ok(self.chain.lock().blocks.get(number as usize).copied())
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let mut s = self.chain.lock();
        let req = TxRequest { to: Some(to), data, value: U256::ZERO, purpose: "call".into() };
        let nonce = s.account(self.sender).nonce;
        let env = s.tx_env(self.sender, &req, nonce)?;
        s.simulate(env, "call")
    }

    async fn send(&self, tx: TxRequest) -> Result<Receipt, ChainError> {
        let hash = {
            let mut s = self.chain.lock();
            let nonce = s.nonce_of(self.sender);
            let env = s.tx_env(self.sender, &tx, nonce)?;
            // Refused before it takes a nonce, as an RPC node refuses a failing estimate. With
            // transactions queued the head state is not what this one will meet, so it is
            // judged when mined (as anvil judges at `pending` what it can see).
            if s.mempool.is_empty() {
                s.simulate(env.clone(), &tx.purpose)?;
            }
            let hash = keccak256([self.sender.as_slice(), &nonce.to_be_bytes(), &tx.data].concat());
            s.next_nonce.insert(self.sender, nonce + 1);
            s.mempool.push(PendingTx { hash, env });
            if s.automine {
                s.mine_block();
            }
            hash
        };
        let start = Instant::now();
        loop {
            if let Some(m) = self.chain.lock().mined.remove(&hash) {
                return match m {
                    Mined::Ok(r) => Ok(r),
                    Mined::Reverted(data) => Err(ChainError::reverted(&tx.purpose, data)),
                };
            }
            if start.elapsed() > INCLUSION_TIMEOUT {
                return Err(ChainError::NotMined { purpose: tx.purpose, hash, bumps: 0 });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let s = self.chain.lock();
        Ok(s.logs.iter().filter(|(n, l)| *n >= from && *n <= to && l.address == address).map(|(_, l)| l.clone()).collect())
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        Ok(self.chain.lock().account(who).balance)
    }
}
