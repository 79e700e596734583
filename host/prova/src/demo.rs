//! `prova demo`: several miners, each with its own key, store and workers, on the embedded
//! chain with the reference rollup and a dev sequencer, until N sequences are verified. Exits
//! non-zero if a sequence stays unverified, a commitment is left unrevealed or a miner is
//! slashed; a miner that earned nothing (too slow for every window) is reported, not failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use prova_chain::dev::dev_signer;
use prova_chain::embedded::EmbeddedChain;
use prova_chain::{Address, U256};
use prova_dev::{self as dev, DevParams, DevSequencer, EMBEDDED_CHAIN_ID, ETH, Miner, MinerConfig, audit};
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

pub fn run(a: &DemoArgs, plugin: Plugin) -> Result<()> {
    if !(1..=3).contains(&a.miners) {
        bail!("--miners must be 1, 2 or 3 (the dev accounts)");
    }
    if plugin.keys().is_none() {
        eprintln!("WARNING: no keys installed; running the deterministic dev setup (INSECURE).");
        plugin.setup(b"prova-dev")?;
    }
    plugin.validate_keys().map_err(|e| anyhow::anyhow!("key set: {e}"))?;
    let plugin = Arc::new(plugin);
    let tmp = tempfile::tempdir()?;
    let dir = a.data_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(demo(a, plugin, &dir))
}

async fn demo(a: &DemoArgs, plugin: Arc<Plugin>, dir: &std::path::Path) -> Result<()> {
    let started = Instant::now();
    let (admin, seq_addr) = (dev_signer(0).address(), dev_signer(4).address());
    let miners: Vec<Address> = (1..=a.miners).map(|i| dev_signer(i).address()).collect();
    let funded: Vec<_> = [admin, seq_addr].iter().chain(&miners).map(|m| (*m, U256::from(1_000_000 * ETH))).collect();
    let chain = EmbeddedChain::new(EMBEDDED_CHAIN_ID, &funded);
    let mut sequencer = DevSequencer::new(&plugin, a.seed, (a.sequences as usize * a.max_batches) as u32, a.max_batches)?;
    let params = DevParams { t1: a.t1, t2: a.t2, withdraw_delay: a.t1 + a.t2 + 10, ..DevParams::default() };
    let world = dev::deploy_rollup(&chain.handle(admin), &plugin, seq_addr, sequencer.genesis(), &params).await?;
    for (m, stake) in miners.iter().zip(STAKES) {
        world.deployment.deposit(&chain.handle(*m), U256::from(stake)).await?;
    }
    let verifier = world.deployment.rollup_config(&chain.handle(admin), world.rollup).await?.verifier;
    println!(
        "rollup {} (plugin {}): final proofs checked by {verifier}, {}",
        world.rollup,
        plugin.metadata().name,
        match plugin.metadata().own_verifier() {
            None => "the standard Groth16BatchVerifier".to_string(),
            Some(_) => format!("the plugin's own contract (the standard verifier is {})", world.deployment.verifier),
        }
    );
    println!(
        "embedded chain: {} ms blocks, T1 = {} and T2 = {} blocks (read back from chain: {:?}), reward {} ETH per sequence",
        a.block_ms,
        params.t1,
        params.t2,
        world.deployment.windows(&chain.handle(admin), world.rollup).await?,
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
        nodes.push(
            Miner::start(
                Arc::new(chain.handle(*m)),
                &world,
                plugin.clone(),
                &path,
                MinerConfig {
                    generator,
                    poll: Duration::from_millis(a.block_ms / 4 + 1),
                    start_batch: 0,
                    // Every demo miner reveals, so there is nothing to keep; rewards stay
                    // credited for the closing summary.
                    upkeep: UpkeepConfig::default(),
                },
            )
            .await?,
        );
        println!("miner {} {m}: stake {} ETH, {workers} worker(s), store {}", i + 1, eth(U256::from(STAKES[i])), path.display());
    }

    let seq_chain = chain.handle(seq_addr);
    let mut posted = vec![];
    let deadline = Duration::from_secs(a.timeout_secs);
    while (posted.len() as u64) < a.sequences {
        if let Some(s) = sequencer.post(&plugin, &seq_chain, &world).await? {
            println!("block {:>4}: sequence {} posted ({} batch(es))", chain.head_number(), s.final_new_batch, s.commitments.len());
            posted.push(s);
        }
        // The contract takes one sequence per block: give the next one its own.
        let at = chain.head_number();
        while chain.head_number() < at + 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let last = posted.last().map(|s| s.final_new_batch).context("nothing posted")?;
    let outcome = dev::wait_verified(&seq_chain, &world, last, deadline.saturating_sub(started.elapsed())).await;
    let settled = match &outcome {
        Ok(()) => dev::wait_settled(&nodes.iter().map(|n| n.store().clone()).collect::<Vec<_>>(), Duration::from_secs(60)).await,
        Err(_) => Ok(()),
    };
    let mut stores = vec![];
    for n in nodes {
        stores.push(n.stop().await?);
    }
    let _ = stop_chain.send(true);

    let verifiers = world.deployment.verifiers(&seq_chain, world.rollup, 0, chain.head_number()).await?;
    println!();
    for s in &posted {
        let f = s.final_new_batch;
        let ws = world.deployment.window_state(&seq_chain, world.rollup, f).await?;
        let by = verifiers.iter().find(|(v, _)| *v == f).map(|(_, m)| miner_name(&miners, *m)).unwrap_or_else(|| "nobody".into());
        println!(
            "sequence {f} ({} batch(es)): window {} opened at block {}, verified at block {} by {by}",
            s.commitments.len(),
            ws.window,
            ws.start,
            ws.verified_at.map_or("-".into(), |b| b.to_string())
        );
        for (i, st) in stores.iter().enumerate() {
            println!("  miner {}: {}", i + 1, path_of(st, f)?);
        }
    }
    println!(
        "\n{:<8} {:>10} {:>8} {:>9} {:>7} {:>8} {:>6} {:>14}",
        "miner", "stake ETH", "workers", "revealed", "missed", "slashed", "open", "rewards ETH"
    );
    let mut failures = vec![];
    let mut unpaid = vec![];
    for (i, (m, st)) in miners.iter().zip(&stores).enumerate() {
        let au = audit(st)?;
        let on_chain = world.deployment.rewards_of(&seq_chain, *m).await?;
        let workers = *a.workers.get(i).or(a.workers.last()).unwrap_or(&1);
        println!(
            "{:<8} {:>10} {:>8} {:>9} {:>7} {:>8} {:>6} {:>14}",
            format!("miner {}", i + 1),
            eth(U256::from(STAKES[i])),
            workers,
            au.revealed.len(),
            au.missed.len(),
            au.slashed.len(),
            au.open.len(),
            eth(on_chain)
        );
        if !au.slashed.is_empty() {
            failures.push(format!("miner {} was slashed on sequences {:?}", i + 1, au.slashed));
        }
        if !au.open.is_empty() {
            failures.push(format!("miner {} left commitments unrevealed on sequences {:?}", i + 1, au.open));
        }
        if on_chain.is_zero() {
            unpaid.push(format!("miner {}", i + 1));
        }
    }
    println!("{} sequences in {:.0} s", posted.len(), started.elapsed().as_secs_f64());
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
