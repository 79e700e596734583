//! The deterministic development setup and the key sections it writes.
//!
//! INSECURE by construction: the toxic waste is derived from the seed, so anyone who knows the
//! seed can forge proofs. It exists so that anyone can run the adapter; production keys come
//! from a ceremony and are installed in the same sections.

use crate::{AdapterError, KeyData, KeySection};
use ark_bn254::{Bn254, Fr};
use ark_groth16::{Groth16, ProvingKey};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use sha3::{Digest, Keccak256};

use super::encoding::{VerifyingKey, encode_vk};
use super::prover::Constants;
use super::{Circuit, Rollup, Statement};

/// Key-section names, as the host stores them.
pub const VK_SECTION: &str = "vk";
pub const CONSTANTS_SECTION: &str = "pk-g1";
/// The `b-g2` query vector.
pub const G2_SECTION: &str = "b-g2";
/// Every section the kit writes and reads, as `metadata` declares them.
pub const SECTIONS: [&str; 7] = ["a", "b-g1", "h", "l", G2_SECTION, CONSTANTS_SECTION, VK_SECTION];

/// Runs the setup for `R`'s batch circuit from `seed`, with toxic waste derived from the plugin's
/// name and the seed.
pub fn generate<R: Rollup>(seed: &[u8]) -> Result<ProvingKey<Bn254>, AdapterError> {
    let tag = format!("prova/{}/dev-setup", R::NAME);
    let mut rng = ChaCha20Rng::from_seed(Keccak256::new().chain_update(tag.as_bytes()).chain_update(seed).finalize().into());
    let circuit = Circuit::<R> { witness: R::blank(), statement: Statement::default(), prover: Fr::from(0u64) };
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
        KeySection { name: G2_SECTION.into(), data: KeyData::G2Points(prova_codec::g2s_to_limbs(&pk.b_g2_query)) },
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
