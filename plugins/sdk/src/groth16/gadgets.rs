//! Small gadgets most rollup circuits need.

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};

/// Little-endian bits of `value` as witnesses (`bits` of them, at most 64).
pub fn bits(cs: &ConstraintSystemRef<Fr>, value: u64, bits: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    (0..bits).map(|i| Boolean::new_witness(cs.clone(), || Ok((value >> i) & 1 == 1))).collect()
}

/// `value` as a witness proved to be below `2^bits` (by recomposing its bits): what stops an
/// amount or a counter from wrapping around the field.
pub fn uint(cs: &ConstraintSystemRef<Fr>, value: u64, bits: usize) -> Result<FpVar<Fr>, SynthesisError> {
    Boolean::le_bits_to_fp(&self::bits(cs, value, bits)?)
}
