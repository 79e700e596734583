//! The node end to end on a real anvil (1-second blocks) with real proofs: several miners, a
//! copier, an expired window, an RPC outage and a reorg. The crash tests, which SIGKILL the
//! `prova` binary, are in host/prova/tests/node.rs.

use std::sync::Arc;
use std::time::Duration;

use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::anvil::ReorgOptions;
use alloy::sol_types::SolEvent;
use prova_chain::bindings::RollupManager;
use prova_chain::contracts::{CommitmentStatus, RevealOutcome, SlashReason, proof_hash};
use prova_chain::dev::dev_signer;
use prova_chain::rpc::RpcChain;
use prova_chain::{B256, BaseChain, RevertKind, U256};
use prova_dev::{self as dev, DevParams, ETH, audit};
use prova_node::upkeep::UpkeepConfig;
use prova_runtime::Stage;
use prova_store::{Store, SubmissionState, TaskId, TaskKind};
use prova_tests::chain::{ADMIN, AnvilWorld, rpc_config};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn params(t1: u64, t2: u64) -> DevParams {
    DevParams { t1, t2, withdraw_delay: t1 + t2 + 10, ..DevParams::default() }
}

async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn committed(store: &Store, f: u64) -> Option<()> {
    store.submission(f).unwrap().filter(|s| s.state == SubmissionState::Committed).map(drop)
}

async fn assert_stake(w: &AnvilWorld, i: usize, eth: u128) {
    let stake = w.world.deployment.stake_of(w.chain(ADMIN).await.as_ref(), dev_signer(i).address()).await.unwrap();
    assert_eq!(stake, U256::from(eth * ETH), "miner {i} lost stake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_miners_prove_twenty_sequences_and_are_paid_pro_rata() {
    let w = AnvilWorld::start(params(8, 20), 80, 4, 11).await;
    let stakes = [1u128, 3, 2];
    for (i, s) in (1..=3).zip(stakes) {
        w.stake(i, s).await;
    }
    let miners = [w.miner(1, 2).await, w.miner(2, 1).await, w.miner(3, 3).await];
    let posted = w.post_many(20, 2).await;
    assert!(posted.iter().any(|s| s.commitments.len() == 1) && posted.iter().any(|s| s.commitments.len() == 4), "1 to 4 batches");
    let admin = w.chain(ADMIN).await;
    let last = posted.last().unwrap().final_new_batch;
    dev::wait_verified(admin.as_ref(), &w.world, last, Duration::from_secs(1800)).await.unwrap();
    let stores: Vec<Arc<Store>> = miners.iter().map(|m| m.store().clone()).collect();
    dev::wait_settled(&stores, Duration::from_secs(120)).await.unwrap();
    for m in miners {
        m.stop().await.unwrap();
    }

    let d = &w.world.deployment;
    let mut credited = [U256::ZERO; 3];
    for s in &posted {
        let f = s.final_new_batch;
        let ws = d.window_state(admin.as_ref(), w.world.rollup, f).await.unwrap();
        assert!(ws.verified_at.is_some(), "sequence {f} verified");
        let mut in_window = 0;
        for (i, store) in stores.iter().enumerate() {
            let Some(sub) = store.submission(f).unwrap() else { continue };
            match sub.state {
                SubmissionState::Revealed { late: false, reward_wei } => {
                    // The pro-rata rule: reward x stake / stake committed in the window.
                    let share = w.params.reward_per_sequence * U256::from(stakes[i] * ETH) / ws.committed_stake;
                    assert_eq!(U256::from(reward_wei), share, "miner {} on sequence {f}", i + 1);
                    credited[i] += share;
                    in_window += 1;
                }
                SubmissionState::Revealed { late: true, reward_wei } => assert_eq!(reward_wei, 0),
                SubmissionState::Missed => {}
                other => panic!("miner {} left sequence {f} as {other:?}", i + 1),
            }
        }
        assert!(in_window >= 1, "someone was paid for sequence {f}");
    }
    for (i, store) in stores.iter().enumerate() {
        let a = audit(store).unwrap();
        println!(
            "miner {} (stake {} ETH): revealed {}, missed {}, rewards {} wei",
            i + 1,
            stakes[i],
            a.revealed.len(),
            a.missed.len(),
            a.rewards
        );
        assert!(a.slashed.is_empty() && a.open.is_empty(), "miner {}: {a:?}", i + 1);
        assert_eq!(a.rewards, credited[i]);
        assert_eq!(
            d.rewards_of(admin.as_ref(), dev_signer(i + 1).address()).await.unwrap(),
            credited[i],
            "on-chain rewards of miner {}",
            i + 1
        );
        assert_stake(&w, i + 1, stakes[i]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_miner_that_copies_proofs_earns_nothing() {
    let w = AnvilWorld::start(params(5, 20), 8, 1, 21).await;
    w.stake(1, 1).await;
    w.stake(2, 1).await;
    let honest = w.miner(1, 2).await;
    let posted = w.post_many(2, 2).await;
    let (copier, admin, d, rollup) = (w.chain(2).await, w.chain(ADMIN).await, w.world.deployment, w.world.rollup);

    // Worst case first: the honest final proof leaks before its reveal. The copier commits it as
    // its own inside the window and reveals it: the proof names the honest miner, so it is slashed.
    let (init0, f0) = (posted[0].init_num_batch, posted[0].final_new_batch);
    let leaked =
        wait_for("the honest final proof", Duration::from_secs(120), || honest.store().proof(&TaskId::new(f0, TaskKind::Final)).unwrap())
            .await;
    d.submit_proof_hash(copier.as_ref(), rollup, init0, f0, proof_hash(&leaked, copier.sender())).await.expect("the copier may commit");
    let root = B256::from_slice(&w.plugin.verify("leaked", Stage::Final, &leaked).unwrap().new_state_root);
    w.wait_until_block(d.window_state(admin.as_ref(), rollup, f0).await.unwrap().first_reveal_block).await;
    let (outcome, _) = d.verify_batches(copier.as_ref(), rollup, init0, f0, root, leaked.into()).await.unwrap();
    assert_eq!(outcome, RevealOutcome::Slashed { reason: SlashReason::InvalidProof, amount: w.params.incorrect_proof_punish });

    // Then the plain copier: it sees a revealed proof and tries to commit it. Too late, always:
    // a proof is public only after the commit phase, and once verified nobody may commit.
    let (init1, f1) = (posted[1].init_num_batch, posted[1].final_new_batch);
    dev::wait_verified(admin.as_ref(), &w.world, f1, Duration::from_secs(180)).await.unwrap();
    let revealed = honest.store().proof(&TaskId::new(f1, TaskKind::Final)).unwrap().unwrap();
    let e = d.submit_proof_hash(copier.as_ref(), rollup, init1, f1, proof_hash(&revealed, copier.sender())).await.unwrap_err();
    assert_eq!(e.revert_kind(), Some(RevertKind::AlreadyVerified), "{e}");

    dev::wait_settled(std::slice::from_ref(honest.store()), Duration::from_secs(60)).await.unwrap();
    let store = honest.stop().await.unwrap();
    assert_eq!(d.rewards_of(admin.as_ref(), copier.sender()).await.unwrap(), U256::ZERO, "the copier earned nothing");
    let r = w.params.reward_per_sequence;
    let a = audit(&store).unwrap();
    assert_eq!(
        (a.revealed.clone(), a.rewards),
        (vec![f0, f1], r / U256::from(2) + r),
        "honest: half of the shared window, all of the next"
    );
    assert_stake(&w, 1, 1).await;
}

/// Also the node's upkeep: its keeper slashes the committer that never revealed (and is paid
/// the keeper share), and everything credited is withdrawn to the miner automatically.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_nobody_reveals_within_t2_the_node_recommits_in_the_next_window_and_its_keeper_slashes_the_lazy_one() {
    let w = AnvilWorld::start(params(4, 6), 4, 1, 31).await;
    w.stake(1, 1).await;
    w.stake(2, 1).await;
    let (lazy, admin, d, rollup) = (w.chain(2).await, w.chain(ADMIN).await, w.world.deployment, w.world.rollup);
    let s = w.post().await;
    // A committer that never reveals opens window 1; our node starts once its commit phase is over.
    d.submit_proof_hash(lazy.as_ref(), rollup, s.init_num_batch, s.final_new_batch, B256::repeat_byte(7)).await.unwrap();
    let first = d.window_state(admin.as_ref(), rollup, s.final_new_batch).await.unwrap();
    w.wait_until_block(first.last_commit_block + 1).await;
    let upkeep = UpkeepConfig { keeper: true, withdraw_rewards_at: Some(U256::from(1)) };
    let node = w.miner_upkeeping(1, 2, upkeep).await;
    dev::wait_verified(admin.as_ref(), &w.world, s.final_new_batch, Duration::from_secs(180)).await.unwrap();
    dev::wait_settled(std::slice::from_ref(node.store()), Duration::from_secs(60)).await.unwrap();
    // Window 2 superseded window 1 at once: the lazy commitment is slashable, and the keeper
    // gains (gas on anvil costs far less than 10% of 0.3 ETH).
    let lazy_commitment = || d.commitment(admin.as_ref(), rollup, s.final_new_batch, 1, lazy.sender());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while lazy_commitment().await.unwrap().status != CommitmentStatus::Slashed {
        assert!(tokio::time::Instant::now() < deadline, "the keeper did not slash the lazy commitment");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let me = dev_signer(1).address();
    while d.rewards_of(admin.as_ref(), me).await.unwrap() != U256::ZERO {
        assert!(tokio::time::Instant::now() < deadline, "credited rewards were not withdrawn");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let store = node.stop().await.unwrap();
    let head = admin.head().await.unwrap().number;
    let (mut fees, mut withdrawn) = (U256::ZERO, U256::ZERO);
    for l in admin.logs(d.manager, 0, head).await.unwrap() {
        if let Ok(e) = RollupManager::KeeperPaid::decode_log(&l) {
            assert_eq!((e.keeper, e.miner), (me, lazy.sender()), "our node slashed the lazy committer");
            fees += e.amount;
        } else if let Ok(e) = RollupManager::RewardsWithdrawn::decode_log(&l) {
            assert_eq!(e.miner, me);
            withdrawn += e.amount;
        }
    }
    assert_eq!(fees, w.params.no_proof_punish / U256::from(10), "the keeper share, once");
    assert_eq!(withdrawn, w.params.reward_per_sequence + fees, "the reward and the keeper fee, withdrawn to the miner");
    assert_eq!(w.world.deployment.stake_of(admin.as_ref(), lazy.sender()).await.unwrap(), U256::from(ETH) - w.params.no_proof_punish);

    let sub = store.submission(s.final_new_batch).unwrap().unwrap();
    assert_eq!(sub.windows, vec![2], "committed in the window after the expired one");
    assert!(matches!(sub.state, SubmissionState::Revealed { late: false, .. }), "{:?}", sub.state);
    assert!(sub.commit_block.unwrap() > first.deadline.unwrap(), "not before window 1 expired");
    assert_stake(&w, 1, 1).await;
    assert!(store.watched().unwrap().is_empty(), "nothing left on the keeper's watch list");
}

/// A TCP proxy in front of anvil that can be cut (new connections refused, open ones closed).
struct Proxy {
    url: String,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, rx) = watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let mut up = rx.clone();
                if !*up.borrow() {
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut out) = TcpStream::connect(("127.0.0.1", target_port)).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                        _ = up.wait_for(|u| !*u) => {}
                    }
                });
            }
        });
        Self { url, up }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_rpc_outage_of_30_s_and_a_2_block_reorg_lose_nothing() {
    let w = AnvilWorld::start(params(5, 45), 6, 1, 41).await;
    w.stake(1, 1).await;
    let proxy = Proxy::start(w.anvil.port()).await;
    let outbox = w.dir.path().join("proxied-outbox.redb");
    let chain = Arc::new(RpcChain::connect(&proxy.url, dev_signer(1), &outbox, rpc_config()).await.unwrap());
    let node = w.miner_on(chain, &w.store_path("proxied"), 2).await;
    let admin = w.chain(ADMIN).await;

    // Outage: the node has committed and must reveal; the RPC is gone for 30 s (30 blocks).
    let s1 = w.post().await;
    wait_for("the first commit", Duration::from_secs(120), || committed(node.store(), s1.final_new_batch)).await;
    proxy.set(false);
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.set(true);

    // Reorg: two blocks dropped right after the second commit landed.
    w.wait_blocks(2).await;
    let s2 = w.post().await;
    wait_for("the second commit", Duration::from_secs(120), || committed(node.store(), s2.final_new_batch)).await;
    admin.provider().anvil_reorg(ReorgOptions { depth: 2, tx_block_pairs: vec![] }).await.unwrap();

    dev::wait_verified(admin.as_ref(), &w.world, s2.final_new_batch, Duration::from_secs(240)).await.unwrap();
    dev::wait_settled(std::slice::from_ref(node.store()), Duration::from_secs(90)).await.unwrap();
    let store = node.stop().await.unwrap();
    let a = audit(&store).unwrap();
    assert_eq!(a.revealed, vec![s1.final_new_batch, s2.final_new_batch], "{a:?}");
    assert!(a.slashed.is_empty() && a.open.is_empty(), "{a:?}");
    assert_eq!(a.rewards, w.params.reward_per_sequence * U256::from(2));
    assert_stake(&w, 1, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_miner_with_start_batch_skips_history() {
    let w = AnvilWorld::start(params(5, 20), 4, 1, 61).await;
    w.stake(1, 1).await;
    w.stake(2, 1).await;
    let posted = w.post_many(2, 2).await;
    let (history, next) = (posted[0].final_new_batch, posted[1].final_new_batch);
    // Miner 2 proves everything; miner 1 joins with the first sequence counted as history.
    let veteran = w.miner(2, 1).await;
    let newcomer = w.miner_from(1, 1, history).await;
    let admin = w.chain(ADMIN).await;
    dev::wait_verified(admin.as_ref(), &w.world, next, Duration::from_secs(180)).await.unwrap();
    let stores = [veteran.store().clone(), newcomer.store().clone()];
    dev::wait_settled(&stores, Duration::from_secs(60)).await.unwrap();
    let (_, store) = (veteran.stop().await.unwrap(), newcomer.stop().await.unwrap());
    assert!(store.sequence(history).unwrap().is_none(), "history is neither stored nor proved");
    assert!(store.tasks().unwrap().iter().all(|t| t.id.sequence() == next));
    assert!(matches!(store.submission(next).unwrap().unwrap().state, SubmissionState::Revealed { .. } | SubmissionState::Missed));
}
