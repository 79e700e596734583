//! The plugin folder, live: the node serves each rollup with the plugin of its name as the
//! folder holds it now, and a [`Reloader`] follows the folder while the node runs.
//!
//! - A job takes the plugin's current version when it starts ([`LiveProver`]) and finishes on
//!   it, whatever happens to the folder meanwhile: a replaced file serves the jobs that start
//!   after it was loaded.
//! - A new or replaced file is loaded in the background (on the blocking pool: import checks,
//!   compile or `.cwasm` cache, metadata), its key set is validated, and for a plugin a rollup
//!   uses, its verifying key must be the one that rollup registered on chain. Only then does it
//!   serve. A file that fails any of this is refused with its error logged, and the version
//!   loaded before keeps serving: a miner's income never depends on a file being copied right.
//! - A removed file's plugin is *retired*: its rollups take no new sequences (the poller stops
//!   reading them and says so), while the sequences already taken are proved, committed and
//!   revealed on the version loaded (a commitment not revealed is a slash). Putting the file
//!   back serves again.
//!
//! Why polling rather than file-system events (`notify`): the folder is often a bind mount or a
//! network share, where events are not delivered; events fire while a file is still being
//! written, so a loader must wait for the file to settle anyway; and a poll of a handful of
//! files every few seconds costs nothing. A file is loaded once its size and modification time
//! (and its key file's) are the same on two polls in a row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use prova_runtime::{BatchStatement, Claim, Plugin, Runtime};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::prover::{Checker, JobInput, PluginChecker, PluginProver, Prover};

/// How often the folder is looked at by default: a replaced file serves within two polls.
pub const DEFAULT_RELOAD_POLL: Duration = Duration::from_secs(2);

/// One plugin the node knows, by name.
struct Slot {
    plugin: Arc<Plugin>,
    /// Its file was removed: no new sequences for its rollups.
    retired: bool,
}

/// The plugins a node serves, by name, as the folder held them last.
pub struct LivePlugins {
    slots: Mutex<BTreeMap<String, Slot>>,
}

impl LivePlugins {
    /// The plugins loaded at start, by name.
    pub fn new(plugins: impl IntoIterator<Item = Arc<Plugin>>) -> Arc<Self> {
        let slots = plugins.into_iter().map(|p| (p.metadata().name.clone(), Slot { plugin: p, retired: false })).collect();
        Arc::new(Self { slots: Mutex::new(slots) })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The version of `name` a job starting now runs on (retired or not).
    pub fn current(&self, name: &str) -> Result<Arc<Plugin>, String> {
        self.slots().get(name).map(|s| s.plugin.clone()).ok_or_else(|| format!("no plugin {name} is loaded"))
    }

    /// Whether `name`'s rollups take new sequences; the error says why not.
    pub fn serving(&self, name: &str) -> Result<(), String> {
        match self.slots().get(name) {
            Some(s) if !s.retired => Ok(()),
            Some(s) => Err(format!("plugin {name} was removed from the folder ({})", s.plugin.path().display())),
            None => Err(format!("no plugin {name} is loaded")),
        }
    }

    /// A prover and checker that run `name`'s current version.
    pub fn prover(self: &Arc<Self>, name: &str) -> Arc<LiveProver> {
        Arc::new(LiveProver { plugins: self.clone(), name: name.to_string() })
    }
}

/// A rollup's plugin by name: each job and check runs on the version current when it starts.
pub struct LiveProver {
    plugins: Arc<LivePlugins>,
    name: String,
}

#[async_trait]
impl Prover for LiveProver {
    async fn prove(&self, job: &str, input: JobInput, miner: [u8; 20]) -> Result<Vec<u8>, String> {
        PluginProver(self.plugins.current(&self.name)?).prove(job, input, miner).await
    }
}

#[async_trait]
impl Checker for LiveProver {
    async fn inspect_batch(&self, job: &str, data: Vec<u8>) -> Result<BatchStatement, String> {
        PluginChecker(self.plugins.current(&self.name)?).inspect_batch(job, data).await
    }

    async fn verify_final(&self, job: &str, proof: Vec<u8>) -> Result<Claim, String> {
        PluginChecker(self.plugins.current(&self.name)?).verify_final(job, proof).await
    }

    fn accepts_new(&self) -> Result<(), String> {
        self.plugins.serving(&self.name)
    }
}

/// What a file looked like on a poll: its size and modification time, and its key file's.
type Fingerprint = (u64, Option<SystemTime>, Option<(u64, Option<SystemTime>)>);

fn fingerprint(wasm: &Path) -> Option<Fingerprint> {
    let stat = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.len(), m.modified().ok()));
    let (len, modified) = stat(wasm)?;
    Some((len, modified, stat(&wasm.with_extension("keys"))))
}

/// A rollup that uses a plugin, and the verifying key it registered on chain.
#[derive(Debug, Clone)]
pub struct Registered {
    /// How logs name it ("rollup 1 on chain sepolia").
    pub rollup: String,
    pub verifying_key: Vec<u8>,
}

/// Follows the plugin folder (see the module docs).
pub struct Reloader {
    runtime: Arc<Runtime>,
    dir: PathBuf,
    plugins: Arc<LivePlugins>,
    /// By plugin name: the rollups that use it, with their registered verifying keys.
    registered: BTreeMap<String, Vec<Registered>>,
    /// What each file looked like when it was last acted on (loaded or refused).
    settled: BTreeMap<PathBuf, Fingerprint>,
    /// Files that changed on the last poll: acted on if the next poll finds them the same.
    changing: BTreeMap<PathBuf, Fingerprint>,
}

/// What one poll did, for logs and tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reload {
    /// Plugins (by name) whose new version now serves.
    pub loaded: Vec<String>,
    /// Files refused, with why.
    pub refused: Vec<(PathBuf, String)>,
    /// Plugins whose file was removed.
    pub retired: Vec<String>,
}

impl Reloader {
    /// A reloader of `dir` for `plugins` (loaded at start from it). The files there now are
    /// taken as they are: only later changes are acted on.
    pub fn new(runtime: Arc<Runtime>, dir: &Path, plugins: Arc<LivePlugins>, registered: BTreeMap<String, Vec<Registered>>) -> Self {
        let settled = wasm_files(dir).into_iter().filter_map(|p| Some((p.clone(), fingerprint(&p)?))).collect();
        Self { runtime, dir: dir.to_owned(), plugins, registered, settled, changing: BTreeMap::new() }
    }

    /// Polls every `every` until `shutdown`.
    pub async fn run(mut self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(every) => {}
            }
            self.poll().await;
        }
    }

    /// One look at the folder.
    pub async fn poll(&mut self) -> Reload {
        let mut out = Reload::default();
        let files = wasm_files(&self.dir);
        for path in &files {
            let Some(now) = fingerprint(path) else { continue };
            if self.settled.get(path) == Some(&now) {
                self.changing.remove(path);
                continue;
            }
            // Changed: act once it is the same on two polls in a row (not being written).
            if self.changing.insert(path.clone(), now) != Some(now) {
                continue;
            }
            self.changing.remove(path);
            self.settled.insert(path.clone(), now);
            match self.load(path).await {
                Ok(Some(name)) => out.loaded.push(name),
                Ok(None) => {}
                Err(why) => {
                    error!(file = %path.display(), "plugin file refused: {why}");
                    out.refused.push((path.clone(), why));
                }
            }
        }
        self.settled.retain(|p, _| files.contains(p));
        self.changing.retain(|p, _| files.contains(p));
        // A plugin whose file is gone (and no other file took its name) is retired.
        for (name, slot) in self.plugins.slots().iter_mut() {
            if !slot.retired && !slot.plugin.path().exists() {
                slot.retired = true;
                warn!(
                    plugin = name,
                    file = %slot.plugin.path().display(),
                    "plugin file removed: its rollups take no new sequences; those already taken finish on the version loaded"
                );
                out.retired.push(name.clone());
            }
        }
        out
    }

    /// Loads `path` and, if it is valid, serves it. `Ok(None)`: nothing changed (the same
    /// component and keys, or a plugin no rollup uses).
    async fn load(&self, path: &Path) -> Result<Option<String>, String> {
        let (runtime, p) = (self.runtime.clone(), path.to_owned());
        let plugin = tokio::task::spawn_blocking(move || -> Result<Plugin, String> {
            let plugin = runtime.load(&p).map_err(|e| e.to_string())?;
            plugin.validate_keys().map_err(|e| format!("plugin {} keys: {e}", plugin.metadata().name))?;
            Ok(plugin)
        })
        .await
        .map_err(|e| format!("loading panicked: {e}"))??;
        let name = plugin.metadata().name.clone();
        let keys = plugin.keys().map(|k| k.digest_hex());
        let Some(registered) = self.registered.get(&name) else {
            info!(plugin = name, file = %path.display(), "plugin loaded; no rollup of this node uses it");
            return Ok(None);
        };
        let vk = plugin.metadata().verifying_key.clone().unwrap_or_default();
        if let Some(r) = registered.iter().find(|r| r.verifying_key != vk) {
            return Err(format!(
                "plugin {name}'s verifying key is not the one {} registered: its proofs would fail on chain and be slashed; \
                 the version loaded before keeps serving",
                r.rollup
            ));
        }
        let mut slots = self.plugins.slots();
        let old = slots.get(&name).map(|s| (s.plugin.digest_hex(), s.plugin.keys().map(|k| k.digest_hex()), s.retired));
        if let Some((digest, old_keys, false)) = &old
            && *digest == plugin.digest_hex()
            && *old_keys == keys
        {
            return Ok(None);
        }
        info!(
            plugin = name,
            file = %path.display(),
            from = old.as_ref().map_or("-", |o| o.0.as_str()),
            to = plugin.digest_hex(),
            "new plugin version serves new jobs; running jobs finish on the old one"
        );
        slots.insert(name.clone(), Slot { plugin: Arc::new(plugin), retired: false });
        Ok(Some(name))
    }
}

/// The `*.wasm` files of `dir`, in name order (none if it cannot be read: logged by the caller's
/// next poll finding its plugins retired).
fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut files: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file()).collect();
    files.sort();
    files
}
