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

/// The `[[chains]]` and `[[rollups]]` part of a config: each world's chain by name, its rollup
/// with `plugin`.
fn chains_config(worlds: &[(&str, &AnvilWorld, &str)]) -> String {
    let mut toml = String::new();
    for (name, w, _) in worlds {
        let d = w.world.deployment;
        toml += &format!(
            "[[chains]]\nname = {name:?}\nrpc_url = {:?}\nreceipt_timeout_secs = 5\ndeployment = {{ stake = \"{}\", manager = \"{}\", verifier = \"{}\", pool = \"{}\" }}\n\n",
            w.anvil.endpoint(),
            d.stake,
            d.manager,
            d.verifier,
            d.pool
        );
    }
    for (name, w, plugin) in worlds {
        toml += &format!("[[rollups]]\nchain = {name:?}\nrollup = {}\nplugin = {plugin:?}\n\n", w.world.rollup);
    }
    toml
}

/// One `prova node` with one key serves two rollups of different types on two chains: checks
/// both, keeps one outbox per chain and one store file, and every sequence of both is revealed
/// by it and paid. Bad multi-rollup configs are refused in one line, before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_with_one_key_serves_two_rollup_types_on_two_chains() {
    use prova_tests::plugins::{TALLY_GROTH16, TRANSFER_GROTH16};
    let params = DevParams { t1: 5, t2: 30, withdraw_delay: 50, ..DevParams::default() };
    let alpha = Arc::new(AnvilWorld::start(params.clone(), 8, 2, 3).await);
    let beta = Arc::new(AnvilWorld::start_with(("tally-groth16", TALLY_GROTH16), 31338, params, 8, 3, 4).await);
    alpha.stake(1, 2).await;
    beta.stake(1, 2).await;
    // One plugin folder with both types.
    let plugins = prova_tests::keyed_dir(&[("transfer-groth16", TRANSFER_GROTH16), ("tally-groth16", TALLY_GROTH16)]);
    let dir = &alpha.dir;
    let prova = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_prova"));
        c.arg("--plugins").arg(plugins.path()).arg("--cache-dir").arg(dir.path().join("cwasm")).args(args);
        c.env("PROVA_KEYSTORE_PASSWORD", PASSWORD).env("PROVA_LOG", "info");
        c
    };
    let keystore = dir.path().join("miner.json");
    let out =
        prova(&["keystore", "import", "--out", keystore.to_str().unwrap()]).env("PROVA_IMPORT_KEY", DEV_KEYS[1]).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let data = dir.path().join("node");
    let head = format!("data_dir = {:?}\nworkers = 2\npoll_ms = 250\nkeystore = {keystore:?}\n\n", data);
    let config = dir.path().join("prova.toml");
    let write = |body: String| std::fs::write(&config, format!("{head}{body}")).unwrap();
    let run = |args: &[&str]| {
        let mut c = prova(&["node", "--config", config.to_str().unwrap()]);
        c.args(args);
        c.output()
    };

    // Bad configs: one line each, nothing written.
    let good = chains_config(&[("alpha", &alpha, "transfer-groth16"), ("beta", &beta, "tally-groth16")]);
    for (body, expected) in [
        (good.replace("chain = \"beta\"", "chain = \"gamma\""), "is on chain \"gamma\", which is not in [[chains]] (alpha, beta)"),
        (good.replace("name = \"beta\"", "name = \"alpha\""), "[[chains]] name \"alpha\" is used twice"),
        (format!("plugin = \"tally-groth16\"\n{good}"), "`plugin` at the top level is for [chain] only"),
        (good.replace("plugin = \"tally-groth16\"", "plugin = \"transfer-groth16\""), "verifying key is not the one registered"),
        (good.replace("receipt_timeout_secs = 5\n", "receipt_timeout_secs = 5\nrollup = 1\n"), "rollups go in [[rollups]]"),
    ] {
        write(body);
        let out = run(&["--check"]).await.unwrap();
        let e = prova_tests::error_line(&std::process::Output { status: out.status, stdout: out.stdout, stderr: out.stderr });
        assert!(e.contains(expected), "{expected:?} not in: {e}");
    }
    write(good.clone());
    let out = run(&["--check", "--plugin", "tally-groth16"]).await.unwrap();
    let e = prova_tests::error_line(&std::process::Output { status: out.status, stdout: out.stdout, stderr: out.stderr });
    assert!(e.contains("--plugin applies to a config with one rollup"), "{e}");
    assert!(!data.exists(), "a refused start writes nothing");

    let out = run(&["--check"]).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "ok  [alpha] rollup 1 is registered",
        "ok  [beta] plugin tally-groth16's verifying key is the one registered",
        "ok  [beta] rollup 1's verifier",
    ] {
        assert!(stdout.contains(want), "{want:?} not in:\n{stdout}");
    }

    // The node, and a sequencer on each chain.
    let mut child = prova(&["node", "--config", config.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    tokio::spawn({
        let log = log.clone();
        async move {
            while let Ok(Some(l)) = lines.next_line().await {
                log.lock().unwrap().push_str(&format!("{l}\n"));
            }
        }
    });
    let (posted_a, posted_b) = tokio::join!(alpha.post_many(3, 2), beta.post_many(3, 2));
    for (w, posted) in [(&alpha, &posted_a), (&beta, &posted_b)] {
        let last = posted.last().unwrap().final_new_batch;
        let admin = w.chain(ADMIN).await;
        if let Err(e) = dev::wait_verified(admin.as_ref(), &w.world, last, Duration::from_secs(300)).await {
            panic!("{e}\nnode log:\n{}", log.lock().unwrap());
        }
    }
    alpha.wait_blocks(2).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await.expect("graceful stop").unwrap();
    assert!(status.success(), "graceful stop exits 0: {status}");

    // One store file with both rollups, one outbox per chain, every sequence revealed and paid.
    let file = StoreFile::inspect(&data.join("node.redb")).unwrap();
    let ids: Vec<(u64, u32)> = file.identities().unwrap().iter().map(|i| (i.chain_id, i.rollup)).collect();
    assert_eq!(ids, vec![(31337, 1), (31338, 1)]);
    assert!(data.join("outbox-31337.redb").exists() && data.join("outbox-31338.redb").exists());
    for ((store, w), posted) in file.rollups().unwrap().iter().zip([&alpha, &beta]).zip([&posted_a, &posted_b]) {
        let a = audit(store).unwrap();
        let finals: Vec<u64> = posted.iter().map(|s| s.final_new_batch).collect();
        assert_eq!(a.revealed, finals, "every sequence of rollup {:?} revealed: {a:?}", store.identity());
        assert!(a.slashed.is_empty() && a.open.is_empty(), "{a:?}");
        let credited = w.world.deployment.rewards_of(w.chain(ADMIN).await.as_ref(), dev_signer(1).address()).await.unwrap();
        assert_eq!(U256::from(a.rewards), credited, "the rewards the store recorded are what the chain credited");
        assert!(!credited.is_zero());
    }
}
