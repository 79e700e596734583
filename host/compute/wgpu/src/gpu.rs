//! One wgpu device: adapter discovery, pipelines, buffers, and the three timed phases of every
//! kernel call (upload, kernel, download).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ark_bn254::{Fq, Fr};
use wgpu::util::DeviceExt;

use crate::shader::{self, Arith};

/// Why a GPU kernel call did not produce a result. Every message names the adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    /// No adapter matched (none installed, or none with the requested name).
    #[error("no wgpu adapter: {0}")]
    NoAdapter(String),
    /// The adapter cannot run this call: a missing feature or a buffer over its limits.
    #[error("{adapter}: unsupported: {what}")]
    Unsupported { adapter: String, what: String },
    /// The device ran out of memory.
    #[error("{adapter}: out of device memory: {what}")]
    OutOfMemory { adapter: String, what: String },
    /// The device refused or lost the work (validation error, device lost, mapping failed).
    #[error("{adapter}: device error: {what}")]
    Device { adapter: String, what: String },
}

/// Wall time of one kernel call's phases. Upload and download include their submission and wait;
/// `host` is CPU work the call does around the GPU (digits and bucket sorting for an MSM).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    pub upload: Duration,
    pub kernel: Duration,
    pub download: Duration,
    pub host: Duration,
}

impl Timings {
    /// Everything: what a caller waits.
    pub fn total(&self) -> Duration {
        self.upload + self.kernel + self.download + self.host
    }
}

/// What `prova bench` and the logs say of an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    pub vendor: u32,
    pub device: u32,
    pub device_type: String,
    pub backend: String,
    pub driver: String,
    pub driver_info: String,
    pub shader_int64: bool,
    pub timestamp_query: bool,
    pub max_storage_binding: u64,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let features = adapter.features();
        Self {
            name: info.name,
            vendor: info.vendor,
            device: info.device,
            device_type: format!("{:?}", info.device_type),
            backend: format!("{:?}", info.backend),
            driver: info.driver,
            driver_info: info.driver_info,
            shader_int64: features.contains(wgpu::Features::SHADER_INT64),
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            max_storage_binding: adapter.limits().max_storage_buffer_binding_size,
        }
    }

    /// True for a CPU rasteriser (lavapipe, WARP, SwiftShader): correct but slower than rayon.
    pub fn is_cpu(&self) -> bool {
        self.device_type == "Cpu"
    }

    /// "name (Backend, DeviceType, driver ...)": how errors and logs name the adapter.
    pub fn label(&self) -> String {
        format!("{} ({}, {}, driver {} {})", self.name, self.backend, self.device_type, self.driver, self.driver_info)
    }
}

/// Every adapter wgpu finds on Vulkan, Metal and DX12, best first (discrete, integrated,
/// virtual, then CPU rasterisers).
pub fn adapters() -> Vec<(AdapterSummary, wgpu::Adapter)> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let mut found: Vec<_> =
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all())).into_iter().map(|a| (AdapterSummary::of(&a), a)).collect();
    let rank = |s: &AdapterSummary| match s.device_type.as_str() {
        "DiscreteGpu" => 0,
        "IntegratedGpu" => 1,
        "VirtualGpu" => 2,
        "Other" => 3,
        _ => 4,
    };
    found.sort_by_key(|(s, _)| rank(s));
    found
}

/// The compute kernels, each built on first use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kernel {
    Ntt,
    Scale,
    Accumulate,
    Reduce,
}

impl Kernel {
    /// Name, WGSL source and entry point.
    fn source(self, arith: Arith) -> (&'static str, String, &'static str) {
        match self {
            Kernel::Ntt => ("ntt", shader::module::<Fr>(arith, false, shader::NTT), "ntt_pass"),
            Kernel::Scale => ("scale", shader::module::<Fr>(arith, false, shader::SCALE), "scale"),
            Kernel::Accumulate => ("accumulate", shader::module::<Fq>(arith, true, shader::MSM_ACCUMULATE), "accumulate"),
            Kernel::Reduce => ("reduce", shader::module::<Fq>(arith, true, shader::MSM_REDUCE), "reduce"),
        }
    }
}

/// A device with the kernels' pipelines, ready for calls from any thread.
pub struct Gpu {
    pub(crate) summary: AdapterSummary,
    pub(crate) arith: Arith,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) limits: wgpu::Limits,
    /// By `Kernel`, built on first use: a driver compiles 254-bit arithmetic slowly (tens of
    /// seconds on lavapipe for the MSM kernels), and a node that only runs NTTs on the device
    /// should not wait for the MSM ones.
    pub(crate) pipelines: [OnceLock<wgpu::ComputePipeline>; 4],
    /// Twiddle tables by (log2 n, inverse): omega^k for k < n/2.
    pub(crate) twiddles: Mutex<HashMap<(u32, bool), Arc<wgpu::Buffer>>>,
    /// Resident MSM bases, see `msm::ResidentBases`.
    pub(crate) bases: Mutex<crate::msm::ResidentBases>,
}

/// Workgroups per dispatch row: under every adapter's 65535 per-dimension limit, and a power of
/// two so that kernels index rows with a shift-friendly multiply.
const WG_ROW: u32 = 32768;

impl Gpu {
    /// Opens `adapter` (kernels are built on first use). `arith` None picks u64 where the adapter has
    /// `SHADER_INT64`, else u32.
    pub fn open(summary: AdapterSummary, adapter: &wgpu::Adapter, arith: Option<Arith>) -> Result<Self, GpuError> {
        let label = summary.label();
        let arith = match arith {
            Some(Arith::U64) if !summary.shader_int64 => {
                return Err(GpuError::Unsupported { adapter: label, what: "SHADER_INT64 (u64 arithmetic)".into() });
            }
            Some(a) => a,
            None if summary.shader_int64 => Arith::U64,
            None => Arith::U32,
        };
        let required_features = if arith == Arith::U64 { wgpu::Features::SHADER_INT64 } else { wgpu::Features::empty() };
        // The adapter's own limits, not WebGPU's defaults: native storage bindings are often
        // larger than 128 MiB, and larger bindings mean fewer chunks.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("prova"),
            required_features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device { adapter: label.clone(), what: format!("request_device: {e}") })?;
        // wgpu panics on errors nobody captured; a kernel call captures its own with error
        // scopes, so anything else is logged rather than taking the node down.
        let log_label = label.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::error!(adapter = %log_label, error = %e, "uncaptured wgpu error");
        }));

        tracing::info!(adapter = %label, arith = arith.name(), "wgpu device open");
        Ok(Self {
            summary,
            arith,
            device,
            queue,
            limits,
            pipelines: Default::default(),
            twiddles: Mutex::new(HashMap::new()),
            bases: Mutex::new(Default::default()),
        })
    }

    /// The pipeline of `kernel`, built (and checked by a validation scope) on first use.
    pub(crate) fn pipeline(&self, kernel: Kernel) -> Result<&wgpu::ComputePipeline, GpuError> {
        let cell = &self.pipelines[kernel as usize];
        if let Some(p) = cell.get() {
            return Ok(p);
        }
        let (name, src, entry) = kernel.source(self.arith);
        let built = self.scoped(&format!("building the {name} kernel ({} arithmetic)", self.arith.name()), || {
            let desc = wgpu::ShaderModuleDescriptor { label: Some(name), source: wgpu::ShaderSource::Wgsl(src.into()) };
            // SAFETY: the kernels are ours, not user input, and every index they compute is
            // bounded by sizes the host checked before the dispatch. Why not wgpu's injected
            // bounds checks: with them, Mesa 22.3's lavapipe returned wrong bucket sums for
            // buckets of more than ~300 (u32) or ~600 (u64) points, and right ones without; the
            // tests `long_bucket_chains_equal_rayon` and
            // `msm_u32_equals_rayon` hold this. Loop bounding stays on.
            let module = unsafe {
                self.device.create_shader_module_trusted(
                    desc,
                    wgpu::ShaderRuntimeChecks { bounds_checks: false, ..wgpu::ShaderRuntimeChecks::checked() },
                )
            };
            self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        })?;
        // Two threads may race to build it; either result is the same pipeline.
        let _ = cell.set(built);
        Ok(cell.get().expect("set above"))
    }

    /// The adapter this device runs on.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// The arithmetic the kernels were built with.
    pub fn arith(&self) -> Arith {
        self.arith
    }

    pub(crate) fn label(&self) -> String {
        self.summary.label()
    }

    pub(crate) fn device_error(&self, what: impl std::fmt::Display) -> GpuError {
        GpuError::Device { adapter: self.label(), what: what.to_string() }
    }

    /// Refuses a binding over the device's limit before anything is allocated.
    pub(crate) fn check_binding(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.binding_limit();
        if bytes > limit {
            return Err(GpuError::Unsupported {
                adapter: self.label(),
                what: format!("{what} needs a {bytes}-byte binding; the limit is {limit}"),
            });
        }
        Ok(())
    }

    /// The largest storage binding the device allows, in bytes.
    pub(crate) fn binding_limit(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Runs `f` inside an out-of-memory and a validation error scope; their errors become ours.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = o {
            return Err(GpuError::OutOfMemory { adapter: self.label(), what: format!("{what}: {e}") });
        }
        if let Some(e) = v {
            return Err(self.device_error(format!("{what}: {e}")));
        }
        Ok(out)
    }

    /// A storage buffer holding `data`.
    pub(crate) fn upload(&self, what: &str, data: &[u32]) -> Result<wgpu::Buffer, GpuError> {
        self.check_binding(what, (data.len() * 4) as u64)?;
        // wgpu refuses empty bindings; an empty list (an MSM whose scalars are all zero) binds one
        // unused word.
        let data = if data.is_empty() { &[0u32][..] } else { data };
        self.scoped(what, || {
            self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(what),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            })
        })
    }

    /// An uninitialised storage buffer of `words` u32s.
    pub(crate) fn scratch(&self, what: &str, words: usize) -> Result<wgpu::Buffer, GpuError> {
        let bytes = (words.max(1) * 4) as u64;
        self.check_binding(what, bytes)?;
        self.scoped(what, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(what),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// A uniform buffer of u32 parameters (padded to 16 bytes, WGSL's uniform alignment).
    pub(crate) fn params(&self, words: &[u32]) -> wgpu::Buffer {
        let mut padded = words.to_vec();
        padded.resize(words.len().div_ceil(4).max(1) * 4, 0);
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: bytemuck::cast_slice(&padded),
            usage: wgpu::BufferUsages::UNIFORM,
        })
    }

    /// A bind group of `buffers` at bindings 0.. for `pipeline`'s group 0.
    pub(crate) fn bind(&self, pipeline: &wgpu::ComputePipeline, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<_> =
            buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    /// (x, y) workgroup counts covering `groups` workgroups, and the row width kernels use to
    /// rebuild a linear workgroup index.
    pub(crate) fn grid(groups: u32) -> (u32, u32, u32) {
        let x = groups.clamp(1, WG_ROW);
        (x, groups.div_ceil(x).max(1), x)
    }

    /// Submits `encoder` and waits for the device to finish it.
    pub(crate) fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) -> Result<Duration, GpuError> {
        let start = Instant::now();
        let index = self.queue.submit([encoder.finish()]);
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map_err(|e| self.device_error(format!("waiting for the queue: {e}")))?;
        Ok(start.elapsed())
    }

    /// Waits for every upload written with `queue.write_buffer` or `create_buffer_init`.
    pub(crate) fn flush(&self) -> Result<Duration, GpuError> {
        let encoder = self.device.create_command_encoder(&Default::default());
        self.submit_and_wait(encoder)
    }

    /// Copies the first `words` u32s of `src` back to the host.
    pub(crate) fn download(&self, src: &wgpu::Buffer, words: usize) -> Result<(Vec<u32>, Duration), GpuError> {
        let start = Instant::now();
        let bytes = (words * 4) as u64;
        let staging = self.scoped("readback buffer", || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: bytes.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        self.submit_and_wait(encoder)?;
        let slice = staging.slice(..bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| self.device_error(format!("mapping the readback: {e}")))?;
        rx.recv()
            .map_err(|_| self.device_error("readback callback dropped"))?
            .map_err(|e| self.device_error(format!("mapping the readback: {e}")))?;
        let out = {
            let view = slice.get_mapped_range().map_err(|e| self.device_error(format!("readback view: {e}")))?;
            bytemuck::cast_slice::<u8, u32>(&view).to_vec()
        };
        staging.unmap();
        Ok((out, start.elapsed()))
    }

    /// Records one dispatch of `pipeline` over `groups` workgroups.
    pub(crate) fn dispatch(encoder: &mut wgpu::CommandEncoder, pipeline: &wgpu::ComputePipeline, bind: &wgpu::BindGroup, groups: u32) {
        let (x, y, _) = Self::grid(groups);
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }
}
