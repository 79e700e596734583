//! The batch circuit: `TRANSFERS_PER_BATCH` transfers take `old_root` to `new_root`.
//!
//! Public inputs, in order: `old_root`, `new_root`, `commitment`, `prover` (the miner's address
//! as a field element, so that a copied proof is worthless to anyone else). About 17k constraints
//! per transfer, nearly all of them Poseidon.

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::select::CondSelectGadget;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::poseidon::Gadgets;
use crate::state::{BatchStatement, BatchWitness};

/// The circuit with its witness and the statement it must produce.
pub struct BatchCircuit {
    pub witness: BatchWitness,
    pub statement: BatchStatement,
    pub prover: Fr,
}

/// Little-endian bits of `value` as witnesses: proves `value < 2^n` when recomposed.
fn bits(cs: &ConstraintSystemRef<Fr>, value: u64, n: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    (0..n).map(|i| Boolean::new_witness(cs.clone(), || Ok((value >> i) & 1 == 1))).collect()
}

/// A value range-checked to 64 bits.
fn u64_var(cs: &ConstraintSystemRef<Fr>, value: u64) -> Result<FpVar<Fr>, SynthesisError> {
    Boolean::le_bits_to_fp(&bits(cs, value, 64)?)
}

fn root_of(h: &Gadgets, leaf: FpVar<Fr>, index_bits: &[Boolean<Fr>], path: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut cur = leaf;
    for (bit, sib) in index_bits.iter().zip(path) {
        let left = FpVar::conditionally_select(bit, sib, &cur)?;
        let right = FpVar::conditionally_select(bit, &cur, sib)?;
        cur = h.node(&left, &right)?;
    }
    Ok(cur)
}

impl ConstraintSynthesizer<Fr> for BatchCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let h = Gadgets::new();
        let old_root = FpVar::new_input(cs.clone(), || Ok(self.statement.old_root))?;
        let new_root = FpVar::new_input(cs.clone(), || Ok(self.statement.new_root))?;
        let commitment = FpVar::new_input(cs.clone(), || Ok(self.statement.commitment))?;
        // Bound by the input-consistency rows of the QAP reduction; no constraint needs it.
        let _prover = FpVar::new_input(cs.clone(), || Ok(self.prover))?;

        let mut root = old_root;
        let mut chain = FpVar::Constant(Fr::from(0u64));
        for t in &self.witness.transfers {
            let path = |p: &[Fr]| -> Result<Vec<FpVar<Fr>>, SynthesisError> {
                p.iter().map(|s| FpVar::new_witness(cs.clone(), || Ok(*s))).collect()
            };
            let from_bits = bits(&cs, t.from as u64, crate::state::DEPTH)?;
            let to_bits = bits(&cs, t.to as u64, crate::state::DEPTH)?;
            let amount = u64_var(&cs, t.amount)?;

            // Debit: the sender is in the tree; new balance + amount == balance, both < 2^64.
            let sender_pk = FpVar::new_witness(cs.clone(), || Ok(t.sender.pk))?;
            let sender_bal = u64_var(&cs, t.sender.balance)?;
            let debited = u64_var(&cs, t.sender.balance.wrapping_sub(t.amount))?;
            (&debited + &amount).enforce_equal(&sender_bal)?;
            let sender_path = path(&t.sender_path)?;
            root_of(&h, h.hash(&[sender_pk.clone(), sender_bal])?, &from_bits, &sender_path)?.enforce_equal(&root)?;
            root = root_of(&h, h.hash(&[sender_pk, debited])?, &from_bits, &sender_path)?;

            // Credit: the receiver is in the debited tree; new balance == balance + amount < 2^64.
            let receiver_pk = FpVar::new_witness(cs.clone(), || Ok(t.receiver.pk))?;
            let receiver_bal = u64_var(&cs, t.receiver.balance)?;
            let credited = u64_var(&cs, t.receiver.balance.wrapping_add(t.amount))?;
            (&receiver_bal + &amount).enforce_equal(&credited)?;
            let receiver_path = path(&t.receiver_path)?;
            root_of(&h, h.hash(&[receiver_pk.clone(), receiver_bal])?, &to_bits, &receiver_path)?.enforce_equal(&root)?;
            root = root_of(&h, h.hash(&[receiver_pk, credited])?, &to_bits, &receiver_path)?;

            let from = Boolean::le_bits_to_fp(&from_bits)?;
            let to = Boolean::le_bits_to_fp(&to_bits)?;
            chain = h.hash(&[chain, from, to, amount])?;
        }
        root.enforce_equal(&new_root)?;
        chain.enforce_equal(&commitment)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::sample_sequence;
    use ark_relations::gr1cs::ConstraintSystem;

    fn satisfied(c: BatchCircuit) -> bool {
        let cs = ConstraintSystem::new_ref();
        c.generate_constraints(cs.clone()).unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn honest_batch_satisfies_and_a_wrong_root_does_not() {
        let w = sample_sequence(1, 3).remove(0);
        let st = w.statement().unwrap();
        assert!(satisfied(BatchCircuit { witness: w.clone(), statement: st, prover: Fr::from(9u64) }));
        let bad = BatchStatement { new_root: st.new_root + Fr::from(1u64), ..st };
        assert!(!satisfied(BatchCircuit { witness: w.clone(), statement: bad, prover: Fr::from(9u64) }));
        let bad = BatchStatement { commitment: st.commitment + Fr::from(1u64), ..st };
        assert!(!satisfied(BatchCircuit { witness: w, statement: bad, prover: Fr::from(9u64) }));
    }

    #[test]
    fn an_overdraft_cannot_satisfy_the_circuit() {
        // Witness lies about the amount: the debited balance wraps, which the range check catches.
        let mut w = sample_sequence(1, 4).remove(0);
        let st = w.statement().unwrap();
        w.transfers[0].amount = w.transfers[0].sender.balance + 1;
        assert!(!satisfied(BatchCircuit { witness: w, statement: st, prover: Fr::from(1u64) }));
    }
}
