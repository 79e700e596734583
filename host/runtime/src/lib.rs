//! The plugin host: loads circuit-adapter components from a folder, checks them, precompiles
//! them to a `.cwasm` cache, and runs each job on a fresh, sandboxed instance.
//!
//! Architecture invariants:
//! - this is the only crate that knows wasmtime; callers see [`Plugin`], [`JobError`] and plain
//!   bytes, never a `Store` or a wasmtime type;
//! - a plugin's imports are checked against an allow-list before anything of it runs: it gets
//!   the host kernels, its own keys and a captured stderr; no filesystem, network or secure
//!   randomness, an empty environment and clocks frozen at zero;
//! - one `Store` per job: a job that traps cannot affect the next one;
//! - every failure names the plugin and the job.

mod bindings;
mod cache;
pub mod fsutil;
mod host;
pub mod keys;
pub mod limits;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use prova_compute::Backend;
use sha3::{Digest, Keccak256};
use tracing::{debug, info_span, warn};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, Store, Trap, UpdateDeadline};

use bindings::current as wit;
use host::HostState;
pub use keys::KeySet;
pub use limits::Limits;

/// The WIT package version this host speaks, as `major.minor.patch`.
pub fn wit_version() -> String {
    let (a, b, c) = wit::VERSION;
    format!("{a}.{b}.{c}")
}

/// A stage of a sequence's proof pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Batch,
    Aggregate,
    Final,
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "batch" => Ok(Stage::Batch),
            "aggregate" => Ok(Stage::Aggregate),
            "final" => Ok(Stage::Final),
            _ => Err(format!("unknown stage {s:?} (batch, aggregate or final)")),
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Batch => "batch",
            Stage::Aggregate => "aggregate",
            Stage::Final => "final",
        })
    }
}

/// What a plugin says about itself (`metadata` export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMetadata {
    pub name: String,
    pub rollup_type: String,
    pub wit_version: String,
    pub proof_system: String,
    pub verifying_key: Option<Vec<u8>>,
    pub memory_bytes: u64,
    pub max_batches: u32,
    pub key_sections: Vec<String>,
}

/// What a batch witness states (`inspect-batch` export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatement {
    pub old_state_root: Vec<u8>,
    pub new_state_root: Vec<u8>,
    pub commitment: Vec<u8>,
}

/// What a verified proof claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub stage: Stage,
    pub old_state_root: Vec<u8>,
    pub new_state_root: Vec<u8>,
    pub batch_commitments: Vec<Vec<u8>>,
    pub prover: Vec<u8>,
}

/// An error the adapter itself returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("check failed: {0}")]
    Unsatisfied(String),
    #[error("adapter internal error: {0}")]
    Internal(String),
}

/// Why a plugin could not be loaded or its keys used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("plugin {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("plugin {path}: not a valid WebAssembly component: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("plugin {path}: not a prova adapter: it exports no `{}` interface", wit::ADAPTER_INTERFACE)]
    NotAnAdapter { path: PathBuf },
    #[error("plugin {path}: built against prova:adapter@{found}, this host speaks prova:adapter@{supported} (incompatible major version)")]
    WitVersion { path: PathBuf, found: String, supported: String },
    #[error("plugin {path}: imports `{import}`, which plugins may not use (no filesystem, network or secure randomness)")]
    ForbiddenImport { path: PathBuf, import: String },
    #[error("plugin {path}: cannot be linked: {why}")]
    Link { path: PathBuf, why: String },
    #[error("plugin {path}: reading its metadata failed: {source}")]
    Metadata { path: PathBuf, source: Box<JobError> },
    #[error("key file {path}: {why}")]
    Keys { path: PathBuf, why: String },
    #[error("plugin folder {path}: {source}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("wasm engine: {0}")]
    Engine(String),
}

/// Why a job failed. Always names the plugin and the job.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin}, job {job}: {kind}")]
pub struct JobError {
    pub plugin: String,
    pub job: String,
    pub kind: JobErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum JobErrorKind {
    /// The adapter ran and returned an error.
    #[error("{0}")]
    Adapter(AdapterError),
    #[error("ran out of fuel ({0} units): the plugin loops, or the job needs a larger fuel budget")]
    FuelExhausted(u64),
    #[error("exceeded its wall-time bound of {0:?}")]
    Timeout(Duration),
    #[error("exceeded its memory limit of {limit} bytes (tried to grow to {requested})")]
    MemoryLimit { limit: u64, requested: u64 },
    #[error("panicked: {0}")]
    Panicked(String),
    #[error("trapped: {0}")]
    Trapped(String),
    #[error("{0}")]
    Keys(String),
}

/// What the host kernels did for a plugin's jobs since it was loaded: calls, bytes that crossed
/// the boundary as kernel arguments and results, time computing, and time converting between
/// the wire encoding and arkworks types (boundary overhead on the host side).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelStats {
    pub calls: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub compute: Duration,
    pub codec: Duration,
}

/// Lock-free cumulative counters behind [`KernelStats`], shared by a plugin's concurrent jobs.
#[derive(Debug, Default)]
struct KernelCounters {
    calls: std::sync::atomic::AtomicU64,
    bytes_in: std::sync::atomic::AtomicU64,
    bytes_out: std::sync::atomic::AtomicU64,
    compute_ns: std::sync::atomic::AtomicU64,
    codec_ns: std::sync::atomic::AtomicU64,
}

impl KernelCounters {
    fn record(&self, bytes_in: u64, bytes_out: u64, compute: Duration, codec: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes_in, Relaxed);
        self.bytes_out.fetch_add(bytes_out, Relaxed);
        self.compute_ns.fetch_add(compute.as_nanos() as u64, Relaxed);
        self.codec_ns.fetch_add(codec.as_nanos() as u64, Relaxed);
    }

    fn snapshot(&self) -> KernelStats {
        use std::sync::atomic::Ordering::Relaxed;
        KernelStats {
            calls: self.calls.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            compute: Duration::from_nanos(self.compute_ns.load(Relaxed)),
            codec: Duration::from_nanos(self.codec_ns.load(Relaxed)),
        }
    }
}

/// Marker error the wall-time callback raises, so that the trap can be told apart.
#[derive(Debug)]
struct WallTimeExceeded;
impl std::fmt::Display for WallTimeExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wall-time bound exceeded")
    }
}
impl std::error::Error for WallTimeExceeded {}

/// Host configuration.
#[derive(Clone)]
pub struct RuntimeConfig {
    pub backend: Arc<dyn Backend>,
    pub limits: Limits,
    /// Where precompiled `.cwasm` files are kept; `None` compiles on every load. Must be a
    /// folder only this host writes: loading a `.cwasm` trusts its contents.
    pub cache_dir: Option<PathBuf>,
}

/// The plugin host.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    config: RuntimeConfig,
    ticker: Arc<EpochTicker>,
}

/// Advances the engine's epoch every [`limits::EPOCH_TICK`] so that wall-time bounds fire.
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("prova-epoch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(limits::EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Which imports a plugin may have, by interface (any version): the adapter contract itself,
/// and the WASI plumbing that Rust's standard library (and common crates) link whether or not
/// they are used. What the host puts behind them grants nothing (see `host::HostState::new`):
/// stdin is empty, stdout/stderr are captured, the environment and arguments are empty, both
/// clocks are frozen at zero and the hash seed is fixed. Everything else (filesystem, sockets,
/// secure randomness, HTTP) is refused at load time.
const ALLOWED_IMPORTS: &[&str] = &[
    "prova:adapter/types",
    "prova:adapter/field",
    "prova:adapter/keys",
    "wasi:io/error",
    "wasi:io/streams",
    "wasi:io/poll",
    "wasi:cli/environment",
    "wasi:cli/stderr",
    "wasi:cli/stdout",
    "wasi:cli/stdin",
    "wasi:cli/exit",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/insecure-seed",
];

fn interface_of(import: &str) -> &str {
    import.split('@').next().unwrap_or(import)
}

/// `x.y.z` from `name@x.y.z`.
fn version_of(name: &str) -> Option<(u64, u64, u64)> {
    let v = name.split_once('@')?.1;
    let mut it = v.split(['.', '-', '+']).map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// Semver compatibility: same major, and for 0.x the same minor too.
fn compatible(found: (u64, u64, u64), supported: (u64, u64, u64)) -> bool {
    found.0 == supported.0 && (found.0 != 0 || found.1 == supported.1)
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let mut c = Config::new();
        c.wasm_component_model(true);
        // Fuel meters guest instructions (host kernel time is not charged); epochs bound wall
        // time, host time included. See `limits`.
        c.consume_fuel(true);
        c.epoch_interruption(true);
        let engine = Engine::new(&c).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wit::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("linking host imports: {e:#}")))?;
        let ticker = Arc::new(EpochTicker::start(&engine));
        Ok(Self { engine, linker, config, ticker })
    }

    /// Loads every `*.wasm` in `dir`, in file-name order. One bad plugin does not stop the others.
    pub fn load_dir(&self, dir: &Path) -> Result<Vec<Result<Plugin, RuntimeError>>, RuntimeError> {
        let folder = |source| RuntimeError::Folder { path: dir.to_owned(), source };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(folder)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        paths.sort();
        Ok(paths.iter().map(|p| self.load(p)).collect())
    }

    /// Loads one component: version and import checks, compile (or cache hit), metadata.
    pub fn load(&self, path: &Path) -> Result<Plugin, RuntimeError> {
        let span = info_span!("plugin.load", path = %path.display());
        let _g = span.enter();
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read { path: path.to_owned(), source })?;
        let digest: [u8; 32] = Keccak256::digest(&bytes).into();
        let component = cache::component(&self.engine, &bytes, &digest, self.config.cache_dir.as_deref(), path)?;
        let ty = component.component_type();

        let export = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_string())
            .find(|n| interface_of(n) == wit::ADAPTER_INTERFACE)
            .ok_or_else(|| RuntimeError::NotAnAdapter { path: path.to_owned() })?;
        let found = version_of(&export);
        if !found.is_some_and(|v| compatible(v, wit::VERSION)) {
            return Err(RuntimeError::WitVersion {
                path: path.to_owned(),
                found: export.split_once('@').map_or("(none)", |x| x.1).to_string(),
                supported: wit_version(),
            });
        }
        for (name, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS.contains(&interface_of(name)) {
                return Err(RuntimeError::ForbiddenImport { path: path.to_owned(), import: name.to_string() });
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(wit::CircuitAdapterPre::new)
            .map_err(|e| RuntimeError::Link { path: path.to_owned(), why: format!("{e:#}") })?;

        let key_path = path.with_extension("keys");
        // A broken key file must not hide the plugin (nor stop `setup` from replacing it): the
        // plugin loads, and only jobs that need keys fail, saying why.
        let keys = if !key_path.exists() {
            KeyState::None
        } else {
            match KeySet::read(&key_path) {
                Ok(k) => KeyState::Loaded(Arc::new(k)),
                Err(e) => {
                    warn!(error = %e, "unusable key set");
                    KeyState::Broken(e.to_string())
                }
            }
        };
        let mut plugin = Plugin {
            label: path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned()),
            path: path.to_owned(),
            digest,
            key_path,
            keys: RwLock::new(keys),
            pre,
            engine: self.engine.clone(),
            _ticker: self.ticker.clone(),
            stats: Arc::default(),
            config: self.config.clone(),
            metadata: None,
        };
        let metadata_limits =
            Limits { fuel_per_job: limits::METADATA_FUEL, wall_time_per_job: Duration::from_secs(10), ..self.config.limits.clone() };
        let metadata: PluginMetadata = plugin
            .run("metadata", &metadata_limits, NeedsKeys::No, |a, s| a.call_metadata(s).map(Ok::<_, wit::types::AdapterError>))
            .map(Into::<PluginMetadata>::into)
            .map_err(|e| RuntimeError::Metadata { path: path.to_owned(), source: Box::new(e) })?;
        if !version_of(&format!("@{}", metadata.wit_version)).is_some_and(|v| compatible(v, wit::VERSION)) {
            return Err(RuntimeError::WitVersion { path: path.to_owned(), found: metadata.wit_version, supported: wit_version() });
        }
        plugin.label = metadata.name.clone();
        plugin.metadata = Some(metadata);
        Ok(plugin)
    }
}

enum KeyState {
    None,
    Loaded(Arc<KeySet>),
    Broken(String),
}

/// Whether a job reads the proving key: jobs that do fail at once when the key file is broken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NeedsKeys {
    Yes,
    No,
}

/// A loaded, checked plugin. Cheap to share across threads; every call is one job.
pub struct Plugin {
    label: String,
    path: PathBuf,
    digest: [u8; 32],
    key_path: PathBuf,
    keys: RwLock<KeyState>,
    pre: wit::CircuitAdapterPre<HostState>,
    engine: Engine,
    /// Keeps wall-time bounds working for as long as the plugin lives, runtime dropped or not.
    _ticker: Arc<EpochTicker>,
    stats: Arc<KernelCounters>,
    config: RuntimeConfig,
    metadata: Option<PluginMetadata>,
}

impl Plugin {
    /// The plugin's metadata, read at load time.
    pub fn metadata(&self) -> &PluginMetadata {
        self.metadata.as_ref().expect("set by Runtime::load before the plugin is returned")
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// keccak256 of the component file.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }
    /// Where this plugin's key set lives.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }
    /// What the host kernels did for this plugin's jobs since it was loaded.
    pub fn kernel_stats(&self) -> KernelStats {
        self.stats.snapshot()
    }

    /// The installed key set, if any.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        match &*self.keys.read().expect("key lock poisoned") {
            KeyState::Loaded(k) => Some(k.clone()),
            KeyState::None | KeyState::Broken(_) => None,
        }
    }

    /// Why the key file beside the plugin cannot be used, if it cannot.
    pub fn key_problem(&self) -> Option<String> {
        match &*self.keys.read().expect("key lock poisoned") {
            KeyState::Broken(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// The key set a job gets. For a job that needs keys, a broken file or a point that fails
    /// validation is an error here, before the plugin runs; the points are checked once per
    /// process, by the first such job (or by [`Plugin::validate_keys`]).
    fn job_keys(&self, needs: NeedsKeys) -> Result<Option<Arc<KeySet>>, String> {
        let keys = match (&*self.keys.read().expect("key lock poisoned"), needs) {
            (KeyState::Loaded(k), _) => k.clone(),
            (KeyState::Broken(why), NeedsKeys::Yes) => return Err(why.clone()),
            _ => return Ok(None),
        };
        if needs == NeedsKeys::Yes {
            keys.validate().map_err(|why| format!("{}: {why}", self.key_path.display()))?;
        }
        Ok(Some(keys))
    }

    /// Checks the installed key set's points now rather than in the first job that needs them.
    pub fn validate_keys(&self) -> Result<(), String> {
        self.job_keys(NeedsKeys::Yes).map(|_| ())
    }

    /// Runs one job on a fresh instance under `limits`.
    fn run<T, E: Into<AdapterError>>(
        &self,
        job: &str,
        limits: &Limits,
        needs_keys: NeedsKeys,
        call: impl FnOnce(&wit::guest::Guest, &mut Store<HostState>) -> wasmtime::Result<Result<T, E>>,
    ) -> Result<T, JobError> {
        let span = info_span!("plugin.job", plugin = %self.label, job);
        let _g = span.enter();
        let started = Instant::now();
        let fail = |kind| JobError { plugin: self.label.clone(), job: job.to_string(), kind };
        let keys = self.job_keys(needs_keys).map_err(|why| fail(JobErrorKind::Keys(why)))?;
        let memory = self.metadata.as_ref().map_or(limits.max_memory_bytes, |m| m.memory_bytes.min(limits.max_memory_bytes));
        let state = HostState::new(self.config.backend.clone(), keys, self.stats.clone(), memory, limits.stderr_bytes, limits.max_handles);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel_per_job).map_err(|e| fail(JobErrorKind::Trapped(format!("{e:#}"))))?;
        let deadline = started + limits.wall_time_per_job;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline { Err(wasmtime::Error::new(WallTimeExceeded)) } else { Ok(UpdateDeadline::Continue(1)) }
        });

        let result = self.pre.instantiate(&mut store).and_then(|instance| call(instance.prova_adapter_adapter(), &mut store));
        let stderr = store.data().stderr_text();
        if !stderr.is_empty() {
            debug!(target: "prova::guest", plugin = %self.label, job, "{}", stderr.trim_end());
        }
        match result {
            Ok(Ok(v)) => {
                let fuel_used = limits.fuel_per_job - store.get_fuel().unwrap_or(0);
                debug!(elapsed_ms = started.elapsed().as_millis() as u64, fuel_used, "job done");
                Ok(v)
            }
            Ok(Err(e)) => Err(fail(JobErrorKind::Adapter(e.into()))),
            Err(e) => {
                let kind = if let Some(requested) = store.data().limiter.denied {
                    JobErrorKind::MemoryLimit { limit: memory, requested }
                } else if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
                    JobErrorKind::FuelExhausted(limits.fuel_per_job)
                } else if e.downcast_ref::<WallTimeExceeded>().is_some() {
                    JobErrorKind::Timeout(limits.wall_time_per_job)
                } else if let Some(msg) = panic_message(&stderr) {
                    JobErrorKind::Panicked(msg)
                } else {
                    JobErrorKind::Trapped(format!("{e:#}"))
                };
                warn!(error = %kind, "job failed");
                Err(fail(kind))
            }
        }
    }

    fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Runs the plugin's deterministic dev setup and installs the key set beside the plugin
    /// (atomically). Returns the installed set.
    pub fn setup(&self, seed: &[u8]) -> Result<Arc<KeySet>, JobError> {
        let sections = self.run("setup", self.limits(), NeedsKeys::No, |a, s| a.call_setup(s, seed))?;
        let sections: Vec<(String, keys::SectionData)> = sections.into_iter().map(|k| (k.name, k.data.into())).collect();
        let fail = |kind| JobError { plugin: self.label.clone(), job: "setup".into(), kind };
        let set = KeySet::from_sections(sections)
            .and_then(|k| {
                k.validate()?;
                Ok(k)
            })
            .map_err(|e| fail(JobErrorKind::Keys(format!("setup produced a bad key set: {e}"))))?;
        set.write(&self.key_path).map_err(|e| fail(JobErrorKind::Keys(e.to_string())))?;
        let set = Arc::new(set);
        *self.keys.write().expect("key lock poisoned") = KeyState::Loaded(set.clone());
        Ok(set)
    }

    /// A sample sequence of `batches` batch witnesses.
    pub fn sample_sequence(&self, batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, JobError> {
        self.run("sample-sequence", self.limits(), NeedsKeys::No, |a, s| a.call_sample_sequence(s, batches, seed))
    }

    /// What a batch witness states, without proving it.
    pub fn inspect_batch(&self, job: &str, witness: &[u8]) -> Result<BatchStatement, JobError> {
        self.run(job, self.limits(), NeedsKeys::No, |a, s| a.call_inspect_batch(s, witness)).map(Into::into)
    }

    /// Proves one batch for `prover`.
    pub fn prove_batch(&self, job: &str, witness: &[u8], prover: &[u8; 20]) -> Result<Vec<u8>, JobError> {
        self.run(job, self.limits(), NeedsKeys::Yes, |a, s| a.call_prove_batch(s, witness, &prover.to_vec()))
    }

    /// Combines batch proofs of one sequence.
    pub fn aggregate(&self, job: &str, batch_proofs: &[Vec<u8>]) -> Result<Vec<u8>, JobError> {
        self.run(job, self.limits(), NeedsKeys::Yes, |a, s| a.call_aggregate(s, batch_proofs))
    }

    /// Binds a batch proof or an aggregate to `submitter`.
    pub fn finalize(&self, job: &str, proof: &[u8], submitter: &[u8; 20]) -> Result<Vec<u8>, JobError> {
        self.run(job, self.limits(), NeedsKeys::Yes, |a, s| a.call_finalize(s, proof, &submitter.to_vec()))
    }

    /// Checks a proof of `stage`.
    pub fn verify(&self, job: &str, stage: Stage, proof: &[u8]) -> Result<Claim, JobError> {
        self.run(job, self.limits(), NeedsKeys::Yes, |a, s| a.call_verify(s, stage.into(), proof)).map(Into::into)
    }
}

/// The panic line(s) Rust's standard library writes to stderr before it aborts.
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.find("panicked at")?;
    let msg: Vec<&str> = stderr[start..].lines().take_while(|l| !l.starts_with("note:")).collect();
    Some(msg.join(" ").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_follow_semver() {
        assert_eq!(version_of("prova:adapter/adapter@0.2.0"), Some((0, 2, 0)));
        assert_eq!(version_of("prova:adapter/adapter"), None);
        assert!(compatible((0, 1, 3), (0, 1, 0)));
        assert!(!compatible((0, 2, 0), (0, 1, 0)));
        assert!(!compatible((1, 0, 0), (0, 1, 0)));
        assert!(compatible((1, 4, 0), (1, 0, 0)));
    }

    #[test]
    fn imports_are_matched_by_interface_whatever_the_version() {
        assert!(ALLOWED_IMPORTS.contains(&interface_of("wasi:io/streams@0.2.6")));
        assert!(!ALLOWED_IMPORTS.contains(&interface_of("wasi:filesystem/types@0.2.6")));
        assert!(!ALLOWED_IMPORTS.contains(&interface_of("wasi:sockets/tcp@0.2.0")));
        assert!(!ALLOWED_IMPORTS.contains(&interface_of("wasi:random/random@0.2.6")));
    }

    #[test]
    fn panic_messages_are_extracted_without_the_backtrace_note() {
        let s = "\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).unwrap(), "panicked at src/lib.rs:3:5: boom");
        assert_eq!(panic_message("nothing"), None);
    }
}
