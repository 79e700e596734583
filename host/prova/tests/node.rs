//! `prova node` as a process on a real anvil, killed with SIGKILL at 21 points and restarted:
//! at random times (mostly while proving), right after a commit landed (between commit and
//! reveal), and right after a transaction was broadcast (in flight). Then one graceful stop.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use prova_chain::U256;
use prova_chain::contracts::CommitmentStatus;
use prova_chain::dev::{DEV_KEYS, dev_signer};
use prova_dev::{self as dev, DevParams, ETH, audit};
use prova_store::{StoreFile, SubmissionState, TaskState};
use prova_tests::chain::{ADMIN, AnvilWorld};
use rand08::{Rng, SeedableRng};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PASSWORD: &str = "crash-test";

fn prova(w: &AnvilWorld) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prova"));
    c.arg("--plugins").arg(w.plugin_dir.path()).arg("--cache-dir").arg(w.dir.path().join("cwasm"));
    c.env("PROVA_KEYSTORE_PASSWORD", PASSWORD).env("PROVA_LOG", "info");
    c
}

fn write_config(w: &AnvilWorld, path: &Path, keystore: &Path) {
    let d = w.world.deployment;
    let toml = format!(
        "data_dir = {:?}\nworkers = 2\npoll_ms = 250\nkeystore = {:?}\n\n[chain]\nrpc_url = {:?}\nrollup = {}\nreceipt_timeout_secs = 5\n\n\
         [chain.deployment]\nstake = \"{}\"\nmanager = \"{}\"\nverifier = \"{}\"\npool = \"{}\"\n",
        w.dir.path().join("node"),
        keystore,
        w.anvil.endpoint(),
        w.world.rollup,
        d.stake,
        d.manager,
        d.verifier,
        d.pool
    );
    std::fs::write(path, toml).unwrap();
}

/// How a run ends.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// After a random time.
    After(Duration),
    /// As soon as the log says a proof hash was committed.
    AfterCommit,
    /// As soon as the log says a transaction was broadcast (not yet mined).
    InFlight,
}

/// Starts the node and kills it (SIGKILL) at `kill`; returns what the log showed last.
async fn run_and_kill(w: &AnvilWorld, config: &Path, kill: Kill) -> String {
    let mut child: Child = prova(w).arg("node").arg("--config").arg(config).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let wanted = match kill {
        Kill::After(_) => None,
        Kill::AfterCommit => Some("proof hash committed"),
        Kill::InFlight => Some("broadcast"),
    };
    let limit = match kill {
        Kill::After(d) => d,
        _ => Duration::from_secs(25),
    };
    let mut last = String::new();
    let _ = tokio::time::timeout(limit, async {
        while let Ok(Some(l)) = lines.next_line().await {
            if wanted.is_some_and(|p| l.contains(p)) {
                last = l;
                return;
            }
            last = l;
        }
    })
    .await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    last
}

/// What the store says the node was doing when it died.
fn state_at_kill(store: &Path) -> (usize, usize, usize) {
    // Killed before it created its store (it opens it once the chain has answered).
    let Some(s) = StoreFile::inspect(store).and_then(|f| f.rollups()).ok().and_then(|r| r.into_iter().next()) else { return (0, 0, 0) };
    let proving = s.tasks().unwrap().iter().filter(|t| matches!(t.state, TaskState::Assigned { .. })).count();
    let subs = s.submissions().unwrap();
    let committed = subs.iter().filter(|x| x.state == SubmissionState::Committed).count();
    let in_flight = subs.iter().filter(|x| matches!(x.state, SubmissionState::Committing | SubmissionState::Revealing)).count();
    (proving, committed, in_flight)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_points_loses_nothing_and_never_proves_a_stored_proof_again() {
    let w = Arc::new(AnvilWorld::start(DevParams { t1: 5, t2: 30, withdraw_delay: 50, ..DevParams::default() }, 24, 2, 51).await);
    w.stake(1, 2).await;
    let keystore = w.dir.path().join("miner.json");
    let out = prova(&w).args(["keystore", "import", "--out"]).arg(&keystore).env("PROVA_IMPORT_KEY", DEV_KEYS[1]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = w.dir.path().join("prova.toml");
    write_config(&w, &config, &keystore);
    let store_path = w.dir.path().join("node").join("node.redb");

    let poster = tokio::spawn({
        let w = w.clone();
        async move { w.post_many(10, 3).await }
    });
    let mut rng = rand08::rngs::StdRng::seed_from_u64(7);
    let mut seen = (0, 0, 0);
    for i in 0..21 {
        let kill = match i % 3 {
            0 => Kill::After(Duration::from_millis(rng.gen_range(500..7000))),
            1 => Kill::AfterCommit,
            _ => Kill::InFlight,
        };
        let last = run_and_kill(&w, &config, kill).await;
        let (proving, committed, in_flight) = state_at_kill(&store_path);
        println!(
            "kill {i:>2} ({kill:?}): {proving} job(s) running, {committed} committed unrevealed, {in_flight} tx in flight; last log: {last}"
        );
        seen = (seen.0 + proving.min(1), seen.1 + committed.min(1), seen.2 + in_flight.min(1));
    }
    assert!(seen.0 > 0 && seen.1 > 0 && seen.2 > 0, "kills hit proving, commit-reveal gaps and transactions in flight: {seen:?}");

    // A last run to the end, stopped gracefully with SIGTERM.
    let posted = poster.await.unwrap();
    let mut child = prova(&w).arg("node").arg("--config").arg(&config).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        let mut started_tx = Some(started_tx);
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains("node starting") {
                started_tx.take().map(|t| t.send(()));
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(120), started).await.expect("the node starts").unwrap();
    let admin = w.chain(ADMIN).await;
    let last = posted.last().unwrap().final_new_batch;
    dev::wait_verified(admin.as_ref(), &w.world, last, Duration::from_secs(600)).await.unwrap();
    w.wait_blocks(2).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await.expect("graceful stop").unwrap();
    assert!(status.success(), "graceful stop exits 0: {status}");

    let store = StoreFile::inspect(&store_path).unwrap().rollups().unwrap().remove(0);
    let a = audit(&store).unwrap();
    let finals: Vec<u64> = posted.iter().map(|s| s.final_new_batch).collect();
    assert_eq!(a.revealed, finals, "every sequence revealed by the only miner: {a:?}");
    assert!(a.slashed.is_empty() && a.open.is_empty(), "{a:?}");
    for t in store.tasks().unwrap() {
        assert_eq!((t.state.clone(), t.completions), (TaskState::Done, 1), "task {} proved exactly once", t.id);
    }
    let d = w.world.deployment;
    let me = dev_signer(1).address();
    for sub in store.submissions().unwrap() {
        for window in &sub.windows {
            let c = d.commitment(admin.as_ref(), w.world.rollup, sub.final_batch, *window, me).await.unwrap();
            assert_eq!(c.status, CommitmentStatus::Proved, "commitment of sequence {} in window {window} revealed", sub.final_batch);
        }
    }
    assert_eq!(d.stake_of(admin.as_ref(), me).await.unwrap(), U256::from(2 * ETH), "no slash");
    assert_eq!(d.rewards_of(admin.as_ref(), me).await.unwrap(), w.params.reward_per_sequence * U256::from(finals.len()));
}
