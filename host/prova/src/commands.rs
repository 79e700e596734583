//! What each command does. Errors get their context here, at the edge.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use prova_runtime::fsutil::write_atomically;
use prova_runtime::{Limits, Plugin, Runtime, RuntimeConfig, Stage};

use crate::cli::{Args, Command, PluginsCommand, ProveCommand};

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("prova").join("cwasm"))
}

fn runtime(args: &Args) -> Result<Runtime> {
    let backend = prova_compute_wgpu::select_backend(args.backend, args.threads, &wgpu_options(args))?;
    tracing::info!(backend = %backend.name(), "kernels");
    runtime_with(args, backend)
}

/// How the wgpu backend is opened, from the global flags.
pub fn wgpu_options(args: &Args) -> prova_compute_wgpu::WgpuOptions {
    prova_compute_wgpu::WgpuOptions { adapter: args.gpu_adapter.clone(), ..Default::default() }
}

/// A runtime over `backend`, with the limits and cache of the global flags.
pub fn runtime_with(args: &Args, backend: Arc<dyn prova_compute::Backend>) -> Result<Runtime> {
    let mut limits = Limits::default();
    if let Some(f) = args.fuel {
        limits.fuel_per_job = f;
    }
    if let Some(t) = args.timeout_secs {
        limits.wall_time_per_job = Duration::from_secs(t);
    }
    Ok(Runtime::new(RuntimeConfig { backend, limits, cache_dir: args.cache_dir.clone().or_else(default_cache_dir) })?)
}

/// The plugin called `name` in its metadata, in the plugin folder; without a name, the folder's
/// only plugin (see [`prova_runtime::Catalog`]).
pub fn plugin(rt: &Runtime, dir: &Path, name: Option<&str>) -> Result<Plugin> {
    Ok(rt.catalog(dir)?.take(name)?)
}

fn parse_address(s: &str) -> Result<[u8; 20]> {
    let hex_part = s.strip_prefix("0x").unwrap_or(s);
    let bytes = hex::decode(hex_part).with_context(|| format!("address {s:?} is not hex"))?;
    bytes.try_into().map_err(|b: Vec<u8>| anyhow!("address {s:?} has {} bytes, not 20", b.len()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

pub fn run(args: Args) -> Result<()> {
    // The benchmark builds a runtime per backend itself.
    if let Command::Bench(b) = &args.command {
        return crate::bench::run(&args, b);
    }
    // Chain commands open the plugin runtime only when they need a plugin.
    let lazy_plugin = |name: Option<&str>| plugin(&runtime(&args)?, &args.plugins, name);
    match &args.command {
        Command::Chain(c) => return crate::chain_cmd::chain(c),
        Command::Stake(c) => return crate::chain_cmd::stake(c),
        Command::Rewards(c) => return crate::chain_cmd::rewards(c),
        Command::Rollup(c) => return crate::chain_cmd::rollup(c, lazy_plugin),
        Command::Sequencer(c) => return crate::chain_cmd::sequencer(c, lazy_plugin),
        Command::Plugins(PluginsCommand::New { name, dir, sdk }) => return crate::new_plugin::new(name, dir, sdk.as_deref()),
        _ => {}
    }
    let rt = runtime(&args)?;
    let dir = &args.plugins;
    match &args.command {
        Command::Plugins(PluginsCommand::List) => {
            println!("plugins in {} (host loads prova:adapter {})", dir.display(), prova_runtime::wit_versions());
            let catalog = rt.catalog(dir)?;
            for p in catalog.plugins() {
                print_plugin(p);
            }
            for e in catalog.refused() {
                println!("  REFUSED  {e}");
            }
            if !catalog.refused().is_empty() {
                bail!("{} plugin(s) refused", catalog.refused().len());
            }
        }
        Command::Plugins(PluginsCommand::Check { files }) => {
            let mut failed = 0;
            for f in files {
                match rt.load(f) {
                    Ok(p) => println!("ok       {} ({} {})", f.display(), p.metadata().name, p.metadata().wit_version),
                    Err(e) => {
                        failed += 1;
                        println!("REFUSED  {e}");
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} plugin(s) refused", files.len());
            }
        }
        Command::Plugins(PluginsCommand::Setup { plugin: name, seed }) => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let name = &p.metadata().name;
            eprintln!("WARNING: deterministic dev setup from seed {seed:?}: INSECURE, anyone who knows the seed can forge proofs.");
            let t = Instant::now();
            let keys = p.setup(seed.as_bytes())?;
            println!("keys for {} written to {} in {} (digest {})", name, p.key_path().display(), ms(t.elapsed()), keys.digest_hex());
        }
        Command::Plugins(PluginsCommand::VerifyingKey { plugin: name, out }) => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let name = &p.metadata().name;
            let vk = p
                .metadata()
                .verifying_key
                .clone()
                .with_context(|| format!("{name} has no verifying key: run `prova plugins setup --plugin {name}` first"))?;
            write_file(out, &vk)?;
            println!("verifying key of {name} ({} bytes) written to {}", vk.len(), out.display());
        }
        Command::Plugins(PluginsCommand::SampleInput { plugin: name, batches, seed, out }) => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let seq = p.sample_sequence(*batches, *seed)?;
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
            for (i, w) in seq.iter().enumerate() {
                write_file(&out.join(format!("batch-{i}.bin")), w)?;
            }
            println!("{} batch witnesses written to {}", seq.len(), out.display());
        }
        Command::Prove(ProveCommand::Batch { plugin: name, witness, prover, out }) => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let t = Instant::now();
            let proof = p.prove_batch(&witness.display().to_string(), &read(witness)?, &parse_address(prover)?)?;
            write_file(out, &proof)?;
            println!("batch proof ({} bytes) written to {} in {}", proof.len(), out.display(), ms(t.elapsed()));
        }
        Command::Prove(ProveCommand::Aggregate { plugin: name, out, batch_proofs }) => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let proofs = batch_proofs.iter().map(|f| read(f)).collect::<Result<Vec<_>>>()?;
            let t = Instant::now();
            let agg = p.aggregate("aggregate", &proofs)?;
            write_file(out, &agg)?;
            println!("aggregate of {} batches ({} bytes) written to {} in {}", proofs.len(), agg.len(), out.display(), ms(t.elapsed()));
        }
        Command::Prove(ProveCommand::Finalize { plugin: name, proof, submitter, out }) => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let t = Instant::now();
            let fin = p.finalize("finalize", &read(proof)?, &parse_address(submitter)?)?;
            write_file(out, &fin)?;
            println!("final proof ({} bytes) written to {} in {}", fin.len(), out.display(), ms(t.elapsed()));
        }
        Command::Verify { plugin: name, stage, proof } => {
            let p = plugin(&rt, dir, name.as_deref())?;
            let claim = p.verify(&format!("verify {}", proof.display()), *stage, &read(proof)?)?;
            println!(
                "valid {} proof: {} batch(es), root 0x{} -> 0x{}, prover 0x{}",
                claim.stage,
                claim.batch_commitments.len(),
                hex::encode(&claim.old_state_root),
                hex::encode(&claim.new_state_root),
                hex::encode(&claim.prover)
            );
        }
        Command::Prove(ProveCommand::Sample { plugin: name, batches, seed, prover, out }) => {
            prove_sample(&rt, dir, name.as_deref(), *batches, *seed, &parse_address(prover)?, out.as_deref())?
        }
        Command::Node(a) => return crate::node::run(a, rt, dir),
        Command::Demo(a) => {
            let catalog = rt.catalog(dir)?;
            let names = match a.plugin.as_slice() {
                [] => vec![catalog.name_of(None)?],
                some => some.iter().map(|n| catalog.name_of(Some(n))).collect::<Result<_, _>>()?,
            };
            let mut all = catalog.into_plugins();
            let mut plugins = vec![];
            for n in names {
                plugins.push(all.remove(&n).with_context(|| format!("--plugin {n} is given twice"))?);
            }
            crate::demo::run(a, plugins)?
        }
        Command::Keystore(k) => crate::node::keystore(k)?,
        Command::Plugins(PluginsCommand::InspectBatch { plugin: name, file }) => {
            crate::chain_cmd::inspect_batch(&plugin(&rt, dir, name.as_deref())?, file)?
        }
        Command::Plugins(PluginsCommand::New { .. })
        | Command::Bench(_)
        | Command::Chain(_)
        | Command::Stake(_)
        | Command::Rewards(_)
        | Command::Rollup(_)
        | Command::Sequencer(_) => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

fn print_plugin(p: &Plugin) {
    let m = p.metadata();
    println!("  {}  (rollup type {:?}, WIT {}, file {})", m.name, m.rollup_type, m.wit_version, p.path().display());
    println!("      proof system: {}", m.proof_system);
    println!("      on-chain verifier: {}", m.verifier);
    println!("      memory per job: {} MiB, max batches per aggregate: {}", m.memory_bytes >> 20, m.max_batches);
    println!("      component keccak256: {}", p.digest_hex());
    match (&m.verifying_key, p.keys()) {
        (Some(vk), Some(keys)) => {
            println!("      verifying key: {} bytes, 0x{}...", vk.len(), hex::encode(&vk[..vk.len().min(16)]));
            println!("      key set {} ({})", keys.digest_hex(), keys.describe().join(", "));
        }
        _ => match p.key_problem() {
            Some(why) => println!("      keys: UNUSABLE: {why} (prova plugins setup --plugin {} replaces them)", m.name),
            None => println!("      keys: not installed (prova plugins setup --plugin {})", m.name),
        },
    }
}

/// Proves a sample sequence through every stage and verifies the result.
fn prove_sample(
    rt: &Runtime,
    dir: &Path,
    name: Option<&str>,
    batches: u32,
    seed: u64,
    prover: &[u8; 20],
    out: Option<&Path>,
) -> Result<()> {
    let p = plugin(rt, dir, name)?;
    let save = |file: &str, bytes: &[u8]| -> Result<()> {
        match out {
            Some(o) => write_file(&o.join(file), bytes),
            None => Ok(()),
        }
    };
    if p.keys().is_none() {
        eprintln!("WARNING: no keys installed; running the deterministic dev setup (INSECURE).");
        let t = Instant::now();
        p.setup(b"prova-dev")?;
        println!("{:<28} {:>10}", "setup (dev, insecure)", ms(t.elapsed()));
    }
    // Key points are checked once per process; done here so that the batch timings are proving alone.
    let t = Instant::now();
    p.validate_keys().map_err(|e| anyhow!("key set: {e}"))?;
    println!("{:<28} {:>10}", "key points checked", ms(t.elapsed()));
    let witnesses = p.sample_sequence(batches, seed)?;
    for (i, w) in witnesses.iter().enumerate() {
        save(&format!("batch-{i}.bin"), w)?;
    }
    println!("{:<28} {:>10}", "stage", "time");
    // Batch proofs are independent: prove them concurrently, as the node does.
    let total = Instant::now();
    let results: Vec<(Duration, Result<Vec<u8>, prova_runtime::JobError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = witnesses
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let p = &p;
                s.spawn(move || {
                    let t = Instant::now();
                    let r = p.prove_batch(&format!("batch {i}"), w, prover);
                    (t.elapsed(), r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("prover thread panicked")).collect()
    });
    let mut proofs = Vec::new();
    for (i, (d, r)) in results.into_iter().enumerate() {
        let proof = r?;
        println!("{:<28} {:>10}", format!("batch {i} ({} bytes)", proof.len()), ms(d));
        save(&format!("batch-{i}.proof"), &proof)?;
        proofs.push(proof);
    }
    let to_finalize = if proofs.len() > 1 {
        let t = Instant::now();
        let agg = p.aggregate("aggregate", &proofs)?;
        println!("{:<28} {:>10}", format!("aggregate ({} bytes)", agg.len()), ms(t.elapsed()));
        save("aggregate.proof", &agg)?;
        agg
    } else {
        proofs.remove(0)
    };
    let t = Instant::now();
    let fin = p.finalize("finalize", &to_finalize, prover)?;
    println!("{:<28} {:>10}", format!("final ({} bytes)", fin.len()), ms(t.elapsed()));
    save("final.proof", &fin)?;
    let t = Instant::now();
    let claim = p.verify("verify final", Stage::Final, &fin)?;
    println!("{:<28} {:>10}", "verify final", ms(t.elapsed()));
    println!("{:<28} {:>10}", "total (after setup)", ms(total.elapsed()));
    let k = p.kernel_stats();
    println!(
        "host kernels: {} calls, {:.1} MiB in, {:.1} MiB out, {} computing, {} converting",
        k.calls,
        k.bytes_in as f64 / (1 << 20) as f64,
        k.bytes_out as f64 / (1 << 20) as f64,
        ms(k.compute),
        ms(k.codec)
    );
    if claim.prover != prover {
        bail!("the final proof is bound to 0x{}, not to 0x{}", hex::encode(&claim.prover), hex::encode(prover));
    }
    println!(
        "verified: {} batches, state root 0x{} -> 0x{}, bound to 0x{}",
        claim.batch_commitments.len(),
        hex::encode(&claim.old_state_root),
        hex::encode(&claim.new_state_root),
        hex::encode(prover)
    );
    Ok(())
}
