//! The wgpu backend of `prova-compute`: BN254 G1 MSM and Fr NTTs as WGSL compute shaders, on
//! any adapter wgpu finds (Vulkan, Metal, DX12), and the node's backend selection.
//!
//! - [`Gpu`] is one device with the kernels built for it; its calls report [`Timings`] (upload,
//!   kernel, download, host) for `prova bench`.
//! - [`WgpuBackend`] implements [`Backend`] over a [`Gpu`], falling back to rayon per call when the
//!   adapter cannot run it (a missing feature, a buffer over its limits, out of memory, a device
//!   error), with a warning that names the adapter.
//! - [`select_backend`] turns a node's `rayon | wgpu | auto` into a backend.
//!
//! Field elements cross to the device in arkworks' own Montgomery form (eight u32 limbs), and
//! every shader returns reduced values, so results equal the rayon backend's bit for bit; the
//! tests hold them to that on Mesa's lavapipe.
//!
//! Architecture invariant: this crate is the only one that knows wgpu. It knows nothing of WASM,
//! wasmtime or tokio, like `prova-compute`.

mod gpu;
mod msm;
mod ntt;
mod shader;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ark_bn254::{Fr, G1Projective, G2Projective};
use prova_compute::{Backend, G1Bases, G2Bases, KernelError, NttKind, RayonBackend, check_ntt};

pub use gpu::{AdapterSummary, Gpu, GpuError, Timings, adapters};
pub use shader::Arith;

/// Where a node runs its kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// rayon on the CPU.
    Rayon,
    /// A wgpu adapter, or an error if none can be opened.
    Wgpu,
    /// The best hardware GPU if one opens, else rayon. CPU rasterisers (lavapipe) are not
    /// chosen: they are correct but slower than rayon on the same cores.
    #[default]
    Auto,
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rayon" => Ok(Self::Rayon),
            "wgpu" => Ok(Self::Wgpu),
            "auto" => Ok(Self::Auto),
            other => Err(format!("unknown backend {other:?}: expected rayon, wgpu or auto")),
        }
    }
}

/// How to open a wgpu backend.
#[derive(Debug, Clone)]
pub struct WgpuOptions {
    /// Only adapters whose name contains this (case-insensitive); the first match is used.
    pub adapter: Option<String>,
    /// Force the u32 or u64 shader arithmetic; `None` takes u64 where the adapter has it.
    pub arith: Option<Arith>,
    /// Calls below 2^min_log elements stay on rayon: a device round trip (submit, wait,
    /// readback) costs more than rayon takes for them. 2^12 is an estimate, not a measurement
    /// on a GPU; `prova bench` shows the crossover on a given machine.
    pub min_log: u32,
}

impl Default for WgpuOptions {
    fn default() -> Self {
        Self { adapter: None, arith: None, min_log: 12 }
    }
}

/// Opens the first adapter that matches `options` (CPU rasterisers included).
pub fn open_gpu(options: &WgpuOptions) -> Result<Gpu, GpuError> {
    let found = adapters();
    let names = || found.iter().map(|(s, _)| s.label()).collect::<Vec<_>>().join("; ");
    let pick = found.iter().find(|(s, _)| match &options.adapter {
        Some(want) => s.name.to_lowercase().contains(&want.to_lowercase()),
        None => true,
    });
    match pick {
        Some((summary, adapter)) => Gpu::open(summary.clone(), adapter, options.arith),
        None if found.is_empty() => Err(GpuError::NoAdapter(
            "none found on Vulkan, Metal or DX12 (on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)".into(),
        )),
        None => {
            Err(GpuError::NoAdapter(format!("none named like {:?}; found: {}", options.adapter.as_deref().unwrap_or_default(), names())))
        }
    }
}

/// Why no backend could be built.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Cpu(#[from] KernelError),
}

/// The backend for `choice`: rayon with `threads` workers (0: one per core) on its own, or as
/// the fallback of a wgpu backend.
pub fn select_backend(choice: BackendChoice, threads: usize, options: &WgpuOptions) -> Result<Arc<dyn Backend>, SelectError> {
    let cpu = RayonBackend::new(threads)?;
    match choice {
        BackendChoice::Rayon => Ok(Arc::new(cpu)),
        BackendChoice::Wgpu => Ok(Arc::new(WgpuBackend::new(open_gpu(options)?, cpu, options.min_log))),
        BackendChoice::Auto if options.adapter.is_some() => open_or_rayon(open_gpu(options), cpu, options.min_log),
        BackendChoice::Auto => match adapters().into_iter().find(|(s, _)| !s.is_cpu()) {
            // Open the adapter found here rather than enumerating again by name.
            Some((summary, adapter)) => open_or_rayon(Gpu::open(summary, &adapter, options.arith), cpu, options.min_log),
            None => {
                tracing::info!("no GPU adapter found; kernels run on rayon");
                Ok(Arc::new(cpu))
            }
        },
    }
}

/// `auto`'s last step: the opened GPU, or rayon with a warning naming why not.
fn open_or_rayon(gpu: Result<Gpu, GpuError>, cpu: RayonBackend, min_log: u32) -> Result<Arc<dyn Backend>, SelectError> {
    match gpu {
        Ok(gpu) => Ok(Arc::new(WgpuBackend::new(gpu, cpu, min_log))),
        Err(e) => {
            tracing::warn!(error = %e, "GPU unusable; kernels run on rayon");
            Ok(Arc::new(cpu))
        }
    }
}

/// Kernels on a [`Gpu`], with rayon for what the device cannot run.
pub struct WgpuBackend {
    gpu: Gpu,
    cpu: RayonBackend,
    min_len: usize,
    /// Set after the first fallback of each kernel, which is logged as a warning (later ones at
    /// debug level, so a node does not log every proof).
    warned_msm: AtomicBool,
    warned_ntt: AtomicBool,
}

impl WgpuBackend {
    /// A backend over `gpu` that sends calls below 2^min_log elements, and calls the device
    /// cannot run, to `cpu`.
    pub fn new(gpu: Gpu, cpu: RayonBackend, min_log: u32) -> Self {
        Self { gpu, cpu, min_len: 1 << min_log, warned_msm: AtomicBool::new(false), warned_ntt: AtomicBool::new(false) }
    }

    /// The device.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn fallback(&self, kernel: &str, warned: &AtomicBool, error: &GpuError) {
        if warned.swap(true, Ordering::Relaxed) {
            tracing::debug!(kernel, error = %error, "kernel falls back to rayon");
        } else {
            tracing::warn!(kernel, error = %error, "kernel falls back to rayon (further fallbacks are logged at debug level)");
        }
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> String {
        format!("wgpu:{} ({})", self.gpu.summary().name, self.gpu.arith().name())
    }

    fn msm_g1(&self, bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, KernelError> {
        bases.range(start, scalars.len())?;
        if scalars.len() < self.min_len {
            return self.cpu.msm_g1(bases, start, scalars);
        }
        match self.gpu.msm_g1(bases, start, scalars) {
            Ok((sum, _)) => Ok(sum),
            Err(e) => {
                self.fallback("msm_g1", &self.warned_msm, &e);
                self.cpu.msm_g1(bases, start, scalars)
            }
        }
    }

    /// On rayon: one of a Groth16 proof's five MSMs, over Fq2, which has no shader yet.
    fn msm_g2(&self, bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, KernelError> {
        self.cpu.msm_g2(bases, start, scalars)
    }

    fn ntt(&self, values: &mut Vec<Fr>, kind: NttKind) -> Result<(), KernelError> {
        check_ntt(values.len(), kind)?;
        if values.len() < self.min_len {
            return self.cpu.ntt(values, kind);
        }
        match self.gpu.ntt(values, kind) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.fallback("ntt", &self.warned_ntt, &e);
                self.cpu.ntt(values, kind)
            }
        }
    }
}

#[cfg(test)]
mod tests;
