//! The plugin folder followed while the node runs (`prova_node::plugins`), with real components
//! through the real runtime: a replaced file serves new jobs while a running job finishes on
//! the old version; broken files beside working ones, a broken replacement and one whose
//! verifying key is not the registered one are refused and change nothing; a removed file
//! retires its plugin (no new sequences) and putting it back serves again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use prova_node::plugins::{LivePlugins, Registered, Reload, Reloader};
use prova_node::prover::{Checker, JobInput, Prover};
use prova_runtime::{Limits, Stage};
use prova_tests::plugins::{FIXTURE_FORBIDDEN_IMPORT, TRANSFER_GROTH16};
use prova_tests::{runtime_with, transfer_dir};

const PROVER: [u8; 20] = [0xa1; 20];
const NAME: &str = "transfer-groth16";
/// The reference adapter as released for WIT 0.2: the same plugin (name, keys, verifying key),
/// another component digest: a new build rolled out.
const NEW_BUILD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/transfer-groth16-wit-0.2.0.wasm");

/// Puts `bytes` at `path` as a deployment tool would: written beside, then renamed over.
fn install(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls until a poll acts (a change is acted on at the second poll that finds it settled).
async fn settle(r: &mut Reloader) -> Reload {
    for _ in 0..3 {
        let out = r.poll().await;
        if out != Reload::default() {
            return out;
        }
    }
    Reload::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_folder_is_followed_without_losing_a_job() {
    let dir = transfer_dir();
    let cache = tempfile::tempdir().unwrap();
    let rt = Arc::new(runtime_with(Limits::default(), Some(cache.path())));
    let file = dir.path().join(format!("{NAME}.wasm"));
    let old = Arc::new(rt.load(&file).unwrap());
    let vk = old.metadata().verifying_key.clone().unwrap();
    let live = LivePlugins::new([old.clone()]);
    let registered =
        |vk: &[u8]| BTreeMap::from([(NAME.to_string(), vec![Registered { rollup: "rollup 1".into(), verifying_key: vk.to_vec() }])]);
    let mut reloader = Reloader::new(rt.clone(), dir.path(), live.clone(), registered(&vk));
    let prover = live.prover(NAME);
    let w = old.sample_sequence(3, 11).unwrap();
    assert_eq!(reloader.poll().await, Reload::default(), "the files present at start are taken as they are");

    // A job is running on the old version when the new build is dropped in.
    let running = tokio::spawn({
        let (prover, w0) = (prover.clone(), w[0].clone());
        async move { prover.prove("batch 0", JobInput::Batch(w0), PROVER).await }
    });
    install(&file, &std::fs::read(NEW_BUILD).unwrap());
    assert_eq!(reloader.poll().await, Reload::default(), "a changed file waits for a second look");
    assert_eq!(reloader.poll().await.loaded, vec![NAME.to_string()]);
    let new = live.current(NAME).unwrap();
    assert_ne!(new.digest_hex(), old.digest_hex(), "the new build serves");
    assert_eq!(new.metadata().wit_version, "0.2.0");
    let proof = running.await.unwrap().expect("the running job finishes");
    let old_calls = old.kernel_stats().calls;
    assert!(old_calls > 0, "the running job ran on the old version");
    old.verify("check", Stage::Batch, &proof).unwrap();
    // The next job runs on the new one, and its proof verifies under both.
    let proof = prover.prove("batch 1", JobInput::Batch(w[1].clone()), PROVER).await.unwrap();
    assert!(new.kernel_stats().calls > 0);
    assert_eq!(old.kernel_stats().calls, old_calls, "nothing more ran on the old version");
    old.verify("check", Stage::Batch, &proof).unwrap();

    // Broken files beside it: refused with their errors; the plugin keeps serving.
    std::fs::write(dir.path().join("garbage.wasm"), b"not a component").unwrap();
    std::fs::copy(FIXTURE_FORBIDDEN_IMPORT, dir.path().join("forbidden.wasm")).unwrap();
    let out = settle(&mut reloader).await;
    let refused: Vec<String> = out.refused.iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(refused, vec!["forbidden.wasm", "garbage.wasm"], "{out:?}");
    assert!(out.refused.iter().any(|(_, why)| why.contains("import")), "{out:?}");
    assert!(out.loaded.is_empty() && out.retired.is_empty(), "{out:?}");
    assert_eq!(live.current(NAME).unwrap().digest_hex(), new.digest_hex());

    // A broken replacement of the plugin's own file: refused, the loaded version serves on.
    install(&file, b"\0asm garbage");
    let out = settle(&mut reloader).await;
    assert_eq!(out.refused.len(), 1, "{out:?}");
    assert_eq!(live.current(NAME).unwrap().digest_hex(), new.digest_hex());
    assert!(prover.accepts_new().is_ok());
    prover.inspect_batch("inspect", w[2].clone()).await.unwrap();

    // A version whose verifying key is not the one the rollup registered is refused.
    let mut strict = Reloader::new(rt.clone(), dir.path(), live.clone(), registered(b"another key"));
    install(&file, &std::fs::read(TRANSFER_GROTH16).unwrap());
    let out = settle(&mut strict).await;
    assert_eq!(out.refused.len(), 1, "{out:?}");
    assert!(out.refused[0].1.contains("verifying key is not the one rollup 1 registered"), "{out:?}");
    assert_eq!(live.current(NAME).unwrap().digest_hex(), new.digest_hex(), "the refused version does not serve");
    // The reloader whose key matches takes it: the first build serves again.
    assert_eq!(settle(&mut reloader).await.loaded, vec![NAME.to_string()]);
    assert_eq!(live.current(NAME).unwrap().digest_hex(), old.digest_hex());

    // Removed: retired. Jobs of sequences already taken still run; no new sequences.
    std::fs::remove_file(&file).unwrap();
    assert_eq!(reloader.poll().await.retired, vec![NAME.to_string()]);
    let why = prover.accepts_new().unwrap_err();
    assert!(why.contains("was removed from the folder"), "{why}");
    prover.prove("batch 2", JobInput::Batch(w[2].clone()), PROVER).await.expect("a taken sequence is still proved");
    // Back: serving again.
    install(&file, &std::fs::read(TRANSFER_GROTH16).unwrap());
    assert_eq!(settle(&mut reloader).await.loaded, vec![NAME.to_string()]);
    assert!(prover.accepts_new().is_ok());
}
