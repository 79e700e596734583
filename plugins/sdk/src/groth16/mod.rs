//! The Groth16/BN254 kit: a whole adapter for a team that writes only its rollup.
//!
//! A team implements [`Rollup`] (its witness format, how a batch replays into roots and a
//! commitment, the circuit's constraints, a blank witness for setup and a sample generator) and
//! exports `Groth16<TheirRollup>`:
//!
//! ```text
//! struct Counter;
//! impl prova_guest::groth16::Rollup for Counter { /* ... */ }
//! prova_guest::export_adapter!(prova_guest::groth16::Groth16<Counter>);
//! ```
//!
//! The kit does everything else, the same way for every rollup:
//! - **batch**: a Groth16 proof whose public inputs are `(R_in, R_out, commitment, prover)`, in
//!   that order (the kit allocates them, so the layout always fits the standard verifier
//!   contract); every MSM and NTT runs on the host's kernels ([`prover`]).
//! - **aggregate**: checks that the batch proofs' roots chain and that one prover made them all,
//!   verifies them together and emits a bundle for *batched verification* (n + 3 pairings instead
//!   of 4n). Linear in the number of batches; not recursion.
//! - **final**: binds the bundle to the submitter (who must be the prover the proofs name) and
//!   encodes it for the EVM verifier (`Groth16BatchVerifier`).
//! - **verify**: checks any stage and says what it proves.
//! - **setup**: a deterministic development setup written as key sections ([`setup`]).
//!
//! Byte formats are in [`encoding`]; the batched check in [`verify`]; Poseidon, which most
//! rollups need for roots and commitments, natively and as gadgets in [`poseidon`]; range checks
//! in [`gadgets`].

pub mod encoding;
pub mod gadgets;
mod kernels;
pub mod poseidon;
pub mod prover;
pub mod setup;
pub mod verify;

use std::marker::PhantomData;

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use self::encoding::{AGGREGATE_MAGIC, Address, BATCH_MAGIC, BatchProof, Bundle, FINAL_MAGIC, MAX_BATCHES, VerifyingKey, put_fr};
use crate::{Adapter, AdapterError, AdapterInfo, BatchStatement, Claim, KeySection, ResourceRequest, Stage, Verifier};

/// What a batch states: the public inputs other than the prover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statement {
    /// State root before the batch.
    pub old_root: Fr,
    /// State root after it.
    pub new_root: Fr,
    /// The commitment to the batch's transactions that the sequencer posts on chain.
    pub commitment: Fr,
}

/// The public inputs as circuit variables, allocated by the kit in the verifier's order.
pub struct Inputs {
    pub old_root: FpVar<Fr>,
    pub new_root: FpVar<Fr>,
    pub commitment: FpVar<Fr>,
}

/// A rollup type, as its team writes it. Everything else of the adapter is the kit's.
pub trait Rollup {
    /// Plugin name, unique within a node (for example "transfer-groth16").
    const NAME: &'static str;
    /// The rollup type it proves, as registered on chain (for example "transfer").
    const ROLLUP_TYPE: &'static str;
    /// Linear memory one job may use, in bytes. The dev setup holds the whole proving key in the
    /// guest and is the largest job; 1 GiB fits circuits up to about a million constraints.
    const MEMORY_BYTES: u64 = 1 << 30;
    /// Most batches one sequence's proof may hold: at most [`encoding::MAX_BATCHES`] (64, the
    /// standard verifier's bound). A rollup whose own verifier takes fewer says so here, so that
    /// its adapter never makes a final proof the verifier would refuse (a refused reveal is a
    /// slash): aggregate, finalize and verify refuse more.
    const MAX_BATCHES: u32 = MAX_BATCHES;
    /// Most batches one [`Rollup::sample`] may hold.
    const MAX_SAMPLE_BATCHES: u32 = 4096;

    /// One batch's witness: everything the circuit needs.
    type Witness: Clone;

    /// Decodes a witness and checks its shape (sizes, counts); its truth is for [`Rollup::statement`].
    /// Errors are [`AdapterError::InvalidInput`].
    fn decode(bytes: &[u8]) -> Result<Self::Witness, AdapterError>;

    /// Replays the batch natively: checks it and returns its roots and commitment. A witness that
    /// fails here would fail in the circuit; failing here says why ([`AdapterError::Unsatisfied`]).
    fn statement(witness: &Self::Witness) -> Result<Statement, AdapterError>;

    /// Constrains `witness` to take `inputs.old_root` to `inputs.new_root` with the commitment
    /// `inputs.commitment`. The circuit must enforce all three: an unbound input is a forgery.
    fn constrain(cs: ConstraintSystemRef<Fr>, witness: &Self::Witness, inputs: &Inputs) -> Result<(), SynthesisError>;

    /// A witness of the circuit's shape with arbitrary values, for key generation: the circuit
    /// (its constraint count) must not depend on the witness's values.
    fn blank() -> Self::Witness;

    /// `batches` (1..=[`Rollup::MAX_SAMPLE_BATCHES`]) consecutive encoded batch witnesses from a
    /// genesis, reproducible from `seed`: what the dev sequencer posts.
    fn sample(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError>;

    /// The contract that checks the final proofs on chain. The kit's proofs are what the standard
    /// `Groth16BatchVerifier` checks; a rollup that wants its own deployment (another gas policy,
    /// an extra check of its own) gives the creation bytecode of a contract built from
    /// `contracts/src/templates/VerifierTemplate.sol`.
    fn verifier() -> Verifier {
        Verifier::Groth16Batch
    }
}

/// The batch circuit of rollup `R`: the four public inputs, then the team's constraints.
pub struct Circuit<R: Rollup> {
    pub witness: R::Witness,
    pub statement: Statement,
    /// The prover's address as a field element: binds the proof to one miner.
    pub prover: Fr,
}

impl<R: Rollup> ConstraintSynthesizer<Fr> for Circuit<R> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let st = self.statement;
        let inputs = Inputs {
            old_root: FpVar::new_input(cs.clone(), || Ok(st.old_root))?,
            new_root: FpVar::new_input(cs.clone(), || Ok(st.new_root))?,
            commitment: FpVar::new_input(cs.clone(), || Ok(st.commitment))?,
        };
        // Bound by the input-consistency rows of the QAP reduction; no constraint needs it.
        let _prover = FpVar::new_input(cs.clone(), || Ok(self.prover))?;
        R::constrain(cs, &self.witness, &inputs)
    }
}

/// Whether `witness` satisfies `R`'s circuit for `statement`: for a team's circuit tests.
pub fn is_satisfied<R: Rollup>(witness: R::Witness, statement: Statement) -> Result<bool, SynthesisError> {
    let cs = ark_relations::gr1cs::ConstraintSystem::new_ref();
    Circuit::<R> { witness, statement, prover: Fr::from(0u64) }.generate_constraints(cs.clone())?;
    cs.is_satisfied()
}

/// For a team's tests: `witness` satisfies `R`'s circuit for the statement it replays to, and no
/// longer when any one of old root, new root or commitment is changed (an unbound public input
/// is a forgery). Says which input is unbound.
pub fn check_inputs_bound<R: Rollup>(witness: &R::Witness) -> Result<(), String> {
    let st = R::statement(witness).map_err(|e| format!("the witness does not replay: {e:?}"))?;
    let run = |st: Statement| is_satisfied::<R>(witness.clone(), st).map_err(|e| format!("synthesis failed: {e}"));
    if !run(st)? {
        return Err("the circuit refuses the statement the witness replays to".into());
    }
    let one = Fr::from(1u64);
    for (input, changed) in [
        ("old root", Statement { old_root: st.old_root + one, ..st }),
        ("new root", Statement { new_root: st.new_root + one, ..st }),
        ("commitment", Statement { commitment: st.commitment + one, ..st }),
    ] {
        if run(changed)? {
            return Err(format!("the {input} is not bound: the circuit accepts another value"));
        }
    }
    Ok(())
}

/// For a team's tests (native builds): the whole adapter on a sample of `batches` batches, as a
/// host runs it. Installs the rollup's own dev setup as this thread's key set, checks that the
/// sample's batches chain, proves each one, aggregates, finalizes for a fixed prover, verifies,
/// and checks that the claim is what the batches state. Returns the claim.
#[cfg(not(target_arch = "wasm32"))]
pub fn prove_sample_natively<R: Rollup>(batches: u32, seed: u64) -> Result<Claim, String> {
    type A<R> = Groth16<R>;
    let e = |what: &'static str| move |err: AdapterError| format!("{what}: {err:?}");
    crate::native::install_keys(A::<R>::setup(b"prova-tests".to_vec()).map_err(e("setup"))?).map_err(e("installing keys"))?;
    let prover = vec![0xa1; 20];
    let witnesses = A::<R>::sample_sequence(batches, seed).map_err(e("sample"))?;
    let statements = witnesses.iter().map(|w| A::<R>::inspect_batch(w.clone())).collect::<Result<Vec<_>, _>>().map_err(e("inspect"))?;
    if let Some(i) = statements.windows(2).position(|s| s[0].new_state_root != s[1].old_state_root) {
        return Err(format!("sample batch {} does not start where batch {i} ends", i + 1));
    }
    let proofs =
        witnesses.into_iter().map(|w| A::<R>::prove_batch(w, prover.clone())).collect::<Result<Vec<_>, _>>().map_err(e("prove"))?;
    let proof = if proofs.len() == 1 { proofs[0].clone() } else { A::<R>::aggregate(proofs).map_err(e("aggregate"))? };
    let fin = A::<R>::finalize(proof, prover.clone()).map_err(e("finalize"))?;
    let claim = A::<R>::verify(Stage::Final, fin).map_err(e("verify"))?;
    let stated = (statements[0].old_state_root.clone(), statements[statements.len() - 1].new_state_root.clone());
    let commitments: Vec<Vec<u8>> = statements.into_iter().map(|s| s.commitment).collect();
    if (claim.old_state_root.clone(), claim.new_state_root.clone()) != stated
        || claim.batch_commitments != commitments
        || claim.prover != prover
    {
        return Err("the final proof claims another statement than the batches".into());
    }
    Ok(claim)
}

/// A small reproducible generator for [`Rollup::sample`] (splitmix64): samples need no
/// randomness import, and the same seed gives the same sample everywhere.
pub struct SampleRng(u64);

impl SampleRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The adapter the kit builds for rollup `R`; export it with [`crate::export_adapter!`].
pub struct Groth16<R>(PhantomData<R>);

fn address(bytes: &[u8], what: &str) -> Result<Address, AdapterError> {
    bytes.try_into().map_err(|_| AdapterError::InvalidInput(format!("{what} must be a 20-byte address, got {} bytes", bytes.len())))
}

fn installed_vk() -> Result<VerifyingKey, AdapterError> {
    encoding::decode_vk(&crate::keys::bytes(setup::VK_SECTION)?)
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

/// Batch proofs as one bundle: at least one, at most [`MAX_BATCHES`], roots chaining, one prover.
pub fn bundle_of(batches: &[BatchProof]) -> Result<Bundle, AdapterError> {
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

/// `bundle`, if it holds no more batches than `R` takes.
fn sized<R: Rollup>(bundle: Bundle) -> Result<Bundle, AdapterError> {
    let max = R::MAX_BATCHES.min(MAX_BATCHES);
    if bundle.proofs.len() > max as usize {
        return Err(AdapterError::InvalidInput(format!("{} batches exceed {}'s maximum of {max}", bundle.proofs.len(), R::NAME)));
    }
    Ok(bundle)
}

impl<R: Rollup> Adapter for Groth16<R> {
    fn metadata() -> AdapterInfo {
        AdapterInfo {
            name: R::NAME.into(),
            rollup_type: R::ROLLUP_TYPE.into(),
            wit_version: crate::WIT_VERSION.into(),
            proof_system: "groth16-bn254; aggregate = batched verification of the batch proofs (n + 3 pairings), not recursion".into(),
            // A broken key store must not hide the plugin from `plugins list`: report no key.
            verifying_key: crate::keys::bytes_if_installed(setup::VK_SECTION).ok().flatten(),
            resources: ResourceRequest {
                memory_bytes: R::MEMORY_BYTES,
                max_batches: R::MAX_BATCHES.min(MAX_BATCHES),
                key_sections: setup::SECTIONS.map(String::from).to_vec(),
            },
            verifier: R::verifier(),
        }
    }

    fn setup(seed: Vec<u8>) -> Result<Vec<KeySection>, AdapterError> {
        Ok(setup::sections(&setup::generate::<R>(&seed)?))
    }

    fn sample_sequence(batches: u32, seed: u64) -> Result<Vec<Vec<u8>>, AdapterError> {
        if batches == 0 || batches > R::MAX_SAMPLE_BATCHES {
            return Err(AdapterError::InvalidInput(format!("a sample has 1..={} batches, not {batches}", R::MAX_SAMPLE_BATCHES)));
        }
        R::sample(batches, seed)
    }

    fn prove_batch(witness: Vec<u8>, prover: Vec<u8>) -> Result<Vec<u8>, AdapterError> {
        let prover = address(&prover, "prover")?;
        let w = R::decode(&witness)?;
        let statement = R::statement(&w)?;
        let vk = installed_vk()?;
        let pk_g1 = crate::kernels::g1_points(&crate::keys::g1(setup::CONSTANTS_SECTION)?)?;
        let consts = setup::constants(&vk, &pk_g1)?;
        let (r, s) = prover::derive_rs(R::NAME, &[witness.as_slice(), &prover].concat());
        let circuit = Circuit::<R> { witness: w, statement, prover: encoding::address_to_fr(&prover) };
        let proof = prover::prove(circuit, &consts, &mut kernels::open()?, r, s)?;
        let batch =
            BatchProof { proof, old_root: statement.old_root, new_root: statement.new_root, commitment: statement.commitment, prover };
        Ok(encoding::encode_batch(&batch))
    }

    fn aggregate(batch_proofs: Vec<Vec<u8>>) -> Result<Vec<u8>, AdapterError> {
        let batches = batch_proofs.iter().map(|b| encoding::decode_batch(b)).collect::<Result<Vec<_>, _>>()?;
        let bundle = sized::<R>(bundle_of(&batches)?)?;
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
        let bundle = sized::<R>(bundle)?;
        if bundle.prover != submitter {
            return Err(AdapterError::Unsatisfied(
                "the proofs are bound to another prover than the submitter: prove with the submitter's address".into(),
            ));
        }
        verify_bundle(&bundle, "final")?;
        Ok(encoding::encode_bundle(FINAL_MAGIC, &bundle))
    }

    fn inspect_batch(witness: Vec<u8>) -> Result<BatchStatement, AdapterError> {
        let st = R::statement(&R::decode(&witness)?)?;
        Ok(BatchStatement {
            old_state_root: fr_bytes(&st.old_root),
            new_state_root: fr_bytes(&st.new_root),
            commitment: fr_bytes(&st.commitment),
        })
    }

    fn verify(stage: Stage, proof: Vec<u8>) -> Result<Claim, AdapterError> {
        let (bundle, what) = match stage {
            Stage::Batch => (bundle_of(&[encoding::decode_batch(&proof)?])?, "batch"),
            Stage::Aggregate => (encoding::decode_bundle("aggregate proof", AGGREGATE_MAGIC, &proof)?, "aggregate"),
            Stage::Final => (encoding::decode_bundle("final proof", FINAL_MAGIC, &proof)?, "final"),
        };
        let bundle = sized::<R>(bundle)?;
        verify_bundle(&bundle, what)?;
        Ok(claim(stage, &bundle))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
