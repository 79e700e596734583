//! Groth16 proving with the MSMs and NTTs sent to [`Kernels`].
//!
//! This follows arkworks' `Groth16::create_proof_with_reduction` and `LibsnarkReduction`
//! step by step, so the proof is bit-identical to arkworks' for the same `r` and `s` (a test
//! holds it to that); only where the arithmetic runs differs. arkworks keeps its MSMs in a
//! private helper, which is why the assembly is restated here rather than called.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::CurveGroup;
use ark_ff::{FftField, Field, PrimeField, Zero};
use ark_groth16::r1cs_to_qap::evaluate_constraint;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, R1CS_PREDICATE_LABEL, SynthesisMode};
use sha3::{Digest, Keccak256};

use super::encoding::Proof;
use crate::AdapterError;
use crate::kernels::Ntt;

/// The G1 query vectors of the proving key, by key-section name.
#[derive(Debug, Clone, Copy)]
pub enum G1Query {
    A,
    BG1,
    H,
    L,
}

impl G1Query {
    pub fn section(self) -> &'static str {
        match self {
            G1Query::A => "a",
            G1Query::BG1 => "b-g1",
            G1Query::H => "h",
            G1Query::L => "l",
        }
    }
}

/// Where MSMs and NTTs run.
pub trait Kernels {
    fn msm_g1(&mut self, query: G1Query, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError>;
    /// Over the `b-g2` query.
    fn msm_g2(&mut self, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError>;
    fn ntt(&mut self, values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError>;
}

/// The proving-key points that are not query vectors.
#[derive(Debug, Clone, Copy)]
pub struct Constants {
    pub alpha_g1: G1Affine,
    pub beta_g1: G1Affine,
    pub delta_g1: G1Affine,
    pub beta_g2: G2Affine,
    pub delta_g2: G2Affine,
}

fn internal(what: &str) -> impl FnOnce(ark_relations::gr1cs::SynthesisError) -> AdapterError + '_ {
    move |e| AdapterError::Internal(format!("{what}: {e}"))
}

/// `r` and `s` derived from the statement and the plugin's name: proofs are reproducible (useful
/// to compare provers) and no randomness import is needed. Zero knowledge is not a goal here: the
/// batch data is public rollup data.
pub fn derive_rs(plugin: &str, seed: &[u8]) -> (Fr, Fr) {
    let h = |tag: String| Fr::from_be_bytes_mod_order(&Keccak256::new().chain_update(tag.as_bytes()).chain_update(seed).finalize());
    (h(format!("prova/{plugin}/r")), h(format!("prova/{plugin}/s")))
}

/// Proves `circuit` with blinding `r`, `s`.
pub fn prove<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    consts: &Constants,
    kernels: &mut impl Kernels,
    r: Fr,
    s: Fr,
) -> Result<Proof, AdapterError> {
    let cs = ConstraintSystem::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove { construct_matrices: true, generate_lc_assignments: false });
    circuit.generate_constraints(cs.clone()).map_err(internal("synthesis"))?;
    cs.finalize();
    if !cs.is_satisfied().map_err(internal("satisfiability check"))? {
        let which = cs.which_is_unsatisfied().ok().flatten().unwrap_or_default();
        return Err(AdapterError::Unsatisfied(format!("constraint {which} does not hold")));
    }
    let matrices = &cs.to_matrices().map_err(internal("matrices"))?[R1CS_PREDICATE_LABEL];
    let num_inputs = cs.num_instance_variables();
    let num_constraints = cs.num_constraints();
    let full: Vec<Fr> = {
        let b = cs.borrow().ok_or_else(|| AdapterError::Internal("constraint system borrowed".into()))?;
        let inst = b.instance_assignment().map_err(internal("instance assignment"))?;
        let wit = b.witness_assignment().map_err(internal("witness assignment"))?;
        [inst, wit].concat()
    };
    let h = witness_map(kernels, matrices, num_inputs, num_constraints, &full)?;

    // h has degree < n - 1: its last coefficient is zero and the key's h query has n - 1 points.
    let h_acc = kernels.msm_g1(G1Query::H, 0, &h[..h.len() - 1])?;
    let l_aux_acc = kernels.msm_g1(G1Query::L, 0, &full[num_inputs..])?;
    // query[0] pairs with the constant-one variable, which is full[0]: one MSM from 0 covers both.
    let g_a = consts.delta_g1 * r + kernels.msm_g1(G1Query::A, 0, &full)? + consts.alpha_g1;
    let g1_b =
        if r.is_zero() { G1Projective::zero() } else { consts.delta_g1 * s + kernels.msm_g1(G1Query::BG1, 0, &full)? + consts.beta_g1 };
    let g2_b = consts.delta_g2 * s + kernels.msm_g2(0, &full)? + consts.beta_g2;
    let g_c = g_a * s + g1_b * r - consts.delta_g1 * (r * s) + l_aux_acc + h_acc;
    Ok(Proof { a: g_a.into_affine(), b: g2_b.into_affine(), c: g_c.into_affine() })
}

/// The QAP witness map (arkworks' `LibsnarkReduction`), with its seven transforms on `kernels`.
fn witness_map(
    kernels: &mut impl Kernels,
    matrices: &[ark_relations::gr1cs::Matrix<Fr>],
    num_inputs: usize,
    num_constraints: usize,
    full: &[Fr],
) -> Result<Vec<Fr>, AdapterError> {
    let n = (num_constraints + num_inputs).next_power_of_two();
    let mut a = vec![Fr::zero(); n];
    let mut b = vec![Fr::zero(); n];
    let mut c = vec![Fr::zero(); n];
    for i in 0..num_constraints {
        a[i] = evaluate_constraint(&matrices[0][i], full);
        b[i] = evaluate_constraint(&matrices[1][i], full);
        c[i] = evaluate_constraint(&matrices[2][i], full);
    }
    a[num_constraints..num_constraints + num_inputs].copy_from_slice(&full[..num_inputs]);

    let g = Fr::GENERATOR;
    for v in [&mut a, &mut b, &mut c] {
        kernels.ntt(v, Ntt::Inverse)?;
        kernels.ntt(v, Ntt::CosetForward(g))?;
    }
    // Z(x) = x^n - 1 is constant on the coset g * H: Z = g^n - 1.
    let z_inv = (g.pow([n as u64]) - Fr::from(1u64))
        .inverse()
        .ok_or_else(|| AdapterError::Internal("vanishing polynomial is zero on the coset".into()))?;
    let mut ab: Vec<Fr> = a.iter().zip(&b).zip(&c).map(|((a, b), c)| (*a * b - c) * z_inv).collect();
    kernels.ntt(&mut ab, Ntt::CosetInverse(g))?;
    Ok(ab)
}
