//! Why loading a plugin or running a job failed.

use std::path::PathBuf;
use std::time::Duration;

use crate::bindings;
use crate::types::AdapterError;

/// Why a plugin could not be loaded or its keys used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("plugin {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("plugin {path}: not a valid WebAssembly component: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("plugin {path}: not a prova adapter: it exports no `{}` interface", bindings::ADAPTER_INTERFACE)]
    NotAnAdapter { path: PathBuf },
    #[error("plugin {path}: built against prova:adapter@{found}; this host loads prova:adapter versions {supported}")]
    WitVersion { path: PathBuf, found: String, supported: String },
    #[error("plugin {path}: exports prova:adapter@{exported} but its metadata says WIT {reported:?}: rebuild it against one SDK")]
    MetadataVersion { path: PathBuf, exported: String, reported: String },
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
    #[error("{path}: plugin name {name:?} {why}")]
    BadName { path: PathBuf, name: String, why: String },
    #[error("plugin folder {dir}: {first} and {second} are both plugin {name:?}: remove one")]
    DuplicateName { dir: PathBuf, name: String, first: PathBuf, second: PathBuf },
    #[error("no plugin named {name:?} in {dir} (plugins there: {available}{refused}; build them with scripts/build-plugins.sh)")]
    NoSuchPlugin { dir: PathBuf, name: String, available: String, refused: String },
    #[error("no plugins in {dir}{refused} (build them with scripts/build-plugins.sh, or point --plugins at their folder)")]
    NoPlugins { dir: PathBuf, refused: String },
    #[error("{dir} holds several plugins ({available}): name one with --plugin, PROVA_PLUGIN or `plugin = ` in the node config")]
    ChoosePlugin { dir: PathBuf, available: String },
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

/// Marker error the wall-time callback raises, so that the trap can be told apart.
#[derive(Debug)]
pub(crate) struct WallTimeExceeded;

impl std::fmt::Display for WallTimeExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wall-time bound exceeded")
    }
}

impl std::error::Error for WallTimeExceeded {}
