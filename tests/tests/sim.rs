//! The deterministic simulation (see `prova_tests::sim`): `seeds` runs SIM_SEEDS seeds (default
//! 1,000) from SIM_FIRST (default 0) on every core and fails naming each failing seed with the
//! command that replays it; `replay` runs SIM_SEED (default 0) alone, with the nodes' logs on
//! stderr when SIM_LOG is set (`SIM_LOG=info`); `same_seed_same_run` checks determinism.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prova_tests::sim::{self, MAX_CALLS_PER_BLOCK, Report};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.trim_start_matches("0x").parse().ok()).unwrap_or(default)
}

#[test]
fn seeds() {
    let (first, count) = (env("SIM_FIRST", 0), env("SIM_SEEDS", 1_000));
    let next = AtomicU64::new(first);
    let failures = Mutex::new(vec![]);
    let reports = Mutex::new(vec![]);
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= first + count {
                        return;
                    }
                    match sim::run(seed) {
                        Ok(r) => reports.lock().unwrap().push(r),
                        Err(f) => failures.lock().unwrap().push(f.to_string()),
                    }
                }
            });
        }
    });
    let reports: Vec<Report> = reports.into_inner().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let sum = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    let max_calls = reports.iter().map(|r| r.max_calls_per_block).max().unwrap_or(0);
    println!(
        "{count} seeds in {secs:.1} s on {threads} thread(s) ({:.1} seeds/s): {} blocks, {} crashes, {} reorgs, {} reveals; at most {max_calls} chain calls per node and block",
        count as f64 / secs,
        sum(|r| r.blocks),
        sum(|r| r.crashes),
        sum(|r| r.reorgs),
        sum(|r| r.revealed),
    );
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of {count} seeds failed:\n{}", failures.len(), failures.join("\n"));
    assert!(max_calls <= MAX_CALLS_PER_BLOCK, "a node made {max_calls} chain calls in one block (bound {MAX_CALLS_PER_BLOCK})");
}

#[test]
fn replay() {
    let seed = env("SIM_SEED", 0);
    if std::env::var("SIM_LOG").is_ok() {
        let filter = tracing_subscriber::EnvFilter::new(std::env::var("SIM_LOG").unwrap());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).without_time().with_ansi(false).with_writer(std::io::stderr).try_init();
    }
    match sim::run(seed) {
        Ok(r) => println!("seed {seed}: {r:?}"),
        Err(f) => panic!("{f}"),
    }
}

#[test]
fn same_seed_same_run() {
    for seed in 0..20 {
        let (a, b) = (sim::run(seed).map_err(|f| f.to_string()).unwrap(), sim::run(seed).map_err(|f| f.to_string()).unwrap());
        assert_eq!(a.digest, b.digest, "seed {seed} ran differently twice: {a:?} vs {b:?}");
    }
}
