//! Counters of what the host kernels did for a plugin.

use std::time::Duration;

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
pub(crate) struct KernelCounters {
    calls: std::sync::atomic::AtomicU64,
    bytes_in: std::sync::atomic::AtomicU64,
    bytes_out: std::sync::atomic::AtomicU64,
    compute_ns: std::sync::atomic::AtomicU64,
    codec_ns: std::sync::atomic::AtomicU64,
}

impl KernelCounters {
    pub(crate) fn record(&self, bytes_in: u64, bytes_out: u64, compute: Duration, codec: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes_in, Relaxed);
        self.bytes_out.fetch_add(bytes_out, Relaxed);
        self.compute_ns.fetch_add(compute.as_nanos() as u64, Relaxed);
        self.codec_ns.fetch_add(codec.as_nanos() as u64, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> KernelStats {
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
