//! `rollup-template`: a rollup type on prova's Groth16 kit. This one is a counter; make it yours.
//!
//! What a rollup team writes is this file: the state model (what a batch's witness is, how it
//! replays into roots and a commitment), the circuit that proves the same, and a sample
//! generator. Proving on the host's kernels, aggregation, finalize, verify and the key set are the
//! kit's (`prova_guest::groth16`), and so is the layout of the public inputs
//! `(old root, new root, commitment, prover)` that the standard verifier contract checks.
//!
//! The state is a u64 counter; its root is `Poseidon(counter)`. A batch applies [`INCREMENTS`]
//! increments, each below 2^32, and commits to them with the hash chain
//! `c_0 = 0, c_{i+1} = Poseidon(c_i, increment_i)`.

use prova_guest::AdapterError;
use prova_guest::ark_bn254::Fr;
use prova_guest::ark_r1cs_std::eq::EqGadget;
use prova_guest::ark_r1cs_std::fields::fp::FpVar;
use prova_guest::ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use prova_guest::groth16::gadgets::uint;
use prova_guest::groth16::{Inputs, Rollup, SampleRng, Statement, poseidon};

/// The rollup type.
pub struct Counter;

// The component's export: the kit's adapter for this rollup.
prova_guest::export_adapter!(prova_guest::groth16::Groth16<Counter>);

/// Increments per batch. Fixed, because the circuit (and so its keys) depends on it: a sequencer
/// pads a short batch with zero increments.
pub const INCREMENTS: usize = 4;

/// One batch's witness: the counter before it and the increments it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub counter: u64,
    pub increments: [u32; INCREMENTS],
}

impl Batch {
    /// 8 bytes of counter then 4 per increment, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.counter.to_le_bytes().to_vec();
        self.increments.iter().for_each(|i| out.extend_from_slice(&i.to_le_bytes()));
        out
    }
}

/// The state root of a counter value.
pub fn root(counter: u64) -> Fr {
    poseidon::hash(&[Fr::from(counter)])
}

impl Rollup for Counter {
    const NAME: &'static str = "rollup-template";
    const ROLLUP_TYPE: &'static str = "counter";
    type Witness = Batch;

    fn decode(bytes: &[u8]) -> Result<Batch, AdapterError> {
        if bytes.len() != 8 + 4 * INCREMENTS {
            return Err(AdapterError::InvalidInput(format!("a batch is {} bytes, got {}", 8 + 4 * INCREMENTS, bytes.len())));
        }
        let counter = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let increments = std::array::from_fn(|i| u32::from_le_bytes(bytes[8 + 4 * i..12 + 4 * i].try_into().expect("4 bytes")));
        Ok(Batch { counter, increments })
    }

    fn statement(b: &Batch) -> Result<Statement, AdapterError> {
        let mut counter = b.counter;
        let mut commitment = Fr::from(0u64);
        for (i, inc) in b.increments.iter().enumerate() {
            counter = counter
                .checked_add(*inc as u64)
                .ok_or_else(|| AdapterError::Unsatisfied(format!("increment {i}: the counter would exceed 2^64 - 1")))?;
            commitment = poseidon::hash(&[commitment, Fr::from(*inc)]);
        }
        Ok(Statement { old_root: root(b.counter), new_root: root(counter), commitment })
    }

    fn constrain(cs: ConstraintSystemRef<Fr>, b: &Batch, inputs: &Inputs) -> Result<(), SynthesisError> {
        let h = poseidon::Gadgets::new();
        let mut counter = uint(&cs, b.counter, 64)?;
        h.hash(&[counter.clone()])?.enforce_equal(&inputs.old_root)?;
        let mut commitment = FpVar::Constant(Fr::from(0u64));
        for inc in &b.increments {
            let inc = uint(&cs, *inc as u64, 32)?;
            counter += &inc;
            commitment = h.hash(&[commitment, inc])?;
        }
        // The new counter is below 2^64 too: the sum must equal a 64-bit value.
        let total = b.increments.iter().fold(b.counter, |c, i| c.wrapping_add(*i as u64));
        counter.enforce_equal(&uint(&cs, total, 64)?)?;
        h.hash(&[counter])?.enforce_equal(&inputs.new_root)?;
        commitment.enforce_equal(&inputs.commitment)
    }

    fn blank() -> Batch {
        Batch { counter: 0, increments: [0; INCREMENTS] }
    }

    fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
        let mut rng = SampleRng::new(seed);
        let mut counter = rng.below(1_000_000);
        Ok((0..batches)
            .map(|_| {
                let b = Batch { counter, increments: std::array::from_fn(|_| rng.below(1_000) as u32) };
                counter += b.increments.iter().map(|i| *i as u64).sum::<u64>();
                b.encode()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use prova_guest::AdapterError;
    use prova_guest::groth16::{check_inputs_bound, prove_sample_natively};

    use super::*;

    #[test]
    fn the_circuit_binds_every_public_input() {
        let b = Counter::decode(&Counter::sample(1, 1).unwrap()[0]).unwrap();
        assert_eq!(check_inputs_bound::<Counter>(&b), Ok(()), "every public input is bound");
    }

    #[test]
    fn bad_witnesses_are_refused_with_a_reason() {
        assert!(matches!(Counter::decode(&[0; 3]), Err(AdapterError::InvalidInput(_))));
        let overflow = Batch { counter: u64::MAX, increments: [1, 0, 0, 0] };
        assert!(matches!(Counter::statement(&overflow), Err(AdapterError::Unsatisfied(m)) if m.contains("exceed")));
    }

    /// The whole adapter, natively: setup, prove each batch, aggregate, finalize, verify.
    #[test]
    fn the_adapter_proves_and_verifies_a_sample() {
        let claim = prove_sample_natively::<Counter>(2, 9).unwrap();
        assert_eq!(claim.batch_commitments.len(), 2);
    }
}
