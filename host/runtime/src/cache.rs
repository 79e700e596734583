//! The precompiled-component cache.
//!
//! A `.cwasm` is only valid for the engine configuration that wrote it (fuel and epoch
//! instrumentation change the code), so the file name carries both the component's digest and
//! the engine's `precompile_compatibility_hash`. Loading one is `unsafe` in wasmtime's terms
//! (the file is trusted to be what this host wrote), which is why the cache folder must be
//! private to the host. A file that fails to load is recompiled and replaced.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use tracing::{debug, warn};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::RuntimeError;

/// A name that changes whenever the component or the engine configuration changes.
fn cache_key(engine: &Engine, digest: &[u8; 32]) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{}-{:016x}", hex::encode(&digest[..16]), h.finish())
}

/// The component for `bytes`, from the cache when possible.
pub fn component(
    engine: &Engine,
    bytes: &[u8],
    digest: &[u8; 32],
    cache_dir: Option<&Path>,
    path: &Path,
) -> Result<Component, RuntimeError> {
    let invalid = |e: wasmtime::Error| RuntimeError::Invalid { path: path.to_owned(), why: format!("{e:#}") };
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes).map_err(invalid);
    };
    let file = dir.join(format!("{}.cwasm", cache_key(engine, digest)));
    if file.exists() {
        // SAFETY: the cache folder is written only by this host (see `RuntimeConfig::cache_dir`),
        // and the key ties the file to this exact component and engine configuration.
        match unsafe { Component::deserialize_file(engine, &file) } {
            Ok(c) => {
                debug!(file = %file.display(), "cwasm cache hit");
                return Ok(c);
            }
            Err(e) => warn!(file = %file.display(), error = %format!("{e:#}"), "unusable cwasm; recompiling"),
        }
    }
    let component = Component::new(engine, bytes).map_err(invalid)?;
    match component.serialize() {
        Ok(ser) => {
            if let Err(e) = crate::fsutil::write_atomically(&file, &ser) {
                warn!(file = %file.display(), error = %e, "cannot write cwasm cache; continuing without it");
            }
        }
        Err(e) => warn!(error = %format!("{e:#}"), "cannot serialize component; continuing without cache"),
    }
    Ok(component)
}
