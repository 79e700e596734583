//! The wgpu kernels against the rayon backend on random inputs, with both shader arithmetics.
//! CI runs these on Mesa's lavapipe (scripts/test.sh installs it); with no adapter at all they
//! fail rather than pass without running anything.

use std::sync::OnceLock;

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{FftField, UniformRand, Zero};
use ark_std::rand::{RngCore, SeedableRng, rngs::StdRng};
use proptest::prelude::*;
use prova_compute::{Backend, Bases, NttKind, RayonBackend};

use crate::{Arith, Gpu, GpuError, WgpuBackend, WgpuOptions, open_gpu};

fn gpu(arith: Arith) -> &'static Gpu {
    static U32: OnceLock<Gpu> = OnceLock::new();
    static U64: OnceLock<Gpu> = OnceLock::new();
    let cell = match arith {
        Arith::U32 => &U32,
        Arith::U64 => &U64,
    };
    cell.get_or_init(|| {
        open_gpu(&WgpuOptions { arith: Some(arith), ..Default::default() })
            .unwrap_or_else(|e| panic!("these tests need a wgpu adapter (lavapipe in CI): {e}"))
    })
}

fn rayon() -> RayonBackend {
    RayonBackend::new(2).unwrap()
}

fn random_fr(n: usize, seed: u64) -> Vec<Fr> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| Fr::rand(&mut rng)).collect()
}

/// Random points and scalars with zero scalars, points at infinity, repeated and opposite
/// points mixed in: every case of the addition law lands in some bucket.
fn msm_inputs(n: usize, seed: u64) -> (Vec<G1Affine>, Vec<Fr>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let few: Vec<G1Affine> = (0..3).map(|_| G1Affine::rand(&mut rng)).collect();
    let points = (0..n)
        .map(|i| match i % 9 {
            0 => G1Affine::zero(),
            1 => few[i % 3],
            2 => -few[i % 3],
            _ => G1Affine::rand(&mut rng),
        })
        .collect();
    let scalars = (0..n)
        .map(|i| match i % 7 {
            0 => Fr::zero(),
            1 => Fr::from(1u64 + (i % 3) as u64),
            _ => Fr::rand(&mut rng),
        })
        .collect();
    (points, scalars)
}

fn check_ntt(arith: Arith, values: &[Fr], offset: Fr) -> Result<(), TestCaseError> {
    for kind in [NttKind::Forward, NttKind::Inverse, NttKind::CosetForward(offset), NttKind::CosetInverse(offset)] {
        let mut want = values.to_vec();
        rayon().ntt(&mut want, kind).unwrap();
        let mut got = values.to_vec();
        gpu(arith).ntt(&mut got, kind).unwrap();
        prop_assert_eq!(&got, &want, "{:?} {:?} of 2^{}", arith, kind, values.len().trailing_zeros());
    }
    Ok(())
}

fn check_msm(arith: Arith, n: usize, start: usize, seed: u64) -> Result<(), TestCaseError> {
    let (points, scalars) = msm_inputs(n + start, seed);
    let bases = Bases::new(points);
    let want = rayon().msm_g1(&bases, start, &scalars[..n]).unwrap();
    let (got, _) = gpu(arith).msm_g1(&bases, start, &scalars[..n]).unwrap();
    prop_assert_eq!(got.into_affine(), want.into_affine(), "{:?} MSM of {} from {}", arith, n, start);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn ntt_equals_rayon_u32(log in 0u32..12, seed: u64) {
        let v = random_fr(1 << log, seed);
        check_ntt(Arith::U32, &v, random_fr(1, !seed)[0])?;
    }

    #[test]
    fn ntt_equals_rayon_u64(log in 0u32..12, seed: u64) {
        let v = random_fr(1 << log, seed);
        check_ntt(Arith::U64, &v, random_fr(1, !seed)[0])?;
    }

    #[test]
    fn msm_equals_rayon_u64(n in 1usize..700, start in 0usize..9, seed: u64) {
        check_msm(Arith::U64, n, start, seed)?;
    }
}

#[test]
fn multi_pass_ntts_equal_rayon() {
    // 2^16 runs as two passes of eight stages, 2^17 as three (6 + 6 + 5).
    for log in [16, 17] {
        check_ntt(Arith::U64, &random_fr(1 << log, log as u64), Fr::GENERATOR).unwrap();
    }
    check_ntt(Arith::U32, &random_fr(1 << 16, 3), Fr::GENERATOR).unwrap();
}

#[test]
fn large_msm_equals_rayon_and_keeps_bases_resident() {
    // 2^13 points: 10-bit windows, 512 buckets in two segments of 256 per window.
    let n = 1 << 13;
    let (points, scalars) = msm_inputs(n, 11);
    let bases = Bases::new(points);
    let want = rayon().msm_g1(&bases, 0, &scalars).unwrap().into_affine();
    let gpu = gpu(Arith::U64);
    let (first, t1) = gpu.msm_g1(&bases, 0, &scalars).unwrap();
    assert_eq!(first.into_affine(), want);
    assert!(!t1.upload.is_zero());
    // The second call finds the bases resident: its upload is the scalars' buckets only.
    assert!(gpu.upload_bases(&bases).unwrap().is_zero());
    let (second, _) = gpu.msm_g1(&bases, 0, &scalars).unwrap();
    assert_eq!(second.into_affine(), want);
}

/// The u32 MSM kernels take lavapipe about two minutes to compile, once per test process, so
/// every u32 MSM check shares this one test: random cases as in the u64 property test, then a
/// 1000-point bucket chain.
#[test]
fn msm_u32_equals_rayon() {
    let mut rng = StdRng::seed_from_u64(0x32);
    for _ in 0..6 {
        let (n, start, seed) = (1 + (rng.next_u64() % 699) as usize, (rng.next_u64() % 9) as usize, rng.next_u64());
        check_msm(Arith::U32, n, start, seed).unwrap();
    }
    long_bucket_chain(Arith::U32);
}

#[test]
fn all_zero_scalars_and_all_infinity_give_the_identity() {
    let (points, _) = msm_inputs(40, 1);
    let g = gpu(Arith::U64);
    let (sum, _) = g.msm_g1(&Bases::new(points), 0, &vec![Fr::zero(); 40]).unwrap();
    assert!(sum.is_zero());
    let (sum, _) = g.msm_g1(&Bases::new(vec![G1Affine::zero(); 40]), 0, &random_fr(40, 2)).unwrap();
    assert!(sum.is_zero());
}

#[test]
fn an_ntt_over_the_binding_limit_is_refused_by_name_and_falls_back_to_rayon() {
    let g = gpu(Arith::U64);
    let limit = g.summary().max_storage_binding;
    // The smallest power of two whose elements (32 bytes each) exceed one binding.
    let log = (limit / 32 + 1).next_power_of_two().trailing_zeros();
    let values = random_fr(1 << log, 4);
    let mut direct = values.clone();
    match g.ntt(&mut direct, NttKind::Forward) {
        Err(GpuError::Unsupported { adapter, what }) => {
            assert!(adapter.contains(&g.summary().name), "{adapter}");
            assert!(what.contains("limit"), "{what}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(direct, values, "a refused call leaves its input alone");

    let backend = WgpuBackend::new(open_gpu(&WgpuOptions::default()).unwrap(), rayon(), 0);
    let mut got = values.clone();
    backend.ntt(&mut got, NttKind::Forward).unwrap();
    let mut want = values;
    rayon().ntt(&mut want, NttKind::Forward).unwrap();
    assert!(got == want);
}

#[test]
fn backend_validates_input_like_rayon() {
    let backend = WgpuBackend::new(open_gpu(&WgpuOptions::default()).unwrap(), rayon(), 0);
    let mut v = vec![Fr::from(1u64); 8];
    let err = backend.ntt(&mut v, NttKind::CosetForward(Fr::zero())).unwrap_err();
    assert_eq!(err, rayon().ntt(&mut v.clone(), NttKind::CosetForward(Fr::zero())).unwrap_err());
    let (points, scalars) = msm_inputs(8, 2);
    let err = backend.msm_g1(&Bases::new(points), 4, &scalars).unwrap_err();
    assert!(err.to_string().contains("overrun"), "{err}");
    // The backend's name says which adapter and arithmetic run the kernels.
    assert!(backend.name().starts_with("wgpu:"), "{}", backend.name());
}

#[test]
fn an_unknown_adapter_name_lists_the_adapters_found() {
    let err = open_gpu(&WgpuOptions { adapter: Some("no-such-gpu".into()), ..Default::default() }).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("no-such-gpu") && msg.contains(&gpu(Arith::U32).summary().name), "{msg}");
}

#[test]
fn backend_msm_uses_the_device_and_matches() {
    let backend = WgpuBackend::new(open_gpu(&WgpuOptions::default()).unwrap(), rayon(), 0);
    let (points, scalars) = msm_inputs(300, 9);
    let bases = Bases::new(points);
    let got: G1Projective = backend.msm_g1(&bases, 0, &scalars).unwrap();
    assert_eq!(got.into_affine(), rayon().msm_g1(&bases, 0, &scalars).unwrap().into_affine());
}

/// Scalar one everywhere: all 1000 points land in one bucket, so one invocation adds a chain of
/// 1000 points (see the note on bounds checks in `Gpu::pipeline`).
fn long_bucket_chain(arith: Arith) {
    let mut rng = StdRng::seed_from_u64(1);
    let bases = Bases::new((0..1000).map(|_| G1Affine::rand(&mut rng)).collect());
    let ones = vec![Fr::from(1u64); 1000];
    let want = rayon().msm_g1(&bases, 0, &ones).unwrap().into_affine();
    let (got, _) = gpu(arith).msm_g1(&bases, 0, &ones).unwrap();
    assert_eq!(got.into_affine(), want, "{arith:?}");
}

#[test]
fn long_bucket_chains_equal_rayon() {
    long_bucket_chain(Arith::U64);
}

#[test]
fn selection_follows_the_choice_and_auto_skips_cpu_rasterisers() {
    use crate::{BackendChoice, adapters, select_backend};
    let options = WgpuOptions::default();
    assert!(select_backend(BackendChoice::Rayon, 1, &options).unwrap().name().starts_with("rayon"));
    assert!(select_backend(BackendChoice::Wgpu, 1, &options).unwrap().name().starts_with("wgpu:"));
    let hardware = adapters().iter().any(|(s, _)| !s.is_cpu());
    let auto = select_backend(BackendChoice::Auto, 1, &options).unwrap().name();
    assert_eq!(auto.starts_with("wgpu:"), hardware, "{auto}");
    // A named adapter is used even when it is a rasteriser.
    let named = WgpuOptions { adapter: Some(gpu(Arith::U32).summary().name.clone()), ..Default::default() };
    assert!(select_backend(BackendChoice::Auto, 1, &named).unwrap().name().starts_with("wgpu:"));
    let err = "gpu".parse::<BackendChoice>().unwrap_err();
    assert!(err.contains("rayon, wgpu or auto"), "{err}");
}
