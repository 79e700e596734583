//! The deployment file: where the contracts live on one chain, written by `prova chain deploy`
//! and read by the node (`[chain] deployment = "deployment.json"`) and every chain command.
//!
//! Besides the four addresses it records the chain id (a file for another chain is refused
//! before anything is sent) and each contract's code hash at deploy time: the runtime code of
//! our contracts holds immutables (admin, stake, delay), so the only code to compare against is
//! the code this deployment put there.

use std::path::Path;

use alloy::primitives::{Address, B256, keccak256};
use serde::{Deserialize, Serialize};

use crate::contracts::Deployment;
use crate::{BaseChain, ChainError};

/// Code hashes of the four contracts, as deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeHashes {
    pub stake: B256,
    pub manager: B256,
    pub verifier: B256,
    pub pool: B256,
}

/// The content of a deployment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    pub chain_id: u64,
    /// A block at or before the first deploy transaction: where a watcher may start.
    pub from_block: u64,
    pub stake: Address,
    pub manager: Address,
    pub verifier: Address,
    pub pool: Address,
    pub code_hashes: CodeHashes,
}

/// Why a deployment does not match the chain it is used on.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("cannot read deployment file {path}: {message}")]
    Read { path: String, message: String },
    #[error("deployment file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
    #[error("the deployment is for chain {file}, but the RPC serves chain {rpc}")]
    WrongChain { file: u64, rpc: u64 },
    #[error("no contract at the {name} address {address}: wrong chain, or the deployment was not mined")]
    NoCode { name: &'static str, address: Address },
    #[error("the {name} contract at {address} is not the one deployed (code hash {found}, the deployment file says {expected})")]
    OtherCode { name: &'static str, address: Address, found: B256, expected: B256 },
    #[error("the manager at {manager} uses stake contract {actual}, not the configured {configured}")]
    StakeMismatch { manager: Address, actual: Address, configured: Address },
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl DeploymentFile {
    /// Reads and validates a deployment file.
    pub fn read(path: &Path) -> Result<Self, DeploymentError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DeploymentError::Read { path: p.clone(), message: e.to_string() })?;
        serde_json::from_str(&text).map_err(|e| DeploymentError::Invalid { path: p, message: e.to_string() })
    }

    /// Records `deployment` as it is on `chain` now (code hashes included).
    pub async fn capture(chain: &dyn BaseChain, deployment: Deployment, from_block: u64) -> Result<Self, DeploymentError> {
        let [stake, manager, verifier, pool] = code_hashes(chain, &deployment).await?;
        Ok(Self {
            chain_id: chain.chain_id(),
            from_block,
            stake: deployment.stake,
            manager: deployment.manager,
            verifier: deployment.verifier,
            pool: deployment.pool,
            code_hashes: CodeHashes { stake, manager, verifier, pool },
        })
    }

    pub fn deployment(&self) -> Deployment {
        Deployment { stake: self.stake, manager: self.manager, verifier: self.verifier, pool: self.pool }
    }

    /// Pretty JSON, the file's format.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain fields serialise")
    }

    /// Checks the chain id and that every address holds the code this deployment put there.
    pub async fn check(&self, chain: &dyn BaseChain) -> Result<(), DeploymentError> {
        if chain.chain_id() != self.chain_id {
            return Err(DeploymentError::WrongChain { file: self.chain_id, rpc: chain.chain_id() });
        }
        let h = &self.code_hashes;
        let found = code_hashes(chain, &self.deployment()).await?;
        for (((name, address), expected), found) in
            named(&self.deployment()).into_iter().zip([h.stake, h.manager, h.verifier, h.pool]).zip(found)
        {
            if found != expected {
                return Err(DeploymentError::OtherCode { name, address, found, expected });
            }
        }
        check_wiring(chain, &self.deployment()).await
    }
}

/// Checks what can be checked without recorded code hashes: code at every address, and the
/// manager's stake contract is the configured one.
pub async fn check_addresses(chain: &dyn BaseChain, d: &Deployment) -> Result<(), DeploymentError> {
    code_hashes(chain, d).await?;
    check_wiring(chain, d).await
}

/// The code hash at each of the four addresses, in `named` order; an address without code is
/// an error.
async fn code_hashes(chain: &dyn BaseChain, d: &Deployment) -> Result<[B256; 4], DeploymentError> {
    let mut hashes = [B256::ZERO; 4];
    for (h, (name, address)) in hashes.iter_mut().zip(named(d)) {
        let code = chain.code(address).await?;
        if code.is_empty() {
            return Err(DeploymentError::NoCode { name, address });
        }
        *h = keccak256(&code);
    }
    Ok(hashes)
}

async fn check_wiring(chain: &dyn BaseChain, d: &Deployment) -> Result<(), DeploymentError> {
    let actual = d.manager_stake(chain).await?;
    if actual != d.stake {
        return Err(DeploymentError::StakeMismatch { manager: d.manager, actual, configured: d.stake });
    }
    Ok(())
}

fn named(d: &Deployment) -> [(&'static str, Address); 4] {
    [("stake", d.stake), ("manager", d.manager), ("verifier", d.verifier), ("pool", d.pool)]
}
