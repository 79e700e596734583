//! One batch of the reference adapter proved end to end inside its component: with the host's
//! kernels (the product) against the same adapter built with arkworks doing every MSM and NTT
//! inside the guest. Both prove the same witness with the same key set.
//!
//! `cargo bench -p prova-benches --bench batch`

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use prova_runtime::Limits;
use prova_tests::{plugins, runtime_with, transfer_dir};

fn batch(c: &mut Criterion) {
    let dir = transfer_dir();
    std::fs::copy(plugins::TRANSFER_GROTH16_GUEST_KERNELS, dir.path().join("guest-kernels.wasm")).unwrap();
    std::fs::copy(dir.path().join("transfer-groth16.keys"), dir.path().join("guest-kernels.keys")).unwrap();
    // Unbounded fuel: arkworks inside the guest burns far more than a product job's budget.
    let rt = runtime_with(Limits { fuel_per_job: u64::MAX, ..Limits::default() }, None);
    let load = |f: &str| rt.load(&Path::new(dir.path()).join(f)).unwrap();
    let (host, guest) = (load("transfer-groth16.wasm"), load("guest-kernels.wasm"));
    let witness = host.sample_sequence(1, 3).unwrap().remove(0);
    let prover = [0xa1; 20];
    // Same proof either way: the kernels change where arithmetic runs, not what it computes.
    assert_eq!(host.prove_batch("check", &witness, &prover).unwrap(), guest.prove_batch("check", &witness, &prover).unwrap());

    // What crosses the boundary for one batch, and the host's share of converting it.
    let before = host.kernel_stats();
    let t = std::time::Instant::now();
    host.prove_batch("stats", &witness, &prover).unwrap();
    let total = t.elapsed();
    let after = host.kernel_stats();
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "one batch: {:.0} ms in all; {} kernel calls; {:.2} MiB to the host, {:.2} MiB back; kernels {:.0} ms; host-side conversion {:.1} ms ({:.2}% of the batch)",
        total.as_secs_f64() * 1e3,
        after.calls - before.calls,
        mib(after.bytes_in - before.bytes_in),
        mib(after.bytes_out - before.bytes_out),
        (after.compute - before.compute).as_secs_f64() * 1e3,
        (after.codec - before.codec).as_secs_f64() * 1e3,
        100.0 * (after.codec - before.codec).as_secs_f64() / total.as_secs_f64()
    );

    let mut g = c.benchmark_group("prove_batch");
    g.sample_size(10);
    g.bench_function("host-kernels", |b| b.iter(|| host.prove_batch("bench", &witness, &prover).unwrap()));
    g.bench_function("arkworks-in-guest", |b| b.iter(|| guest.prove_batch("bench", &witness, &prover).unwrap()));
    g.finish();
}

criterion_group!(benches, batch);
criterion_main!(benches);
