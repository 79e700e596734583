//! The Proof Generator's scheduling, with simulated provers: each job sleeps for a sampled proof
//! time, so what is measured is the orchestrator (queue, store writes, dispatch), not proving.
//!
//! 1. Makespan: 10 workers, 566 batch tasks in sequences of 1-4 batches, batch proof times
//!    uniform in [0.5, 1.5] x 48.6 s, scaled down 1000x (mean 48.6 ms). Aggregate and final
//!    jobs take no time here (the reference adapter's take ~12 ms against seconds for a batch).
//!    Reported against the lower bound max(total work / workers, longest chain) with worker
//!    utilisation.
//! 2. Dispatch overhead: 10,000 queued tasks (5,000 one-batch sequences) on provers that return
//!    at once: wall time per task, which includes two durable store writes per task (assign,
//!    complete), each one a redb commit with fsync.
//!
//! 3. Per-block store cost against history: the store reads the node makes on every block
//!    (`open_sequences`, `prune`) with 10 and with 10,000 settled sequences behind 5 open ones,
//!    both measured in this run; the target is a ratio within 1.2.
//! 4. Rollups sharing workers: 3 rollups (one store file) whose batch proofs take 0.5x, 1x and
//!    2x the mean, each posting a sequence of 1-4 batches every block for ORCH_BLOCKS blocks,
//!    equal weights, 10 workers. Makespan against the lower bound, and each rollup's mean wait
//!    (from the start to its sequence's final proof, less the block it was posted at, in
//!    the same units); targets: within 5% of the bound, and no mean wait above 2x another's.
//!
//! Run: `cargo bench -p prova-benches --bench orchestrator`. Sizes: ORCH_WORKERS, ORCH_BATCHES,
//! ORCH_MEAN_US (mean batch time in microseconds), ORCH_QUEUED, ORCH_BLOCKS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prova_node::generator::{self, GeneratorConfig};
use prova_node::prover::{JobInput, Prover};
use prova_store::{Identity, Sequence, SequenceStatus, Store, StoreFile, TaskId, TaskKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};

struct Simulated {
    times: HashMap<String, Duration>,
}

#[async_trait::async_trait]
impl Prover for Simulated {
    async fn prove(&self, job: &str, _: JobInput, _: [u8; 20]) -> Result<Vec<u8>, String> {
        if let Some(t) = self.times.get(job) {
            tokio::time::sleep(*t).await;
        }
        Ok(vec![0; 32])
    }
}

fn identity() -> Identity {
    Identity { chain_id: 1, genesis: [0; 32], manager: [0; 20], rollup: 1, miner: [0; 20] }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Stores sequences with the given batch counts, the i-th seen at block `seen(i)`; returns each
/// sequence's final batch.
fn fill(store: &Store, counts: &[u32], seen: impl Fn(usize) -> u64) -> Vec<u64> {
    let mut next = 0u64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let seq = Sequence {
                init_batch: next,
                final_batch: next + n as u64,
                acc_input_hash: [0; 32],
                commitments: vec![[0; 32]; n as usize],
                seen_block: seen(i),
                status: SequenceStatus::Proving,
                closed_block: None,
            };
            next += n as u64;
            store.add_sequence(&seq, &vec![vec![]; n as usize]).unwrap();
            seq.final_batch
        })
        .collect()
}

/// Runs the generator over what is stored until every final proof is out; returns the wall time.
async fn drain(store: Arc<Store>, prover: Simulated, workers: usize, finals: usize) -> Duration {
    let done = drain_lanes(vec![(store, prover)], workers, finals).await;
    done.iter().map(|(_, _, t)| *t).max().unwrap_or_default()
}

/// Runs the generator over several rollups (lanes of equal weight and horizon) until `finals`
/// final proofs are out; returns (lane, final batch, time since the start) of each.
async fn drain_lanes(lanes: Vec<(Arc<Store>, Simulated)>, workers: usize, finals: usize) -> Vec<(usize, u64, Duration)> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (_stop, stop_rx) = watch::channel(false);
    let (_head_tx, head) = watch::channel(0);
    let cfg = GeneratorConfig { workers, task_timeout: Duration::from_secs(600), max_attempts: 3 };
    let lanes = lanes
        .into_iter()
        .enumerate()
        .map(|(i, (store, prover))| {
            let (ftx, mut frx) = mpsc::unbounded_channel::<u64>();
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(f) = frx.recv().await {
                    let _ = tx.send((i, f, Instant::now()));
                }
            });
            generator::Lane { store, prover: Arc::new(prover), miner: [0; 20], finals: ftx, horizon: 10, weight: 1, head: head.clone() }
        })
        .collect();
    let started = Instant::now();
    let (_handles, _task) = generator::spawn(lanes, cfg, stop_rx).unwrap();
    let mut out = vec![];
    for _ in 0..finals {
        let (lane, f, at) = rx.recv().await.unwrap();
        out.push((lane, f, at - started));
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let workers = env("ORCH_WORKERS", 10) as usize;
    let batches = env("ORCH_BATCHES", 566) as u32;
    let mean = env("ORCH_MEAN_US", 48_600) as f64 / 1e3;
    let queued = env("ORCH_QUEUED", 10_000) as usize;
    let mut rng = StdRng::seed_from_u64(566);

    // 1. Makespan.
    let mut counts = vec![];
    let mut left = batches;
    while left > 0 {
        let n = rng.random_range(1..=4).min(left);
        counts.push(n);
        left -= n;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("bench.redb"), &identity()).unwrap());
    let finals = fill(&store, &counts, |_| 0);
    let mut times = HashMap::new();
    let (mut work, mut longest) = (Duration::ZERO, Duration::ZERO);
    for (f, n) in finals.iter().zip(&counts) {
        let mut chain = Duration::ZERO;
        for i in 0..*n {
            let t = Duration::from_secs_f64(mean * rng.random_range(0.5..1.5) / 1e3);
            times.insert(TaskId::new(*f, TaskKind::Batch(i)).to_string(), t);
            work += t;
            chain = chain.max(t);
        }
        longest = longest.max(chain);
    }
    let bound = (work / workers as u32).max(longest);
    let makespan = drain(store, Simulated { times }, workers, finals.len()).await;
    println!("makespan: {workers} workers, {batches} batch tasks in {} sequences of 1-4, mean {mean:.1} ms per batch", counts.len());
    println!("  total work        {:>10.1} ms", work.as_secs_f64() * 1e3);
    println!(
        "  lower bound       {:>10.1} ms   max(work / workers, longest chain {:.1} ms)",
        bound.as_secs_f64() * 1e3,
        longest.as_secs_f64() * 1e3
    );
    println!(
        "  makespan          {:>10.1} ms   {:+.1}% over the bound",
        makespan.as_secs_f64() * 1e3,
        (makespan.as_secs_f64() / bound.as_secs_f64() - 1.0) * 100.0
    );
    println!("  utilisation       {:>10.1} %", work.as_secs_f64() / (workers as f64 * makespan.as_secs_f64()) * 100.0);

    // 2. Dispatch overhead at `queued` tasks.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("queue.redb"), &identity()).unwrap());
    let fill_started = Instant::now();
    let finals = fill(&store, &vec![1; queued / 2], |_| 0);
    let fill_time = fill_started.elapsed();
    let wall = drain(store, Simulated { times: HashMap::new() }, workers, finals.len()).await;
    let tasks = finals.len() * 2;
    println!(
        "dispatch: {tasks} queued tasks ({} one-batch sequences, stored in {:.1} s), {workers} workers, zero-time provers",
        finals.len(),
        fill_time.as_secs_f64()
    );
    println!("  wall              {:>10.1} ms", wall.as_secs_f64() * 1e3);
    println!("  per task          {:>10.3} ms   (2 durable store commits each)", wall.as_secs_f64() * 1e3 / tasks as f64);

    // 4. Three rollups of different proof times sharing the workers.
    let blocks = env("ORCH_BLOCKS", 60);
    let dir = tempfile::tempdir().unwrap();
    let file = StoreFile::open(&dir.path().join("rollups.redb")).unwrap();
    let scales = [0.5, 1.0, 2.0];
    let (mut work, mut longest) = (Duration::ZERO, Duration::ZERO);
    let mut lanes = vec![];
    let mut posted = vec![];
    for (lane, scale) in scales.iter().enumerate() {
        let store = Arc::new(file.rollup(&Identity { rollup: lane as u32 + 1, ..identity() }).unwrap());
        let counts: Vec<u32> = (0..blocks).map(|_| rng.random_range(1..=4)).collect();
        // Posted one per block: the generator orders by the block each was seen in.
        let finals = fill(&store, &counts, |b| b as u64);
        let mut times = HashMap::new();
        for (f, n) in finals.iter().zip(&counts) {
            let mut chain = Duration::ZERO;
            for i in 0..*n {
                let t = Duration::from_secs_f64(mean * scale * rng.random_range(0.5..1.5) / 1e3);
                times.insert(TaskId::new(*f, TaskKind::Batch(i)).to_string(), t);
                work += t;
                chain = chain.max(t);
            }
            longest = longest.max(chain);
        }
        posted.push(finals.len());
        lanes.push((store, Simulated { times }));
    }
    let n = posted.iter().sum();
    let done = drain_lanes(lanes, workers, n).await;
    let makespan = done.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    let bound = (work / workers as u32).max(longest);
    println!(
        "rollups: 3 rollups (batch times 0.5x, 1x, 2x of {mean:.1} ms), a sequence of 1-4 batches each per block for {blocks} blocks, {workers} workers"
    );
    println!(
        "  makespan          {:>10.1} ms   lower bound {:.1} ms, {:+.1}% over (target <= 5%)",
        makespan.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3,
        (makespan.as_secs_f64() / bound.as_secs_f64() - 1.0) * 100.0
    );
    // A sequence's wait: from the start (everything is queued at once) to its final proof;
    // mean per rollup. A rollup that posts the same but proves 4x slower must not wait 2x longer.
    let mut waits = [0.0f64; 3];
    for (lane, _, t) in &done {
        waits[*lane] += t.as_secs_f64() * 1e3 / posted[*lane] as f64;
    }
    let (lo, hi) = (waits.iter().cloned().fold(f64::MAX, f64::min), waits.iter().cloned().fold(0.0, f64::max));
    println!(
        "  mean wait         {:>10.1} / {:.1} / {:.1} ms   max/min {:.2} (target <= 2)",
        waits[0],
        waits[1],
        waits[2],
        hi / lo.max(1e-9)
    );

    // 3. Per-block store cost with a short and a long history.
    let small = per_block(10);
    let large = per_block(env("ORCH_HISTORY", 10_000));
    println!("per block: the store reads of one block with 5 open sequences");
    println!("  10 settled        {:>10.1} us", small.as_secs_f64() * 1e6);
    println!(
        "  {} settled    {:>10.1} us   ratio {:.2} (target <= 1.2)",
        env("ORCH_HISTORY", 10_000),
        large.as_secs_f64() * 1e6,
        large.as_secs_f64() / small.as_secs_f64()
    );
}

/// Median wall time of one block's store work (`open_sequences`, then `prune` with nothing
/// due) over a store holding `settled` settled sequences and 5 open ones.
fn per_block(settled: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.redb"), &identity()).unwrap();
    let finals = fill(&store, &vec![1; settled as usize + 5], |_| 0);
    // Settled in one write each would take minutes at 10,000 fsyncs; `drop_sequence` is the
    // same write the node makes when others verify a sequence first.
    for (i, f) in finals.iter().take(settled as usize).enumerate() {
        store.drop_sequence(*f, 1_000_000 + i as u64).unwrap();
    }
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(store.open_sequences().unwrap().len(), 5);
            store.prune(0).unwrap();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
