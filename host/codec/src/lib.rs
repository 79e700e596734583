//! The wire encoding of BN254 values that crosses the plugin boundary (see `wit/adapter.wit`).
//!
//! Field elements travel as little-endian u64 limbs of their *canonical* value, never in
//! Montgomery form, so that the contract does not depend on arkworks' internal layout; points
//! travel as affine coordinates with `(0, 0)` for infinity, as the EVM precompiles use.
//!
//! Architecture invariant: this crate is compiled into both the host and every guest, so it has
//! no dependency beyond arkworks' field and curve types, and every decoder validates: a value that
//! comes off the wire is canonical, on the curve and in the prime-order subgroup, or it is refused.

#![no_std]
extern crate alloc;

use alloc::vec::Vec;
use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, PrimeField, Zero};

/// Limbs per Fr or Fq element.
pub const FIELD_LIMBS: usize = 4;
/// Limbs per G1 point (x, y).
pub const G1_LIMBS: usize = 2 * FIELD_LIMBS;
/// Limbs per G2 point (x.c0, x.c1, y.c0, y.c1).
pub const G2_LIMBS: usize = 4 * FIELD_LIMBS;

/// A value that cannot be decoded. Each variant says where, by element index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{len} limbs is not a whole number of {what} ({per} limbs each)")]
    Length { what: &'static str, len: usize, per: usize },
    #[error("{what} {index} is not canonical (limbs encode a value >= the modulus)")]
    NonCanonical { what: &'static str, index: usize },
    #[error("{what} point {index} is not on the curve")]
    NotOnCurve { what: &'static str, index: usize },
    #[error("{what} point {index} is not in the prime-order subgroup")]
    NotInSubgroup { what: &'static str, index: usize },
}

fn field_from_limbs<F: PrimeField<BigInt = BigInt<4>>>(limbs: &[u64], what: &'static str, index: usize) -> Result<F, CodecError> {
    let limbs: [u64; FIELD_LIMBS] = limbs.try_into().map_err(|_| CodecError::Length { what, len: limbs.len(), per: FIELD_LIMBS })?;
    F::from_bigint(BigInt::new(limbs)).ok_or(CodecError::NonCanonical { what, index })
}

fn check_len(limbs: &[u64], per: usize, what: &'static str) -> Result<usize, CodecError> {
    if !limbs.len().is_multiple_of(per) {
        return Err(CodecError::Length { what, len: limbs.len(), per });
    }
    Ok(limbs.len() / per)
}

/// Decodes one Fr element from exactly 4 limbs.
pub fn fr_from_limbs(limbs: &[u64]) -> Result<Fr, CodecError> {
    field_from_limbs(limbs, "Fr element", 0)
}

/// Decodes a vector of Fr elements.
pub fn frs_from_limbs(limbs: &[u64]) -> Result<Vec<Fr>, CodecError> {
    check_len(limbs, FIELD_LIMBS, "Fr elements")?;
    limbs.chunks_exact(FIELD_LIMBS).enumerate().map(|(i, c)| field_from_limbs(c, "Fr element", i)).collect()
}

/// Appends the canonical limbs of `x`.
pub fn push_fr(x: &Fr, out: &mut Vec<u64>) {
    out.extend_from_slice(&x.into_bigint().0);
}

/// Encodes a slice of Fr elements.
pub fn frs_to_limbs(xs: &[Fr]) -> Vec<u64> {
    let mut out = Vec::with_capacity(xs.len() * FIELD_LIMBS);
    xs.iter().for_each(|x| push_fr(x, &mut out));
    out
}

fn push_fq(x: &Fq, out: &mut Vec<u64>) {
    out.extend_from_slice(&x.into_bigint().0);
}

/// How much a point decoder checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// On the curve and in the subgroup: for anything that came off the wire.
    Full,
    /// Canonical coordinates only: for points this process produced or already checked.
    Trusted,
}

/// Decodes the G1 point at `index` (for error messages) from exactly 8 limbs.
fn g1_at(limbs: &[u64], index: usize, check: Check) -> Result<G1Affine, CodecError> {
    const WHAT: &str = "G1";
    let x: Fq = field_from_limbs(&limbs[..FIELD_LIMBS], WHAT, index)?;
    let y: Fq = field_from_limbs(&limbs[FIELD_LIMBS..], WHAT, index)?;
    if x.is_zero() && y.is_zero() {
        return Ok(G1Affine::zero());
    }
    let p = G1Affine::new_unchecked(x, y);
    if check == Check::Full && !p.is_on_curve() {
        return Err(CodecError::NotOnCurve { what: WHAT, index });
    }
    // BN254 G1 has cofactor 1: every point on the curve is in the subgroup.
    Ok(p)
}

/// Decodes one G1 point from exactly 8 limbs.
pub fn g1_from_limbs(limbs: &[u64]) -> Result<G1Affine, CodecError> {
    check_len(limbs, G1_LIMBS, "G1 points")?;
    if limbs.len() != G1_LIMBS {
        return Err(CodecError::Length { what: "one G1 point", len: limbs.len(), per: G1_LIMBS });
    }
    g1_at(limbs, 0, Check::Full)
}

/// Decodes a vector of G1 points.
pub fn g1s_from_limbs(limbs: &[u64]) -> Result<Vec<G1Affine>, CodecError> {
    check_len(limbs, G1_LIMBS, "G1 points")?;
    limbs.chunks_exact(G1_LIMBS).enumerate().map(|(i, c)| g1_at(c, i, Check::Full)).collect()
}

/// Decodes G1 points without the curve check: only for points the caller's own side produced
/// (such as bases the host validated when it loaded them).
pub fn g1s_from_limbs_trusted(limbs: &[u64]) -> Result<Vec<G1Affine>, CodecError> {
    check_len(limbs, G1_LIMBS, "G1 points")?;
    limbs.chunks_exact(G1_LIMBS).enumerate().map(|(i, c)| g1_at(c, i, Check::Trusted)).collect()
}

/// Appends the limbs of a G1 point.
pub fn push_g1(p: &G1Affine, out: &mut Vec<u64>) {
    match p.xy() {
        Some((x, y)) => {
            push_fq(&x, out);
            push_fq(&y, out);
        }
        None => out.extend_from_slice(&[0; G1_LIMBS]),
    }
}

/// Encodes a slice of G1 points.
pub fn g1s_to_limbs(ps: &[G1Affine]) -> Vec<u64> {
    let mut out = Vec::with_capacity(ps.len() * G1_LIMBS);
    ps.iter().for_each(|p| push_g1(p, &mut out));
    out
}

fn g2_at(limbs: &[u64], index: usize, check: Check) -> Result<G2Affine, CodecError> {
    const WHAT: &str = "G2";
    let f = |k: usize| field_from_limbs::<Fq>(&limbs[k * FIELD_LIMBS..(k + 1) * FIELD_LIMBS], WHAT, index);
    let x = Fq2::new(f(0)?, f(1)?);
    let y = Fq2::new(f(2)?, f(3)?);
    if x.is_zero() && y.is_zero() {
        return Ok(G2Affine::zero());
    }
    let p = G2Affine::new_unchecked(x, y);
    if check == Check::Trusted {
        return Ok(p);
    }
    if !p.is_on_curve() {
        return Err(CodecError::NotOnCurve { what: WHAT, index });
    }
    // G2 has a large cofactor: a point on the twist may lie outside the group we pair in.
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(CodecError::NotInSubgroup { what: WHAT, index });
    }
    Ok(p)
}

/// Decodes one G2 point from exactly 16 limbs.
pub fn g2_from_limbs(limbs: &[u64]) -> Result<G2Affine, CodecError> {
    if limbs.len() != G2_LIMBS {
        return Err(CodecError::Length { what: "one G2 point", len: limbs.len(), per: G2_LIMBS });
    }
    g2_at(limbs, 0, Check::Full)
}

/// Decodes a vector of G2 points.
pub fn g2s_from_limbs(limbs: &[u64]) -> Result<Vec<G2Affine>, CodecError> {
    check_len(limbs, G2_LIMBS, "G2 points")?;
    limbs.chunks_exact(G2_LIMBS).enumerate().map(|(i, c)| g2_at(c, i, Check::Full)).collect()
}

/// Decodes G2 points without the curve and subgroup checks; see [`g1s_from_limbs_trusted`].
pub fn g2s_from_limbs_trusted(limbs: &[u64]) -> Result<Vec<G2Affine>, CodecError> {
    check_len(limbs, G2_LIMBS, "G2 points")?;
    limbs.chunks_exact(G2_LIMBS).enumerate().map(|(i, c)| g2_at(c, i, Check::Trusted)).collect()
}

/// Appends the limbs of a G2 point.
pub fn push_g2(p: &G2Affine, out: &mut Vec<u64>) {
    match p.xy() {
        Some((x, y)) => {
            for c in [x.c0, x.c1, y.c0, y.c1] {
                push_fq(&c, out);
            }
        }
        None => out.extend_from_slice(&[0; G2_LIMBS]),
    }
}

/// Encodes a slice of G2 points.
pub fn g2s_to_limbs(ps: &[G2Affine]) -> Vec<u64> {
    let mut out = Vec::with_capacity(ps.len() * G2_LIMBS);
    ps.iter().for_each(|p| push_g2(p, &mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{G1Projective, G2Projective};
    use ark_ec::PrimeGroup;
    use ark_ff::UniformRand;
    use ark_std::test_rng;

    #[test]
    fn round_trips_random_values_and_infinity() {
        let mut rng = test_rng();
        let frs: Vec<Fr> = (0..20).map(|_| Fr::rand(&mut rng)).collect();
        assert_eq!(frs_from_limbs(&frs_to_limbs(&frs)).unwrap(), frs);
        let g1s: Vec<G1Affine> = (0..5).map(|_| G1Affine::rand(&mut rng)).chain([G1Affine::zero()]).collect();
        assert_eq!(g1s_from_limbs(&g1s_to_limbs(&g1s)).unwrap(), g1s);
        let g2s: Vec<G2Affine> = (0..5).map(|_| G2Affine::rand(&mut rng)).chain([G2Affine::zero()]).collect();
        assert_eq!(g2s_from_limbs(&g2s_to_limbs(&g2s)).unwrap(), g2s);
    }

    #[test]
    fn trusted_decoding_skips_only_the_curve_checks() {
        let mut g1 = g1s_to_limbs(&[G1Projective::generator().into()]);
        g1[4] ^= 1;
        assert!(g1s_from_limbs(&g1).is_err());
        assert!(g1s_from_limbs_trusted(&g1).is_ok());
        let q = Fq::MODULUS.0;
        let bad: Vec<u64> = q.iter().chain(&[0; 4]).copied().collect();
        assert!(g1s_from_limbs_trusted(&bad).is_err(), "coordinates must still be canonical");
    }

    #[test]
    fn refuses_non_canonical_field_elements() {
        // The modulus itself encodes zero non-canonically.
        let r = Fr::MODULUS.0;
        assert_eq!(fr_from_limbs(&r), Err(CodecError::NonCanonical { what: "Fr element", index: 0 }));
        let mut limbs = frs_to_limbs(&[Fr::from(7u64), Fr::from(9u64)]);
        limbs[4..8].copy_from_slice(&[u64::MAX; 4]);
        assert_eq!(frs_from_limbs(&limbs), Err(CodecError::NonCanonical { what: "Fr element", index: 1 }));
        assert!(matches!(frs_from_limbs(&[1, 2, 3]), Err(CodecError::Length { .. })));
    }

    #[test]
    fn refuses_points_off_the_curve_or_outside_the_subgroup() {
        let mut g1 = g1s_to_limbs(&[G1Projective::generator().into()]);
        g1[4] ^= 1;
        assert_eq!(g1_from_limbs(&g1), Err(CodecError::NotOnCurve { what: "G1", index: 0 }));

        // A point on the twist but outside the r-torsion: x = 1 + u lifted to the curve.
        let mut found = None;
        for i in 1u64.. {
            if let Some(p) = G2Affine::get_point_from_x_unchecked(Fq2::new(Fq::from(i), Fq::from(1u64)), false)
                && !p.is_in_correct_subgroup_assuming_on_curve()
            {
                found = Some(p);
                break;
            }
        }
        let limbs = g2s_to_limbs(&[found.unwrap()]);
        assert_eq!(g2_from_limbs(&limbs), Err(CodecError::NotInSubgroup { what: "G2", index: 0 }));
        let ok = g2s_to_limbs(&[G2Projective::generator().into()]);
        assert!(g2_from_limbs(&ok).is_ok());
    }
}
