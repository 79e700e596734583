//! A loaded plugin and its jobs: one fresh, sandboxed instance per job, under the limits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tracing::{debug, info_span, warn};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings::{v0_2, v0_3};
use crate::epoch::EpochTicker;
use crate::error::{JobError, JobErrorKind, WallTimeExceeded};
use crate::host::HostState;
use crate::stats::{KernelCounters, KernelStats};
use crate::types::{AdapterError, BatchStatement, Claim, PluginMetadata, Stage};
use crate::{KeySet, Limits, RuntimeConfig, keys};

pub(crate) enum KeyState {
    None,
    Loaded(Arc<KeySet>),
    Broken(String),
}

/// Whether a job reads the proving key: jobs that do fail at once when the key file is broken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NeedsKeys {
    Yes,
    No,
}

/// A plugin's component, ready to instantiate, through the bindings of the WIT version it speaks.
pub(crate) enum Pre {
    V0_2(v0_2::CircuitAdapterPre<HostState>),
    V0_3(v0_3::CircuitAdapterPre<HostState>),
}

impl Pre {
    /// The component through the bindings of `version`, one of [`crate::bindings::VERSIONS`].
    pub(crate) fn new(version: (u64, u64, u64), pre: wasmtime::component::InstancePre<HostState>) -> wasmtime::Result<Self> {
        match version {
            v0_3::VERSION => Ok(Pre::V0_3(v0_3::CircuitAdapterPre::new(pre)?)),
            v0_2::VERSION => Ok(Pre::V0_2(v0_2::CircuitAdapterPre::new(pre)?)),
            other => Err(wasmtime::Error::msg(format!("no bindings for WIT version {other:?}"))),
        }
    }
}

/// Runs `$call` as one job on the plugin's `adapter` export, whichever WIT version it speaks:
/// `$a` is the export and `$s` the store, with that version's generated types, so the same
/// conversions (`.into()`) pick that version's impls. The call's value leaves the arm already
/// converted to the host's types.
macro_rules! job {
    ($plugin:expr, $job:expr, $limits:expr, $needs:expr, |$a:ident, $s:ident| $call:expr) => {{
        let p: &$crate::plugin::Plugin = &$plugin;
        match &p.pre {
            $crate::plugin::Pre::V0_2(pre) => p.run(
                $job,
                $limits,
                $needs,
                |st| pre.instantiate(st),
                |i, $s| {
                    let $a = i.prova_adapter_adapter();
                    $call
                },
            ),
            $crate::plugin::Pre::V0_3(pre) => p.run(
                $job,
                $limits,
                $needs,
                |st| pre.instantiate(st),
                |i, $s| {
                    let $a = i.prova_adapter_adapter();
                    $call
                },
            ),
        }
    }};
}
pub(crate) use job;

/// A loaded, checked plugin. Cheap to share across threads; every call is one job.
pub struct Plugin {
    pub(crate) label: String,
    pub(crate) path: PathBuf,
    pub(crate) digest: [u8; 32],
    pub(crate) key_path: PathBuf,
    pub(crate) keys: RwLock<KeyState>,
    pub(crate) pre: Pre,
    pub(crate) engine: Engine,
    /// Keeps wall-time bounds working for as long as the plugin lives, runtime dropped or not.
    pub(crate) _ticker: Arc<EpochTicker>,
    pub(crate) stats: Arc<KernelCounters>,
    pub(crate) config: RuntimeConfig,
    pub(crate) metadata: Option<PluginMetadata>,
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
    pub(crate) fn run<I, T, E: Into<AdapterError>>(
        &self,
        job: &str,
        limits: &Limits,
        needs_keys: NeedsKeys,
        instantiate: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<I>,
        call: impl FnOnce(&I, &mut Store<HostState>) -> wasmtime::Result<Result<T, E>>,
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

        let result = instantiate(&mut store).and_then(|instance| call(&instance, &mut store));
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
        let sections: Vec<(String, keys::SectionData)> = job!(self, "setup", self.limits(), NeedsKeys::No, |a, s| a
            .call_setup(s, seed)
            .map(|r| r.map(|sections| sections.into_iter().map(|k| (k.name, k.data.into())).collect())))?;
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
        job!(self, "sample-sequence", self.limits(), NeedsKeys::No, |a, s| a.call_sample_sequence(s, batches, seed))
    }

    /// What a batch witness states, without proving it.
    pub fn inspect_batch(&self, job: &str, witness: &[u8]) -> Result<BatchStatement, JobError> {
        job!(self, job, self.limits(), NeedsKeys::No, |a, s| a.call_inspect_batch(s, witness).map(|r| r.map(BatchStatement::from)))
    }

    /// Proves one batch for `prover`.
    pub fn prove_batch(&self, job: &str, witness: &[u8], prover: &[u8; 20]) -> Result<Vec<u8>, JobError> {
        job!(self, job, self.limits(), NeedsKeys::Yes, |a, s| a.call_prove_batch(s, witness, &prover.to_vec()))
    }

    /// Combines batch proofs of one sequence.
    pub fn aggregate(&self, job: &str, batch_proofs: &[Vec<u8>]) -> Result<Vec<u8>, JobError> {
        job!(self, job, self.limits(), NeedsKeys::Yes, |a, s| a.call_aggregate(s, batch_proofs))
    }

    /// Binds a batch proof or an aggregate to `submitter`.
    pub fn finalize(&self, job: &str, proof: &[u8], submitter: &[u8; 20]) -> Result<Vec<u8>, JobError> {
        job!(self, job, self.limits(), NeedsKeys::Yes, |a, s| a.call_finalize(s, proof, &submitter.to_vec()))
    }

    /// Checks a proof of `stage`.
    pub fn verify(&self, job: &str, stage: Stage, proof: &[u8]) -> Result<Claim, JobError> {
        job!(self, job, self.limits(), NeedsKeys::Yes, |a, s| a.call_verify(s, stage.into(), proof).map(|r| r.map(Claim::from)))
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
    fn panic_messages_are_extracted_without_the_backtrace_note() {
        let s = "\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(s).unwrap(), "panicked at src/lib.rs:3:5: boom");
        assert_eq!(panic_message("nothing"), None);
    }
}
