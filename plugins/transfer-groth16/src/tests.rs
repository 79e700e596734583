//! Native tests of the proving path: host-kernel Groth16 equals arkworks' Groth16, and the
//! batched check accepts honest bundles and rejects tampered ones.

use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16;

use crate::circuit::BatchCircuit;
use crate::encoding::{self, BatchProof};
use crate::kernels::LocalKernels;
use crate::state::sample_sequence;
use crate::{bundle_of, prover, setup, verify};

fn circuit(seed: u64, batch: usize, prover: Fr) -> BatchCircuit {
    let w = sample_sequence(batch as u32 + 1, seed).remove(batch);
    BatchCircuit { statement: w.statement().unwrap(), witness: w, prover }
}

#[test]
fn kernel_path_proof_equals_arkworks_and_batched_verification_holds() {
    let pk = setup::generate(b"test").unwrap();
    let vk = setup::vk_of(&pk);
    let consts = setup::constants(&vk, &[pk.beta_g1, pk.delta_g1]).unwrap();
    let mut kernels = LocalKernels {
        g1: [pk.a_query.clone(), pk.b_g1_query.clone(), pk.h_query.clone(), pk.l_query.clone()],
        b_g2: pk.b_g2_query.clone(),
    };
    let addr = [7u8; 20];
    let (r, s) = prover::derive_rs(b"x");
    let mut batches = Vec::new();
    for i in 0..2 {
        let c = circuit(5, i, encoding::address_to_fr(&addr));
        let st = c.statement;
        let ours = prover::prove(c, &consts, &mut kernels, r, s).unwrap();
        let theirs = Groth16::<Bn254>::create_proof_with_reduction(circuit(5, i, encoding::address_to_fr(&addr)), &pk, r, s).unwrap();
        assert_eq!((ours.a, ours.b, ours.c), (theirs.a, theirs.b, theirs.c), "batch {i}");
        batches.push(BatchProof { proof: ours, old_root: st.old_root, new_root: st.new_root, commitment: st.commitment, prover: addr });
    }
    let bundle = bundle_of(&batches).unwrap();
    let body = encoding::encode_bundle(encoding::AGGREGATE_MAGIC, &bundle);
    verify::verify_batched(&vk, &bundle.batches(), &body[4..], "t").unwrap();

    // A proof for another prover address, a swapped commitment, or swapped proofs all fail.
    let mut other = bundle.clone();
    other.prover = [8u8; 20];
    assert!(verify::verify_batched(&vk, &other.batches(), &body[4..], "t").is_err());
    let mut other = bundle.clone();
    other.commitments.swap(0, 1);
    assert!(verify::verify_batched(&vk, &other.batches(), &body[4..], "t").is_err());
    let mut other = bundle.clone();
    other.proofs.swap(0, 1);
    assert!(verify::verify_batched(&vk, &other.batches(), &body[4..], "t").is_err());

    // Formats round-trip exactly.
    let enc = encoding::encode_batch(&batches[0]);
    assert_eq!(encoding::decode_batch(&enc).unwrap(), batches[0]);
    assert_eq!(encoding::decode_bundle("b", encoding::AGGREGATE_MAGIC, &body).unwrap(), bundle);
    assert_eq!(encoding::decode_vk(&encoding::encode_vk(&vk)).unwrap(), vk);
}

#[test]
fn bundles_refuse_broken_chains_and_mixed_provers() {
    let p = |old: u64, new: u64, prover: u8| BatchProof {
        proof: encoding::Proof { a: Default::default(), b: Default::default(), c: Default::default() },
        old_root: Fr::from(old),
        new_root: Fr::from(new),
        commitment: Fr::from(0u64),
        prover: [prover; 20],
    };
    assert!(bundle_of(&[p(1, 2, 1), p(2, 3, 1)]).is_ok());
    assert!(bundle_of(&[p(1, 2, 1), p(5, 3, 1)]).is_err());
    assert!(bundle_of(&[p(1, 2, 1), p(2, 3, 2)]).is_err());
    assert!(bundle_of(&[]).is_err());
}

/// The whole adapter through the SDK, natively: its own setup installed as the key set, then a
/// sample proved batch by batch, aggregated, finalized and verified, with the same calls a host
/// makes. No host, no component: what a rollup team's `cargo test` can do.
#[test]
fn the_adapter_proves_and_verifies_a_sample_natively_through_the_sdk() {
    use prova_guest::{Adapter, Stage};

    use crate::TransferGroth16;

    let prover = vec![7u8; 20];
    let witnesses = TransferGroth16::sample_sequence(2, 3).unwrap();
    prova_guest::native::remove_keys();
    let refused = TransferGroth16::prove_batch(witnesses[0].clone(), prover.clone()).unwrap_err();
    assert!(format!("{refused:?}").contains("no keys installed"), "{refused:?}");
    assert!(TransferGroth16::metadata().verifying_key.is_none(), "no key before setup");

    prova_guest::native::install_keys(TransferGroth16::setup(b"native".to_vec()).unwrap()).unwrap();
    assert!(TransferGroth16::metadata().verifying_key.is_some());
    let batches: Vec<Vec<u8>> = witnesses.iter().map(|w| TransferGroth16::prove_batch(w.clone(), prover.clone()).unwrap()).collect();
    let first = TransferGroth16::inspect_batch(witnesses[0].clone()).unwrap();
    let last = TransferGroth16::inspect_batch(witnesses[1].clone()).unwrap();
    let aggregate = TransferGroth16::aggregate(batches).unwrap();
    let fin = TransferGroth16::finalize(aggregate, prover.clone()).unwrap();
    let claim = TransferGroth16::verify(Stage::Final, fin.clone()).unwrap();
    assert_eq!((claim.old_state_root, claim.new_state_root), (first.old_state_root, last.new_state_root));
    assert_eq!(claim.batch_commitments, vec![first.commitment, last.commitment]);
    assert_eq!(claim.prover, prover);
    let mut bad = fin;
    bad[40] ^= 1;
    assert!(TransferGroth16::verify(Stage::Final, bad).is_err(), "a flipped byte fails");
}
