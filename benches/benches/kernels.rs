//! Host kernels against arkworks in the same run: G1 MSM at 2^16 and 2^18, NTT at 2^16 and 2^20.
//!
//! `cargo bench -p prova-benches --bench kernels`

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::UniformRand;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use prova_compute::{Backend, Bases, NttKind, RayonBackend};

fn msm(c: &mut Criterion) {
    let backend = RayonBackend::new(0).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = c.benchmark_group("msm_g1");
    g.sample_size(10);
    for log in [16u32, 18] {
        let n = 1usize << log;
        // Distinct points without a hash-to-curve per point: multiples of 64 random seeds.
        let seeds: Vec<G1Projective> = (0..64).map(|_| G1Projective::rand(&mut rng)).collect();
        let points: Vec<G1Affine> =
            G1Projective::normalize_batch(&(0..n).map(|i| seeds[i % 64] * Fr::from(i as u64 + 1)).collect::<Vec<_>>());
        let scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let bases = Bases::new(points.clone());
        g.bench_with_input(BenchmarkId::new("prova-rayon", format!("2^{log}")), &n, |b, _| {
            b.iter(|| backend.msm_g1(&bases, 0, &scalars).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("ark-ec", format!("2^{log}")), &n, |b, _| {
            b.iter(|| G1Projective::msm(&points, &scalars).unwrap())
        });
    }
    g.finish();
}

fn ntt(c: &mut Criterion) {
    let backend = RayonBackend::new(0).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let mut g = c.benchmark_group("ntt");
    g.sample_size(10);
    for log in [16u32, 20] {
        let n = 1usize << log;
        let values: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let domain = Radix2EvaluationDomain::<Fr>::new(n).unwrap();
        g.bench_with_input(BenchmarkId::new("prova-rayon", format!("2^{log}")), &n, |b, _| {
            b.iter_batched(|| values.clone(), |mut v| backend.ntt(&mut v, NttKind::Forward).unwrap(), criterion::BatchSize::LargeInput)
        });
        g.bench_with_input(BenchmarkId::new("ark-poly", format!("2^{log}")), &n, |b, _| {
            b.iter_batched(|| values.clone(), |mut v| domain.fft_in_place(&mut v), criterion::BatchSize::LargeInput)
        });
    }
    g.finish();
}

criterion_group!(benches, msm, ntt);
criterion_main!(benches);
