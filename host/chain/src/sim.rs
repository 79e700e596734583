//! Pieces for simulations of the node; never used by a node on a real chain.
//!
//! [`SimVerifier`](crate::bindings::SimVerifier) accepts "proofs" that anyone can make for free:
//! `tag(32) | oldStateRoot(32) | newStateRoot(32) | prover(20)` with `tag = keccak256(oldStateRoot
//! | newStateRoot | prover)`. A simulation proves with [`sim_proof`] instead of a plugin, and makes
//! an invalid proof by changing any byte of a valid one.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};

use crate::bindings::SimVerifier;
use crate::{BaseChain, ChainError, TxRequest};

/// Bytes in a sim proof.
pub const SIM_PROOF_LEN: usize = 116;

/// The tag binding roots and prover (the contract's `keccak256(abi.encodePacked(...))`).
fn tag(old_root: B256, new_root: B256, prover: Address) -> B256 {
    keccak256([old_root.as_slice(), new_root.as_slice(), prover.as_slice()].concat())
}

/// The sim proof of the transition `old_root` → `new_root` by `prover`, which
/// [`SimVerifier`](crate::bindings::SimVerifier) accepts for exactly that statement.
pub fn sim_proof(old_root: B256, new_root: B256, prover: Address) -> Vec<u8> {
    [tag(old_root, new_root, prover).as_slice(), old_root.as_slice(), new_root.as_slice(), prover.as_slice()].concat()
}

/// The roots and prover of a well-formed sim proof (length and tag as the contract checks
/// them), or why it is not one. The contract also requires them to be the statement's.
pub fn check_sim_proof(proof: &[u8]) -> Result<(B256, B256, Address), String> {
    if proof.len() != SIM_PROOF_LEN {
        return Err(format!("sim proof has {} bytes, not {SIM_PROOF_LEN}", proof.len()));
    }
    let old_root = B256::from_slice(&proof[32..64]);
    let new_root = B256::from_slice(&proof[64..96]);
    let prover = Address::from_slice(&proof[96..116]);
    if proof[..32] != tag(old_root, new_root, prover) {
        return Err("sim proof tag does not match its roots and prover".into());
    }
    Ok((old_root, new_root, prover))
}

/// A verifying key [`SimVerifier`](crate::bindings::SimVerifier) accepts (it accepts any 32 bytes).
pub fn sim_verifying_key() -> Bytes {
    keccak256("prova simulation verifying key").0.into()
}

/// Deploys [`SimVerifier`](crate::bindings::SimVerifier) from `admin`.
pub async fn deploy_sim_verifier(admin: &dyn BaseChain) -> Result<Address, ChainError> {
    create(admin, &SimVerifier::BYTECODE, vec![], "SimVerifier").await
}

// The same as `contracts::create`, which is private there.
async fn create(chain: &dyn BaseChain, code: &[u8], args: Vec<u8>, what: &str) -> Result<Address, ChainError> {
    let data = [code, &args].concat();
    let r = chain.send(TxRequest { to: None, data: data.into(), value: U256::ZERO, purpose: format!("deploy {what}") }).await?;
    r.contract_address.ok_or_else(|| ChainError::Decode { purpose: format!("deploy {what}"), message: "no contract address".into() })
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolCall;

    use super::*;
    use crate::bindings::SimVerifier::{Statement, checkVerifyingKeyCall, verifyProofCall};
    use crate::dev::dev_signer;
    use crate::embedded::EmbeddedChain;

    fn roots() -> (B256, B256, Address) {
        (keccak256("old"), keccak256("new"), dev_signer(1).address())
    }

    #[test]
    fn sim_proof_round_trips_and_rejects_corruption() {
        let (old, new, prover) = roots();
        let proof = sim_proof(old, new, prover);
        assert_eq!(proof.len(), SIM_PROOF_LEN);
        assert_eq!(check_sim_proof(&proof), Ok((old, new, prover)));
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] ^= 0x80;
            assert!(check_sim_proof(&bad).is_err(), "byte {i} flipped");
        }
        assert!(check_sim_proof(&proof[..115]).unwrap_err().contains("115 bytes"));
        assert!(check_sim_proof(&[proof.as_slice(), &[0]].concat()).is_err());
    }

    #[tokio::test]
    async fn sim_verifier_on_the_embedded_chain_accepts_sim_proofs_only() {
        let admin = dev_signer(0).address();
        let chain = EmbeddedChain::new(31337, &[(admin, U256::from(10u64).pow(U256::from(20)))]);
        let handle = chain.handle(admin);
        let verifier = deploy_sim_verifier(&handle).await.expect("deploy");
        let (old, new, prover) = roots();
        let statement = Statement {
            oldStateRoot: old,
            newStateRoot: new,
            oldAccInputHash: B256::ZERO,
            newAccInputHash: keccak256("acc"),
            prover,
            numBatches: 2,
            chainId: U256::from(31337),
            rollupId: 1,
        };
        let verify = |proof: Vec<u8>, statement: Statement| {
            let handle = handle.clone();
            async move {
                // `_0`: the key, unnamed in the contract as it is not read.
                let data = verifyProofCall { _0: sim_verifying_key(), proof: proof.into(), statement }.abi_encode();
                let out = handle.call(verifier, data.into()).await.expect("verifyProof never reverts");
                verifyProofCall::abi_decode_returns(&out).expect("bool")
            }
        };
        let proof = sim_proof(old, new, prover);
        assert!(verify(proof.clone(), statement.clone()).await, "valid sim proof");
        let mut bad = proof.clone();
        bad[0] ^= 1;
        assert!(!verify(bad, statement.clone()).await, "corrupted tag");
        let mut bad = proof.clone();
        bad[100] ^= 1;
        assert!(!verify(bad, statement.clone()).await, "corrupted prover");
        assert!(!verify(proof[..100].to_vec(), statement.clone()).await, "truncated");
        assert!(!verify(sim_proof(old, new, dev_signer(2).address()), statement.clone()).await, "another prover's proof");
        assert!(!verify(proof, Statement { newStateRoot: keccak256("other"), ..statement }).await, "other statement");

        let check = |vk: Vec<u8>| {
            let handle = handle.clone();
            async move {
                let out = handle.call(verifier, checkVerifyingKeyCall { vk: vk.into() }.abi_encode().into()).await.expect("call");
                checkVerifyingKeyCall::abi_decode_returns(&out).expect("bool")
            }
        };
        assert!(check(sim_verifying_key().to_vec()).await);
        assert!(!check(vec![0; 31]).await);
    }
}
