//! `prova demo`: several miners, each with its own key, store and workers, on the embedded
//! chain with one rollup per plugin given (the reference transfer rollup and the tally rollup,
//! say) and a dev sequencer per rollup, until N sequences of each are verified. Each miner is
//! one node serving every rollup with one key and one set of workers. Exits non-zero if a
//! sequence stays unverified, a commitment is left unrevealed or a miner is slashed; a miner
//! that earned nothing (too slow for every window) is reported, not failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use prova_chain::contracts::Deployment;
use prova_chain::dev::dev_signer;
use prova_chain::embedded::EmbeddedChain;
use prova_chain::{Address, BaseChain, U256};
use prova_dev::{self as dev, DevParams, DevRollup, DevSequencer, EMBEDDED_CHAIN_ID, ETH, Miner, MinerConfig, Serve, audit};
use prova_node::generator::GeneratorConfig;
use prova_node::upkeep::UpkeepConfig;
use prova_runtime::Plugin;
use prova_store::{Store, SubmissionState, TaskId, TaskKind, TaskState};
use tokio::sync::watch;

use crate::cli::DemoArgs;

/// Stakes of miners 1-3: different, so that the pro-rata shares differ.
const STAKES: [u128; 3] = [ETH, 3 * ETH, 2 * ETH];

fn eth(wei: U256) -> String {
    let milli: u128 = (wei / U256::from(ETH / 1000)).to();
    format!("{}.{:03}", milli / 1000, milli % 1000)
}

pub fn run(a: &DemoArgs, plugins: Vec<Plugin>) -> Result<()> {
    if !(1..=3).contains(&a.miners) {
        bail!("--miners must be 1, 2 or 3 (the dev accounts)");
    }
    let mut shared = vec![];
    for plugin in plugins {
        if plugin.keys().is_none() {
            eprintln!("WARNING: plugin {} has no keys; running the deterministic dev setup (INSECURE).", plugin.metadata().name);
            plugin.setup(b"prova-dev")?;
        }
        plugin.validate_keys().map_err(|e| anyhow::anyhow!("plugin {} key set: {e}", plugin.metadata().name))?;
        shared.push(Arc::new(plugin));
    }
    let tmp = tempfile::tempdir()?;
    let dir = a.data_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(demo(a, shared, &dir))
}

/// One rollup of the demo: its plugin, where it is registered, its dev sequencer and what was
/// posted.
struct DemoRollup {
    plugin: Arc<Plugin>,
    world: DevRollup,
    sequencer: DevSequencer,
    posted: Vec<u64>,
    posted_batches: Vec<usize>,
}

async fn demo(a: &DemoArgs, plugins: Vec<Arc<Plugin>>, dir: &std::path::Path) -> Result<()> {
    let started = Instant::now();
    let (admin, seq_addr) = (dev_signer(0).address(), dev_signer(4).address());
    let miners: Vec<Address> = (1..=a.miners).map(|i| dev_signer(i).address()).collect();
    let funded: Vec<_> = [admin, seq_addr].iter().chain(&miners).map(|m| (*m, U256::from(1_000_000 * ETH))).collect();
    let chain = EmbeddedChain::new(EMBEDDED_CHAIN_ID, &funded);
    let params = DevParams { t1: a.t1, t2: a.t2, withdraw_delay: a.t1 + a.t2 + 10, ..DevParams::default() };
    let admin_chain = chain.handle(admin);
    let deployment = Deployment::deploy(&admin_chain, params.withdraw_delay).await?;
    let mut rollups = vec![];
    for (i, plugin) in plugins.into_iter().enumerate() {
        let seed = a.seed + i as u64;
        let sequencer = DevSequencer::new(&plugin, seed, (a.sequences as usize * a.max_batches) as u32, a.max_batches)?;
        let world = dev::register_rollup(&admin_chain, deployment, &plugin, seq_addr, sequencer.genesis(), &params).await?;
        let verifier = deployment.rollup_config(&admin_chain, world.rollup).await?.verifier;
        println!(
            "rollup {} (plugin {}): final proofs checked by {verifier}, {}",
            world.rollup,
            plugin.metadata().name,
            match plugin.metadata().own_verifier() {
                None => "the standard Groth16BatchVerifier".to_string(),
                Some(_) => format!("the plugin's own contract (the standard verifier is {})", deployment.verifier),
            }
        );
        rollups.push(DemoRollup { plugin, world, sequencer, posted: vec![], posted_batches: vec![] });
    }
    for (m, stake) in miners.iter().zip(STAKES) {
        deployment.deposit(&chain.handle(*m), U256::from(stake)).await?;
    }
    println!(
        "embedded chain: {} ms blocks, T1 = {} and T2 = {} blocks (read back from chain: {:?}), reward {} ETH per sequence",
        a.block_ms,
        params.t1,
        params.t2,
        deployment.windows(&admin_chain, rollups[0].world.rollup).await?,
        eth(params.reward_per_sequence)
    );
    chain.set_automine(false);
    let (stop_chain, stop_rx) = watch::channel(false);
    tokio::spawn(dev::mine_every(chain.clone(), Duration::from_millis(a.block_ms), stop_rx));

    let mut nodes = vec![];
    for (i, m) in miners.iter().enumerate() {
        let workers = *a.workers.get(i).or(a.workers.last()).unwrap_or(&1);
        let generator = GeneratorConfig { workers, ..GeneratorConfig::default() };
        let path = dir.join(format!("miner-{}", i + 1)).join("node.redb");
        // One client of the chain for the miner's key: every rollup's transactions share its nonces.
        let client: Arc<dyn BaseChain> = Arc::new(chain.handle(*m));
        let serve = rollups.iter().map(|r| Serve { chain: client.clone(), world: r.world, plugin: r.plugin.clone() }).collect();
        let cfg = MinerConfig {
            generator,
            poll: Duration::from_millis(a.block_ms / 4 + 1),
            start_batch: 0,
            // Every demo miner reveals, so there is nothing to keep; rewards stay credited for
            // the closing summary.
            upkeep: UpkeepConfig::default(),
        };
        nodes.push(Miner::serve(serve, &path, cfg).await?);
        println!(
            "miner {} {m}: stake {} ETH, {workers} worker(s) for {} rollup(s), store {}",
            i + 1,
            eth(U256::from(STAKES[i])),
            rollups.len(),
            path.display()
        );
    }

    let seq_chain = chain.handle(seq_addr);
    let deadline = Duration::from_secs(a.timeout_secs);
    // Round by round, one sequence of each rollup.
    while rollups.iter().any(|r| (r.posted.len() as u64) < a.sequences) {
        for r in rollups.iter_mut().filter(|r| (r.posted.len() as u64) < a.sequences) {
            if let Some(s) = r.sequencer.post(&r.plugin, &seq_chain, &r.world).await? {
                println!(
                    "block {:>4}: rollup {} sequence {} posted ({} batch(es))",
                    chain.head_number(),
                    r.world.rollup,
                    s.final_new_batch,
                    s.commitments.len()
                );
                r.posted.push(s.final_new_batch);
                r.posted_batches.push(s.commitments.len());
            }
        }
        // The contract takes one sequence per rollup per block: give the next round its own.
        let at = chain.head_number();
        while chain.head_number() < at + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut outcome = Ok(());
    for r in &rollups {
        let last = *r.posted.last().expect("posted");
        outcome = dev::wait_verified(&seq_chain, &r.world, last, deadline.saturating_sub(started.elapsed())).await;
        if outcome.is_err() {
            break;
        }
    }
    let all_stores: Vec<Arc<Store>> = nodes.iter().flat_map(|n| n.stores.iter().cloned()).collect();
    let settled = match &outcome {
        Ok(()) => dev::wait_settled(&all_stores, Duration::from_secs(60)).await,
        Err(_) => Ok(()),
    };
    // stores[miner][rollup]
    let stores: Vec<Vec<Arc<Store>>> = nodes.iter().map(|n| n.stores.clone()).collect();
    for n in nodes {
        n.stop().await?;
    }
    let _ = stop_chain.send(true);

    for (ri, r) in rollups.iter().enumerate() {
        let verifiers = deployment.verifiers(&seq_chain, r.world.rollup, 0, chain.head_number()).await?;
        println!("\nrollup {} ({})", r.world.rollup, r.plugin.metadata().name);
        for (f, n) in r.posted.iter().zip(&r.posted_batches) {
            let ws = deployment.window_state(&seq_chain, r.world.rollup, *f).await?;
            let by = verifiers.iter().find(|(v, _)| v == f).map(|(_, m)| miner_name(&miners, *m)).unwrap_or_else(|| "nobody".into());
            println!(
                "sequence {f} ({n} batch(es)): window {} opened at block {}, verified at block {} by {by}",
                ws.window,
                ws.start,
                ws.verified_at.map_or("-".into(), |b| b.to_string())
            );
            for (i, st) in stores.iter().enumerate() {
                println!("  miner {}: {}", i + 1, path_of(&st[ri], *f)?);
            }
        }
    }
    // The rollups side by side: per miner, revealed / missed / slashed / open and the rewards
    // its reveals were credited, one column group per rollup.
    let label = |r: &DemoRollup| format!("rollup {} ({})", r.world.rollup, r.plugin.metadata().name);
    println!();
    print!("{:<8} {:>10} {:>8}", "", "", "");
    for r in &rollups {
        print!(" | {:^27}", label(r));
    }
    println!(" | {:>12}", "");
    print!("{:<8} {:>10} {:>8}", "miner", "stake ETH", "workers");
    for _ in &rollups {
        print!(" | {:>4} {:>4} {:>4} {:>4} {:>8}", "rev", "miss", "slsh", "open", "ETH");
    }
    println!(" | {:>12}", "credited ETH");
    let mut failures = vec![];
    let mut unpaid = vec![];
    for (i, (m, st)) in miners.iter().zip(&stores).enumerate() {
        let workers = *a.workers.get(i).or(a.workers.last()).unwrap_or(&1);
        print!("{:<8} {:>10} {:>8}", format!("miner {}", i + 1), eth(U256::from(STAKES[i])), workers);
        for (ri, store) in st.iter().enumerate() {
            let au = audit(store)?;
            print!(
                " | {:>4} {:>4} {:>4} {:>4} {:>8}",
                au.revealed.len(),
                au.missed.len(),
                au.slashed.len(),
                au.open.len(),
                eth(au.rewards)
            );
            let name = label(&rollups[ri]);
            if !au.slashed.is_empty() {
                failures.push(format!("miner {} was slashed on {name} sequences {:?}", i + 1, au.slashed));
            }
            if !au.open.is_empty() {
                failures.push(format!("miner {} left commitments unrevealed on {name} sequences {:?}", i + 1, au.open));
            }
        }
        let on_chain = deployment.rewards_of(&seq_chain, *m).await?;
        println!(" | {:>12}", eth(on_chain));
        if on_chain.is_zero() {
            unpaid.push(format!("miner {}", i + 1));
        }
    }
    let total: usize = rollups.iter().map(|r| r.posted.len()).sum();
    println!("{total} sequences of {} rollup(s) in {:.0} s", rollups.len(), started.elapsed().as_secs_f64());
    outcome?;
    settled?;
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    if unpaid.is_empty() {
        println!("every sequence verified, every commitment revealed, every miner paid");
    } else {
        // Not a failure: a miner too slow for every window earns nothing, as on a real chain.
        println!("every sequence verified, every commitment revealed; unpaid (too slow for every window): {}", unpaid.join(", "));
    }
    Ok(())
}

fn miner_name(miners: &[Address], m: Address) -> String {
    miners.iter().position(|x| *x == m).map_or_else(|| m.to_string(), |i| format!("miner {}", i + 1))
}

/// One miner's path through a sequence: its tasks (time each) and its submission.
fn path_of(store: &Store, f: u64) -> Result<String> {
    let Some(seq) = store.sequence(f)? else { return Ok("never saw it".into()) };
    let mut parts = vec![];
    for id in TaskId::graph(f, seq.batches()) {
        let Some(t) = store.task(&id)? else { continue };
        let name = match id.kind() {
            TaskKind::Batch(i) => format!("b{i}"),
            TaskKind::Aggregate => "agg".into(),
            TaskKind::Final => "final".into(),
        };
        let time = match (t.state, t.started_ms, t.finished_ms) {
            (TaskState::Done, Some(s), Some(e)) => format!("{:.1}s", (e - s) as f64 / 1e3),
            (TaskState::Dropped, ..) => "dropped".into(),
            (state, ..) => format!("{state:?}").to_lowercase(),
        };
        parts.push(format!("{name} {time}"));
    }
    let sub = match store.submission(f)? {
        None => "no submission".to_string(),
        Some(s) => {
            let blocks = format!(
                "commit block {}, reveal block {}",
                s.commit_block.map_or("-".into(), |b| b.to_string()),
                s.reveal_block.map_or("-".into(), |b| b.to_string())
            );
            match s.state {
                SubmissionState::Revealed { late, reward_wei } => {
                    format!("{blocks}, {}reward {} ETH", if late { "late, " } else { "" }, eth(U256::from(reward_wei)))
                }
                SubmissionState::Missed => "missed (verified before it could commit)".into(),
                other => format!("{blocks}, {other:?}"),
            }
        }
    };
    Ok(format!("{} | {sub}", parts.join(", ")))
}
