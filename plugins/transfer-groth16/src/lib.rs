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
    let claim = prova_guest::groth16::prove_sample_natively::<Transfer>(2, 3).unwrap();
    assert_eq!(claim.batch_commitments.len(), 2);
}
