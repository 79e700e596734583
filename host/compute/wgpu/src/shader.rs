//! WGSL assembly: the field code is written once (`shaders/field.wgsl`) and specialised here for
//! BN254's Fq or Fr, with one of the two Montgomery multipliers.

use ark_ff::{BigInt, PrimeField};

/// How the shaders multiply field elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arith {
    /// u32 arithmetic only, sixteen 16-bit limbs: runs on every adapter.
    U32,
    /// Native 64-bit integers (`SHADER_INT64`), eight 32-bit limbs: a quarter of the limb products.
    U64,
}

impl Arith {
    /// The name used in logs and benchmark reports.
    pub fn name(self) -> &'static str {
        match self {
            Arith::U32 => "u32",
            Arith::U64 => "u64",
        }
    }
}

const FIELD: &str = include_str!("shaders/field.wgsl");
const MUL_U32: &str = include_str!("shaders/mul_u32.wgsl");
const MUL_U64: &str = include_str!("shaders/mul_u64.wgsl");
const CURVE: &str = include_str!("shaders/curve.wgsl");
pub(crate) const NTT: &str = include_str!("shaders/ntt.wgsl");
pub(crate) const SCALE: &str = include_str!("shaders/scale.wgsl");
pub(crate) const MSM_ACCUMULATE: &str = include_str!("shaders/msm_accumulate.wgsl");
pub(crate) const MSM_REDUCE: &str = include_str!("shaders/msm_reduce.wgsl");

/// Little-endian u32 limbs of a 256-bit integer.
pub(crate) fn limbs32(b: &BigInt<4>) -> [u32; 8] {
    let mut out = [0u32; 8];
    for (i, l) in b.0.iter().enumerate() {
        out[2 * i] = *l as u32;
        out[2 * i + 1] = (*l >> 32) as u32;
    }
    out
}

fn fe_literal(b: &BigInt<4>) -> String {
    let l = limbs32(b);
    format!("Fe({})", l.iter().map(|x| format!("{x}u")).collect::<Vec<_>>().join(", "))
}

/// -p^-1 mod 2^32 by Newton iteration (each step doubles the correct low bits: 1, 2, 4, .., 32).
fn neg_inv32(p0: u32) -> u32 {
    let mut inv = 1u32;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(p0.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

/// A module for field `F` (Fq or Fr of BN254): constants, field code, multiplier, then `body`.
/// `with_curve` adds the G1 point code (only meaningful over Fq).
pub(crate) fn module<F: PrimeField<BigInt = BigInt<4>>>(arith: Arith, with_curve: bool, body: &str) -> String {
    let modulus = F::MODULUS;
    let inv32 = neg_inv32(modulus.0[0] as u32);
    let mut src = format!(
        "const MODULUS: Fe = {};\nconst INV32: u32 = {inv32}u;\nconst INV16: u32 = {}u;\nconst ONE: Fe = {};\n",
        fe_literal(&modulus),
        inv32 & 0xffff,
        fe_literal(&montgomery_one::<F>()),
    );
    src.push_str(FIELD);
    src.push_str(match arith {
        Arith::U32 => MUL_U32,
        Arith::U64 => MUL_U64,
    });
    if with_curve {
        src.push_str(CURVE);
    }
    src.push_str(body);
    src
}

/// 1 in Montgomery form: R mod p = 2^256 mod p, as an integer (what arkworks stores for one).
fn montgomery_one<F: PrimeField<BigInt = BigInt<4>>>() -> BigInt<4> {
    F::from(2u64).pow([256u64]).into_bigint()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fq, Fr};
    use ark_ff::Field;

    #[test]
    fn inverse_constant_is_minus_p_inverse() {
        for p0 in [Fq::MODULUS.0[0] as u32, Fr::MODULUS.0[0] as u32] {
            assert_eq!(p0.wrapping_mul(neg_inv32(p0)), u32::MAX, "p * (-p^-1) = -1 mod 2^32");
        }
    }

    #[test]
    fn montgomery_one_is_arkworks_one() {
        assert_eq!(montgomery_one::<Fq>(), Fq::ONE.0);
        assert_eq!(montgomery_one::<Fr>(), Fr::ONE.0);
    }
}
