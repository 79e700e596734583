//! Poseidon over BN254-Fr, natively and as R1CS gadgets, with one parameter set for everything.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_crypto_primitives::crh::poseidon::constraints::{CRHGadget, CRHParametersVar, TwoToOneCRHGadget};
use ark_crypto_primitives::crh::poseidon::{CRH, TwoToOneCRH};
use ark_crypto_primitives::crh::{CRHScheme, CRHSchemeGadget, TwoToOneCRHScheme, TwoToOneCRHSchemeGadget};
use ark_crypto_primitives::sponge::poseidon::{PoseidonConfig, find_poseidon_ark_and_mds};
use ark_ff::PrimeField;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::SynthesisError;

/// Width-3 Poseidon (rate 2, capacity 1), x^5 S-box, 8 full and 57 partial rounds: the standard
/// 128-bit-security choice for a ~254-bit field at this width.
const FULL_ROUNDS: usize = 8;
const PARTIAL_ROUNDS: usize = 57;
const ALPHA: u64 = 5;
const RATE: usize = 2;

/// The parameters, derived once per instance with the Grain LFSR of the Poseidon paper.
pub fn config() -> &'static PoseidonConfig<Fr> {
    static CONFIG: OnceLock<PoseidonConfig<Fr>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let (ark, mds) = find_poseidon_ark_and_mds::<Fr>(Fr::MODULUS_BIT_SIZE as u64, RATE, FULL_ROUNDS as u64, PARTIAL_ROUNDS as u64, 0);
        PoseidonConfig::new(FULL_ROUNDS, PARTIAL_ROUNDS, ALPHA, mds, ark, RATE, 1)
    })
}

/// Hash of a fixed number of field elements (leaves, commitment steps). The input length is not
/// absorbed, so `hash(&[x]) == hash(&[x, 0])`: hash inputs of one fixed length per use, or put the
/// length in the input.
pub fn hash(inputs: &[Fr]) -> Fr {
    CRH::<Fr>::evaluate(config(), inputs).expect("poseidon over field elements cannot fail")
}

/// Hash of two child nodes.
pub fn node(left: Fr, right: Fr) -> Fr {
    TwoToOneCRH::<Fr>::compress(config(), left, right).expect("poseidon over field elements cannot fail")
}

/// The gadget counterparts.
pub struct Gadgets {
    params: CRHParametersVar<Fr>,
}

impl Default for Gadgets {
    fn default() -> Self {
        Self::new()
    }
}

impl Gadgets {
    pub fn new() -> Self {
        Self { params: CRHParametersVar { parameters: config().clone() } }
    }
    pub fn hash(&self, inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
        CRHGadget::<Fr>::evaluate(&self.params, inputs)
    }
    pub fn node(&self, left: &FpVar<Fr>, right: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        TwoToOneCRHGadget::<Fr>::compress(&self.params, left, right)
    }
}
