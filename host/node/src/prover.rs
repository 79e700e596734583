//! What the node asks of a rollup's proof system: proof jobs ([`Prover`]) and checks of posted
//! batches and final proofs ([`Checker`]). The node runs the rollup's plugin behind both
//! ([`PluginProver`], [`PluginChecker`]: wasm on tokio's blocking pool); the orchestrator
//! benchmark and the simulation run simulated ones inline, under tokio's clock.

use std::sync::Arc;

use async_trait::async_trait;
use prova_runtime::{BatchStatement, Claim, Plugin, Stage};

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

/// Runs proof jobs.
#[async_trait]
pub trait Prover: Send + Sync + 'static {
    /// Proves `input` for `miner`; `job` names it in logs. The error is for a person to read.
    async fn prove(&self, job: &str, input: JobInput, miner: [u8; 20]) -> Result<Vec<u8>, String>;
}

/// Checks what the chain posts and what the provers return, before the node acts on it.
#[async_trait]
pub trait Checker: Send + Sync + 'static {
    /// What a batch's posted data states (its commitment and state roots).
    async fn inspect_batch(&self, job: &str, data: Vec<u8>) -> Result<BatchStatement, String>;
    /// Verifies a final proof and returns what it claims (new state root, prover).
    async fn verify_final(&self, job: &str, proof: Vec<u8>) -> Result<Claim, String>;

    /// Whether the rollup takes new sequences; the error says why not (its plugin's file was
    /// removed). Sequences already taken are finished either way.
    fn accepts_new(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Runs a blocking plugin call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(format!("job panicked: {e}")))
}

/// A rollup's plugin as a prover (wasmtime under the runtime's limits).
pub struct PluginProver(pub Arc<Plugin>);

#[async_trait]
impl Prover for PluginProver {
    async fn prove(&self, job: &str, input: JobInput, miner: [u8; 20]) -> Result<Vec<u8>, String> {
        let (plugin, job) = (self.0.clone(), job.to_string());
        blocking(move || {
            let out = match input {
                JobInput::Batch(w) => plugin.prove_batch(&job, &w, &miner),
                JobInput::Aggregate(p) => plugin.aggregate(&job, &p),
                JobInput::Final(p) => plugin.finalize(&job, &p, &miner),
            };
            out.map_err(|e| e.to_string())
        })
        .await
    }
}

/// A rollup's plugin as the checker.
pub struct PluginChecker(pub Arc<Plugin>);

#[async_trait]
impl Checker for PluginChecker {
    async fn inspect_batch(&self, job: &str, data: Vec<u8>) -> Result<BatchStatement, String> {
        let (plugin, job) = (self.0.clone(), job.to_string());
        blocking(move || plugin.inspect_batch(&job, &data).map_err(|e| e.to_string())).await
    }

    async fn verify_final(&self, job: &str, proof: Vec<u8>) -> Result<Claim, String> {
        let (plugin, job) = (self.0.clone(), job.to_string());
        blocking(move || plugin.verify(&job, Stage::Final, &proof).map_err(|e| e.to_string())).await
    }
}
