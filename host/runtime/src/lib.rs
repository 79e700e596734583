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
mod catalog;
mod epoch;
mod error;
pub mod fsutil;
mod host;
pub mod keys;
pub mod limits;
mod plugin;
mod policy;
mod stats;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prova_compute::Backend;
use sha3::{Digest, Keccak256};
use tracing::{info_span, warn};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

pub use catalog::{Catalog, MAX_PLUGIN_NAME, check_plugin_name};
pub use error::{JobError, JobErrorKind, RuntimeError};
use host::HostState;
pub use keys::KeySet;
pub use limits::Limits;
pub use plugin::Plugin;
pub use stats::KernelStats;
pub use types::{AdapterError, BatchStatement, Claim, PluginMetadata, Stage, Verifier};

use epoch::EpochTicker;
use plugin::{KeyState, NeedsKeys, Pre};
use policy::{ALLOWED_IMPORTS, compatible, dotted, interface_of, version_of};

/// Every WIT version this host loads, newest first, for messages ("0.3.0, 0.2.0").
pub fn wit_versions() -> String {
    bindings::VERSIONS.map(dotted).join(", ")
}

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
        bindings::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(format!("linking host imports: {e:#}")))?;
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
            .find(|n| interface_of(n) == bindings::ADAPTER_INTERFACE)
            .ok_or_else(|| RuntimeError::NotAnAdapter { path: path.to_owned() })?;
        let found = version_of(&export);
        let speaks = |supported| found.is_some_and(|v| compatible(v, supported));
        let version = bindings::VERSIONS.into_iter().find(|v| speaks(*v)).ok_or_else(|| RuntimeError::WitVersion {
            path: path.to_owned(),
            found: export.split_once('@').map_or("(none)", |x| x.1).to_string(),
            supported: wit_versions(),
        })?;
        for (name, _) in ty.imports(&self.engine) {
            if !ALLOWED_IMPORTS.contains(&interface_of(name)) {
                return Err(RuntimeError::ForbiddenImport { path: path.to_owned(), import: name.to_string() });
            }
        }
        let link = |e: wasmtime::Error| RuntimeError::Link { path: path.to_owned(), why: format!("{e:#}") };
        let pre = self.linker.instantiate_pre(&component).and_then(|p| Pre::new(version, p)).map_err(link)?;

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
        let metadata: PluginMetadata = plugin::job!(plugin, "metadata", &metadata_limits, NeedsKeys::No, |a, s| a
            .call_metadata(s)
            .map(|m| Ok::<_, AdapterError>(m.into())))
        .map_err(|e| RuntimeError::Metadata { path: path.to_owned(), source: Box::new(e) })?;
        // The metadata's version must be the one the component exports (a stale constant in an
        // adapter would misreport what it speaks).
        if !version_of(&format!("@{}", metadata.wit_version)).is_some_and(|v| compatible(v, version)) {
            return Err(RuntimeError::MetadataVersion { path: path.to_owned(), exported: dotted(version), reported: metadata.wit_version });
        }
        if let Err(why) = check_plugin_name(&metadata.name) {
            return Err(RuntimeError::BadName { path: path.to_owned(), name: metadata.name, why });
        }
        plugin.label = metadata.name.clone();
        plugin.metadata = Some(metadata);
        Ok(plugin)
    }
}
