//! What a worker runs: one proof job. The node runs the rollup's plugin; the orchestrator
//! benchmark runs simulated provers through the same trait.

use std::sync::Arc;

use prova_runtime::Plugin;

/// The input of one job, read from the store by the worker.
#[derive(Debug, Clone)]
pub enum JobInput {
    /// One batch's data as posted (the witness).
    Batch(Vec<u8>),
    /// The batch proofs of a sequence, in batch order.
    Aggregate(Vec<Vec<u8>>),
    /// The batch proof (one-batch sequence) or the aggregate, to bind to the miner.
    Final(Vec<u8>),
}

/// Runs proof jobs. Blocking: the generator calls it on tokio's blocking pool.
pub trait Prover: Send + Sync + 'static {
    /// Proves `input` for `miner`; `job` names it in logs. The error is for a person to read.
    fn prove(&self, job: &str, input: JobInput, miner: &[u8; 20]) -> Result<Vec<u8>, String>;
}

/// A rollup's plugin as a prover (wasmtime under the runtime's limits).
pub struct PluginProver(pub Arc<Plugin>);

impl Prover for PluginProver {
    fn prove(&self, job: &str, input: JobInput, miner: &[u8; 20]) -> Result<Vec<u8>, String> {
        let out = match input {
            JobInput::Batch(w) => self.0.prove_batch(job, &w, miner),
            JobInput::Aggregate(p) => self.0.aggregate(job, &p),
            JobInput::Final(p) => self.0.finalize(job, &p, miner),
        };
        out.map_err(|e| e.to_string())
    }
}
