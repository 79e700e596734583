//! The deterministic development setup and the key sections it writes.
//!
//! INSECURE by construction: the toxic waste is derived from the seed, so anyone who knows the
//! seed can forge proofs. It exists so that anyone can run the adapter; production keys come
//! from a ceremony and are installed in the same sections.

use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, ProvingKey};
use prova_guest::{AdapterError, KeyData, KeySection};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha3::{Digest, Keccak256};

use crate::circuit::BatchCircuit;
use crate::encoding::{VerifyingKey, encode_vk};
use crate::prover::Constants;
use crate::state::BatchWitness;

/// Key-section names, as the host stores them.
pub const VK_SECTION: &str = "vk";
pub const CONSTANTS_SECTION: &str = "pk-g1";

/// Runs the setup for the batch circuit from `seed`.
pub fn generate(seed: &[u8]) -> Result<ProvingKey<Bn254>, AdapterError> {
    let mut rng =
        ChaCha20Rng::from_seed(Keccak256::new().chain_update(b"prova/transfer-groth16/dev-setup").chain_update(seed).finalize().into());
    let w = BatchWitness::blank();
    let circuit = BatchCircuit {
        statement: crate::state::BatchStatement { old_root: w.old_root, new_root: w.old_root, commitment: w.old_root },
        witness: w,
        prover: Fr::from(0u64),
    };
    Groth16::<Bn254>::generate_random_parameters_with_reduction(circuit, &mut rng)
        .map_err(|e| AdapterError::Internal(format!("setup: {e}")))
}

pub fn vk_of(pk: &ProvingKey<Bn254>) -> VerifyingKey {
    let vk = &pk.vk;
    VerifyingKey { alpha_g1: vk.alpha_g1, beta_g2: vk.beta_g2, gamma_g2: vk.gamma_g2, delta_g2: vk.delta_g2, ic: vk.gamma_abc_g1.clone() }
}

/// The key set as sections: the five query vectors, two loose G1 points and the verifying key.
pub fn sections(pk: &ProvingKey<Bn254>) -> Vec<KeySection> {
    let g1 = |name: &str, points: &[ark_bn254::G1Affine]| KeySection {
        name: name.into(),
        data: KeyData::G1Points(prova_codec::g1s_to_limbs(points)),
    };
    vec![
        g1("a", &pk.a_query),
        g1("b-g1", &pk.b_g1_query),
        g1("h", &pk.h_query),
        g1("l", &pk.l_query),
        KeySection { name: crate::kernels::G2_SECTION.into(), data: KeyData::G2Points(prova_codec::g2s_to_limbs(&pk.b_g2_query)) },
        g1(CONSTANTS_SECTION, &[pk.beta_g1, pk.delta_g1]),
        KeySection { name: VK_SECTION.into(), data: KeyData::Bytes(encode_vk(&vk_of(pk))) },
    ]
}

/// The constants of the proving key, from the verifying key and the `pk-g1` section.
pub fn constants(vk: &VerifyingKey, pk_g1: &[ark_bn254::G1Affine]) -> Result<Constants, AdapterError> {
    let [beta_g1, delta_g1] = pk_g1 else {
        return Err(AdapterError::InvalidInput(format!("key section {CONSTANTS_SECTION:?} must hold 2 points, holds {}", pk_g1.len())));
    };
    Ok(Constants { alpha_g1: vk.alpha_g1, beta_g1: *beta_g1, delta_g1: *delta_g1, beta_g2: vk.beta_g2, delta_g2: vk.delta_g2 })
}
