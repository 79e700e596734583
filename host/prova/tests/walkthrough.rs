//! README's "Run on a real chain", run as it stands: the block between the walkthrough markers
//! goes to bash with `prova` and `anvil` on PATH, in a fresh folder, with one change (a free port
//! instead of 8545, as tests run side by side). Then foundry's `cast`, an outside client, reads
//! what happened: the sequences verified, the miner's stake unchanged, rewards withdrawn to the
//! miner while the node ran, and the node still proving after that withdrawal. Then the bad
//! inputs of the chain commands and the node's checks, each one line, nothing written.

use prova_tests::error_line;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// anvil's dev account 1: the walkthrough's miner.
const MINER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let start = readme.find("<!-- walkthrough:start -->").expect("README has the walkthrough start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("README has the walkthrough end marker");
    let block = &readme[start..end];
    let body = block.split_once("```sh\n").expect("a sh block").1;
    body.rsplit_once("```").expect("a closed sh block").0.to_string()
}

/// A free port below Linux's ephemeral range (32768+). A port the OS hands out for `bind(0)`
/// could be handed out again, once released, to the anvil another test starts with port 0
/// (alloy's default): the walkthrough's own anvil would then fail to bind and its commands would
/// talk to the other test's chain.
fn free_port() -> u16 {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    (start..32_000).chain(20_000..start).find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()).expect("a free port below 32000")
}

fn cast_bin() -> PathBuf {
    match std::env::var("CAST_BIN") {
        Ok(p) => p.into(),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"),
    }
}

/// A folder with `prova` and `anvil` in it, for PATH.
fn bin_dir(root: &Path) -> PathBuf {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_prova"), bin.join("prova")).unwrap();
    std::os::unix::fs::symlink(
        prova_chain::dev::anvil_bin().canonicalize().expect("anvil installed (npm ci --prefix tools)"),
        bin.join("anvil"),
    )
    .unwrap();
    bin
}

struct Env {
    work: tempfile::TempDir,
    plugins: tempfile::TempDir,
    path: String,
}

impl Env {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let bin = bin_dir(work.path());
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        Self { work, plugins: prova_tests::transfer_dir(), path }
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.work.path())
            .env("PATH", &self.path)
            .env("PROVA_PLUGINS", self.plugins.path())
            .env("PROVA_CACHE_DIR", self.work.path().join("cwasm"))
            .env("PROVA_STATE_DIR", self.work.path().join("state"))
            .env_remove("PROVA_KEYSTORE")
            .env_remove("PROVA_PLUGIN")
            .env_remove("PROVA_DEPLOYMENT");
        c
    }

    fn prova(&self, args: &[&str]) -> Output {
        self.command("prova").args(args).output().unwrap()
    }
}

fn cast(args: &[&str]) -> String {
    let out = Command::new(cast_bin()).args(args).output().expect("cast installed (npm ci --prefix tools)");
    assert!(out.status.success(), "cast {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Kills a process group when dropped: the walkthrough leaves anvil and the node running.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0)]).status();
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written_and_cast_sees_the_results() {
    let env = Env::new();
    let port = free_port();
    let script = walkthrough().replace("8545", &port.to_string());
    let rpc = format!("http://127.0.0.1:{port}");
    // Its own process group, so that anvil and the node it starts go with it.
    let mut child = env
        .command("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _group = Group(child.id() as i32);
    let deadline = std::time::Instant::now() + Duration::from_secs(400);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let node_log = std::fs::read_to_string(env.work.path().join("node.log")).unwrap_or_default();
    let report = format!("stdout:\n{stdout}\nstderr:\n{}\nnode.log (tail):\n{}", String::from_utf8_lossy(&out.stderr), tail(&node_log));
    assert!(status.is_some_and(|s| s.success()), "the walkthrough failed or timed out: {report}");

    let anvil_log = std::fs::read_to_string(env.work.path().join("anvil.log")).unwrap_or_default();
    assert!(anvil_log.contains(&format!("Listening on 127.0.0.1:{port}")), "the walkthrough's own anvil did not start: {anvil_log}");

    // What the commands printed.
    assert!(stdout.contains("written to deployment.json"), "{report}");
    assert!(stdout.contains("rollup 1 registered"), "{report}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok  ")).count(), 7, "one line per check: {report}");
    assert!(stdout.contains("ok  rollup 1's proofs are checked by the standard verifier"), "{report}");
    assert!(stdout.contains("withdrew 1 ETH in rewards"), "the first sequence's reward, all of it (the only miner): {report}");

    // What an outside client sees on the chain the walkthrough left running.
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(env.work.path().join("deployment.json")).unwrap()).unwrap();
    let (manager, stake) = (file["manager"].as_str().unwrap(), file["stake"].as_str().unwrap());
    assert_eq!(cast(&["chain-id", "--rpc-url", &rpc]), "31337");
    let state = cast(&["call", manager, "rollupState(uint32)(uint64,uint64,bytes32,uint256,uint256,uint256)", "1", "--rpc-url", &rpc]);
    let fields: Vec<&str> = state.lines().collect();
    assert_eq!(fields[0], "3", "three batches sequenced: {state}");
    assert_eq!(fields[1], "3", "and verified: {state}\n{report}");
    let staked = cast(&["call", stake, "stakeOf(address)(uint256)", MINER, "--rpc-url", &rpc]);
    assert!(staked.starts_with("2000000000000000000"), "the stake is unchanged: {staked}");
    // The withdrawal reached the miner: one RewardsWithdrawn(miner, 1 ETH) event.
    let logs = cast(&[
        "logs",
        "--from-block",
        "0",
        "--address",
        manager,
        "RewardsWithdrawn(address indexed,uint256)",
        MINER,
        "--rpc-url",
        &rpc,
        "--json",
    ]);
    let logs: serde_json::Value = serde_json::from_str(&logs).unwrap();
    assert_eq!(logs.as_array().map(Vec::len), Some(1), "{logs}");
    let amount = logs[0]["data"].as_str().unwrap();
    assert_eq!(u128::from_str_radix(amount.trim_start_matches("0x"), 16).unwrap(), 1_000_000_000_000_000_000);
    // The node kept proving after the withdrawal it did not send: the third batch's reward is
    // credited to the miner again.
    let rewards = cast(&["call", manager, "rewards(address)(uint256)", MINER, "--rpc-url", &rpc]);
    assert!(rewards.starts_with("1000000000000000000"), "the reward after the withdrawal: {rewards}");
    assert!(!node_log.contains("ERROR"), "the node logged an error: {}", tail(&node_log));

    bad_inputs(&env, &rpc);
}

/// Every bad input of the issue, against the walkthrough's chain: one line, nothing written.
fn bad_inputs(env: &Env, rpc: &str) {
    let before = listing(env.work.path());
    let dead = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["stake", "show", "--rpc-url", &dead, "--address", MINER], "connection refused"),
        (vec!["stake", "show", "--rpc-url", "http://no-such-host.invalid:8545", "--address", MINER], "no such host"),
        (vec!["stake", "show", "--rpc-url", "ws://127.0.0.1:8545", "--address", MINER], "WebSocket URLs are not supported"),
        (
            vec!["rollup", "show", "--rpc-url", rpc, "--rollup", "7", "--deployment", "missing.json"],
            "cannot read deployment file missing.json",
        ),
        (vec!["rollup", "show", "--rpc-url", rpc, "--rollup", "7"], "rollup 7 is not registered on manager"),
        (
            vec!["sequencer", "post", "--rpc-url", rpc, "--rollup", "0", "--sample-seed", "1", "--dev-account", "3"],
            "rollup 0 is not registered",
        ),
        (vec!["stake", "deposit", "--rpc-url", rpc, "--amount", "1"], "this command signs"),
        (vec!["stake", "deposit", "--rpc-url", rpc, "--amount", "1.5x", "--dev-account", "1"], "is not an amount of ETH"),
        (vec!["stake", "deposit", "--rpc-url", rpc, "--amount", "1", "--dev-account", "9"], "the dev accounts are 0 to 5"),
        (
            vec!["sequencer", "post", "--rpc-url", rpc, "--rollup", "1", "--sample-seed", "1", "--dev-account", "2"],
            "is not the sequencer of rollup 1",
        ),
        (vec!["rewards", "withdraw", "--rpc-url", rpc, "--dev-account", "2"], "has no rewards to withdraw"),
        (vec!["stake", "withdraw", "--rpc-url", rpc, "--dev-account", "1"], "nothing to withdraw"),
        (vec!["stake", "request-withdraw", "--rpc-url", rpc, "--amount", "5", "--dev-account", "1"], "only 2 ETH is active stake"),
        (vec!["stake", "deposit", "--rpc-url", rpc, "--amount", "0", "--dev-account", "1"], "--amount must be more than 0"),
        (vec!["chain", "deploy", "--rpc-url", rpc, "--dev-account", "0"], "refusing to overwrite"),
        (
            vec!["rollup", "register", "--rpc-url", rpc, "--dev-account", "0", "--sequencer", MINER, "--t1", "600", "--t2", "600"],
            "must stay below the stake withdrawal delay",
        ),
        (
            vec!["rollup", "register", "--rpc-url", rpc, "--dev-account", "0", "--sequencer", MINER, "--keeper-share-bps", "6000"],
            "--keeper-share-bps 6000 is above 5000",
        ),
    ];
    for (args, expected) in &cases {
        let e = error_line(&env.prova(args));
        assert!(e.contains(expected), "prova {args:?}: {e:?} does not say {expected:?}");
    }
    // A deployment file for another chain.
    let text = std::fs::read_to_string(env.work.path().join("deployment.json")).unwrap();
    std::fs::write(env.work.path().join("other-chain.json"), text.replace("\"chain_id\": 31337", "\"chain_id\": 1")).unwrap();
    let e = error_line(&env.prova(&["rollup", "show", "--rpc-url", rpc, "--rollup", "1", "--deployment", "other-chain.json"]));
    assert!(e.contains("the deployment is for chain 1, but the RPC serves chain 31337"), "{e}");

    // The node's checks, each refusing to start with one line and leaving no data folder.
    let node_with = |name: &str, keystore: &str, config: String, plugins: &Path| {
        let path = env.work.path().join(name);
        std::fs::write(&path, format!("data_dir = \"bad-data\"\nkeystore = \"{keystore}\"\n{config}")).unwrap();
        let out = env
            .command("prova")
            .env("PROVA_PLUGINS", plugins)
            .args(["node", "--config", path.to_str().unwrap()])
            .env("PROVA_KEYSTORE_PASSWORD", "change-me")
            .output()
            .unwrap();
        error_line(&out)
    };
    let node = |name: &str, config: String| node_with(name, "miner.json", config, env.plugins.path());
    let chain = |rollup: u32, deployment: &str| format!("[chain]\nrpc_url = \"{rpc}\"\nrollup = {rollup}\n{deployment}\n");
    let inline = |stake: &str, manager: &str| {
        format!(
            "[chain.deployment]\nstake = \"{stake}\"\nmanager = \"{manager}\"\nverifier = \"{}\"\npool = \"{}\"",
            file_field(env, "verifier"),
            file_field(env, "pool")
        )
    };
    let (stake, manager) = (file_field(env, "stake"), file_field(env, "manager"));
    let none = "0x00000000000000000000000000000000000000aa";
    let node_cases = [
        (chain(0, "deployment = \"deployment.json\""), "rollup 0 is not registered".to_string()),
        (chain(1, "deployment = \"other-chain.json\""), "the deployment is for chain 1".to_string()),
        (chain(1, &inline(none, &manager)), format!("no contract at the stake address {}", none)),
        (chain(1, &inline(&stake, none)), "no contract at the manager address".to_string()),
        (chain(1, &inline(&file_field(env, "pool"), &manager)), "uses stake contract".to_string()),
        (chain(1, "[chain.deployment]\nstak = \"0x00\""), "unknown field `stak`".to_string()),
        (format!("[chain]\nrpc_url = \"ws://127.0.0.1:{}\"\nrollup = 1\ndeployment = \"deployment.json\"\n", 1), "WebSocket".to_string()),
    ];
    for (i, (config, expected)) in node_cases.iter().enumerate() {
        let e = node(&format!("bad-{i}.toml"), config.clone());
        assert!(e.to_lowercase().contains(&expected.to_lowercase()), "config {config:?}: {e:?} does not say {expected:?}");
    }
    // A miner without stake (anvil's account 2).
    let ks = env.work.path().join("nostake.json");
    let imported = env
        .command("prova")
        .args(["keystore", "import", "--out", ks.to_str().unwrap()])
        .env("PROVA_IMPORT_KEY", prova_chain::dev::DEV_KEYS[2])
        .env("PROVA_KEYSTORE_PASSWORD", "change-me")
        .output()
        .unwrap();
    assert!(imported.status.success());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&ks).unwrap().permissions().mode() & 0o777, 0o600, "keystores are private");
    let e = node_with("nostake.toml", "nostake.json", chain(1, "deployment = \"deployment.json\""), env.plugins.path());
    assert!(e.contains("has 0 ETH staked; rollup 1 needs 1 ETH"), "{e}");
    // A plugin whose key is not the registered one: the same plugin with another dev setup.
    let other_keys = tempfile::tempdir().unwrap();
    std::fs::copy(env.plugins.path().join("transfer-groth16.wasm"), other_keys.path().join("transfer-groth16.wasm")).unwrap();
    let setup =
        env.command("prova").env("PROVA_PLUGINS", other_keys.path()).args(["plugins", "setup", "--seed", "another"]).output().unwrap();
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    let e = node_with("good.toml", "miner.json", chain(1, "deployment = \"deployment.json\""), other_keys.path());
    assert!(e.contains("verifying key is not the one registered for rollup 1"), "{e}");

    let mut after = listing(env.work.path());
    let written_here = ["other-chain.json", "nostake.json", "nostake.toml", "good.toml"];
    after.retain(|f| !(written_here.contains(&f.as_str()) || f.starts_with("bad-") && f.ends_with(".toml")));
    assert_eq!(after, before, "a refused command or start wrote nothing");
}

fn file_field(env: &Env, name: &str) -> String {
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(env.work.path().join("deployment.json")).unwrap()).unwrap();
    file[name].as_str().unwrap().to_string()
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
