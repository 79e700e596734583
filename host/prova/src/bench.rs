//! `prova bench`: every kernel at every size on arkworks (the CPU reference), rayon and each
//! wgpu adapter, then one batch proof per backend; a table with ratios, JSON and a plot.
//!
//! Timings are wall-clock medians of `--reps` runs after one untimed warm-up call (which also
//! makes MSM bases and NTT twiddles resident on a device, as in a running node). For wgpu the
//! median run is split into copy (uploads and readbacks, each waited for), kernel (dispatches,
//! waited for) and host (CPU work around the device: digits, bucket sorting, conversions).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{FftField, UniformRand};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use prova_compute::{Backend, Bases, G1Bases, NttKind, RayonBackend};
use prova_compute_wgpu::{Gpu, Timings, WgpuBackend, WgpuOptions};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::cli::{Args, BenchArgs};

/// The kernels measured, in report order.
const KERNELS: [&str; 4] = ["msm_g1", "ntt", "intt", "coset_ntt"];

/// One measured backend.
enum Runner {
    Arkworks(rayon::ThreadPool),
    Rayon(RayonBackend),
    Wgpu(Box<Gpu>),
}

struct Subject {
    id: String,
    runner: Runner,
    info: Value,
}

/// Inputs of one size, built once and shared by every backend.
struct Inputs {
    bases: G1Bases,
    scalars: Vec<Fr>,
}

fn inputs(log: u32) -> Inputs {
    let n = 1usize << log;
    // Random points cost a scalar multiplication each; a walk p, p + s, p + 2s, ... from a random
    // start per chunk costs one addition per point and is as good for timing.
    let chunk = 1 << 12;
    let points: Vec<G1Projective> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .flat_map_iter(|c| {
            let mut rng = StdRng::seed_from_u64(c as u64);
            let step = G1Projective::rand(&mut rng);
            let mut p = G1Projective::rand(&mut rng);
            (0..chunk.min(n - c * chunk)).map(move |_| {
                p += step;
                p
            })
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(u64::from(log));
    Inputs { bases: Bases::new(G1Projective::normalize_batch(&points)), scalars: (0..n).map(|_| Fr::rand(&mut rng)).collect() }
}

/// What one call returns: its result (to check against the reference) and, for wgpu, its phases.
enum Output {
    Point(G1Affine),
    Values(Vec<Fr>),
}

fn ntt_kind(kernel: &str) -> NttKind {
    match kernel {
        "ntt" => NttKind::Forward,
        "intt" => NttKind::Inverse,
        _ => NttKind::CosetForward(Fr::GENERATOR),
    }
}

impl Subject {
    fn call(&self, kernel: &str, input: &Inputs) -> Result<(Output, Option<Timings>)> {
        if kernel == "msm_g1" {
            let (bases, scalars) = (&input.bases, &input.scalars);
            let (p, t) = match &self.runner {
                Runner::Arkworks(pool) => (pool.install(|| G1Projective::msm_unchecked(bases.points(), scalars)), None),
                Runner::Rayon(b) => (b.msm_g1(bases, 0, scalars)?, None),
                Runner::Wgpu(g) => {
                    let (p, t) = g.msm_g1(bases, 0, scalars)?;
                    (p, Some(t))
                }
            };
            return Ok((Output::Point(p.into_affine()), t));
        }
        let kind = ntt_kind(kernel);
        let mut v = input.scalars.clone();
        let t = match &self.runner {
            Runner::Arkworks(pool) => {
                let d = Radix2EvaluationDomain::<Fr>::new(v.len()).context("domain")?;
                pool.install(|| match kind {
                    NttKind::Forward => d.fft_in_place(&mut v),
                    NttKind::Inverse => d.ifft_in_place(&mut v),
                    _ => d.get_coset(Fr::GENERATOR).expect("generator coset").fft_in_place(&mut v),
                });
                None
            }
            Runner::Rayon(b) => {
                b.ntt(&mut v, kind)?;
                None
            }
            Runner::Wgpu(g) => Some(g.ntt(&mut v, kind)?),
        };
        Ok((Output::Values(v), t))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Finds a TrueType font for the plot's text (plotters renders it with ab_glyph).
fn register_font() -> Result<()> {
    let candidates = [
        std::env::var("PROVA_PLOT_FONT").unwrap_or_default(),
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into(),
        "/usr/share/fonts/TTF/DejaVuSans.ttf".into(),
        "/usr/share/fonts/dejavu/DejaVuSans.ttf".into(),
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf".into(),
        "/System/Library/Fonts/Supplemental/Arial.ttf".into(),
        "C:\\Windows\\Fonts\\arial.ttf".into(),
    ];
    for path in candidates.iter().filter(|p| !p.is_empty()) {
        if let Ok(bytes) = std::fs::read(path) {
            // plotters keeps registered fonts for the process' lifetime.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
    }
    bail!("no TrueType font found for the plot's labels; set PROVA_PLOT_FONT=/path/to/font.ttf (or install fonts-dejavu-core)")
}

/// Draws the plot; `run` has registered the font and checked the extension before measuring.
fn plot(path: &Path, results: &[Value], ids: &[String]) -> Result<()> {
    use plotters::prelude::*;
    match path.extension().and_then(|e| e.to_str()).map(str::to_lowercase).as_deref() {
        Some("svg") => draw(SVGBackend::new(path, (1280, 960)).into_drawing_area(), results, ids),
        Some("png") => draw(BitMapBackend::new(path, (1280, 960)).into_drawing_area(), results, ids),
        _ => bail!("--plot {}: the extension must be .png or .svg", path.display()),
    }
    .with_context(|| format!("cannot draw {}", path.display()))
}

/// One panel per kernel: total time against size, a line per backend.
fn draw<DB: plotters::prelude::DrawingBackend>(
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    results: &[Value],
    ids: &[String],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("{e}");
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled("prova bench: wall time per call (ms, log scale)", ("sans-serif", 22)).map_err(err)?;
    let panels = root.split_evenly((2, 2));
    for (panel, kernel) in panels.iter().zip(KERNELS) {
        let rows: Vec<&Value> = results.iter().filter(|r| r["kernel"] == kernel && r["status"] == "ok").collect();
        let logs: Vec<u32> = rows.iter().filter_map(|r| r["log_size"].as_u64()).map(|l| l as u32).collect();
        let (lo, hi) = (logs.iter().min().copied().unwrap_or(16), logs.iter().max().copied().unwrap_or(22));
        let times: Vec<f64> = rows.iter().filter_map(|r| r["total_ms"].as_f64()).collect();
        let ymin = times.iter().cloned().fold(f64::MAX, f64::min).min(1.0) / 2.0;
        let ymax = times.iter().cloned().fold(0.0, f64::max).max(10.0) * 2.0;
        let mut chart = ChartBuilder::on(panel)
            .caption(kernel, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi.max(lo + 1), (ymin..ymax).log_scale())
            .map_err(err)?;
        chart.configure_mesh().x_desc("log2 size").y_desc("ms").draw().map_err(err)?;
        for (i, id) in ids.iter().enumerate() {
            let series: Vec<(u32, f64)> = rows
                .iter()
                .filter(|r| r["backend"] == id.as_str())
                .filter_map(|r| Some((r["log_size"].as_u64()? as u32, r["total_ms"].as_f64()?)))
                .collect();
            if series.is_empty() {
                continue;
            }
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(id.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(series.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(err)?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

pub fn run(args: &Args, b: &BenchArgs) -> Result<()> {
    if let Some(p) = &b.plot {
        // Refuse a bad plot path before minutes of measuring.
        match p.extension().and_then(|e| e.to_str()).map(str::to_lowercase).as_deref() {
            Some("png" | "svg") => register_font()?,
            _ => bail!("--plot {}: the extension must be .png or .svg", p.display()),
        }
    }
    if b.reps == 0 {
        bail!("--reps must be at least 1");
    }
    if !b.no_proof {
        // Refuse a missing or unnamed plugin before minutes of measuring.
        crate::commands::plugin(
            &crate::commands::runtime_with(args, Arc::new(RayonBackend::new(1)?))?,
            &args.plugins,
            b.plugin.as_deref(),
        )?;
    }
    if let Some(bad) = b.sizes.iter().find(|s| !(1..=24).contains(*s)) {
        bail!("--sizes: 2^{bad} is outside 2^1..2^24");
    }
    let threads = if args.threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { args.threads };

    let mut subjects = Vec::new();
    if b.only != "wgpu" {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        subjects.push(Subject {
            id: "arkworks".into(),
            runner: Runner::Arkworks(pool),
            info: json!({"kind": "cpu-reference", "description": "ark-ec 0.6 VariableBaseMSM, ark-poly 0.6 Radix2EvaluationDomain", "threads": threads}),
        });
        let r = RayonBackend::new(threads)?;
        subjects.push(Subject {
            id: "rayon".into(),
            info: json!({"kind": "rayon", "description": r.name(), "threads": threads}),
            runner: Runner::Rayon(r),
        });
    }
    let adapters = prova_compute_wgpu::adapters();
    eprintln!("wgpu adapters found: {}", adapters.len());
    if b.only != "rayon" {
        for (i, (summary, adapter)) in adapters.iter().enumerate() {
            eprintln!("  wgpu:{i}  {}  vendor {:#06x} device {:#06x}", summary.label(), summary.vendor, summary.device);
            let adapter_json = json!({
                "name": summary.name, "vendor": summary.vendor, "device": summary.device,
                "device_type": summary.device_type, "backend": summary.backend,
                "driver": summary.driver, "driver_info": summary.driver_info,
                "shader_int64": summary.shader_int64, "timestamp_query": summary.timestamp_query,
                "max_storage_binding": summary.max_storage_binding,
            });
            match Gpu::open(summary.clone(), adapter, None) {
                Ok(gpu) => subjects.push(Subject {
                    id: format!("wgpu:{i}"),
                    info: json!({"kind": "wgpu", "adapter": adapter_json, "arith": gpu.arith().name()}),
                    runner: Runner::Wgpu(Box::new(gpu)),
                }),
                Err(e) => eprintln!("    cannot open: {e}"),
            }
        }
        if adapters.is_empty() {
            eprintln!("  none (on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)");
        }
    }
    if subjects.is_empty() {
        bail!("nothing to measure: no backend selected or opened");
    }

    let total = subjects.len() * KERNELS.len() * b.sizes.len();
    let mut done = 0;
    let mut results: Vec<Value> = Vec::new();
    // (subject, kernel) -> (log size, one call's seconds) of the last measurement.
    let mut last: std::collections::HashMap<(usize, &str), (u32, f64)> = Default::default();
    for &log in &b.sizes {
        let mut input: Option<Inputs> = None;
        for kernel in KERNELS {
            let mut reference: Option<Output> = None;
            for (si, s) in subjects.iter().enumerate() {
                done += 1;
                let tag = format!("[{done}/{total}] {} {kernel} 2^{log}", s.id);
                let mut row = json!({"backend": s.id, "kernel": kernel, "log_size": log});
                // MSM cost grows about linearly, an NTT by n log n: predict from the last size.
                if let Some((l, secs)) = last.get(&(si, kernel)) {
                    let predicted = secs * f64::from(1u32 << (log - l).min(20)) * f64::from(log) / f64::from(*l);
                    if predicted > b.budget_secs {
                        eprintln!("{tag}: skipped (predicted {predicted:.1} s > budget {} s)", b.budget_secs);
                        row["status"] = "skipped".into();
                        row["note"] = format!("predicted {predicted:.1} s per call > --budget-secs {}", b.budget_secs).into();
                        results.push(row);
                        continue;
                    }
                }
                let inp = input.get_or_insert_with(|| {
                    eprintln!("generating 2^{log} inputs");
                    inputs(log)
                });
                eprint!("{tag} ...");
                let warm = Instant::now();
                let first = s.call(kernel, inp);
                let warm = warm.elapsed();
                let (out, _) = match first {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!(" failed: {e:#}");
                        row["status"] = "failed".into();
                        row["note"] = format!("{e:#}").into();
                        results.push(row);
                        continue;
                    }
                };
                let mut runs: Vec<(Duration, Option<Timings>)> = Vec::new();
                for _ in 0..b.reps {
                    let t = Instant::now();
                    let (_, timings) = s.call(kernel, inp)?;
                    runs.push((t.elapsed(), timings));
                }
                runs.sort_by_key(|r| r.0);
                let (median, timings) = runs[runs.len() / 2];
                last.insert((si, kernel), (log, median.as_secs_f64()));
                row["status"] = "ok".into();
                row["reps"] = b.reps.into();
                row["total_ms"] = ms(median).into();
                row["first_call_ms"] = ms(warm).into();
                if let Some(t) = timings {
                    row["copy_ms"] = ms(t.upload + t.download).into();
                    row["kernel_ms"] = ms(t.kernel).into();
                    row["host_ms"] = ms(t.host).into();
                }
                let matches = match (&reference, &out) {
                    (None, _) => None,
                    (Some(Output::Point(a)), Output::Point(b)) => Some(a == b),
                    (Some(Output::Values(a)), Output::Values(b)) => Some(a == b),
                    _ => Some(false),
                };
                row["matches_reference"] = matches.map(Value::from).unwrap_or(Value::Null);
                if matches == Some(false) {
                    eprintln!(" {:.1} ms  RESULT DIFFERS FROM THE REFERENCE", ms(median));
                } else {
                    eprintln!(" {:.1} ms", ms(median));
                }
                if reference.is_none() {
                    reference = Some(out);
                }
                results.push(row);
            }
        }
    }
    // Ratios against arkworks at the same kernel and size: > 1 is faster than arkworks.
    for i in 0..results.len() {
        let ark = results
            .iter()
            .find(|r| r["backend"] == "arkworks" && r["kernel"] == results[i]["kernel"] && r["log_size"] == results[i]["log_size"])
            .and_then(|r| r["total_ms"].as_f64());
        if let (Some(a), Some(t)) = (ark, results[i]["total_ms"].as_f64()) {
            results[i]["ratio_vs_arkworks"] = (a / t).into();
        }
    }

    let proofs = if b.no_proof { Vec::new() } else { batch_proofs(args, b, &subjects, threads)? };

    println!(
        "\n{:<10} {:<10} {:>5} {:>12} {:>10} {:>10} {:>10} {:>9}",
        "backend", "kernel", "size", "total ms", "copy ms", "kernel ms", "host ms", "vs ark"
    );
    for r in &results {
        let f = |k: &str| r[k].as_f64().map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
        let total = if r["status"] == "ok" { f("total_ms") } else { r["status"].as_str().unwrap_or("?").to_string() };
        let ratio = r["ratio_vs_arkworks"].as_f64().map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into());
        println!(
            "{:<10} {:<10} {:>5} {:>12} {:>10} {:>10} {:>10} {:>9}",
            r["backend"].as_str().unwrap_or(""),
            r["kernel"].as_str().unwrap_or(""),
            format!("2^{}", r["log_size"]),
            total,
            f("copy_ms"),
            f("kernel_ms"),
            f("host_ms"),
            ratio
        );
    }
    for p in &proofs {
        println!(
            "batch proof on {:<10} {}",
            p["backend"].as_str().unwrap_or(""),
            match p["ms"].as_f64() {
                Some(x) => format!("{x:.0} ms ({:.2}x rayon)", p["ratio_vs_rayon"].as_f64().unwrap_or(f64::NAN)),
                None => p["note"].as_str().unwrap_or("").to_string(),
            }
        );
    }

    let ids: Vec<String> = subjects.iter().map(|s| s.id.clone()).collect();
    let report = json!({
        "schema": "prova-bench/1",
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "host": {"os": std::env::consts::OS, "arch": std::env::consts::ARCH, "threads": threads},
        "backends": subjects.iter().map(|s| { let mut v = s.info.clone(); v["id"] = s.id.clone().into(); v }).collect::<Vec<_>>(),
        "kernels": results,
        "batch_proof": proofs,
    });
    if let Some(p) = &b.json {
        crate::commands::write_file(p, serde_json::to_string_pretty(&report)?.as_bytes())?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &b.plot {
        plot(p, report["kernels"].as_array().expect("array"), &ids)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// One batch proof of the plugin's sample on rayon and on each opened adapter (through
/// `WgpuBackend`, as a node runs it: small kernels and G2 stay on rayon).
fn batch_proofs(args: &Args, b: &BenchArgs, subjects: &[Subject], threads: usize) -> Result<Vec<Value>> {
    let mut backends: Vec<(String, Arc<dyn Backend>)> = Vec::new();
    for s in subjects {
        match &s.runner {
            Runner::Arkworks(_) => {}
            Runner::Rayon(_) => backends.push((s.id.clone(), Arc::new(RayonBackend::new(threads)?))),
            Runner::Wgpu(g) => {
                let options = WgpuOptions { adapter: Some(g.summary().name.clone()), ..Default::default() };
                let gpu = prova_compute_wgpu::open_gpu(&options)?;
                backends.push((s.id.clone(), Arc::new(WgpuBackend::new(gpu, RayonBackend::new(threads)?, options.min_log))));
            }
        }
    }
    let mut out: Vec<Value> = Vec::new();
    let prover = [0x11u8; 20];
    for (id, backend) in backends {
        eprint!("batch proof on {id} ...");
        let rt = crate::commands::runtime_with(args, backend)?;
        let p = crate::commands::plugin(&rt, &args.plugins, b.plugin.as_deref())?;
        if p.keys().is_none() {
            p.setup(b"prova-dev")?;
        }
        p.validate_keys().map_err(|e| anyhow::anyhow!("key set: {e}"))?;
        let witness = p.sample_sequence(1, 1)?.remove(0);
        p.prove_batch("bench warm-up", &witness, &prover)?;
        let mut runs: Vec<Duration> = (0..b.reps.min(3))
            .map(|_| {
                let t = Instant::now();
                p.prove_batch("bench", &witness, &prover).map(|_| t.elapsed())
            })
            .collect::<Result<_, _>>()?;
        runs.sort();
        let median = runs[runs.len() / 2];
        eprintln!(" {:.0} ms", ms(median));
        out.push(json!({"backend": id, "plugin": p.metadata().name, "status": "ok", "ms": ms(median), "reps": runs.len()}));
    }
    let rayon_ms = out.iter().find(|p| p["backend"] == "rayon").and_then(|p| p["ms"].as_f64());
    for p in &mut out {
        if let (Some(r), Some(t)) = (rayon_ms, p["ms"].as_f64()) {
            p["ratio_vs_rayon"] = (r / t).into();
        }
    }
    Ok(out)
}
