//! Shared helpers of the end-to-end tests: where the built components are, and plugin folders
//! with key sets, made once per test run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use prova_runtime::{Limits, Runtime, RuntimeConfig};

pub mod chain;
pub mod sim;

/// Paths of the components that `build.rs` built.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

/// A runtime with a small budget, so that misbehaving fixtures fail fast.
pub fn runtime_with(limits: Limits, cache: Option<&Path>) -> Runtime {
    let backend = Arc::new(prova_compute::RayonBackend::new(0).unwrap());
    Runtime::new(RuntimeConfig { backend, limits, cache_dir: cache.map(Path::to_owned) }).unwrap()
}

/// Limits for fixture tests: 2e9 fuel (a couple of seconds of looping), 20 s, 256 MiB.
pub fn test_limits() -> Limits {
    Limits { fuel_per_job: 2_000_000_000, wall_time_per_job: Duration::from_secs(20), max_memory_bytes: 256 << 20, ..Limits::default() }
}

/// Copies `components` into a fresh folder (as `<name>.wasm`) and returns it.
pub fn plugin_dir(components: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, src) in components {
        std::fs::copy(src, dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}

/// A folder holding `transfer-groth16.wasm` and its dev key set.
pub fn transfer_dir() -> tempfile::TempDir {
    keyed_dir(&[("transfer-groth16", plugins::TRANSFER_GROTH16)])
}

/// A folder holding `components` (as `<name>.wasm`), each with its dev key set. A key set is
/// made once per component build and shared by every test process (under a file lock), because
/// the dev setup is the slowest step of the suite.
pub fn keyed_dir(components: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = plugin_dir(components);
    for (name, component) in components {
        let wasm = std::fs::read(component).unwrap();
        let shared = shared_dir().join(format!("{name}-{:016x}.keys", fnv(&wasm)));
        let lock = std::fs::File::create(shared_dir().join("keys.lock")).unwrap();
        lock.lock().unwrap();
        if !shared.exists() {
            let rt = runtime_with(Limits::default(), None);
            let p = rt.load(&dir.path().join(format!("{name}.wasm"))).unwrap();
            p.setup(b"prova-tests").unwrap();
            std::fs::copy(p.key_path(), &shared).unwrap();
        }
        lock.unlock().unwrap();
        std::fs::copy(&shared, dir.path().join(format!("{name}.keys"))).unwrap();
    }
    dir
}

fn shared_dir() -> PathBuf {
    let d = PathBuf::from(env!("OUT_DIR")).join("shared");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A stable 64-bit digest (FNV-1a) to name shared files after a component's content.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

/// The one `error: ` line a failed `prova` command prints (and that it failed, with exactly one).
pub fn error_line(o: &std::process::Output) -> String {
    assert!(!o.status.success(), "unexpectedly succeeded: {}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    lines[0].to_string()
}
