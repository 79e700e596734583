//! An EVM chain in-process: revm executing the same bytecode as anvil or a real chain, with the
//! block counter, mempool, receipts and logs that revm itself does not have.
//!
//! It is the node's default when no chain is configured, and the second implementation the
//! scenario tests run against. Transactions are not signed: a handle acts as its sender
//! ([`EmbeddedChain::handle`]), as an unlocked dev account does on anvil. Blocks are mined per
//! transaction (automine, anvil's default), on demand ([`EmbeddedChain::mine`]), or by the
//! caller's timer; transactions sent while automine is off wait in the mempool for the next
//! block, so that several can share one.
//!
//! Reorgs ([`EmbeddedChain::reorg`]) replace up to [`MAX_REORG_DEPTH`] of the newest blocks: the
//! state before each of them is kept. Work per call is proportional to what it asks for (a log
//! query reads only the blocks in its range; receipts are kept only while a `send` waits for
//! them), not to the chain's history, and `send` waits on tokio's clock, so the chain runs under
//! a paused clock (`start_paused`) in simulations.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, Log, U256, keccak256};
use async_trait::async_trait;
use revm::context::TxEnv;
use revm::context::result::{ExecutionResult, Output};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::TxKind;
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{Context, Database, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use tokio::time::Instant;
use tracing::debug;

use crate::{BaseChain, BlockRef, ChainError, Receipt, TxRequest};

/// Seconds between blocks, as on Ethereum: only timestamps depend on it.
const BLOCK_TIME_SECS: u64 = 12;
/// Gas per block and per transaction: mainnet's limit, ample for any reveal of 64 batches.
const GAS_LIMIT: u64 = 30_000_000;
/// How long `send` waits for a block while automine is off before giving up.
const INCLUSION_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting `send` looks for its receipt (virtual time under a paused clock).
const RECEIPT_POLL: Duration = Duration::from_millis(5);

/// The deepest reorg [`EmbeddedChain::reorg`] can make: the state before each of this many
/// newest blocks is kept (one clone of the state per block with transactions). Post-merge
/// Ethereum reorgs are one or two blocks deep and blocks older than two epochs are final, so 8
/// covers every reorg worth simulating while the snapshots stay few; the node's reorg handling
/// (the watcher's lookback, the outbox's finality depth) reaches deeper than that anyway.
pub const MAX_REORG_DEPTH: u64 = 8;

/// What a mined transaction left behind.
enum Mined {
    Ok(Receipt),
    Reverted(Bytes),
}

/// Where a transaction that a `send` waits for stands.
enum Waiting {
    /// In the mempool (or put back there by a reorg that keeps transactions).
    Pending,
    /// Mined; the receipt is handed to the `send` and forgotten.
    Mined(Mined),
    /// Its block was reorged away and the transaction dropped with it.
    Dropped,
}

#[derive(Clone)]
struct PendingTx {
    hash: B256,
    env: TxEnv,
}

/// What a reorg needs of one of the newest blocks.
struct BlockRecord {
    /// The state before the block (shared by a run of empty blocks).
    before: Arc<CacheDB<EmptyDB>>,
    /// The transactions the block included, in order (not those dropped as invalid).
    txs: Vec<PendingTx>,
}

struct State {
    db: CacheDB<EmptyDB>,
    /// A snapshot equal to `db`, while no transaction has been committed since it was taken.
    db_snapshot: Option<Arc<CacheDB<EmptyDB>>>,
    chain_id: u64,
    /// Hash of block i at index i (block 0 is genesis).
    blocks: Vec<B256>,
    /// The newest blocks, oldest first, the last being the head: at most [`MAX_REORG_DEPTH`].
    recent: VecDeque<BlockRecord>,
    /// Logs by block number; blocks without logs have no entry.
    logs: BTreeMap<u64, Vec<Log>>,
    mempool: Vec<PendingTx>,
    /// The transactions a `send` waits for; each `send` removes its own when it returns or is
    /// dropped, so this holds no more than the sends in flight.
    waiting: HashMap<B256, Waiting>,
    automine: bool,
    /// Nonces handed out to queued transactions (the db's nonce lags until they are mined).
    next_nonce: HashMap<Address, u64>,
    /// Transactions sent so far: part of each transaction's hash, so that no two share one (a
    /// transaction sent again after a reorg dropped it gets the same nonce and data).
    sent: u64,
    /// Reorgs so far: part of each block's hash, so that a replaced block has a new one.
    reorgs: u64,
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
            db_snapshot: None,
            chain_id,
            blocks: vec![genesis],
            recent: VecDeque::new(),
            logs: BTreeMap::new(),
            mempool: vec![],
            waiting: HashMap::new(),
            automine: true,
            next_nonce: HashMap::new(),
            sent: 0,
            reorgs: 0,
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

    /// Block `number` of the current chain, if it exists.
    pub fn block_ref(&self, number: u64) -> Option<BlockRef> {
        self.lock().blocks.get(usize::try_from(number).ok()?).map(|&hash| BlockRef { number, hash })
    }

    /// The deepest reorg possible now: [`MAX_REORG_DEPTH`], or fewer while the chain is shorter
    /// (genesis stays).
    pub fn max_reorg_depth(&self) -> u64 {
        self.lock().recent.len() as u64
    }

    /// Replaces the newest `depth` blocks with `depth + 1` new ones (the head advances by one,
    /// as on a switch to a longer fork), every one with a new hash. The replaced blocks'
    /// transactions are dropped, as anvil drops them: their state changes, logs and receipts
    /// are gone, and a `send` still waiting for one of them returns [`ChainError::NotMined`].
    /// (A `send` that returned its receipt already is not told: its caller reads the chain, as
    /// on any chain.) Queued transactions go into the first new block, as
    /// [`EmbeddedChain::mine`] does; one queued behind a dropped transaction of its sender has a
    /// nonce too high there and is refused (its `send` fails as a revert without data, as for
    /// any transaction invalid when mined), and the sender's next transaction takes the nonce
    /// the dropped one had.
    ///
    /// # Panics
    /// If `depth` is 0 or over [`EmbeddedChain::max_reorg_depth`] (at most
    /// [`MAX_REORG_DEPTH`]): the state before older blocks is not kept.
    pub fn reorg(&self, depth: u64) {
        self.lock().reorg(depth, false);
    }

    /// As [`EmbeddedChain::reorg`], but the replaced blocks' transactions go back to the
    /// mempool, ahead of those queued, as geth returns them to its pool, and the first new block
    /// includes them again (executed anew against the state they now meet). A `send` still
    /// waiting for one gets the receipt of its new inclusion.
    ///
    /// # Panics
    /// As [`EmbeddedChain::reorg`].
    pub fn reorg_keeping_txs(&self, depth: u64) {
        self.lock().reorg(depth, true);
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
        // The mempool is empty now: every account's next nonce is its nonce in the db again
        // (also after a transaction refused below, whose nonce is free again).
        self.next_nonce.clear();
        let before = match &self.db_snapshot {
            Some(s) => s.clone(),
            None => self.db_snapshot.insert(Arc::new(self.db.clone())).clone(),
        };
        let parent = *self.blocks.last().expect("genesis");
        let tx_hashes: Vec<u8> = txs.iter().flat_map(|t| t.hash.0).collect();
        let hash = keccak256([parent.as_slice(), &number.to_be_bytes(), &self.reorgs.to_be_bytes(), &tx_hashes].concat());
        let block = BlockRef { number, hash };
        let mut included = Vec::with_capacity(txs.len());
        for t in txs {
            let mined = match self.evm_at(number).transact_commit(t.env.clone()) {
                Ok(ExecutionResult::Success { gas, logs, output, .. }) => {
                    let contract_address = match output {
                        Output::Create(_, a) => a,
                        Output::Call(_) => None,
                    };
                    if !logs.is_empty() {
                        self.logs.entry(number).or_default().extend(logs.iter().cloned());
                    }
                    Mined::Ok(Receipt { tx_hash: t.hash, block, gas_used: gas.tx_gas_used(), logs, contract_address })
                }
                Ok(ExecutionResult::Revert { output, .. }) => Mined::Reverted(output),
                Ok(ExecutionResult::Halt { .. }) => Mined::Reverted(Bytes::new()),
                // Invalid (nonce, funds): dropped, as a node drops it from the block.
                Err(e) => {
                    debug!(error = ?e, "embedded chain dropped a transaction");
                    if let Some(w) = self.waiting.get_mut(&t.hash) {
                        *w = Waiting::Mined(Mined::Reverted(Bytes::new()));
                    }
                    continue;
                }
            };
            // Included, reverted or not: its nonce is spent and the state changed.
            self.db_snapshot = None;
            if let Some(w) = self.waiting.get_mut(&t.hash) {
                *w = Waiting::Mined(mined);
            }
            included.push(t);
        }
        self.recent.push_back(BlockRecord { before, txs: included });
        if self.recent.len() as u64 > MAX_REORG_DEPTH {
            self.recent.pop_front();
        }
        self.blocks.push(hash);
    }

    fn reorg(&mut self, depth: u64, keep_txs: bool) {
        let kept = self.recent.len() as u64;
        assert!(
            (1..=kept).contains(&depth),
            "embedded chain: cannot reorg {depth} block(s): depth must be 1..={kept} (the chain keeps the state before its newest \
             {MAX_REORG_DEPTH} blocks, and genesis stays)"
        );
        let fork = self.head() - depth;
        let removed = self.recent.split_off((kept - depth) as usize);
        let before = removed.front().expect("depth >= 1").before.clone();
        self.db = CacheDB::clone(&before);
        self.db_snapshot = Some(before);
        self.blocks.truncate(fork as usize + 1);
        drop(self.logs.split_off(&(fork + 1)));
        self.reorgs += 1;
        let dropped: Vec<PendingTx> = removed.into_iter().flat_map(|r| r.txs).collect();
        debug!(depth, fork, dropped = dropped.len(), keep_txs, "embedded chain reorg");
        for t in &dropped {
            if let Some(w) = self.waiting.get_mut(&t.hash) {
                *w = if keep_txs { Waiting::Pending } else { Waiting::Dropped };
            }
        }
        if keep_txs {
            let queued = std::mem::replace(&mut self.mempool, dropped);
            self.mempool.extend(queued);
        }
        for _ in 0..=depth {
            self.mine_block();
        }
    }
}

/// Forgets a `send`'s transaction when the `send` returns or is dropped, so that receipts
/// nobody waits for any more are not kept.
struct WaitGuard<'a> {
    chain: &'a EmbeddedChain,
    hash: B256,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.chain.lock().waiting.remove(&self.hash);
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
            let hash = keccak256([self.sender.as_slice(), &nonce.to_be_bytes(), &s.sent.to_be_bytes(), &tx.data].concat());
            s.sent += 1;
            s.next_nonce.insert(self.sender, nonce + 1);
            s.mempool.push(PendingTx { hash, env });
            s.waiting.insert(hash, Waiting::Pending);
            if s.automine {
                s.mine_block();
            }
            hash
        };
        let _forget = WaitGuard { chain: &self.chain, hash };
        let deadline = Instant::now() + INCLUSION_TIMEOUT;
        loop {
            {
                let mut s = self.chain.lock();
                let settled = match s.waiting.get(&hash) {
                    Some(Waiting::Pending) | None => None,
                    Some(Waiting::Mined(_) | Waiting::Dropped) => s.waiting.remove(&hash),
                };
                match settled {
                    Some(Waiting::Mined(Mined::Ok(r))) => return Ok(r),
                    Some(Waiting::Mined(Mined::Reverted(data))) => return Err(ChainError::reverted(&tx.purpose, data)),
                    Some(Waiting::Dropped) => {
                        debug!(%hash, purpose = %tx.purpose, "embedded chain: transaction dropped by a reorg");
                        return Err(ChainError::NotMined { purpose: tx.purpose, hash, bumps: 0 });
                    }
                    Some(Waiting::Pending) | None => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(ChainError::NotMined { purpose: tx.purpose, hash, bumps: 0 });
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
    }

    async fn logs(&self, address: Address, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        if from > to {
            return Ok(vec![]);
        }
        let s = self.chain.lock();
        Ok(s.logs.range(from..=to).flat_map(|(_, logs)| logs).filter(|l| l.address == address).cloned().collect())
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        Ok(self.chain.lock().account(who).balance)
    }

    async fn gas_price(&self) -> Result<u128, ChainError> {
        // Blocks here have a zero base fee and transactions a zero price (see `tx_env`).
        Ok(0)
    }

    async fn code(&self, who: Address) -> Result<Bytes, ChainError> {
        let mut s = self.chain.lock();
        let info = s.account(who);
        let code = match info.code {
            Some(c) => c,
            // CacheDB over EmptyDB: a miss is empty code.
            None => s.db.code_by_hash(info.code_hash).unwrap_or_default(),
        };
        Ok(code.original_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH: u128 = 1_000_000_000_000_000_000;
    const ALICE: Address = Address::repeat_byte(0xa1);
    const BOB: Address = Address::repeat_byte(0xb0);

    /// A contract that emits `LOG1(topic 0x2a)` on every call: init code copying the 8-byte
    /// runtime `PUSH1 2a PUSH1 0 PUSH1 0 LOG1 STOP` and returning it.
    const EMITTER: [u8; 20] = [
        0x60, 0x08, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x08, 0x60, 0x00, 0xf3, // init
        0x60, 0x2a, 0x60, 0x00, 0x60, 0x00, 0xa1, 0x00, // runtime
    ];

    fn chain() -> (EmbeddedChain, EmbeddedHandle) {
        let chain = EmbeddedChain::new(31337, &[(ALICE, U256::from(100 * ETH))]);
        let alice = chain.handle(ALICE);
        (chain, alice)
    }

    fn pay(to: Address, eth: u128) -> TxRequest {
        TxRequest { to: Some(to), data: Bytes::new(), value: U256::from(eth * ETH), purpose: "pay".into() }
    }

    fn call(to: Address) -> TxRequest {
        TxRequest { to: Some(to), data: Bytes::new(), value: U256::ZERO, purpose: "emit".into() }
    }

    async fn deploy_emitter(h: &EmbeddedHandle) -> Address {
        let tx = TxRequest { to: None, data: EMITTER.to_vec().into(), value: U256::ZERO, purpose: "deploy emitter".into() };
        h.send(tx).await.expect("deploy").contract_address.expect("created")
    }

    /// Starts `send`s on the current-thread runtime and lets them queue their transactions.
    async fn queue(h: &EmbeddedHandle, txs: Vec<TxRequest>) -> Vec<tokio::task::JoinHandle<Result<Receipt, ChainError>>> {
        let tasks = txs
            .into_iter()
            .map(|tx| {
                let h = h.clone();
                tokio::spawn(async move { h.send(tx).await })
            })
            .collect();
        tokio::task::yield_now().await;
        tasks
    }

    fn waiting(chain: &EmbeddedChain) -> usize {
        chain.lock().waiting.len()
    }

    #[tokio::test]
    async fn reorg_drops_the_removed_blocks_state_logs_and_hashes() {
        let (chain, alice) = chain();
        let emitter = deploy_emitter(&alice).await; // block 1
        alice.send(call(emitter)).await.expect("emit"); // block 2
        chain.set_automine(false);
        let tasks = queue(&alice, vec![pay(BOB, 1), call(emitter)]).await;
        chain.mine(1); // block 3: both
        for t in tasks {
            assert_eq!(t.await.unwrap().expect("mined").block.number, 3);
        }
        let old3 = chain.block_ref(3).unwrap();
        assert_eq!(alice.balance(BOB).await.unwrap(), U256::from(ETH));
        assert_eq!(alice.logs(emitter, 0, 3).await.unwrap().len(), 2);
        assert_eq!(alice.logs(emitter, 3, 3).await.unwrap().len(), 1);

        chain.reorg(1);
        assert_eq!(chain.head_number(), 4, "the new fork is one block longer");
        let new3 = chain.block_ref(3).unwrap();
        assert_ne!(new3.hash, old3.hash, "block 3 replaced");
        assert_eq!(alice.block_hash(2).await.unwrap(), chain.block_ref(2).map(|b| b.hash), "block 2 kept");
        assert_eq!(alice.head().await.unwrap(), chain.block_ref(4).unwrap());
        assert_eq!(alice.balance(BOB).await.unwrap(), U256::ZERO, "payment undone");
        assert_eq!(alice.balance(ALICE).await.unwrap(), U256::from(100 * ETH));
        assert_eq!(alice.logs(emitter, 0, 10).await.unwrap().len(), 1, "only block 2's log remains");
        assert!(alice.logs(emitter, 3, 4).await.unwrap().is_empty());
        assert!(alice.logs(emitter, 4, 3).await.unwrap().is_empty(), "empty range");

        // The dropped transactions' nonces are free again: alice sends on as if they never were.
        chain.set_automine(true);
        let r = alice.send(pay(BOB, 2)).await.expect("nonce reused");
        assert_eq!(r.block.number, 5);
        assert_eq!(alice.balance(BOB).await.unwrap(), U256::from(2 * ETH));
        assert_eq!(waiting(&chain), 0);
    }

    #[tokio::test]
    async fn a_send_waiting_for_a_reorged_block_is_not_mined() {
        let (chain, alice) = chain();
        chain.mine(2);
        chain.set_automine(false);
        let tasks = queue(&alice, vec![pay(BOB, 1)]).await;
        chain.mine(1); // block 3 has the receipt, which the send has not read yet
        chain.reorg(2);
        let e = tasks.into_iter().next().unwrap().await.unwrap().expect_err("dropped");
        assert!(matches!(e, ChainError::NotMined { .. }), "{e}");
        assert_eq!(alice.balance(BOB).await.unwrap(), U256::ZERO);
        assert_eq!(chain.head_number(), 4);
        assert_eq!(waiting(&chain), 0);
    }

    #[tokio::test]
    async fn reorg_keeping_txs_includes_them_again() {
        let (chain, alice) = chain();
        chain.mine(1);
        chain.set_automine(false);
        let tasks = queue(&alice, vec![pay(BOB, 1), pay(BOB, 2)]).await;
        chain.mine(1);
        let old2 = chain.block_ref(2).unwrap();
        let later = queue(&alice, vec![pay(BOB, 4)]).await; // queued behind them, nonce 2
        chain.reorg_keeping_txs(1);
        assert_eq!(chain.head_number(), 3);
        let new2 = chain.block_ref(2).unwrap();
        assert_ne!(new2, old2);
        for t in tasks.into_iter().chain(later) {
            assert_eq!(t.await.unwrap().expect("mined again").block, new2);
        }
        assert_eq!(alice.balance(BOB).await.unwrap(), U256::from(7 * ETH));
        assert_eq!(waiting(&chain), 0);
    }

    #[tokio::test]
    async fn reorg_depth_is_bounded_by_the_kept_blocks() {
        let (chain, _) = chain();
        assert_eq!(chain.max_reorg_depth(), 0);
        chain.mine(3);
        assert_eq!(chain.max_reorg_depth(), 3);
        chain.mine(20);
        assert_eq!(chain.max_reorg_depth(), MAX_REORG_DEPTH);
        chain.reorg(MAX_REORG_DEPTH);
        assert_eq!(chain.head_number(), 24);
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.reorg(MAX_REORG_DEPTH + 1))).expect_err("too deep");
        let message = err.downcast_ref::<String>().expect("formatted message");
        assert!(message.contains("cannot reorg 9 block(s)"), "{message}");
        assert_eq!(chain.head_number(), 24, "a refused reorg changes nothing");
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chain.reorg(0))).expect_err("zero");
        assert!(err.downcast_ref::<String>().unwrap().contains("depth must be 1..=8"));
    }

    #[tokio::test]
    async fn receipts_nobody_waits_for_are_not_kept() {
        let (chain, alice) = chain();
        chain.set_automine(false);
        let tasks = queue(&alice, vec![pay(BOB, 1)]).await;
        assert_eq!(waiting(&chain), 1);
        tasks[0].abort();
        for t in tasks {
            assert!(t.await.unwrap_err().is_cancelled());
        }
        assert_eq!(waiting(&chain), 0);
        chain.mine(1);
        assert_eq!(waiting(&chain), 0, "mined, but nobody asks");
        assert_eq!(alice.balance(BOB).await.unwrap(), U256::from(ETH));
    }
}
