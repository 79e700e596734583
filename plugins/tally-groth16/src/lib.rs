//! `tally-groth16`: a vote-tally rollup, the second reference rollup type, written from
//! `prova plugins new` (the template's counter replaced by this model) on the SDK's Groth16 kit.
//!
//! The state is the tally of [`OPTIONS`] options, `counts[0..OPTIONS]` (u64 each); its root is
//! `Poseidon(counts)`. A batch casts [`BALLOTS`] ballots, each `(voter, option)` with a 32-bit
//! voter id and `option < OPTIONS`, or [`ABSTAIN`] (a padding ballot that counts for nothing). It
//! commits to its ballots with the hash chain `c_0 = 0, c_{i+1} = Poseidon(c_i, voter_i, option_i)`.
//!
//! Not modelled (stated, not hidden): who may vote and how often. The proofs guarantee that the
//! tally is the sum of the committed ballots.
//!
//! Its final proofs are checked on chain by a contract of its own, `TallyVerifier`, whose creation
//! bytecode it carries and names in its metadata; that contract takes sequences of at most 16
//! batches, and so does this adapter.

use prova_guest::ark_bn254::Fr;
use prova_guest::ark_r1cs_std::boolean::Boolean;
use prova_guest::ark_r1cs_std::eq::EqGadget;
use prova_guest::ark_r1cs_std::fields::FieldVar;
use prova_guest::ark_r1cs_std::fields::fp::FpVar;
use prova_guest::ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use prova_guest::groth16::gadgets::{bits, uint};
use prova_guest::groth16::{Inputs, Rollup, SampleRng, Statement, poseidon};
use prova_guest::{AdapterError, Verifier};

/// The rollup type.
pub struct Tally;

// The component's export: the kit's adapter for this rollup.
prova_guest::export_adapter!(prova_guest::groth16::Groth16<Tally>);

/// Options on the ballot.
pub const OPTIONS: usize = 4;
/// Ballots per batch (a sequencer pads with [`ABSTAIN`]).
pub const BALLOTS: usize = 8;
/// The option value of a ballot that counts for nothing.
pub const ABSTAIN: u8 = OPTIONS as u8;
/// Bits of an option value in the circuit: enough for [`ABSTAIN`].
const OPTION_BITS: usize = (u8::BITS - ABSTAIN.leading_zeros()) as usize;

/// One batch's witness: the tally before it and its ballots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub counts: [u64; OPTIONS],
    pub ballots: [(u32, u8); BALLOTS],
}

impl Batch {
    /// The counts (8 bytes each) then each ballot's voter (4) and option (1), little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.counts.iter().flat_map(|c| c.to_le_bytes()).collect();
        for (voter, option) in self.ballots {
            out.extend_from_slice(&voter.to_le_bytes());
            out.push(option);
        }
        out
    }
}

/// The state root of a tally.
pub fn root(counts: &[u64; OPTIONS]) -> Fr {
    poseidon::hash(&counts.map(Fr::from))
}

impl Rollup for Tally {
    const NAME: &'static str = "tally-groth16";
    const ROLLUP_TYPE: &'static str = "tally";
    /// `TallyVerifier.MAX_TALLY_BATCHES`: its own verifier refuses longer sequences.
    const MAX_BATCHES: u32 = 16;
    type Witness = Batch;

    fn decode(bytes: &[u8]) -> Result<Batch, AdapterError> {
        let len = 8 * OPTIONS + 5 * BALLOTS;
        if bytes.len() != len {
            return Err(AdapterError::InvalidInput(format!("a batch is {len} bytes, got {}", bytes.len())));
        }
        let counts = std::array::from_fn(|i| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes")));
        let ballot = |i: usize| {
            let at = 8 * OPTIONS + 5 * i;
            (u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")), bytes[at + 4])
        };
        let ballots = std::array::from_fn(ballot);
        if let Some(i) = ballots.iter().position(|(_, o)| *o > ABSTAIN) {
            return Err(AdapterError::InvalidInput(format!("ballot {i}: option {} is not 0..={ABSTAIN}", ballots[i].1)));
        }
        Ok(Batch { counts, ballots })
    }

    fn statement(b: &Batch) -> Result<Statement, AdapterError> {
        let mut counts = b.counts;
        let mut commitment = Fr::from(0u64);
        for (i, (voter, option)) in b.ballots.iter().enumerate() {
            if let Some(c) = counts.get_mut(*option as usize) {
                *c = c.checked_add(1).ok_or_else(|| AdapterError::Unsatisfied(format!("ballot {i}: option {option}'s count overflows")))?;
            }
            commitment = poseidon::hash(&[commitment, Fr::from(*voter), Fr::from(*option)]);
        }
        Ok(Statement { old_root: root(&b.counts), new_root: root(&counts), commitment })
    }

    fn constrain(cs: ConstraintSystemRef<Fr>, b: &Batch, inputs: &Inputs) -> Result<(), SynthesisError> {
        let h = poseidon::Gadgets::new();
        let mut counts = b.counts.iter().map(|c| uint(&cs, *c, 64)).collect::<Result<Vec<_>, _>>()?;
        h.hash(&counts)?.enforce_equal(&inputs.old_root)?;
        let mut commitment = FpVar::Constant(Fr::from(0u64));
        for (voter, option) in &b.ballots {
            let voter = uint(&cs, *voter as u64, 32)?;
            // One selector per option and one for ABSTAIN; exactly one holds, so the option is
            // one of them.
            let option = Boolean::le_bits_to_fp(&bits(&cs, *option as u64, OPTION_BITS)?)?;
            let mut selected = FpVar::from(option.is_eq(&FpVar::Constant(Fr::from(ABSTAIN as u64)))?);
            for (j, count) in counts.iter_mut().enumerate() {
                let chosen = FpVar::from(option.is_eq(&FpVar::Constant(Fr::from(j as u64)))?);
                *count += &chosen;
                selected += chosen;
            }
            selected.enforce_equal(&FpVar::one())?;
            commitment = h.hash(&[commitment, voter, option])?;
        }
        // Each new count is below 2^64 too: it equals a 64-bit value.
        let mut replayed = b.counts;
        for (_, option) in &b.ballots {
            if let Some(c) = replayed.get_mut(*option as usize) {
                *c = c.wrapping_add(1);
            }
        }
        for (count, value) in counts.iter().zip(replayed) {
            count.enforce_equal(&uint(&cs, value, 64)?)?;
        }
        h.hash(&counts)?.enforce_equal(&inputs.new_root)?;
        commitment.enforce_equal(&inputs.commitment)
    }

    /// Its own deployment of `contracts/src/TallyVerifier.sol` (see there why).
    fn verifier() -> Verifier {
        Verifier::Contract(include_bytes!("../TallyVerifier.bin").to_vec())
    }

    fn blank() -> Batch {
        Batch { counts: [0; OPTIONS], ballots: [(0, ABSTAIN); BALLOTS] }
    }

    fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
        let mut rng = SampleRng::new(seed);
        let mut counts: [u64; OPTIONS] = std::array::from_fn(|_| rng.below(10_000));
        Ok((0..batches)
            .map(|_| {
                let b = Batch { counts, ballots: std::array::from_fn(|_| (rng.next_u64() as u32, rng.below(OPTIONS as u64 + 1) as u8)) };
                for (_, o) in b.ballots {
                    if let Some(c) = counts.get_mut(o as usize) {
                        *c += 1;
                    }
                }
                b.encode()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use prova_guest::groth16::{check_inputs_bound, is_satisfied, prove_sample_natively};
    use prova_guest::{Adapter, AdapterError};

    use super::*;

    #[test]
    fn the_circuit_binds_every_public_input() {
        let b = Tally::decode(&Tally::sample(1, 1).unwrap()[0]).unwrap();
        assert_eq!(check_inputs_bound::<Tally>(&b), Ok(()), "every public input is bound");
    }

    #[test]
    fn a_ballot_for_no_option_cannot_satisfy_the_circuit() {
        // Option 5 and above are refused by decoding; the circuit refuses them on its own too.
        let mut b = Tally::decode(&Tally::sample(1, 2).unwrap()[0]).unwrap();
        let st = Tally::statement(&b).unwrap();
        b.ballots[0].1 = ABSTAIN + 1;
        assert!(!is_satisfied::<Tally>(b.clone(), st).unwrap());
        let e = Tally::decode(&b.encode()).unwrap_err();
        assert!(matches!(e, AdapterError::InvalidInput(ref m) if m.contains("ballot 0")), "{e:?}");
        assert!(matches!(Tally::decode(&[0; 3]), Err(AdapterError::InvalidInput(_))));
    }

    #[test]
    fn abstentions_count_for_nothing() {
        let b = Batch { counts: [1, 2, 3, 4], ballots: [(9, ABSTAIN); BALLOTS] };
        let st = Tally::statement(&b).unwrap();
        assert_eq!(st.new_root, st.old_root);
        assert!(is_satisfied::<Tally>(b, st).unwrap());
    }

    /// The whole adapter, natively: setup, prove each batch, aggregate, finalize, verify; and it
    /// names its own verifier.
    #[test]
    fn the_adapter_proves_and_verifies_a_sample() {
        let claim = prove_sample_natively::<Tally>(2, 9).unwrap();
        assert_eq!(claim.batch_commitments.len(), 2);
        let verifier = prova_guest::groth16::Groth16::<Tally>::metadata().verifier;
        assert!(matches!(verifier, Verifier::Contract(code) if !code.is_empty()), "names its own verifier");
    }
}
