//! Native verification of every stage: one batched Groth16 check for n proofs.
//!
//! For proofs `(A_i, B_i, C_i)` with input points `L_i = IC_0 + sum_j x_ij IC_j` and weights
//! `r_0 = 1`, `r_i = keccak256(transcript || i) mod p`, the check is
//!
//! ```text
//! prod_i e(r_i A_i, B_i) * e(-(sum r_i) alpha, beta) * e(-sum r_i L_i, gamma) * e(-sum r_i C_i, delta) == 1
//! ```
//!
//! n + 3 pairings instead of 4n. The weights come from the whole transcript, so a prover cannot
//! pick proofs whose errors cancel. The verifier contract computes the same weights.

use ark_bn254::{Bn254, Fr, G1Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{PrimeField, Zero};
use sha3::{Digest, Keccak256};

use super::encoding::{BatchProof, VerifyingKey};
use crate::AdapterError;

/// Weight of proof `i` in a batched check over `transcript`.
pub fn weight(transcript: &[u8], i: u32) -> Fr {
    if i == 0 {
        return Fr::from(1u64);
    }
    Fr::from_be_bytes_mod_order(&Keccak256::new().chain_update(transcript).chain_update(i.to_be_bytes()).finalize())
}

/// Checks all `proofs` at once. `what` names the stage in the error.
pub fn verify_batched(vk: &VerifyingKey, proofs: &[BatchProof], transcript: &[u8], what: &str) -> Result<(), AdapterError> {
    let mut g1 = Vec::with_capacity(proofs.len() + 3);
    let mut g2 = Vec::with_capacity(proofs.len() + 3);
    let (mut sum_r, mut sum_l, mut sum_c) = (Fr::zero(), G1Projective::zero(), G1Projective::zero());
    for (i, p) in proofs.iter().enumerate() {
        let r = weight(transcript, i as u32);
        let l = p.inputs().iter().zip(&vk.ic[1..]).fold(vk.ic[0].into_group(), |acc, (x, ic)| acc + *ic * x);
        g1.push((p.proof.a * r).into_affine());
        g2.push(p.proof.b);
        sum_r += r;
        sum_l += l * r;
        sum_c += p.proof.c * r;
    }
    g1.extend([(-(vk.alpha_g1 * sum_r)).into_affine(), (-sum_l).into_affine(), (-sum_c).into_affine()]);
    g2.extend([vk.beta_g2, vk.gamma_g2, vk.delta_g2]);
    if Bn254::multi_pairing(g1, g2).is_zero() {
        Ok(())
    } else {
        Err(AdapterError::Unsatisfied(format!(
            "{what}: pairing check failed ({} proof(s), {} pairings): a proof or a public input is wrong",
            proofs.len(),
            proofs.len() + 3
        )))
    }
}
