//! The rayon backend against arkworks, on fresh random inputs and the edge cases that break
//! kernels: zero scalars, points at infinity, a single element, lengths that are not powers of two.

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{FftField, UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use proptest::prelude::*;

use crate::{Backend, Bases, KernelError, NttKind, RayonBackend};

fn backend() -> RayonBackend {
    RayonBackend::new(2).unwrap()
}

/// Random points and scalars, with some zero scalars and points at infinity mixed in.
fn inputs<P: AffineRepr + UniformRand>(n: usize, seed: u64) -> (Vec<P>, Vec<Fr>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut points: Vec<P> = (0..n).map(|_| P::rand(&mut rng)).collect();
    let mut scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
    for i in (0..n).step_by(7) {
        scalars[i] = Fr::zero();
    }
    for i in (3..n).step_by(11) {
        points[i] = P::zero();
    }
    (points, scalars)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn msm_g1_equals_arkworks(n in 1usize..600, start in 0usize..5, seed: u64) {
        let (points, scalars) = inputs::<G1Affine>(n + start, seed);
        let bases = Bases::new(points.clone());
        let got = backend().msm_g1(&bases, start, &scalars[..n]).unwrap();
        let want = G1Projective::msm(&points[start..start + n], &scalars[..n]).unwrap();
        prop_assert_eq!(got.into_affine(), want.into_affine());
    }

    #[test]
    fn msm_g2_equals_arkworks(n in 1usize..200, seed: u64) {
        let (points, scalars) = inputs::<G2Affine>(n, seed);
        let got = backend().msm_g2(&Bases::new(points.clone()), 0, &scalars).unwrap();
        let want = G2Projective::msm(&points, &scalars).unwrap();
        prop_assert_eq!(got.into_affine(), want.into_affine());
    }

    #[test]
    fn ntt_equals_arkworks(log in 0u32..13, seed: u64) {
        let n = 1usize << log;
        let mut rng = StdRng::seed_from_u64(seed);
        let values: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let offset = Fr::rand(&mut rng);
        let domain = Radix2EvaluationDomain::<Fr>::new(n).unwrap();
        let coset = domain.get_coset(offset).unwrap();
        let b = backend();
        for (kind, want) in [
            (NttKind::Forward, domain.fft(&values)),
            (NttKind::Inverse, domain.ifft(&values)),
            (NttKind::CosetForward(offset), coset.fft(&values)),
            (NttKind::CosetInverse(offset), coset.ifft(&values)),
        ] {
            let mut got = values.clone();
            b.ntt(&mut got, kind).unwrap();
            prop_assert_eq!(&got, &want, "{:?}", kind);
        }
        // Forward then inverse is the identity.
        let mut round = values.clone();
        b.ntt(&mut round, NttKind::CosetForward(Fr::GENERATOR)).unwrap();
        b.ntt(&mut round, NttKind::CosetInverse(Fr::GENERATOR)).unwrap();
        prop_assert_eq!(round, values);
    }
}

#[test]
fn msm_of_all_zero_scalars_or_all_infinity_is_infinity() {
    let b = backend();
    let (points, scalars) = inputs::<G1Affine>(33, 1);
    let zeros = vec![Fr::zero(); 33];
    assert!(b.msm_g1(&Bases::new(points), 0, &zeros).unwrap().is_zero());
    let inf = Bases::new(vec![G1Affine::zero(); 33]);
    assert!(b.msm_g1(&inf, 0, &scalars).unwrap().is_zero());
    // An empty MSM is the identity too.
    assert!(b.msm_g1(&inf, 33, &[]).unwrap().is_zero());
}

#[test]
fn msm_range_outside_the_bases_is_refused() {
    let (points, scalars) = inputs::<G1Affine>(8, 2);
    let err = backend().msm_g1(&Bases::new(points), 4, &scalars).unwrap_err();
    assert_eq!(err, KernelError::InvalidInput("8 scalars from base 4 overrun the 8 resident bases".into()));
}

#[test]
fn ntt_refuses_bad_lengths_and_zero_offsets() {
    let b = backend();
    let mut v = vec![Fr::from(1u64); 6];
    assert!(matches!(b.ntt(&mut v, NttKind::Forward), Err(KernelError::InvalidInput(m)) if m.contains("power of two")));
    let mut v = vec![Fr::from(1u64); 8];
    assert!(matches!(b.ntt(&mut v, NttKind::CosetForward(Fr::zero())), Err(KernelError::InvalidInput(m)) if m.contains("zero")));
    // Nothing was transformed by the refused call.
    assert_eq!(v, vec![Fr::from(1u64); 8]);
}
