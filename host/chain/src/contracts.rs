//! The typed contract API, written once over [`BaseChain`]: the node, the demo and the tests
//! call these, never raw calldata. Every method takes the acting party's chain handle.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::{SolCall, SolConstructor, SolEvent, SolValue};
use tracing::instrument;

use crate::bindings::{ExampleRequester, Groth16BatchVerifier, ProofPool, RollupManager, Stake};
use crate::{BaseChain, ChainError, Receipt, TxRequest};

pub use crate::bindings::ProofPool::Quote;
pub use crate::bindings::RollupManager::{RollupParams, WindowState};

/// Where the contracts live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    pub stake: Address,
    pub manager: Address,
    pub verifier: Address,
    pub pool: Address,
}

/// What became of a reveal that was not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevealOutcome {
    /// The proof verified; `reward` credited (zero when `late`).
    Accepted { late: bool, reward: U256, consolidated: bool },
    /// Slashed: the hash did not match or the proof did not verify.
    Slashed { reason: SlashReason, amount: U256 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlashReason {
    HashMismatch,
    InvalidProof,
    NoReveal,
}

impl From<u8> for SlashReason {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::HashMismatch,
            1 => Self::InvalidProof,
            _ => Self::NoReveal,
        }
    }
}

/// A sequence as posted by the sequencer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedSequence {
    pub init_num_batch: u64,
    pub final_new_batch: u64,
    pub acc_input_hash: B256,
    pub commitments: Vec<B256>,
    pub data: Vec<Bytes>,
}

/// `keccak256(abi.encodePacked(keccak256(proof), miner))`: the commitment of step 1, the exact
/// formula of the original contract.
pub fn proof_hash(proof: &[u8], miner: Address) -> B256 {
    keccak256((keccak256(proof), miner).abi_encode_packed())
}

fn tx(to: Address, data: Vec<u8>, purpose: impl Into<String>) -> TxRequest {
    TxRequest { to: Some(to), data: data.into(), value: U256::ZERO, purpose: purpose.into() }
}

async fn view<C: SolCall>(chain: &dyn BaseChain, to: Address, call: C) -> Result<C::Return, ChainError> {
    let out = chain.call(to, call.abi_encode().into()).await?;
    C::abi_decode_returns(&out).map_err(|e| ChainError::Decode { purpose: C::SIGNATURE.to_string(), message: e.to_string() })
}

fn event<E: SolEvent>(receipt: &Receipt, from: Address) -> Option<E> {
    receipt.logs.iter().filter(|l| l.address == from).find_map(|l| E::decode_log(l).ok().map(|l| l.data))
}

async fn create(chain: &dyn BaseChain, code: &[u8], args: Vec<u8>, what: &str) -> Result<Address, ChainError> {
    let data = [code, &args].concat();
    let r = chain.send(TxRequest { to: None, data: data.into(), value: U256::ZERO, purpose: format!("deploy {what}") }).await?;
    r.contract_address.ok_or_else(|| ChainError::Decode { purpose: format!("deploy {what}"), message: "no contract address".into() })
}

impl Deployment {
    /// Deploys stake, manager, verifier and pool, and makes manager and pool stake operators.
    /// `withdraw_delay` must exceed T1 + T2 of every rollup that will be registered.
    #[instrument(skip(admin), fields(admin = %admin.sender()))]
    pub async fn deploy(admin: &dyn BaseChain, withdraw_delay: u64) -> Result<Self, ChainError> {
        let stake =
            create(admin, &Stake::BYTECODE, Stake::constructorCall { withdrawDelay_: withdraw_delay }.abi_encode(), "Stake").await?;
        let manager =
            create(admin, &RollupManager::BYTECODE, RollupManager::constructorCall { stake_: stake }.abi_encode(), "RollupManager").await?;
        let verifier = create(admin, &Groth16BatchVerifier::BYTECODE, vec![], "Groth16BatchVerifier").await?;
        let pool = create(admin, &ProofPool::BYTECODE, ProofPool::constructorCall { stake_: stake }.abi_encode(), "ProofPool").await?;
        for op in [manager, pool] {
            admin.send(tx(stake, Stake::setOperatorCall { operator: op, allowed: true }.abi_encode(), "stake operator")).await?;
        }
        Ok(Self { stake, manager, verifier, pool })
    }

    /// Deploys a requester that judges pool proofs with the reference verifier under `vk`.
    pub async fn deploy_example_requester(&self, chain: &dyn BaseChain, vk: Bytes) -> Result<Address, ChainError> {
        let args = ExampleRequester::constructorCall { verifier_: self.verifier, verifyingKey_: vk }.abi_encode();
        create(chain, &ExampleRequester::BYTECODE, args, "ExampleRequester").await
    }

    #[instrument(skip_all)]
    pub async fn register_rollup(&self, admin: &dyn BaseChain, params: RollupParams) -> Result<u32, ChainError> {
        let r = admin.send(tx(self.manager, RollupManager::registerRollupCall { p: params }.abi_encode(), "register rollup")).await?;
        event::<RollupManager::RollupRegistered>(&r, self.manager)
            .map(|e| e.rollupId)
            .ok_or_else(|| ChainError::Decode { purpose: "register rollup".into(), message: "no RollupRegistered event".into() })
    }

    pub async fn fund_rewards(&self, chain: &dyn BaseChain, rollup: u32, amount: U256) -> Result<(), ChainError> {
        let mut t = tx(self.manager, RollupManager::fundRewardsCall { rollupId: rollup }.abi_encode(), "fund rewards");
        t.value = amount;
        chain.send(t).await.map(drop)
    }

    pub async fn deposit(&self, chain: &dyn BaseChain, amount: U256) -> Result<(), ChainError> {
        let mut t = tx(self.stake, Stake::depositCall {}.abi_encode(), "stake deposit");
        t.value = amount;
        chain.send(t).await.map(drop)
    }

    pub async fn stake_of(&self, chain: &dyn BaseChain, who: Address) -> Result<U256, ChainError> {
        view(chain, self.stake, Stake::stakeOfCall { owner: who }).await
    }

    /// Rewards credited to `who` and not yet withdrawn.
    pub async fn rewards_of(&self, chain: &dyn BaseChain, who: Address) -> Result<U256, ChainError> {
        view(chain, self.manager, RollupManager::rewardsCall(who)).await
    }

    /// Posts one sequence; returns its last batch number.
    #[instrument(skip_all, fields(rollup, batches = commitments.len()))]
    pub async fn sequence_batches(
        &self,
        sequencer: &dyn BaseChain,
        rollup: u32,
        commitments: Vec<B256>,
        data: Vec<Bytes>,
    ) -> Result<PostedSequence, ChainError> {
        let call = RollupManager::sequenceBatchesCall { rollupId: rollup, batchCommitments: commitments, batchData: data };
        let r = sequencer.send(tx(self.manager, call.abi_encode(), "sequence batches")).await?;
        let e = event::<RollupManager::SequenceBatches>(&r, self.manager)
            .ok_or_else(|| ChainError::Decode { purpose: "sequence batches".into(), message: "no SequenceBatches event".into() })?;
        Ok(PostedSequence::from(e))
    }

    /// Step 1: commits `proof_hash(proof, sender)`. Returns the receipt and the window the
    /// commitment landed in (a commit after an expired window opens the next one).
    #[instrument(skip_all, fields(rollup, final_batch, miner = %miner.sender()))]
    pub async fn submit_proof_hash(
        &self,
        miner: &dyn BaseChain,
        rollup: u32,
        init_batch: u64,
        final_batch: u64,
        hash: B256,
    ) -> Result<(Receipt, u64), ChainError> {
        let call =
            RollupManager::submitProofHashCall { rollupId: rollup, initNumBatch: init_batch, finalNewBatch: final_batch, proofHash: hash };
        let r = miner.send(tx(self.manager, call.abi_encode(), format!("commit sequence {final_batch}"))).await?;
        let window = event::<RollupManager::SubmitProofHash>(&r, self.manager)
            .map(|e| e.window)
            .ok_or_else(|| ChainError::Decode { purpose: "commit".into(), message: "no SubmitProofHash event".into() })?;
        Ok((r, window))
    }

    /// Step 2: reveals the proof. Refusals (too early, too late, ...) are errors; a slash is an
    /// outcome, because the contract keeps it. Returns the outcome and the block it landed in.
    #[instrument(skip_all, fields(rollup, final_batch, miner = %miner.sender()))]
    pub async fn verify_batches(
        &self,
        miner: &dyn BaseChain,
        rollup: u32,
        init_batch: u64,
        final_batch: u64,
        new_state_root: B256,
        proof: Bytes,
    ) -> Result<(RevealOutcome, u64), ChainError> {
        let call = RollupManager::verifyBatchesCall {
            rollupId: rollup,
            initNumBatch: init_batch,
            finalNewBatch: final_batch,
            newStateRoot: new_state_root,
            proof,
        };
        let r = miner.send(tx(self.manager, call.abi_encode(), format!("reveal sequence {final_batch}"))).await?;
        if let Some(e) = event::<RollupManager::ProofAccepted>(&r, self.manager) {
            let consolidated = event::<RollupManager::VerifyBatches>(&r, self.manager).is_some();
            return Ok((RevealOutcome::Accepted { late: e.late, reward: e.reward, consolidated }, r.block.number));
        }
        event::<RollupManager::ProofSlashed>(&r, self.manager)
            .map(|e| (RevealOutcome::Slashed { reason: e.reason.into(), amount: e.amount }, r.block.number))
            .ok_or_else(|| ChainError::Decode { purpose: "reveal".into(), message: "neither ProofAccepted nor ProofSlashed".into() })
    }

    pub async fn slash_unrevealed(
        &self,
        chain: &dyn BaseChain,
        rollup: u32,
        final_batch: u64,
        window: u64,
        miner: Address,
    ) -> Result<U256, ChainError> {
        let call = RollupManager::slashUnrevealedCall { rollupId: rollup, finalNewBatch: final_batch, window, miner };
        let r = chain.send(tx(self.manager, call.abi_encode(), format!("slash unrevealed {final_batch}"))).await?;
        Ok(event::<RollupManager::ProofSlashed>(&r, self.manager).map(|e| e.amount).unwrap_or_default())
    }

    /// (T1, T2) from the chain: never hard-coded by the node.
    pub async fn windows(&self, chain: &dyn BaseChain, rollup: u32) -> Result<(u64, u64), ChainError> {
        let r = view(chain, self.manager, RollupManager::windowsCall { rollupId: rollup }).await?;
        Ok((r.t1, r.t2))
    }

    pub async fn window_state(&self, chain: &dyn BaseChain, rollup: u32, final_batch: u64) -> Result<WindowState, ChainError> {
        view(chain, self.manager, RollupManager::windowStateCall { rollupId: rollup, finalNewBatch: final_batch }).await
    }

    /// The commitment `miner` made in `window`, with its status (0 none, 1 committed, 2 proved, 3 slashed).
    pub async fn commitment(
        &self,
        chain: &dyn BaseChain,
        rollup: u32,
        final_batch: u64,
        window: u64,
        miner: Address,
    ) -> Result<RollupManager::Commitment, ChainError> {
        view(chain, self.manager, RollupManager::commitmentOfCall { rollupId: rollup, finalNewBatch: final_batch, window, miner }).await
    }

    /// The block the rollup was registered in: where a new node starts reading its history.
    pub async fn registered_at(&self, chain: &dyn BaseChain, rollup: u32) -> Result<u64, ChainError> {
        Ok(view(chain, self.manager, RollupManager::rollupConfigCall { rollupId: rollup }).await?.registeredAt)
    }

    /// Who consolidated each sequence verified in blocks `from..=to`: (final batch, miner).
    pub async fn verifiers(&self, chain: &dyn BaseChain, rollup: u32, from: u64, to: u64) -> Result<Vec<(u64, Address)>, ChainError> {
        let logs = chain.logs(self.manager, from, to).await?;
        Ok(logs
            .iter()
            .filter_map(|l| RollupManager::VerifyBatches::decode_log(l).ok())
            .filter(|e| e.rollupId == rollup)
            .map(|e| (e.finalNewBatch, e.miner))
            .collect())
    }

    /// (last sequenced batch, last verified batch, state root, reward pool).
    pub async fn rollup_state(&self, chain: &dyn BaseChain, rollup: u32) -> Result<(u64, u64, B256, U256), ChainError> {
        let r = view(chain, self.manager, RollupManager::rollupStateCall { rollupId: rollup }).await?;
        Ok((r.lastSequencedBatch, r.lastVerifiedBatch, r.stateRoot, r.rewardPool))
    }

    // ---- the proof pool

    /// The EIP-712 digest a service signs for `quote` (bound to this chain and pool).
    pub async fn quote_digest(&self, chain: &dyn BaseChain, quote: &Quote) -> Result<B256, ChainError> {
        view(chain, self.pool, ProofPool::quoteDigestCall { q: quote.clone() }).await
    }

    pub async fn submit_task(&self, requester: &dyn BaseChain, quote: Quote, signature: Bytes) -> Result<B256, ChainError> {
        let reward = quote.reward;
        let mut t = tx(self.pool, ProofPool::submitTaskCall { q: quote, signature }.abi_encode(), "submit pool task");
        t.value = reward;
        let r = requester.send(t).await?;
        event::<ProofPool::TaskSubmitted>(&r, self.pool)
            .map(|e| e.taskId)
            .ok_or_else(|| ChainError::Decode { purpose: "submit pool task".into(), message: "no TaskSubmitted event".into() })
    }

    pub async fn prove_task(&self, service: &dyn BaseChain, task: B256, proof: Bytes) -> Result<Receipt, ChainError> {
        service.send(tx(self.pool, ProofPool::proveTaskCall { taskId: task, proof }.abi_encode(), "prove pool task")).await
    }

    pub async fn claim_liability(&self, requester: &dyn BaseChain, task: B256) -> Result<Receipt, ChainError> {
        requester.send(tx(self.pool, ProofPool::claimLiabilityCall { taskId: task }.abi_encode(), "claim liability")).await
    }

    /// Rewards the pool owes `service`.
    pub async fn pool_balance(&self, chain: &dyn BaseChain, service: Address) -> Result<U256, ChainError> {
        view(chain, self.pool, ProofPool::balancesCall(service)).await
    }
}

/// Publishes a statement at an [`ExampleRequester`]; returns its task digest.
pub async fn publish_statement(
    chain: &dyn BaseChain,
    requester: Address,
    statement: ExampleRequester::Statement,
) -> Result<B256, ChainError> {
    let r = chain.send(tx(requester, ExampleRequester::publishCall { st: statement }.abi_encode(), "publish statement")).await?;
    event::<ExampleRequester::StatementPublished>(&r, requester)
        .map(|e| e.taskDigest)
        .ok_or_else(|| ChainError::Decode { purpose: "publish statement".into(), message: "no StatementPublished event".into() })
}

impl From<RollupManager::SequenceBatches> for PostedSequence {
    fn from(e: RollupManager::SequenceBatches) -> Self {
        Self {
            init_num_batch: e.initNumBatch,
            final_new_batch: e.finalNewBatch,
            acc_input_hash: e.accInputHash,
            commitments: e.batchCommitments,
            data: e.batchData,
        }
    }
}
