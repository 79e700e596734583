//! Every bound the host puts on a plugin job, with the reason for each default, and the memory
//! limiter that enforces the memory bound.

use std::time::Duration;

/// Bounds on one job (one call into a plugin on a fresh instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory one job may use, whatever the plugin asks for. 3 GiB: below wasm32's
    /// 4 GiB address space, with room for the reference adapter's dev setup (it asks for 1 GiB).
    pub max_memory_bytes: u64,
    /// Fuel (about one unit per wasm instruction) per job. 2e11 is minutes of guest work at the
    /// ~1e9 instructions per second Cranelift code runs here: far above a batch proof, whose
    /// heavy arithmetic runs on the host where fuel is not charged, yet a loop still ends.
    pub fuel_per_job: u64,
    /// Wall time per job, host kernels included. Ten minutes: a proof that takes longer on this
    /// node is better requeued elsewhere than waited for.
    pub wall_time_per_job: Duration,
    /// Guest stderr kept per job, for panic messages and plugin logs. 1 MiB holds any panic
    /// message and far more logging than a proving job needs, and bounds what a chatty plugin
    /// can make the host hold. Writing past it ends the job with a trap that says so
    /// ("write beyond capacity"): wasmtime's memory pipe refuses rather than truncates.
    pub stderr_bytes: usize,
    /// Resource handles (bases, WASI streams) one job may hold. A job needs about ten; the bound
    /// stops a plugin that leaks handles in a loop from growing the host's table.
    pub max_handles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_memory_bytes: 3 << 30,
            fuel_per_job: 200_000_000_000,
            wall_time_per_job: Duration::from_secs(600),
            stderr_bytes: 1 << 20,
            max_handles: 1024,
        }
    }
}

/// How often the epoch ticker advances, and so how late a wall-time bound can fire. 10 ms keeps
/// the ticker's own cost negligible while a timed-out job stops within a hundredth of a second.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Fuel for reading a plugin's metadata at load time: metadata is a constant record, so a
/// plugin that needs more than this (1e9, a second of guest work) is looping.
pub const METADATA_FUEL: u64 = 1_000_000_000;

/// Denies linear-memory growth past `limit` and remembers that it did, so that the trap that
/// follows is reported as a memory limit rather than as an anonymous trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    pub(crate) denied: Option<u64>,
}

impl MemoryLimiter {
    pub fn new(limit: u64) -> Self {
        Self { limit, denied: None }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.denied = Some(desired as u64);
            // An error (rather than `Ok(false)`) traps at once: a guest allocator that sees
            // growth fail would abort anyway, with a less useful message.
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing linear memory to {desired} bytes exceeds the job's {} bytes",
                self.limit
            )));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; a million entries is far beyond any real plugin.
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn growth_within_the_limit_is_allowed_and_beyond_it_is_denied_and_remembered() {
        let mut l = MemoryLimiter::new(1 << 20);
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        assert_eq!(l.denied, None);
        let err = l.memory_growing(1 << 20, (1 << 20) + 65536, None).unwrap_err();
        assert!(err.to_string().contains("exceeds the job's 1048576 bytes"), "{err}");
        assert_eq!(l.denied, Some((1 << 20) + 65536));
    }

    #[test]
    fn defaults_leave_room_under_wasm32_and_bound_a_job() {
        let d = Limits::default();
        assert!(d.max_memory_bytes < 4 << 30);
        assert!(d.fuel_per_job > METADATA_FUEL);
        assert!(d.wall_time_per_job > EPOCH_TICK * 100);
    }
}
