//! The kit on a toy rollup, natively: the host-kernel prover equals arkworks' Groth16 bit for bit,
//! the batched check accepts honest bundles and rejects tampered ones, formats round-trip, and
//! the whole adapter runs through the SDK's in-process host.

use ark_bn254::{Bn254, Fr};
use ark_groth16::Groth16 as ArkGroth16;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::FieldVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

use super::encoding::{self, BatchProof};
use super::{Circuit, Groth16, Inputs, Rollup, Statement, bundle_of, prover, setup, verify};
use crate::{Adapter, AdapterError, Stage};

/// A running sum: the root is the sum itself, a batch adds three numbers, and the commitment is
/// the sum of their squares. Tiny, so that setup takes milliseconds.
struct Sum;

impl Rollup for Sum {
    const NAME: &'static str = "sum-groth16";
    const ROLLUP_TYPE: &'static str = "sum";
    type Witness = (u64, [u64; 3]);

    fn decode(bytes: &[u8]) -> Result<Self::Witness, AdapterError> {
        let n: [u8; 32] = bytes.try_into().map_err(|_| AdapterError::InvalidInput(format!("32 bytes, not {}", bytes.len())))?;
        let word = |i: usize| u64::from_le_bytes(n[i * 8..i * 8 + 8].try_into().unwrap());
        Ok((word(0), [word(1), word(2), word(3)]))
    }
    fn statement((start, adds): &Self::Witness) -> Result<Statement, AdapterError> {
        let sum = adds.iter().fold(Fr::from(*start), |acc, a| acc + Fr::from(*a));
        let commitment = adds.iter().map(|a| Fr::from(*a) * Fr::from(*a)).sum();
        Ok(Statement { old_root: Fr::from(*start), new_root: sum, commitment })
    }
    fn constrain(cs: ConstraintSystemRef<Fr>, (start, adds): &Self::Witness, inputs: &Inputs) -> Result<(), SynthesisError> {
        let mut acc = FpVar::new_witness(cs.clone(), || Ok(Fr::from(*start)))?;
        acc.enforce_equal(&inputs.old_root)?;
        let mut c = FpVar::zero();
        for a in adds {
            let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(*a)))?;
            acc += &a;
            c += a.square()?;
        }
        acc.enforce_equal(&inputs.new_root)?;
        c.enforce_equal(&inputs.commitment)
    }
    fn blank() -> Self::Witness {
        (0, [0; 3])
    }
    fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
        let mut start = seed;
        Ok((0..batches as u64)
            .map(|i| {
                let adds = [i + 1, seed % 7, 3];
                let w: Vec<u8> = [start, adds[0], adds[1], adds[2]].iter().flat_map(|x| x.to_le_bytes()).collect();
                start += adds.iter().sum::<u64>();
                w
            })
            .collect())
    }
}

fn circuit(seed: u64, batch: usize, prover: Fr) -> Circuit<Sum> {
    let w = Sum::decode(&Sum::sample(batch as u32 + 1, seed).unwrap()[batch]).unwrap();
    Circuit { statement: Sum::statement(&w).unwrap(), witness: w, prover }
}

#[test]
fn kernel_path_proof_equals_arkworks_and_batched_verification_holds() {
    let pk = setup::generate::<Sum>(b"test").unwrap();
    let vk = setup::vk_of(&pk);
    crate::native::install_keys(setup::sections(&pk)).unwrap();
    let consts = setup::constants(&vk, &[pk.beta_g1, pk.delta_g1]).unwrap();
    let addr = [7u8; 20];
    let (r, s) = prover::derive_rs(Sum::NAME, b"x");
    let mut batches = Vec::new();
    for i in 0..2 {
        let c = circuit(5, i, encoding::address_to_fr(&addr));
        let st = c.statement;
        let ours = prover::prove(c, &consts, &mut super::kernels::open().unwrap(), r, s).unwrap();
        let theirs = ArkGroth16::<Bn254>::create_proof_with_reduction(circuit(5, i, encoding::address_to_fr(&addr)), &pk, r, s).unwrap();
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

#[test]
fn the_circuit_binds_every_public_input() {
    let w = Sum::decode(&Sum::sample(1, 2).unwrap()[0]).unwrap();
    assert_eq!(super::check_inputs_bound::<Sum>(&w), Ok(()));
}

/// A rollup that forgets to constrain its commitment is caught by the helper teams call.
#[test]
fn an_unbound_input_is_named() {
    struct Forgetful;
    impl Rollup for Forgetful {
        const NAME: &'static str = "forgetful";
        const ROLLUP_TYPE: &'static str = "sum";
        type Witness = <Sum as Rollup>::Witness;
        fn decode(bytes: &[u8]) -> Result<Self::Witness, AdapterError> {
            Sum::decode(bytes)
        }
        fn statement(w: &Self::Witness) -> Result<Statement, AdapterError> {
            Sum::statement(w)
        }
        fn constrain(cs: ConstraintSystemRef<Fr>, (start, adds): &Self::Witness, inputs: &Inputs) -> Result<(), SynthesisError> {
            let mut acc = FpVar::new_witness(cs.clone(), || Ok(Fr::from(*start)))?;
            acc.enforce_equal(&inputs.old_root)?;
            for a in adds {
                acc += FpVar::new_witness(cs.clone(), || Ok(Fr::from(*a)))?;
            }
            acc.enforce_equal(&inputs.new_root)
        }
        fn blank() -> Self::Witness {
            Sum::blank()
        }
        fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
            Sum::sample(batches, seed)
        }
    }
    let w = Sum::decode(&Sum::sample(1, 2).unwrap()[0]).unwrap();
    let e = super::check_inputs_bound::<Forgetful>(&w).unwrap_err();
    assert!(e.contains("the commitment is not bound"), "{e}");
}

/// The kit's adapter through the SDK with a key set from its own setup: prove, aggregate,
/// finalize for the right submitter only, verify, and refuse a flipped byte.
#[test]
fn the_kit_adapter_runs_a_sequence_through_the_sdk() {
    type A = Groth16<Sum>;
    let prover = vec![7u8; 20];
    crate::native::remove_keys();
    assert!(A::metadata().verifying_key.is_none(), "no key before setup");
    let witnesses = A::sample_sequence(3, 4).unwrap();
    assert!(format!("{:?}", A::prove_batch(witnesses[0].clone(), prover.clone()).unwrap_err()).contains("no keys installed"));
    assert!(matches!(A::sample_sequence(0, 1), Err(AdapterError::InvalidInput(_))));

    crate::native::install_keys(A::setup(b"kit".to_vec()).unwrap()).unwrap();
    let info = A::metadata();
    assert_eq!((info.name.as_str(), info.rollup_type.as_str()), ("sum-groth16", "sum"));
    assert_eq!(info.resources.key_sections, setup::SECTIONS.map(String::from).to_vec());
    let batches: Vec<Vec<u8>> = witnesses.iter().map(|w| A::prove_batch(w.clone(), prover.clone()).unwrap()).collect();
    let aggregate = A::aggregate(batches.clone()).unwrap();
    let e = A::finalize(aggregate.clone(), vec![8u8; 20]).unwrap_err();
    assert!(matches!(e, AdapterError::Unsatisfied(ref m) if m.contains("another prover than the submitter")), "{e:?}");
    let fin = A::finalize(aggregate, prover.clone()).unwrap();
    let claim = A::verify(Stage::Final, fin.clone()).unwrap();
    let first = A::inspect_batch(witnesses[0].clone()).unwrap();
    let last = A::inspect_batch(witnesses[2].clone()).unwrap();
    assert_eq!((claim.old_state_root, claim.new_state_root), (first.old_state_root, last.new_state_root));
    assert_eq!(claim.batch_commitments.len(), 3);
    assert_eq!(claim.prover, prover);
    let mut bad = fin;
    bad[40] ^= 1;
    assert!(A::verify(Stage::Final, bad).is_err(), "a flipped byte fails");
    // Batches out of order do not chain.
    let e = A::aggregate(vec![batches[1].clone(), batches[0].clone()]).unwrap_err();
    assert!(matches!(e, AdapterError::Unsatisfied(ref m) if m.contains("do not chain")), "{e:?}");
}

/// A rollup with a tighter bound than the standard verifier's (its own verifier's) never
/// aggregates, finalizes or verifies more batches.
#[test]
fn a_rollup_s_own_batch_bound_is_kept() {
    struct Short;
    impl Rollup for Short {
        const NAME: &'static str = "short";
        const ROLLUP_TYPE: &'static str = "sum";
        const MAX_BATCHES: u32 = 2;
        type Witness = <Sum as Rollup>::Witness;
        fn decode(bytes: &[u8]) -> Result<Self::Witness, AdapterError> {
            Sum::decode(bytes)
        }
        fn statement(w: &Self::Witness) -> Result<Statement, AdapterError> {
            Sum::statement(w)
        }
        fn constrain(cs: ConstraintSystemRef<Fr>, w: &Self::Witness, inputs: &Inputs) -> Result<(), SynthesisError> {
            Sum::constrain(cs, w, inputs)
        }
        fn blank() -> Self::Witness {
            Sum::blank()
        }
        fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
            Sum::sample(batches, seed)
        }
    }
    type A = Groth16<Short>;
    crate::native::install_keys(A::setup(b"short".to_vec()).unwrap()).unwrap();
    assert_eq!(A::metadata().resources.max_batches, 2);
    let prover = vec![7u8; 20];
    let proofs: Vec<Vec<u8>> = A::sample_sequence(3, 1).unwrap().into_iter().map(|w| A::prove_batch(w, prover.clone()).unwrap()).collect();
    A::aggregate(proofs[..2].to_vec()).unwrap();
    let e = A::aggregate(proofs).unwrap_err();
    assert!(matches!(e, AdapterError::InvalidInput(ref m) if m.contains("3 batches exceed short's maximum of 2")), "{e:?}");
}
