//! `transfer-groth16`: the reference rollup adapter.
//!
//! - batch: a Groth16/BN254 proof that [`state::TRANSFERS_PER_BATCH`] transfers take `R_in` to
//!   `R_out`, with public inputs `(R_in, R_out, batch commitment, prover address)`; every MSM and
//!   NTT of proving runs on the host's kernels.
//! - aggregate: verifies a sequence's batch proofs, checks that the roots chain and that one
//!   prover made them all, and emits a bundle for *batched verification* (n + 3 pairings instead
//!   of 4n). This is linear in the number of batches; it is not recursive aggregation.
//! - final: binds the bundle to the submitter (who must be the prover the batch proofs name) and
//!   encodes it for the EVM verifier.
//! - verify: checks any stage natively and says what it proves.

// Natively (unit tests) nothing is exported, so the export glue looks dead there.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod circuit;
mod encoding;
mod kernels;
mod poseidon;
mod prover;
mod setup;
mod state;
mod verify;

use ark_bn254::Fr;
use prova_guest::{Adapter, AdapterError, AdapterInfo, BatchStatement, Claim, KeySection, ResourceRequest, Stage};

use crate::encoding::{AGGREGATE_MAGIC, Address, BATCH_MAGIC, BatchProof, Bundle, FINAL_MAGIC, MAX_BATCHES, VerifyingKey, put_fr};

struct TransferGroth16;

// Exported only in the component: native builds (the unit tests) have no component ABI.
#[cfg(target_arch = "wasm32")]
prova_guest::export_adapter!(TransferGroth16);

fn address(bytes: &[u8], what: &str) -> Result<Address, AdapterError> {
    bytes.try_into().map_err(|_| AdapterError::InvalidInput(format!("{what} must be a 20-byte address, got {} bytes", bytes.len())))
}

fn installed_vk() -> Result<VerifyingKey, AdapterError> {
    encoding::decode_vk(&prova_guest::keys::bytes(setup::VK_SECTION)?)
}

fn fr_bytes(x: &Fr) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    put_fr(&mut v, x);
    v
}

/// Verifies a bundle under the installed key. Aggregate and final share the transcript (the
/// bundle without its magic), so the weights do not change when an aggregate is finalized.
fn verify_bundle(bundle: &Bundle, what: &str) -> Result<(), AdapterError> {
    let encoded = encoding::encode_bundle(AGGREGATE_MAGIC, bundle);
    verify::verify_batched(&installed_vk()?, &bundle.batches(), &encoded[4..], what)
}

fn claim(stage: Stage, b: &Bundle) -> Claim {
    Claim {
        stage,
        old_state_root: fr_bytes(&b.roots[0]),
        new_state_root: fr_bytes(&b.roots[b.roots.len() - 1]),
        batch_commitments: b.commitments.iter().map(fr_bytes).collect(),
        prover: b.prover.to_vec(),
    }
}

fn bundle_of(batches: &[BatchProof]) -> Result<Bundle, AdapterError> {
    let first = batches.first().ok_or_else(|| AdapterError::InvalidInput("no batch proofs to aggregate".into()))?;
    if batches.len() > MAX_BATCHES as usize {
        return Err(AdapterError::InvalidInput(format!("{} batches exceed the maximum of {MAX_BATCHES}", batches.len())));
    }
    for (i, pair) in batches.windows(2).enumerate() {
        if pair[0].new_root != pair[1].old_root {
            return Err(AdapterError::Unsatisfied(format!("roots do not chain: batch {i} ends where batch {} does not start", i + 1)));
        }
    }
    if let Some(i) = batches.iter().position(|b| b.prover != first.prover) {
        return Err(AdapterError::Unsatisfied(format!("batch {i} is bound to another prover than batch 0")));
    }
    let mut roots = vec![first.old_root];
    roots.extend(batches.iter().map(|b| b.new_root));
    Ok(Bundle {
        prover: first.prover,
        proofs: batches.iter().map(|b| b.proof).collect(),
        roots,
        commitments: batches.iter().map(|b| b.commitment).collect(),
    })
}

impl Adapter for TransferGroth16 {
    fn metadata() -> AdapterInfo {
        AdapterInfo {
            name: "transfer-groth16".into(),
            rollup_type: "transfer".into(),
            wit_version: prova_guest::WIT_VERSION.into(),
            proof_system: "groth16-bn254; aggregate = batched verification of the batch proofs (n + 3 pairings), not recursion".into(),
            // A broken key store must not hide the plugin from `plugins list`: report no key.
            verifying_key: prova_guest::keys::bytes_if_installed(setup::VK_SECTION).ok().flatten(),
            resources: ResourceRequest {
                // Witness synthesis and the QAP vectors of one batch take well under 256 MiB;
                // the dev setup holds the whole proving key in the guest and needs more.
                memory_bytes: 1 << 30,
                max_batches: MAX_BATCHES,
                key_sections: kernels::G1_SECTIONS
                    .iter()
                    .map(|q| q.section().to_string())
                    .chain([kernels::G2_SECTION, setup::CONSTANTS_SECTION, setup::VK_SECTION].map(String::from))
                    .collect(),
            },
        }
    }

    fn setup(seed: Vec<u8>) -> Result<Vec<KeySection>, AdapterError> {
        Ok(setup::sections(&setup::generate(&seed)?))
    }

    fn sample_sequence(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
        if batches == 0 || batches > state::MAX_SAMPLE_BATCHES {
            return Err(AdapterError::InvalidInput(format!("a sample has 1..={} batches, not {batches}", state::MAX_SAMPLE_BATCHES)));
        }
        Ok(state::sample_sequence(batches, seed).iter().map(|w| w.encode()).collect())
    }

    fn prove_batch(witness: Vec<u8>, prover: Vec<u8>) -> Result<Vec<u8>, AdapterError> {
        let prover = address(&prover, "prover")?;
        let w = state::BatchWitness::decode(&witness)?;
        let statement = w.statement()?;
        let vk = installed_vk()?;
        let pk_g1 = prova_guest::kernels::g1_points(&prova_guest::keys::g1(setup::CONSTANTS_SECTION)?)?;
        let consts = setup::constants(&vk, &pk_g1)?;
        let (r, s) = prover::derive_rs(&[witness.as_slice(), &prover].concat());
        let circuit = circuit::BatchCircuit { witness: w, statement, prover: encoding::address_to_fr(&prover) };
        let host = kernels::HostKernels::open()?;
        #[cfg(not(feature = "guest-kernels"))]
        let proof = prover::prove(circuit, &consts, &mut { host }, r, s)?;
        #[cfg(feature = "guest-kernels")]
        let proof = prover::prove(circuit, &consts, &mut host.to_local()?, r, s)?;
        let batch =
            BatchProof { proof, old_root: statement.old_root, new_root: statement.new_root, commitment: statement.commitment, prover };
        Ok(encoding::encode_batch(&batch))
    }

    fn aggregate(batch_proofs: Vec<Vec<u8>>) -> Result<Vec<u8>, AdapterError> {
        let batches = batch_proofs.iter().map(|b| encoding::decode_batch(b)).collect::<Result<Vec<_>, _>>()?;
        let bundle = bundle_of(&batches)?;
        verify_bundle(&bundle, "aggregate")?;
        Ok(encoding::encode_bundle(AGGREGATE_MAGIC, &bundle))
    }

    fn finalize(proof: Vec<u8>, submitter: Vec<u8>) -> Result<Vec<u8>, AdapterError> {
        let submitter = address(&submitter, "submitter")?;
        let bundle = match proof.get(..4) {
            Some(m) if m == BATCH_MAGIC => bundle_of(&[encoding::decode_batch(&proof)?])?,
            Some(m) if m == AGGREGATE_MAGIC => encoding::decode_bundle("aggregate proof", AGGREGATE_MAGIC, &proof)?,
            _ => return Err(AdapterError::InvalidInput("finalize takes a batch proof (PVB1) or an aggregate (PVA1)".into())),
        };
        if bundle.prover != submitter {
            return Err(AdapterError::Unsatisfied(
                "the proofs are bound to another prover than the submitter: prove with the submitter's address".into(),
            ));
        }
        verify_bundle(&bundle, "final")?;
        Ok(encoding::encode_bundle(FINAL_MAGIC, &bundle))
    }

    fn inspect_batch(witness: Vec<u8>) -> Result<BatchStatement, AdapterError> {
        let st = state::BatchWitness::decode(&witness)?.statement()?;
        Ok(BatchStatement {
            old_state_root: fr_bytes(&st.old_root),
            new_state_root: fr_bytes(&st.new_root),
            commitment: fr_bytes(&st.commitment),
        })
    }

    fn verify(stage: Stage, proof: Vec<u8>) -> Result<Claim, AdapterError> {
        let bundle = match stage {
            Stage::Batch => bundle_of(&[encoding::decode_batch(&proof)?])?,
            Stage::Aggregate => encoding::decode_bundle("aggregate proof", AGGREGATE_MAGIC, &proof)?,
            Stage::Final => encoding::decode_bundle("final proof", FINAL_MAGIC, &proof)?,
        };
        let what = match stage {
            Stage::Batch => "batch",
            Stage::Aggregate => "aggregate",
            Stage::Final => "final",
        };
        verify_bundle(&bundle, what)?;
        Ok(claim(stage, &bundle))
    }
}

#[cfg(test)]
mod tests;
