//! The typed contract API, written once over [`BaseChain`]: the node, the demo and the tests
//! call these, never raw calldata. Every method takes the acting party's chain handle.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::{SolCall, SolConstructor, SolEvent, SolValue};
use tracing::instrument;

use crate::bindings::{ExampleRequester, Groth16BatchVerifier, ProofPool, RollupManager, Stake};
use crate::{BaseChain, ChainError, Receipt, TxRequest};

pub use crate::bindings::ProofPool::Quote;
pub use crate::bindings::RollupManager::RollupParams;

/// Where the contracts live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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

/// Why a commitment was slashed (the contract's `SlashReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SlashReason {
    HashMismatch,
    InvalidProof,
    NoReveal,
}

impl TryFrom<u8> for SlashReason {
    type Error = ChainError;
    fn try_from(v: u8) -> Result<Self, ChainError> {
        Ok(match v {
            0 => Self::HashMismatch,
            1 => Self::InvalidProof,
            2 => Self::NoReveal,
            _ => return Err(undecodable("SlashReason", v)),
        })
    }
}

fn undecodable(what: &str, v: u8) -> ChainError {
    ChainError::Decode { purpose: what.to_string(), message: format!("unknown {what} {v}: the contract is newer than this build") }
}

/// Where a miner's commitment stands (the contract's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CommitmentStatus {
    /// No commitment by this miner in this window.
    None,
    /// Committed, not revealed yet.
    Committed,
    /// Revealed and accepted.
    Proved,
    /// Slashed (a bad reveal, or no reveal in time).
    Slashed,
}

impl TryFrom<u8> for CommitmentStatus {
    type Error = ChainError;
    fn try_from(v: u8) -> Result<Self, ChainError> {
        Ok(match v {
            0 => Self::None,
            1 => Self::Committed,
            2 => Self::Proved,
            3 => Self::Slashed,
            _ => return Err(undecodable("commitment status", v)),
        })
    }
}

/// A miner's commitment in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    pub proof_hash: B256,
    /// The miner's stake when it committed (its share of the reward is pro rata to it).
    pub stake: U256,
    pub committed_at: u64,
    pub status: CommitmentStatus,
}

/// The hash window of a sequence, as the contract reports it (absolute block numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowState {
    /// The current (or last) window, counted from 1; 0 = never opened.
    pub window: u64,
    /// First block of the window; 0 = none open.
    pub start: u64,
    /// Last block that accepts a commitment (`start + T1 - 1`).
    pub last_commit_block: u64,
    /// First block that accepts a reveal (`start + T1`).
    pub first_reveal_block: u64,
    /// Last block of an in-window reveal; `None` while the previous sequence is unverified (the
    /// deadline waits for it, so nobody is slashed for a delay that was not theirs).
    pub deadline: Option<u64>,
    /// Block of the first valid proof; `None` while unverified.
    pub verified_at: Option<u64>,
    pub previous_verified: bool,
    pub committed_stake: U256,
}

impl WindowState {
    /// Whether a commitment included in block `block` opens a new window: none is open, or the
    /// open one expired with nobody proving.
    pub fn opens_at(&self, block: u64) -> bool {
        self.start == 0 || self.deadline.is_some_and(|d| block > d)
    }

    /// Whether a commitment included in block `block` joins the open window.
    pub fn joins_at(&self, block: u64) -> bool {
        self.start != 0 && block <= self.last_commit_block
    }

    /// Whether a reveal included in block `block` is too early for this window.
    pub fn too_early_at(&self, block: u64) -> bool {
        block < self.first_reveal_block || !self.previous_verified
    }
}

/// The rollup's state on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupState {
    pub last_sequenced_batch: u64,
    pub last_verified_batch: u64,
    pub state_root: B256,
    pub reward_pool: U256,
    pub reward_per_sequence: U256,
    pub min_stake: U256,
}

/// A rollup's registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupConfig {
    pub verifier: Address,
    pub verifying_key: Bytes,
    pub sequencer: Address,
    pub genesis_state_root: B256,
    pub registered_at: u64,
}

/// The largest keeper share a rollup may register (the contract's `MAX_KEEPER_SHARE_BPS`, read
/// here so that a command can refuse before touching the chain; a test compares the two).
pub const MAX_KEEPER_SHARE_BPS: u16 = 5_000;

/// What a rollup punishes, and what a keeper earns for settling a missing reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Punishments {
    /// Taken from a miner whose reveal does not match its hash or does not verify.
    pub incorrect_proof: U256,
    /// Taken from a miner who committed and never revealed.
    pub no_proof: U256,
    /// Share of a no-reveal slash credited to whoever calls `slashUnrevealed`, in basis points.
    pub keeper_share_bps: u16,
}

impl Punishments {
    /// What a keeper is credited for slashing a miner whose slashable stake is `slashable`.
    pub fn keeper_fee(&self, slashable: U256) -> U256 {
        self.no_proof.min(slashable) * U256::from(self.keeper_share_bps) / U256::from(10_000)
    }
}

/// Gas the calls a node makes use at most on the reference contracts, with headroom: what the
/// start-up check wants in the miner's balance and what the keeper weighs against its fee. A
/// test measures each against real receipts (`gas_bounds_hold_for_real_calls`).
pub mod gas {
    /// `submitProofHash`: a commitment record, the stake lock, a window opened.
    pub const COMMIT: u64 = 250_000;
    /// `verifyBatches` of a `batches`-batch sequence with the reference Groth16 verifier (n + 3
    /// pairings, the key read back from code, the reward credited): measured 437k, 490k and
    /// 614k for 1, 2 and 4 batches.
    pub const fn reveal(batches: u64) -> u64 {
        420_000 + 70_000 * batches
    }
    /// `slashUnrevealed`: a slash through the stake contract and the keeper's credit.
    pub const SLASH_UNREVEALED: u64 = 150_000;
}

/// A staker's account in the stake contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakeAccount {
    /// Counts towards commitments.
    pub active: U256,
    /// Asked to be withdrawn; still slashable until it leaves.
    pub pending: U256,
    /// First block at which `pending` may be withdrawn.
    pub unlock_block: u64,
    /// Open commitments and escrows (no withdrawal while any is open).
    pub locks: u32,
}

/// What a `slashUnrevealed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slashed {
    /// Taken from the miner's stake.
    pub taken: U256,
    /// Credited to the caller as a reward.
    pub keeper_fee: U256,
    pub gas_used: u64,
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

    /// The verifier a rollup registers with: the deployment's standard `Groth16BatchVerifier`,
    /// or a fresh deployment of `own_creation_code`, the plugin's own contract (WIT 0.3).
    #[instrument(skip_all, fields(own = own_creation_code.is_some()))]
    pub async fn verifier_for(&self, admin: &dyn BaseChain, own_creation_code: Option<&[u8]>) -> Result<Address, ChainError> {
        match own_creation_code {
            None => Ok(self.verifier),
            Some(code) => create(admin, code, vec![], "the plugin's verifier").await,
        }
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
            .map(|e| Ok((RevealOutcome::Slashed { reason: e.reason.try_into()?, amount: e.amount }, r.block.number)))
            .ok_or_else(|| ChainError::Decode { purpose: "reveal".into(), message: "neither ProofAccepted nor ProofSlashed".into() })?
    }

    /// Slashes `miner`'s unrevealed commitment in `window`; returns what was taken from the
    /// miner and the keeper fee credited to the caller.
    pub async fn slash_unrevealed(
        &self,
        chain: &dyn BaseChain,
        rollup: u32,
        final_batch: u64,
        window: u64,
        miner: Address,
    ) -> Result<Slashed, ChainError> {
        let call = RollupManager::slashUnrevealedCall { rollupId: rollup, finalNewBatch: final_batch, window, miner };
        let r = chain.send(tx(self.manager, call.abi_encode(), format!("slash unrevealed {final_batch} of {miner}"))).await?;
        Ok(Slashed {
            taken: event::<RollupManager::ProofSlashed>(&r, self.manager).map(|e| e.amount).unwrap_or_default(),
            keeper_fee: event::<RollupManager::KeeperPaid>(&r, self.manager).map(|e| e.amount).unwrap_or_default(),
            gas_used: r.gas_used,
        })
    }

    /// (T1, T2) from the chain: never hard-coded by the node.
    pub async fn windows(&self, chain: &dyn BaseChain, rollup: u32) -> Result<(u64, u64), ChainError> {
        let r = view(chain, self.manager, RollupManager::windowsCall { rollupId: rollup }).await?;
        Ok((r.t1, r.t2))
    }

    pub async fn window_state(&self, chain: &dyn BaseChain, rollup: u32, final_batch: u64) -> Result<WindowState, ChainError> {
        let w = view(chain, self.manager, RollupManager::windowStateCall { rollupId: rollup, finalNewBatch: final_batch }).await?;
        Ok(WindowState {
            window: w.window,
            start: w.start,
            last_commit_block: w.lastCommitBlock,
            first_reveal_block: w.firstRevealBlock,
            // The contract says "no deadline yet" with type(uint64).max (and 0 before a window).
            deadline: (w.start != 0 && w.deadline != u64::MAX).then_some(w.deadline),
            verified_at: (w.verifiedAt != 0).then_some(w.verifiedAt),
            previous_verified: w.previousVerified,
            committed_stake: w.committedStake,
        })
    }

    /// The commitment `miner` made in `window` (status `None` if it made none).
    pub async fn commitment(
        &self,
        chain: &dyn BaseChain,
        rollup: u32,
        final_batch: u64,
        window: u64,
        miner: Address,
    ) -> Result<Commitment, ChainError> {
        let c = view(chain, self.manager, RollupManager::commitmentOfCall { rollupId: rollup, finalNewBatch: final_batch, window, miner })
            .await?;
        Ok(Commitment { proof_hash: c.proofHash, stake: c.stake, committed_at: c.committedAt, status: c.status.try_into()? })
    }

    /// How `miner`'s commitment in `window` was settled, read from the reveal's or the slash's
    /// event in blocks `from..=head`: what a node that crashed after its reveal left out.
    pub async fn settlement(
        &self,
        chain: &dyn BaseChain,
        rollup: u32,
        final_batch: u64,
        window: u64,
        miner: Address,
        from: u64,
    ) -> Result<Option<RevealOutcome>, ChainError> {
        let head = chain.head().await?.number;
        for l in chain.logs(self.manager, from, head).await? {
            if let Ok(e) = RollupManager::ProofAccepted::decode_log(&l)
                && (e.rollupId, e.finalNewBatch, e.miner, e.window) == (rollup, final_batch, miner, window)
            {
                return Ok(Some(RevealOutcome::Accepted { late: e.late, reward: e.reward, consolidated: false }));
            }
            if let Ok(e) = RollupManager::ProofSlashed::decode_log(&l)
                && (e.rollupId, e.finalNewBatch, e.miner, e.window) == (rollup, final_batch, miner, window)
            {
                return Ok(Some(RevealOutcome::Slashed { reason: e.reason.try_into()?, amount: e.amount }));
            }
        }
        Ok(None)
    }

    /// The sequence ending at `final_batch` as the chain has it now: (first batch - 1,
    /// accumulated input hash), or `None` when there is none (a reorg took it).
    pub async fn sequence_of(&self, chain: &dyn BaseChain, rollup: u32, final_batch: u64) -> Result<Option<(u64, B256)>, ChainError> {
        let s = view(chain, self.manager, RollupManager::sequenceOfCall { rollupId: rollup, finalNewBatch: final_batch }).await?;
        Ok((s.sequencedAt != 0).then_some((s.initNumBatch, s.accInputHash)))
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

    pub async fn rollup_state(&self, chain: &dyn BaseChain, rollup: u32) -> Result<RollupState, ChainError> {
        let r = view(chain, self.manager, RollupManager::rollupStateCall { rollupId: rollup }).await?;
        Ok(RollupState {
            last_sequenced_batch: r.lastSequencedBatch,
            last_verified_batch: r.lastVerifiedBatch,
            state_root: r.stateRoot,
            reward_pool: r.rewardPool,
            reward_per_sequence: r.rewardPerSequence,
            min_stake: r.minStake,
        })
    }

    /// Verifier, verifying key, sequencer, genesis root and registration block of a rollup.
    pub async fn rollup_config(&self, chain: &dyn BaseChain, rollup: u32) -> Result<RollupConfig, ChainError> {
        let r = view(chain, self.manager, RollupManager::rollupConfigCall { rollupId: rollup }).await?;
        Ok(RollupConfig {
            verifier: r.verifier,
            verifying_key: r.verifyingKey,
            sequencer: r.sequencer,
            genesis_state_root: r.genesisStateRoot,
            registered_at: r.registeredAt,
        })
    }

    /// Punishment amounts and the keeper share of a rollup.
    pub async fn punishments(&self, chain: &dyn BaseChain, rollup: u32) -> Result<Punishments, ChainError> {
        let r = view(chain, self.manager, RollupManager::punishmentsCall { rollupId: rollup }).await?;
        Ok(Punishments {
            incorrect_proof: r.incorrectProofPunishAmount,
            no_proof: r.noProofPunishAmount,
            keeper_share_bps: r.keeperShareBps,
        })
    }

    /// The contract's own `MAX_KEEPER_SHARE_BPS`.
    pub async fn max_keeper_share_bps(&self, chain: &dyn BaseChain) -> Result<u16, ChainError> {
        view(chain, self.manager, RollupManager::MAX_KEEPER_SHARE_BPSCall {}).await
    }

    /// The stake contract the manager locks and slashes (must be `self.stake`).
    pub async fn manager_stake(&self, chain: &dyn BaseChain) -> Result<Address, ChainError> {
        view(chain, self.manager, RollupManager::stakeCall {}).await
    }

    // ---- stake and rewards

    /// Blocks between a withdrawal request and the withdrawal (every rollup's T1 + T2 is below).
    pub async fn withdraw_delay(&self, chain: &dyn BaseChain) -> Result<u64, ChainError> {
        view(chain, self.stake, Stake::withdrawDelayCall {}).await
    }

    pub async fn stake_account(&self, chain: &dyn BaseChain, who: Address) -> Result<StakeAccount, ChainError> {
        let a = view(chain, self.stake, Stake::accountsCall(who)).await?;
        Ok(StakeAccount { active: a.active, pending: a.pending, unlock_block: a.unlockBlock, locks: a.locks })
    }

    pub async fn request_withdraw(&self, chain: &dyn BaseChain, amount: U256) -> Result<(), ChainError> {
        chain.send(tx(self.stake, Stake::requestWithdrawCall { amount }.abi_encode(), "stake withdrawal request")).await.map(drop)
    }

    pub async fn withdraw_stake(&self, chain: &dyn BaseChain) -> Result<(), ChainError> {
        chain.send(tx(self.stake, Stake::withdrawCall {}.abi_encode(), "stake withdrawal")).await.map(drop)
    }

    /// Withdraws every credited reward; returns the amount (from the `RewardsWithdrawn` event).
    pub async fn withdraw_rewards(&self, chain: &dyn BaseChain) -> Result<U256, ChainError> {
        let r = chain.send(tx(self.manager, RollupManager::withdrawRewardsCall {}.abi_encode(), "rewards withdrawal")).await?;
        event::<RollupManager::RewardsWithdrawn>(&r, self.manager)
            .map(|e| e.amount)
            .ok_or_else(|| ChainError::Decode { purpose: "rewards withdrawal".into(), message: "no RewardsWithdrawn event".into() })
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
