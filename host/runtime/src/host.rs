//! The per-job host state that imports run against: WASI (granting nothing but a captured
//! stderr), the resource table, the memory limiter, the kernel backend and the plugin's keys.

use std::sync::Arc;
use std::time::Instant;

use prova_compute::{Backend, G1Bases, G2Bases, KernelError, NttKind};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::keys::{KeySet, Section};
use crate::limits::MemoryLimiter;

/// What a guest's `g1-bases` handle stands for: shared, resident bases.
pub type G1Handle = G1Bases;
/// What a guest's `g2-bases` handle stands for.
pub type G2Handle = G2Bases;

/// Why a key section could not be handed out.
#[derive(Debug)]
pub enum KeyLookupError {
    NoKeys,
    Missing(String),
}

pub struct HostState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) stderr: MemoryOutputPipe,
    backend: Arc<dyn Backend>,
    keys: Option<Arc<KeySet>>,
    stats: Arc<crate::stats::KernelCounters>,
}

impl HostState {
    pub fn new(
        backend: Arc<dyn Backend>,
        keys: Option<Arc<KeySet>>,
        stats: Arc<crate::stats::KernelCounters>,
        memory_bytes: u64,
        stderr_bytes: usize,
        max_handles: usize,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(stderr_bytes);
        // No preopened directories, no environment, no network, no inherited stdio, clocks
        // that never move and a fixed hash seed: a job's result depends on its inputs alone,
        // and the only thing a plugin can do to the outside is write its own captured stderr.
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .insecure_random_seed(0)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(max_handles);
        Self { wasi, table, limiter: MemoryLimiter::new(memory_bytes), stderr, backend, keys, stats }
    }

    /// What the guest wrote to stderr during this job.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    pub(crate) fn g1(&self, h: &Resource<G1Handle>) -> wasmtime::Result<&G1Bases> {
        Ok(self.table.get(h)?)
    }

    pub(crate) fn g2(&self, h: &Resource<G2Handle>) -> wasmtime::Result<&G2Bases> {
        Ok(self.table.get(h)?)
    }

    fn scalars(limbs: &[u64]) -> Result<Vec<ark_bn254::Fr>, KernelError> {
        prova_codec::frs_from_limbs(limbs).map_err(|e| KernelError::InvalidInput(format!("scalars: {e}")))
    }

    /// Runs one kernel call: decode the input limbs, compute, encode the result, and count
    /// bytes and time for [`KernelStats`](crate::KernelStats).
    fn metered<R>(
        &self,
        input: &[u64],
        compute: impl FnOnce(Vec<ark_bn254::Fr>) -> Result<R, KernelError>,
        encode: impl FnOnce(R) -> Vec<u64>,
    ) -> Result<Vec<u64>, KernelError> {
        let t0 = Instant::now();
        let decoded = Self::scalars(input)?;
        let t1 = Instant::now();
        let result = compute(decoded)?;
        let t2 = Instant::now();
        let out = encode(result);
        let codec = (t1 - t0) + t2.elapsed();
        self.stats.record(8 * input.len() as u64, 8 * out.len() as u64, t2 - t1, codec);
        Ok(out)
    }

    pub(crate) fn kernel_msm_g1(&self, h: &Resource<G1Handle>, start: u32, scalars: &[u64]) -> Result<Vec<u64>, KernelError> {
        let bases = self.g1(h).map_err(|e| KernelError::InvalidInput(e.to_string()))?;
        self.metered(
            scalars,
            |s| self.backend.msm_g1(bases, start as usize, &s),
            |p| prova_codec::g1s_to_limbs(&[ark_ec::CurveGroup::into_affine(p)]),
        )
    }

    pub(crate) fn kernel_msm_g2(&self, h: &Resource<G2Handle>, start: u32, scalars: &[u64]) -> Result<Vec<u64>, KernelError> {
        let bases = self.g2(h).map_err(|e| KernelError::InvalidInput(e.to_string()))?;
        self.metered(
            scalars,
            |s| self.backend.msm_g2(bases, start as usize, &s),
            |p| prova_codec::g2s_to_limbs(&[ark_ec::CurveGroup::into_affine(p)]),
        )
    }

    pub(crate) fn kernel_ntt(&self, values: &[u64], kind: NttKind) -> Result<Vec<u64>, KernelError> {
        self.metered(values, |mut v| self.backend.ntt(&mut v, kind).map(|()| v), |v| prova_codec::frs_to_limbs(&v))
    }

    fn section(&self, name: &str) -> Result<&Section, KeyLookupError> {
        let keys = self.keys.as_ref().ok_or(KeyLookupError::NoKeys)?;
        keys.get(name).ok_or_else(|| KeyLookupError::Missing(name.to_string()))
    }

    pub(crate) fn key_g1(&self, name: &str) -> Result<G1Bases, KeyLookupError> {
        match self.section(name)? {
            Section::G1(b) => Ok(b.clone()),
            _ => Err(KeyLookupError::Missing(format!("{name} (as G1 points)"))),
        }
    }

    pub(crate) fn key_g2(&self, name: &str) -> Result<G2Bases, KeyLookupError> {
        match self.section(name)? {
            Section::G2(b) => Ok(b.clone()),
            _ => Err(KeyLookupError::Missing(format!("{name} (as G2 points)"))),
        }
    }

    /// Bytes sections need no point validation, so reading one (metadata reads the verifying
    /// key) does not make the whole key set validate.
    pub(crate) fn key_bytes(&self, name: &str) -> Result<Vec<u8>, KeyLookupError> {
        let keys = self.keys.as_ref().ok_or(KeyLookupError::NoKeys)?;
        keys.bytes(name).map(<[u8]>::to_vec).ok_or_else(|| KeyLookupError::Missing(format!("{name} (as bytes)")))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A clock stopped at zero: plugins that link clock imports (many crates do) see no time.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}
