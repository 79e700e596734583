//! The reference adapter end to end, through the real runtime and host kernels: a 3-batch
//! sequence through batch, aggregate and final, verified; every tampered byte refused.

use prova_runtime::{AdapterError, JobErrorKind, Limits, Plugin, Stage};
use prova_tests::{plugin_dir, plugins, runtime_with, transfer_dir};

const PROVER: [u8; 20] = [0xa1; 20];

fn prove_all(p: &Plugin, witnesses: &[Vec<u8>]) -> Vec<Vec<u8>> {
    std::thread::scope(|s| {
        let hs: Vec<_> =
            witnesses.iter().enumerate().map(|(i, w)| s.spawn(move || p.prove_batch(&format!("batch {i}"), w, &PROVER).unwrap())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Positions to flip: every byte of the first 72 (magic, prover, count, first point), then a
/// spread over the rest with both ends of it.
fn positions(len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..len.min(72)).collect();
    v.extend((72..len).step_by(29));
    v.push(len - 1);
    v
}

fn assert_every_flip_fails(p: &Plugin, stage: Stage, proof: &[u8]) {
    for i in positions(proof.len()) {
        let mut bad = proof.to_vec();
        bad[i] ^= 0x01 << (i % 8);
        match p.verify("tampered", stage, &bad) {
            Ok(_) => panic!("{stage} proof with byte {i} flipped verified"),
            Err(e) => match e.kind {
                JobErrorKind::Adapter(AdapterError::InvalidInput(m) | AdapterError::Unsatisfied(m)) => {
                    assert!(!m.is_empty());
                }
                other => panic!("byte {i}: unexpected failure {other}"),
            },
        }
    }
}

#[test]
fn a_three_batch_sequence_proves_verifies_and_rejects_every_flipped_byte() {
    let dir = transfer_dir();
    let rt = runtime_with(Limits::default(), None);
    let p = rt.load(&dir.path().join("transfer-groth16.wasm")).unwrap();
    let m = p.metadata();
    assert_eq!((m.name.as_str(), m.wit_version.as_str()), ("transfer-groth16", "0.3.0"));
    assert!(m.verifying_key.as_ref().is_some_and(|vk| vk.starts_with(b"PVK1")));

    let witnesses = p.sample_sequence(3, 11).unwrap();
    let batches = prove_all(&p, &witnesses);
    // Each batch runs 7 NTTs and 5 MSMs (4 in G1, 1 in G2) on the host, nothing else.
    let stats = p.kernel_stats();
    assert_eq!(stats.calls, 3 * 12, "{stats:?}");
    assert!(stats.bytes_in > 0 && stats.bytes_out > 0 && stats.compute > stats.codec, "{stats:?}");
    let claims: Vec<_> = batches.iter().map(|b| p.verify("verify batch", Stage::Batch, b).unwrap()).collect();
    for w in claims.windows(2) {
        assert_eq!(w[0].new_state_root, w[1].old_state_root, "sample batches chain");
    }

    let agg = p.aggregate("aggregate", &batches).unwrap();
    let fin = p.finalize("finalize", &agg, &PROVER).unwrap();
    let claim = p.verify("verify final", Stage::Final, &fin).unwrap();
    assert_eq!(claim.stage, Stage::Final);
    assert_eq!(claim.prover, PROVER);
    assert_eq!(claim.old_state_root, claims[0].old_state_root);
    assert_eq!(claim.new_state_root, claims[2].new_state_root);
    let commitments: Vec<_> = claims.iter().flat_map(|c| c.batch_commitments.clone()).collect();
    assert_eq!(claim.batch_commitments, commitments);
    // Stages are not interchangeable.
    assert!(p.verify("wrong stage", Stage::Aggregate, &fin).is_err());

    assert_every_flip_fails(&p, Stage::Batch, &batches[1]);
    assert_every_flip_fails(&p, Stage::Aggregate, &agg);
    assert_every_flip_fails(&p, Stage::Final, &fin);

    // A one-batch sequence goes straight from batch to final.
    let fin1 = p.finalize("finalize one", &batches[0], &PROVER).unwrap();
    assert_eq!(p.verify("verify one", Stage::Final, &fin1).unwrap().batch_commitments.len(), 1);

    // Refusals name their check.
    let e = p.aggregate("unchained", &[batches[1].clone(), batches[0].clone()]).unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Adapter(AdapterError::Unsatisfied(m)) if m.contains("roots do not chain")), "{e}");
    let e = p.finalize("thief", &agg, &[0xb2; 20]).unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Adapter(AdapterError::Unsatisfied(m)) if m.contains("another prover")), "{e}");
    let e = p.prove_batch("garbage", b"not a witness", &PROVER).unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Adapter(AdapterError::InvalidInput(m)) if m.contains("does not decode")), "{e}");
    let e = p.verify("truncated", Stage::Batch, b"PVB1").unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Adapter(AdapterError::InvalidInput(m)) if m.contains("truncated")), "{e}");
}

#[test]
fn proving_without_keys_says_how_to_get_them() {
    let dir = plugin_dir(&[("transfer-groth16", plugins::TRANSFER_GROTH16)]);
    let p = runtime_with(Limits::default(), None).load(&dir.path().join("transfer-groth16.wasm")).unwrap();
    assert!(p.metadata().verifying_key.is_none());
    let w = p.sample_sequence(1, 1).unwrap();
    let e = p.prove_batch("no keys", &w[0], &PROVER).unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Adapter(AdapterError::InvalidInput(m)) if m.contains("prova plugins setup")), "{e}");
}

#[test]
fn a_corrupt_key_file_fails_only_the_jobs_that_need_keys_and_setup_replaces_it() {
    let dir = plugin_dir(&[("transfer-groth16", plugins::TRANSFER_GROTH16)]);
    std::fs::write(dir.path().join("transfer-groth16.keys"), b"PROVAKEY but not really").unwrap();
    let p = runtime_with(Limits::default(), None).load(&dir.path().join("transfer-groth16.wasm")).unwrap();
    assert!(p.key_problem().is_some_and(|w| w.contains("transfer-groth16.keys")));
    let w = p.sample_sequence(1, 1).unwrap();
    let e = p.prove_batch("broken keys", &w[0], &PROVER).unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Keys(m) if m.contains("bad magic") || m.contains("checksum")), "{e}");
    // Nothing was overwritten by the failed job.
    assert_eq!(std::fs::read(dir.path().join("transfer-groth16.keys")).unwrap(), b"PROVAKEY but not really");

    p.setup(b"replacement").unwrap();
    assert!(p.key_problem().is_none());
    let proof = p.prove_batch("repaired", &w[0], &PROVER).unwrap();
    assert_eq!(p.verify("repaired", Stage::Batch, &proof).unwrap().prover, PROVER);
}

/// A plugin built against WIT 0.2 (`tests/fixtures/transfer-groth16-wit-0.2.0.wasm`, the reference
/// adapter as released for 0.2) still loads, through the host's 0.2 bindings, and proves; its
/// proofs verify under the 0.3 build of the same adapter with the same keys, and the 0.3 build's
/// under it.
#[test]
fn a_wit_0_2_plugin_still_loads_and_proves() {
    let dir = transfer_dir();
    let old = tempfile::tempdir().unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/transfer-groth16-wit-0.2.0.wasm");
    std::fs::copy(fixture, old.path().join("old.wasm")).unwrap();
    std::fs::copy(dir.path().join("transfer-groth16.keys"), old.path().join("old.keys")).unwrap();
    let rt = runtime_with(Limits::default(), None);
    let p02 = rt.load(&old.path().join("old.wasm")).unwrap();
    let p03 = rt.load(&dir.path().join("transfer-groth16.wasm")).unwrap();
    assert_eq!(p02.metadata().wit_version, "0.2.0");
    assert_eq!(p02.metadata().verifier, prova_runtime::Verifier::Groth16Batch, "0.2 plugins use the standard verifier");
    assert_eq!(p02.metadata().verifying_key, p03.metadata().verifying_key);

    let witnesses = p02.sample_sequence(2, 5).unwrap();
    assert_eq!(witnesses, p03.sample_sequence(2, 5).unwrap());
    let from_02 = p02.prove_batch("batch 0", &witnesses[0], &PROVER).unwrap();
    let from_03 = p03.prove_batch("batch 1", &witnesses[1], &PROVER).unwrap();
    p03.verify("0.2 proof", Stage::Batch, &from_02).unwrap();
    let fin = p02.finalize("final", &p02.aggregate("aggregate", &[from_02, from_03]).unwrap(), &PROVER).unwrap();
    let claim = p03.verify("0.2 final", Stage::Final, &fin).unwrap();
    assert_eq!(claim.batch_commitments.len(), 2);
}
