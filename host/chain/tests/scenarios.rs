//! The protocol's scenarios on a real anvil node (spawned from tools/, installed by the test
//! command) and on the embedded revm chain, with the same assertions: the node cannot tell the
//! two apart, and neither can these tests (except for reorgs, which only anvil can make).
//! Proofs are real: contracts/vectors/transfer-groth16.json, made by the plugin.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::anvil::ReorgOptions;
use alloy::signers::SignerSync;
use prova_chain::bindings::{ExampleRequester, ProofPool};
use prova_chain::contracts::{
    CommitmentStatus, Deployment, MAX_KEEPER_SHARE_BPS, RevealOutcome, RollupParams, SlashReason, gas, proof_hash, publish_statement,
};
use prova_chain::embedded::EmbeddedChain;
use prova_chain::rpc::{RpcChain, RpcConfig};
use prova_chain::{BaseChain, ChainError};
use serde::Deserialize;

const ETH: u128 = 1_000_000_000_000_000_000;
const T1: u64 = 5;
const T2: u64 = 10;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vectors {
    verifying_key: Bytes,
    genesis_state_root: B256,
    miners: Vec<Address>,
    sequences: Vec<VectorSequence>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorSequence {
    new_state_root: B256,
    commitments: Vec<B256>,
    data: Vec<Bytes>,
    proofs: Vec<Bytes>,
}

fn vectors() -> Vectors {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts/vectors/transfer-groth16.json");
    serde_json::from_slice(&std::fs::read(&p).expect("vectors")).expect("vectors parse")
}

use prova_chain::dev::{anvil_bin, dev_signer as signer};

enum Backend {
    /// The instance (killed on drop) and every actor's RPC chain, for anvil_* calls.
    Anvil(#[allow(dead_code)] Box<AnvilInstance>, Vec<Arc<RpcChain>>),
    Embedded(EmbeddedChain),
}

/// One deployment with its actors, on either chain.
struct World {
    backend: Backend,
    _dir: tempfile::TempDir,
    admin: Arc<dyn BaseChain>,
    miners: Vec<Arc<dyn BaseChain>>,
    sequencer: Arc<dyn BaseChain>,
    requester: Arc<dyn BaseChain>,
    d: Deployment,
    rollup: u32,
    v: Vectors,
    /// (init, final) batch of vector sequence i.
    bounds: Vec<(u64, u64)>,
}

impl World {
    async fn anvil() -> Self {
        let bin = anvil_bin();
        assert!(bin.exists(), "anvil not found at {} (run `npm ci --prefix tools`, as scripts/test.sh does)", bin.display());
        let anvil = Anvil::new().path(bin).args(["--hardfork", "cancun", "--host", "127.0.0.1"]).try_spawn().expect("anvil starts");
        let dir = tempfile::tempdir().unwrap();
        let cfg = RpcConfig { poll: Duration::from_millis(20), receipt_timeout: Duration::from_secs(5), ..Default::default() };
        let mut rpc = vec![];
        for i in 0..6 {
            let c = RpcChain::connect(&anvil.endpoint(), signer(i), &dir.path().join(format!("outbox-{i}.redb")), cfg.clone())
                .await
                .expect("connect");
            rpc.push(Arc::new(c));
        }
        let actors = rpc.iter().map(|c| c.clone() as Arc<dyn BaseChain>).collect();
        Self::setup(Backend::Anvil(Box::new(anvil), rpc), dir, actors).await
    }

    async fn embedded() -> Self {
        let funded: Vec<_> = (0..6).map(|i| (signer(i).address(), U256::from(10_000 * ETH))).collect();
        let chain = EmbeddedChain::new(31337, &funded);
        let actors = (0..6).map(|i| Arc::new(chain.handle(signer(i).address())) as Arc<dyn BaseChain>).collect();
        Self::setup(Backend::Embedded(chain), tempfile::tempdir().unwrap(), actors).await
    }

    async fn setup(backend: Backend, dir: tempfile::TempDir, mut actors: Vec<Arc<dyn BaseChain>>) -> Self {
        let requester = actors.pop().unwrap();
        let sequencer = actors.pop().unwrap();
        let miners = actors.split_off(1);
        let admin = actors.pop().unwrap();
        let v = vectors();
        assert_eq!(miners.iter().map(|m| m.sender()).collect::<Vec<_>>(), v.miners, "vector miners are dev accounts 1-3");
        let d = Deployment::deploy(admin.as_ref(), 50).await.expect("deploy");
        let params = RollupParams {
            verifier: d.verifier,
            verifyingKey: v.verifying_key.clone(),
            sequencer: sequencer.sender(),
            genesisStateRoot: v.genesis_state_root,
            t1: T1,
            t2: T2,
            rewardPerSequence: U256::from(ETH),
            minStake: U256::from(ETH),
            incorrectProofPunishAmount: U256::from(ETH / 2),
            noProofPunishAmount: U256::from(3 * ETH / 10),
            verifierGasUnit: 80_000,
            keeperShareBps: 1_000,
        };
        let rollup = d.register_rollup(admin.as_ref(), params).await.expect("register");
        d.fund_rewards(admin.as_ref(), rollup, U256::from(10 * ETH)).await.expect("fund");
        for (m, stake) in miners.iter().zip([1, 3, 2]) {
            d.deposit(m.as_ref(), U256::from(stake * ETH)).await.expect("stake");
        }
        Self { backend, _dir: dir, admin, miners, sequencer, requester, d, rollup, v, bounds: vec![(0, 1), (1, 3), (3, 7)] }
    }

    async fn mine(&self, n: u64) {
        match &self.backend {
            Backend::Anvil(..) => self.admin_rpc().provider().anvil_mine(Some(n), None).await.expect("mine"),
            Backend::Embedded(c) => c.mine(n),
        }
    }

    /// Mines until the next transaction lands in block `block`.
    async fn mine_until_next_is(&self, block: u64) {
        let head = self.admin.head().await.unwrap().number;
        assert!(head < block, "already past block {block}");
        if block - 1 > head {
            self.mine(block - 1 - head).await;
        }
    }

    async fn set_automine(&self, on: bool) {
        match &self.backend {
            Backend::Anvil(..) => self.admin_rpc().provider().anvil_set_auto_mine(on).await.expect("automine"),
            Backend::Embedded(c) => c.set_automine(on),
        }
    }

    /// Actor `i`'s RPC chain (0 admin, 1-3 miners); anvil only.
    fn rpc(&self, i: usize) -> &RpcChain {
        match &self.backend {
            Backend::Anvil(_, rpc) => &rpc[i],
            Backend::Embedded(_) => panic!("not an RPC chain"),
        }
    }

    fn admin_rpc(&self) -> &RpcChain {
        self.rpc(0)
    }

    async fn sequence(&self, s: usize) {
        let seq = &self.v.sequences[s];
        let posted = self
            .d
            .sequence_batches(self.sequencer.as_ref(), self.rollup, seq.commitments.clone(), seq.data.clone())
            .await
            .expect("sequence");
        assert_eq!((posted.init_num_batch, posted.final_new_batch), self.bounds[s]);
    }

    async fn commit_hash(&self, s: usize, m: usize, hash: B256) -> Result<(), ChainError> {
        let (init, fin) = self.bounds[s];
        self.d.submit_proof_hash(self.miners[m].as_ref(), self.rollup, init, fin, hash).await.map(drop)
    }

    async fn commit(&self, s: usize, m: usize) {
        let h = proof_hash(&self.v.sequences[s].proofs[m], self.miners[m].sender());
        self.commit_hash(s, m, h).await.expect("commit");
    }

    async fn reveal_proof(&self, s: usize, m: usize, proof: Bytes) -> Result<RevealOutcome, ChainError> {
        let (init, fin) = self.bounds[s];
        self.d
            .verify_batches(self.miners[m].as_ref(), self.rollup, init, fin, self.v.sequences[s].new_state_root, proof)
            .await
            .map(|(o, _)| o)
    }

    async fn reveal(&self, s: usize, m: usize) -> Result<RevealOutcome, ChainError> {
        self.reveal_proof(s, m, self.v.sequences[s].proofs[m].clone()).await
    }

    async fn window(&self, s: usize) -> prova_chain::contracts::WindowState {
        self.d.window_state(self.admin.as_ref(), self.rollup, self.bounds[s].1).await.expect("window")
    }

    async fn stake(&self, m: usize) -> U256 {
        self.d.stake_of(self.admin.as_ref(), self.miners[m].sender()).await.unwrap()
    }

    async fn rewards(&self, m: usize) -> U256 {
        self.d.rewards_of(self.admin.as_ref(), self.miners[m].sender()).await.unwrap()
    }
}

fn reverted_with(r: Result<impl std::fmt::Debug, ChainError>, name: &str) {
    match r {
        Err(e) => assert!(e.revert_reason().is_some_and(|r| r.contains(name)), "expected revert {name}, got {e}"),
        Ok(v) => panic!("expected revert {name}, got {v:?}"),
    }
}

macro_rules! on_both_chains {
    ($($name:ident),* $(,)?) => {
        mod anvil { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name(super::World::anvil().await).await } )* }
        mod embedded { $( #[tokio::test(flavor = "multi_thread")] async fn $name() { super::$name(super::World::embedded().await).await } )* }
    };
}

on_both_chains!(
    reveal_too_early_in_window_and_too_late,
    two_miners_are_paid_pro_rata_to_stake,
    unrevealed_commitment_is_slashed_also_when_another_miner_proved,
    bad_proof_and_mismatched_hash_are_slashed_without_revert,
    one_sequence_per_block,
    a_refused_transaction_does_not_burn_a_nonce,
    pool_task_pays_once_and_unproved_liability_is_claimable_once,
    gas_of_commit_and_reveal,
    the_watcher_reports_each_commitment_once_and_re_reads_sequences,
);

/// The lookback re-reads sequences (idempotent), but a commitment is reported only from the
/// poll that first reads its block: what a keeper finished with does not come back.
async fn the_watcher_reports_each_commitment_once_and_re_reads_sequences(w: World) {
    use prova_chain::watcher::{CommitSeen, Cursor, Watcher};
    let watcher = Watcher::new(w.d.manager, w.rollup);
    let mut cursor = Cursor::default();
    w.sequence(0).await;
    w.commit(0, 1).await;
    let first = watcher.poll(w.admin.as_ref(), &mut cursor).await.unwrap();
    assert_eq!(first.sequences.len(), 1);
    assert_eq!(first.commitments, vec![CommitSeen { final_batch: 1, window: 1, miner: w.miners[1].sender() }]);
    w.mine(1).await;
    let again = watcher.poll(w.admin.as_ref(), &mut cursor).await.unwrap();
    assert_eq!(again.sequences.len(), 1, "the lookback reads the sequence again");
    assert!(again.commitments.is_empty(), "but not the commitment: {:?}", again.commitments);
    w.commit(0, 0).await;
    let third = watcher.poll(w.admin.as_ref(), &mut cursor).await.unwrap();
    assert_eq!(third.commitments, vec![CommitSeen { final_batch: 1, window: 1, miner: w.miners[0].sender() }], "only the new one");
}

async fn reveal_too_early_in_window_and_too_late(w: World) {
    w.sequence(0).await;
    w.commit(0, 0).await;
    let win = w.window(0).await;
    assert_eq!((win.first_reveal_block - win.start, win.deadline.unwrap() - win.first_reveal_block), (T1, T2), "windows read from chain");
    reverted_with(w.reveal(0, 0).await, "TooEarly");
    w.mine_until_next_is(win.first_reveal_block).await;
    let out = w.reveal(0, 0).await.expect("reveal in window");
    assert_eq!(out, RevealOutcome::Accepted { late: false, reward: U256::from(ETH), consolidated: true });
    let st = w.d.rollup_state(w.admin.as_ref(), w.rollup).await.unwrap();
    let (last_verified, root) = (st.last_verified_batch, st.state_root);
    assert_eq!((last_verified, root), (1, w.v.sequences[0].new_state_root));

    w.sequence(1).await;
    w.commit(1, 0).await;
    let win = w.window(1).await;
    w.mine_until_next_is(win.deadline.unwrap() + 1).await;
    reverted_with(w.reveal(1, 0).await, "TooLate");
}

async fn two_miners_are_paid_pro_rata_to_stake(w: World) {
    w.sequence(0).await;
    w.commit(0, 0).await; // 1 ETH staked
    w.commit(0, 1).await; // 3 ETH staked
    w.mine_until_next_is(w.window(0).await.first_reveal_block).await;
    assert!(matches!(w.reveal(0, 1).await.unwrap(), RevealOutcome::Accepted { consolidated: true, .. }));
    assert!(matches!(w.reveal(0, 0).await.unwrap(), RevealOutcome::Accepted { consolidated: false, .. }));
    assert_eq!(w.rewards(0).await, U256::from(ETH / 4));
    assert_eq!(w.rewards(1).await, U256::from(3 * ETH / 4));
}

async fn unrevealed_commitment_is_slashed_also_when_another_miner_proved(w: World) {
    w.sequence(0).await;
    w.commit(0, 0).await;
    w.commit(0, 1).await;
    let win = w.window(0).await;
    w.mine_until_next_is(win.first_reveal_block).await;
    w.reveal(0, 0).await.unwrap();
    let miner1 = w.miners[1].sender();
    reverted_with(w.d.slash_unrevealed(w.admin.as_ref(), w.rollup, 1, 1, miner1).await, "WindowStillOpen");
    w.mine_until_next_is(win.deadline.unwrap() + 1).await;
    let keeper = w.admin.sender();
    let before = w.d.rewards_of(w.admin.as_ref(), keeper).await.unwrap();
    let slashed = w.d.slash_unrevealed(w.admin.as_ref(), w.rollup, 1, 1, miner1).await.unwrap();
    let punishments = w.d.punishments(w.admin.as_ref(), w.rollup).await.unwrap();
    assert_eq!(slashed.taken, U256::from(3 * ETH / 10));
    assert_eq!(slashed.keeper_fee, U256::from(3 * ETH / 100), "10% to the keeper");
    assert_eq!(slashed.keeper_fee, punishments.keeper_fee(U256::from(3 * ETH)), "the node's fee estimate is the contract's");
    assert_eq!(w.d.rewards_of(w.admin.as_ref(), keeper).await.unwrap() - before, slashed.keeper_fee, "credited to the caller");
    assert!(slashed.gas_used <= gas::SLASH_UNREVEALED, "slash gas {} above the keeper's bound", slashed.gas_used);
    assert_eq!(w.stake(1).await, U256::from(3 * ETH - 3 * ETH / 10));
    assert_eq!(w.d.max_keeper_share_bps(w.admin.as_ref()).await.unwrap(), MAX_KEEPER_SHARE_BPS, "the CLI's bound is the contract's");
    reverted_with(w.d.slash_unrevealed(w.admin.as_ref(), w.rollup, 1, 1, miner1).await, "AlreadySettled");
}

async fn bad_proof_and_mismatched_hash_are_slashed_without_revert(w: World) {
    w.sequence(0).await;
    let mut bad = w.v.sequences[0].proofs[0].to_vec();
    bad[40] ^= 1;
    let bad = Bytes::from(bad);
    w.commit_hash(0, 0, proof_hash(&bad, w.miners[0].sender())).await.unwrap();
    w.commit_hash(0, 1, keccak256("not the proof")).await.unwrap();
    w.mine_until_next_is(w.window(0).await.first_reveal_block).await;
    assert_eq!(
        w.reveal_proof(0, 0, bad).await.unwrap(),
        RevealOutcome::Slashed { reason: SlashReason::InvalidProof, amount: U256::from(ETH / 2) }
    );
    assert_eq!(w.reveal(0, 1).await.unwrap(), RevealOutcome::Slashed { reason: SlashReason::HashMismatch, amount: U256::from(ETH / 2) });
    assert_eq!(w.stake(0).await, U256::from(ETH / 2));
    assert_eq!(w.stake(1).await, U256::from(3 * ETH - ETH / 2));
    let last_verified = w.d.rollup_state(w.admin.as_ref(), w.rollup).await.unwrap().last_verified_batch;
    assert_eq!(last_verified, 0, "nothing verified");
}

async fn one_sequence_per_block(w: World) {
    w.set_automine(false).await;
    let (s0, s1) = (&w.v.sequences[0], &w.v.sequences[1]);
    let seq = w.sequencer.as_ref();
    let (a, b, _) = tokio::join!(
        w.d.sequence_batches(seq, w.rollup, s0.commitments.clone(), s0.data.clone()),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            w.d.sequence_batches(seq, w.rollup, s1.commitments.clone(), s1.data.clone()).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            w.mine(1).await;
        },
    );
    w.set_automine(true).await;
    assert!(a.is_ok(), "first sequence of the block: {a:?}");
    reverted_with(b, "OneSequencePerBlock");
    w.sequence(1).await;
    let last_sequenced = w.d.rollup_state(w.admin.as_ref(), w.rollup).await.unwrap().last_sequenced_batch;
    assert_eq!(last_sequenced, 3, "the refused sequence goes through in the next block");
}

async fn a_refused_transaction_does_not_burn_a_nonce(w: World) {
    w.sequence(0).await;
    w.commit(0, 0).await;
    for _ in 0..3 {
        reverted_with(w.reveal(0, 0).await, "TooEarly");
    }
    // The next transaction of the same account is mined at once: no nonce gap behind it.
    w.d.deposit(w.miners[0].as_ref(), U256::from(ETH)).await.expect("mined without a gap");
    assert_eq!(w.stake(0).await, U256::from(2 * ETH));
}

async fn pool_task_pays_once_and_unproved_liability_is_claimable_once(w: World) {
    let service = w.miners[0].as_ref();
    let requester = w.requester.as_ref();
    let example = w.d.deploy_example_requester(requester, w.v.verifying_key.clone()).await.unwrap();
    let seq = &w.v.sequences[0];
    let new_acc = seq.commitments.iter().fold(B256::ZERO, |acc, c| keccak256([acc.as_slice(), c.as_slice()].concat()));
    let statement = ExampleRequester::Statement {
        oldStateRoot: w.v.genesis_state_root,
        newStateRoot: seq.new_state_root,
        oldAccInputHash: B256::ZERO,
        newAccInputHash: new_acc,
        prover: service.sender(),
        numBatches: 1,
        chainId: U256::from(31337u64),
        rollupId: 0,
    };
    let digest = publish_statement(requester, example, statement).await.unwrap();
    let head = w.admin.head().await.unwrap().number;
    let quote = |salt: u64| ProofPool::Quote {
        service: service.sender(),
        requester: requester.sender(),
        verifier: example,
        taskDigest: digest,
        reward: U256::from(ETH / 5),
        liability: U256::from(ETH / 2),
        deadlineBlock: head + 20,
        expiryBlock: head + 10,
        salt: U256::from(salt),
    };
    // The service (miner 0 = dev account 1) signs the quote's EIP-712 digest.
    let sign = |digest: B256| Bytes::from(signer(1).sign_hash_sync(&digest).unwrap().as_bytes().to_vec());
    let q1 = quote(1);
    let sig = sign(w.d.quote_digest(requester, &q1).await.unwrap());
    let task = w.d.submit_task(requester, q1, sig).await.unwrap();
    assert_eq!(w.stake(0).await, U256::from(ETH / 2), "liability escrowed");
    w.d.prove_task(service, task, seq.proofs[0].clone()).await.expect("proved in time");
    reverted_with(w.d.prove_task(service, task, seq.proofs[0].clone()).await, "NotOpen");
    assert_eq!(w.d.pool_balance(service, service.sender()).await.unwrap(), U256::from(ETH / 5), "paid once");
    assert_eq!(w.stake(0).await, U256::from(ETH), "liability released");

    let q2 = quote(2);
    let sig = sign(w.d.quote_digest(requester, &q2).await.unwrap());
    let task = w.d.submit_task(requester, q2, sig).await.unwrap();
    reverted_with(w.d.claim_liability(requester, task).await, "DeadlineNotReached");
    w.mine_until_next_is(head + 21).await;
    let before = requester.balance(requester.sender()).await.unwrap();
    w.d.claim_liability(requester, task).await.expect("claimed after the deadline");
    assert!(requester.balance(requester.sender()).await.unwrap() > before, "liability paid out");
    reverted_with(w.d.claim_liability(requester, task).await, "NotOpen");
}

/// Gas of step 1 and step 2 for 1, 2 and 4 batches (printed; run with --nocapture for the table).
async fn gas_of_commit_and_reveal(w: World) {
    for s in 0..3 {
        w.sequence(s).await;
        let (init, fin) = w.bounds[s];
        let h = proof_hash(&w.v.sequences[s].proofs[0], w.miners[0].sender());
        let (commit, _) = w.d.submit_proof_hash(w.miners[0].as_ref(), w.rollup, init, fin, h).await.unwrap();
        w.mine_until_next_is(w.window(s).await.first_reveal_block).await;
        let call = prova_chain::bindings::RollupManager::verifyBatchesCall {
            rollupId: w.rollup,
            initNumBatch: init,
            finalNewBatch: fin,
            newStateRoot: w.v.sequences[s].new_state_root,
            proof: w.v.sequences[s].proofs[0].clone(),
        };
        use alloy::sol_types::SolCall;
        let r = w.miners[0]
            .send(prova_chain::TxRequest {
                to: Some(w.d.manager),
                data: call.abi_encode().into(),
                value: U256::ZERO,
                purpose: "reveal".into(),
            })
            .await
            .unwrap();
        let batches = fin - init;
        println!("gas: batches={batches} commit={} reveal={}", commit.gas_used, r.gas_used);
        assert!(r.gas_used < 80_000 * (batches + 3) + 200_000, "reveal gas within what the rollup forwards");
        assert!(commit.gas_used <= gas::COMMIT, "commit gas {} above the node's bound", commit.gas_used);
        assert!(r.gas_used <= gas::reveal(batches), "{batches}-batch reveal gas {} above the node's bound", r.gas_used);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn anvil_reorg_drops_a_commit_and_the_outbox_rebroadcasts_it() {
    let w = World::anvil().await;
    w.sequence(0).await;
    w.commit(0, 0).await;
    let miner = w.miners[0].sender();
    assert_eq!(status(&w, miner).await, CommitmentStatus::Committed, "committed");
    w.admin_rpc().provider().anvil_reorg(ReorgOptions { depth: 1, tx_block_pairs: vec![] }).await.unwrap();
    assert_eq!(status(&w, miner).await, CommitmentStatus::None, "the reorg dropped the commit");
    let resent = w.rpc(1).reconcile().await.unwrap();
    assert_eq!(resent.len(), 1, "one transaction rebroadcast");
    for _ in 0..100 {
        if status(&w, miner).await == CommitmentStatus::Committed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the rebroadcast commit was not mined");
}

async fn status(w: &World, miner: Address) -> CommitmentStatus {
    w.d.commitment(w.admin.as_ref(), w.rollup, 1, 1, miner).await.unwrap().status
}
