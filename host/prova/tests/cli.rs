//! The `prova` binary as a user runs it: the whole pipeline from files, and one clear error
//! line with a non-zero exit (and no output file) for every bad input.

use prova_tests::error_line;
use std::path::Path;
use std::process::{Command, Output};

use prova_tests::{plugin_dir, plugins, transfer_dir};

const PROVER: &str = "0x00000000000000000000000000000000000000a1";

fn prova(plugins: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prova"))
        .arg("--plugins")
        .arg(plugins)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env_remove("PROVA_PLUGIN")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn the_pipeline_runs_from_files_and_a_tampered_proof_fails_verify() {
    let dir = transfer_dir();
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = |f: &str| work.path().join(f).display().to_string();
    let run = |args: &[&str]| prova(dir.path(), cache.path(), args);

    let list = ok(&run(&["plugins", "list"]));
    assert!(list.contains("transfer-groth16") && list.contains("verifying key:") && list.contains("WIT 0.3.0"), "{list}");

    ok(&run(&["plugins", "sample-input", "--batches", "2", "--seed", "5", "--out", &w("in")]));
    for i in 0..2 {
        ok(&run(&["prove", "batch", "--witness", &w(&format!("in/batch-{i}.bin")), "--prover", PROVER, "--out", &w(&format!("b{i}"))]));
    }
    ok(&run(&["prove", "aggregate", "--out", &w("agg"), &w("b0"), &w("b1")]));
    ok(&run(&["prove", "finalize", "--proof", &w("agg"), "--submitter", PROVER, "--out", &w("fin")]));
    let v = ok(&run(&["verify", "--stage", "final", &w("fin")]));
    assert!(v.starts_with("valid final proof: 2 batch(es)"), "{v}");

    let mut fin = std::fs::read(w("fin")).unwrap();
    let last = fin.len() - 1;
    fin[last] ^= 1;
    std::fs::write(w("fin-bad"), &fin).unwrap();
    let e = error_line(&run(&["verify", "--stage", "final", &w("fin-bad")]));
    assert!(e.contains("job verify") && (e.contains("pairing check failed") || e.contains("not a canonical")), "{e}");

    // Malformed input: a clear error and no output file.
    std::fs::write(w("junk"), b"junk").unwrap();
    let e = error_line(&run(&["prove", "batch", "--witness", &w("junk"), "--prover", PROVER, "--out", &w("never")]));
    assert!(e.contains("invalid input: batch witness does not decode"), "{e}");
    assert!(!work.path().join("never").exists());
    let e = error_line(&run(&["prove", "batch", "--witness", &w("in/batch-0.bin"), "--prover", "0x12", "--out", &w("never")]));
    assert!(e.contains("has 1 bytes, not 20"), "{e}");
}

#[test]
fn bad_plugins_are_one_line_errors() {
    let cache = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let e = error_line(&prova(&empty.path().join("absent"), cache.path(), &["plugins", "list"]));
    assert!(e.contains("plugin folder") && e.contains("absent"), "{e}");

    let e = error_line(&prova(empty.path(), cache.path(), &["prove", "batch", "--witness", "x", "--prover", PROVER, "--out", "y"]));
    assert!(e.contains("no plugins in"), "{e}");
    let e = error_line(&prova(empty.path(), cache.path(), &["verify", "--plugin", "transfer-groth16", "--stage", "batch", "p"]));
    assert!(e.contains("no plugin named \"transfer-groth16\"") && e.contains("plugins there: none"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("transfer-groth16.wasm"), b"\0asm\x01\0\0\0 corrupt").unwrap();
    let e = error_line(&prova(dir.path(), cache.path(), &["verify", "--stage", "batch", "p"]));
    assert!(e.contains("no plugins in") && e.contains("refused: plugin") && e.contains("not a valid WebAssembly component"), "{e}");
    let o = prova(dir.path(), cache.path(), &["plugins", "list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("transfer-groth16.wasm: not a valid WebAssembly component"));

    // A plugin is known by the name in its metadata, not by its file name.
    let dir = plugin_dir(&[("transfer-groth16", plugins::FIXTURE_MISBEHAVING)]);
    let e = error_line(&prova(dir.path(), cache.path(), &["verify", "--plugin", "transfer-groth16", "--stage", "batch", "p"]));
    assert!(e.contains("no plugin named \"transfer-groth16\"") && e.contains("plugins there: misbehaving"), "{e}");
    // Two plugins and no name: the command says which to choose, and PROVA_PLUGIN chooses.
    let two = plugin_dir(&[("misbehaving", plugins::FIXTURE_MISBEHAVING), ("transfer-groth16", plugins::TRANSFER_GROTH16)]);
    let e = error_line(&prova(two.path(), cache.path(), &["verify", "--stage", "batch", "p"]));
    assert!(e.contains("holds several plugins (misbehaving, transfer-groth16): name one with --plugin, PROVA_PLUGIN"), "{e}");
    let chosen = Command::new(env!("CARGO_BIN_EXE_prova"))
        .arg("--plugins")
        .arg(two.path())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["verify", "--stage", "batch", "missing.proof"])
        .env("PROVA_PLUGIN", "misbehaving")
        .output()
        .unwrap();
    assert!(error_line(&chosen).contains("missing.proof"), "PROVA_PLUGIN picked a plugin; the proof file is what is missing");
    // The same plugin twice in one folder is refused, naming both files.
    let dup = plugin_dir(&[("a", plugins::FIXTURE_MISBEHAVING), ("b", plugins::FIXTURE_MISBEHAVING)]);
    let e = error_line(&prova(dup.path(), cache.path(), &["plugins", "list"]));
    assert!(e.contains("a.wasm and") && e.contains("b.wasm are both plugin \"misbehaving\": remove one"), "{e}");

    let dir = plugin_dir(&[("old", plugins::FIXTURE_WRONG_VERSION), ("fs", plugins::FIXTURE_FORBIDDEN_IMPORT)]);
    let o = prova(dir.path(), cache.path(), &["plugins", "list"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("built against prova:adapter@1.0.0; this host loads prova:adapter versions 0.3.0, 0.2.0")
            && out.contains("wasi:filesystem"),
        "{out}"
    );
    assert!(error_line(&o).contains("2 plugin(s) refused"));
}

#[test]
fn misbehaving_plugins_fail_with_their_own_one_line_error_and_write_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let dir = plugin_dir(&[("misbehaving", plugins::FIXTURE_MISBEHAVING)]);
    let work = tempfile::tempdir().unwrap();
    for (witness, expect) in [
        ("loop", "ran out of fuel (1000000000 units)"),
        ("oom", "exceeded its memory limit of 67108864 bytes"),
        ("panic", "panicked at"),
        ("panic", "fixture panic: the witness asked for it"),
    ] {
        let w = work.path().join(witness);
        std::fs::write(&w, witness).unwrap();
        let out = work.path().join("out");
        let o = Command::new(env!("CARGO_BIN_EXE_prova"))
            .args(["--plugins", &dir.path().display().to_string(), "--cache-dir", &cache.path().display().to_string()])
            .args(["--fuel", "1000000000", "prove", "batch", "--plugin", "misbehaving", "--prover", PROVER])
            .arg("--witness")
            .arg(&w)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let e = error_line(&o);
        // The job is named after its input file.
        assert!(e.contains(&format!("plugin misbehaving, job {}: ", w.display())) && e.contains(expect), "{e}");
        assert!(!out.exists());
    }
}

#[test]
fn bad_node_configs_and_keystores_are_one_line_errors() {
    let dir = transfer_dir();
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let cfg = work.path().join("prova.toml");
    let node = |toml: &str| {
        std::fs::write(&cfg, toml).unwrap();
        prova(dir.path(), cache.path(), &["node", "--config", cfg.to_str().unwrap()])
    };
    let e = error_line(&node("workers = 2\nwokers = 3\n"));
    assert!(e.contains("is not valid") && e.contains("wokers"), "{e}");
    let e = error_line(&node("workers = 0\n"));
    assert!(e.contains("workers must be at least 1"), "{e}");
    let chain = "[chain]\nrpc_url = \"http://127.0.0.1:9\"\nrollup = 0\n[chain.deployment]\nstake = \"0x0000000000000000000000000000000000000001\"\n\
                 manager = \"0x0000000000000000000000000000000000000002\"\nverifier = \"0x0000000000000000000000000000000000000003\"\n\
                 pool = \"0x0000000000000000000000000000000000000004\"\n";
    let e = error_line(&node(chain));
    assert!(e.contains("needs the miner's keystore"), "{e}");
    let e = error_line(&node(&chain.replace("rollup = 0\n", "rollup = 0\nwithdraw_rewards_above = \"-1\"\n")));
    assert!(e.contains("withdraw_rewards_above \"-1\" is not an amount of ETH"), "{e}");
    let e = error_line(&node(&chain.replace("rollup = 0\n", "rollup = 0\nwithdraw_rewards_above = \"0\"\n")));
    assert!(e.contains("withdraw_rewards_above must be more than 0"), "{e}");
    // The many-rollup form: refused before anything else when it does not hang together.
    let chains = chain
        .replace("[chain]", "[[chains]]\nname = \"main\"")
        .replace("rollup = 0\n", "")
        .replace("[chain.deployment]", "[chains.deployment]");
    for (body, expected) in [
        (format!("{chain}{chains}"), "use either it or [[chains]] and [[rollups]]"),
        (chains.clone(), "[[chains]] and [[rollups]] go together"),
        (chain.replace("rollup = 0\n", ""), "[chain] needs rollup = N"),
        (
            format!("{}\n[[rollups]]\nchain = \"main\"\nrollup = 1\n", chains.replace("name = \"main\"\n", "")),
            "[[chains]] entry 1 needs a name",
        ),
        (format!("{}\n[[rollups]]\nchain = \"main\"\nrollup = 1\nweight = 0\n", chains), "weight must be at least 1"),
        (format!("{}\n[[rollups]]\nchain = \"main\"\nrollup = 1\n", chains.replace("\"main\"", "\"Main\"")), "may hold only lowercase"),
    ] {
        let e = error_line(&node(&body));
        assert!(e.contains(expected), "{expected:?} not in {e}");
    }
    // The example config parses: the first refusal is the chain it points at, not a key.
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prova.example.toml"), &cfg).unwrap();
    let e = error_line(&prova(dir.path(), cache.path(), &["node", "--config", cfg.to_str().unwrap()]));
    assert!(!e.contains("is not valid"), "{e}");
    let e = error_line(&node(&format!("keystore = \"{}\"\n{chain}", work.path().join("missing.json").display())));
    assert!(e.contains("PROVA_KEYSTORE_PASSWORD"), "{e}");

    // A keystore made here opens with its password and refuses another.
    let ks = work.path().join("miner.json");
    let make = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["keystore", "new", "--out"])
        .arg(&ks)
        .env("PROVA_KEYSTORE_PASSWORD", "right")
        .output()
        .unwrap();
    assert!(ok(&make).contains("keystore"), "prints the address");
    std::fs::write(&cfg, format!("keystore = \"{}\"\n{chain}", ks.display())).unwrap();
    let wrong = Command::new(env!("CARGO_BIN_EXE_prova"))
        .arg("--plugins")
        .arg(dir.path())
        .arg("--cache-dir")
        .arg(cache.path())
        .args(["node", "--config", cfg.to_str().unwrap()])
        .env("PROVA_KEYSTORE_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(error_line(&wrong).contains("wrong password or not a keystore"));
    let again = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["keystore", "new", "--out"])
        .arg(&ks)
        .env("PROVA_KEYSTORE_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(error_line(&again).contains("refusing to overwrite"));
}

/// `prova demo` with two rollup types: each miner is one node serving both; each rollup's
/// sequences are verified through the verifier its plugin names (transfer through the standard
/// Groth16BatchVerifier, tally through its own contract, deployed for it), and the summary shows
/// the two side by side.
#[test]
fn the_demo_serves_two_rollup_types_from_one_node_per_miner() {
    let dir = transfer_dir();
    std::fs::copy(plugins::TALLY_GROTH16, dir.path().join("tally-groth16.wasm")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    ok(&prova(dir.path(), cache.path(), &["plugins", "setup", "--plugin", "tally-groth16"]));
    let e = error_line(&prova(dir.path(), cache.path(), &["demo", "--plugin", "transfer-groth16,no-such-rollup"]));
    assert!(e.contains("no-such-rollup") && e.contains("tally-groth16, transfer-groth16"), "{e}");
    let out = ok(&prova(
        dir.path(),
        cache.path(),
        &[
            "demo",
            "--plugin",
            "transfer-groth16,tally-groth16",
            "--miners",
            "2",
            "--sequences",
            "2",
            "--max-batches",
            "2",
            "--block-ms",
            "500",
        ],
    ));
    for (rollup, plugin, verifier) in
        [(1, "transfer-groth16", "the standard Groth16BatchVerifier"), (2, "tally-groth16", "the plugin's own contract")]
    {
        let line = out.lines().find(|l| l.starts_with(&format!("rollup {rollup} (plugin {plugin})"))).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains(verifier), "{line}");
        let posted = out.lines().filter(|l| l.contains(&format!("rollup {rollup} sequence")) && l.contains("posted")).count();
        assert_eq!(posted, 2, "{out}");
    }
    assert!(out.contains("for 2 rollup(s)"), "one node per miner serves both: {out}");
    // The side-by-side summary: both rollups' column groups, and every miner revealed both of each.
    let header = out.lines().find(|l| l.contains("rollup 1 (transfer-groth16)") && l.contains("rollup 2 (tally-groth16)"));
    assert!(header.is_some(), "{out}");
    for m in ["miner 1 ", "miner 2 "] {
        let row = out.lines().find(|l| l.starts_with(m) && l.contains(" | ")).unwrap_or_else(|| panic!("{out}"));
        let groups: Vec<&str> = row.split(" | ").collect();
        assert_eq!(groups.len(), 4, "{row}");
        for g in &groups[1..3] {
            let cells: Vec<&str> = g.split_whitespace().collect();
            assert_eq!(&cells[..4], ["2", "0", "0", "0"], "revealed 2, missed, slashed, open none: {row}");
        }
    }
    assert!(out.contains("every sequence verified, every commitment revealed, every miner paid"), "{out}");
}

/// Cargo for a crate outside this repository: none of the outer build's settings leak in, and
/// its output goes to `target` (shared between runs, so that only the first compiles arkworks).
fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Output {
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap();
    assert!(o.status.success(), "cargo {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// What a rollup team does first, in a folder outside the repository: `prova plugins new`, the
/// crate's own `cargo test`, a component build, and a sample proved and verified by `prova`.
#[test]
fn plugins_new_writes_a_crate_that_tests_builds_and_proves_outside_the_repository() {
    let work = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let dir = work.path().to_str().unwrap();
    let e = error_line(&prova(work.path(), cache.path(), &["plugins", "new", "Demo_Rollup", "--dir", dir]));
    assert!(e.contains("may hold only lowercase letters, digits and '-'"), "{e}");
    ok(&prova(work.path(), cache.path(), &["plugins", "new", "demo-rollup", "--dir", dir]));
    let e = error_line(&prova(work.path(), cache.path(), &["plugins", "new", "demo-rollup", "--dir", dir]));
    assert!(e.contains("already exists"), "{e}");
    let e = error_line(&prova(work.path(), cache.path(), &["plugins", "new", "other", "--dir", dir, "--sdk", dir]));
    assert!(e.contains("no prova guest SDK at") && !work.path().join("other").exists(), "{e}");

    let krate = work.path().join("demo-rollup");
    // <target>/debug/prova -> <target>/plugin-new
    let target = Path::new(env!("CARGO_BIN_EXE_prova")).parent().unwrap().parent().unwrap().join("plugin-new");
    let tests = cargo(&krate, &target.join("native"), &["test"]);
    assert!(String::from_utf8_lossy(&tests.stdout).contains("test result: ok. 3 passed"), "{}", String::from_utf8_lossy(&tests.stdout));
    cargo(&krate, &target.join("wasm"), &["build", "--release", "--target", "wasm32-wasip2"]);

    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(target.join("wasm/wasm32-wasip2/release/demo_rollup.wasm"), plugins.path().join("demo-rollup.wasm")).unwrap();
    ok(&prova(plugins.path(), cache.path(), &["plugins", "setup", "--plugin", "demo-rollup"]));
    let out = ok(&prova(plugins.path(), cache.path(), &["prove", "sample", "--plugin", "demo-rollup", "--batches", "2"]));
    assert!(out.contains("verified: 2 batches"), "{out}");
}
