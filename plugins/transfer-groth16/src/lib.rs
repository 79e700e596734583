//! `transfer-groth16`: the reference rollup adapter, on the SDK's Groth16 kit.
//!
//! What is this rollup's own: its state (a Poseidon sparse Merkle tree of balances, [`state`])
//! and its batch circuit ([`circuit`]). Proving on the host's kernels, aggregation by batched
//! verification, finalize and verify are the kit's (`prova_guest::groth16`).

mod circuit;
mod state;

use ark_bn254::Fr;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use prova_guest::AdapterError;
use prova_guest::groth16::{Inputs, Rollup, Statement};

/// Balance transfers over a Poseidon sparse Merkle tree.
pub struct Transfer;

prova_guest::export_adapter!(prova_guest::groth16::Groth16<Transfer>);

impl Rollup for Transfer {
    const NAME: &'static str = "transfer-groth16";
    const ROLLUP_TYPE: &'static str = "transfer";
    const MAX_SAMPLE_BATCHES: u32 = state::MAX_SAMPLE_BATCHES;
    type Witness = state::BatchWitness;

    fn decode(bytes: &[u8]) -> Result<Self::Witness, AdapterError> {
        state::BatchWitness::decode(bytes)
    }

    fn statement(witness: &Self::Witness) -> Result<Statement, AdapterError> {
        witness.statement()
    }

    fn constrain(cs: ConstraintSystemRef<Fr>, witness: &Self::Witness, inputs: &Inputs) -> Result<(), SynthesisError> {
        circuit::constrain(cs, witness, inputs)
    }

    fn blank() -> Self::Witness {
        state::BatchWitness::blank()
    }

    fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
        Ok(state::sample_sequence(batches, seed).iter().map(|w| w.encode()).collect())
    }
}

/// The whole adapter through the SDK, natively: its own setup installed as the key set, then a
/// sample proved batch by batch, aggregated, finalized and verified, with the same calls a host
/// makes. No host, no component: what a rollup team's `cargo test` can do.
#[cfg(test)]
#[test]
fn the_adapter_proves_and_verifies_a_sample_natively_through_the_sdk() {
    use prova_guest::groth16::Groth16;
    use prova_guest::{Adapter, Stage};

    type A = Groth16<Transfer>;
    let prover = vec![7u8; 20];
    let witnesses = A::sample_sequence(2, 3).unwrap();
    prova_guest::native::install_keys(A::setup(b"native".to_vec()).unwrap()).unwrap();
    let batches: Vec<Vec<u8>> = witnesses.iter().map(|w| A::prove_batch(w.clone(), prover.clone()).unwrap()).collect();
    let first = A::inspect_batch(witnesses[0].clone()).unwrap();
    let last = A::inspect_batch(witnesses[1].clone()).unwrap();
    let fin = A::finalize(A::aggregate(batches).unwrap(), prover.clone()).unwrap();
    let claim = A::verify(Stage::Final, fin).unwrap();
    assert_eq!((claim.old_state_root, claim.new_state_root), (first.old_state_root, last.new_state_root));
    assert_eq!(claim.batch_commitments, vec![first.commitment, last.commitment]);
    assert_eq!(claim.prover, prover);
}
