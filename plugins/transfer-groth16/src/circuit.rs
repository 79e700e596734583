//! The batch circuit: `TRANSFERS_PER_BATCH` transfers take `old_root` to `new_root`, and the
//! batch's commitment is the hash chain of its transfers. The kit allocates the public inputs.
//! About 17k constraints per transfer, nearly all of them Poseidon.

use ark_bn254::Fr;
use ark_r1cs_std::alloc::AllocVar;
use ark_r1cs_std::boolean::Boolean;
use ark_r1cs_std::eq::EqGadget;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::select::CondSelectGadget;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use prova_guest::groth16::Inputs;
use prova_guest::groth16::gadgets::{bits, uint};
use prova_guest::groth16::poseidon::Gadgets;

use crate::state::BatchWitness;

fn root_of(h: &Gadgets, leaf: FpVar<Fr>, index_bits: &[Boolean<Fr>], path: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut cur = leaf;
    for (bit, sib) in index_bits.iter().zip(path) {
        let left = FpVar::conditionally_select(bit, sib, &cur)?;
        let right = FpVar::conditionally_select(bit, &cur, sib)?;
        cur = h.node(&left, &right)?;
    }
    Ok(cur)
}

/// Constrains `witness` to take `inputs.old_root` to `inputs.new_root` with `inputs.commitment`.
pub fn constrain(cs: ConstraintSystemRef<Fr>, witness: &BatchWitness, inputs: &Inputs) -> Result<(), SynthesisError> {
    let h = Gadgets::new();
    let mut root = inputs.old_root.clone();
    let mut chain = FpVar::Constant(Fr::from(0u64));
    for t in &witness.transfers {
        let path =
            |p: &[Fr]| -> Result<Vec<FpVar<Fr>>, SynthesisError> { p.iter().map(|s| FpVar::new_witness(cs.clone(), || Ok(*s))).collect() };
        let from_bits = bits(&cs, t.from as u64, crate::state::DEPTH)?;
        let to_bits = bits(&cs, t.to as u64, crate::state::DEPTH)?;
        let amount = uint(&cs, t.amount, 64)?;

        // Debit: the sender is in the tree; new balance + amount == balance, both < 2^64.
        let sender_pk = FpVar::new_witness(cs.clone(), || Ok(t.sender.pk))?;
        let sender_bal = uint(&cs, t.sender.balance, 64)?;
        let debited = uint(&cs, t.sender.balance.wrapping_sub(t.amount), 64)?;
        (&debited + &amount).enforce_equal(&sender_bal)?;
        let sender_path = path(&t.sender_path)?;
        root_of(&h, h.hash(&[sender_pk.clone(), sender_bal])?, &from_bits, &sender_path)?.enforce_equal(&root)?;
        root = root_of(&h, h.hash(&[sender_pk, debited])?, &from_bits, &sender_path)?;

        // Credit: the receiver is in the debited tree; new balance == balance + amount < 2^64.
        let receiver_pk = FpVar::new_witness(cs.clone(), || Ok(t.receiver.pk))?;
        let receiver_bal = uint(&cs, t.receiver.balance, 64)?;
        let credited = uint(&cs, t.receiver.balance.wrapping_add(t.amount), 64)?;
        (&receiver_bal + &amount).enforce_equal(&credited)?;
        let receiver_path = path(&t.receiver_path)?;
        root_of(&h, h.hash(&[receiver_pk.clone(), receiver_bal])?, &to_bits, &receiver_path)?.enforce_equal(&root)?;
        root = root_of(&h, h.hash(&[receiver_pk, credited])?, &to_bits, &receiver_path)?;

        let from = Boolean::le_bits_to_fp(&from_bits)?;
        let to = Boolean::le_bits_to_fp(&to_bits)?;
        chain = h.hash(&[chain, from, to, amount])?;
    }
    root.enforce_equal(&inputs.new_root)?;
    chain.enforce_equal(&inputs.commitment)
}

#[cfg(test)]
mod tests {
    use ark_bn254::Fr;
    use prova_guest::groth16::{Rollup, Statement, is_satisfied};

    use crate::Transfer;
    use crate::state::sample_sequence;

    #[test]
    fn honest_batch_satisfies_and_a_wrong_root_does_not() {
        let w = sample_sequence(1, 3).remove(0);
        let st = Transfer::statement(&w).unwrap();
        assert!(is_satisfied::<Transfer>(w.clone(), st).unwrap());
        let bad = Statement { new_root: st.new_root + Fr::from(1u64), ..st };
        assert!(!is_satisfied::<Transfer>(w.clone(), bad).unwrap());
        let bad = Statement { commitment: st.commitment + Fr::from(1u64), ..st };
        assert!(!is_satisfied::<Transfer>(w, bad).unwrap());
    }

    #[test]
    fn an_overdraft_cannot_satisfy_the_circuit() {
        // Witness lies about the amount: the debited balance wraps, which the range check catches.
        let mut w = sample_sequence(1, 4).remove(0);
        let st = Transfer::statement(&w).unwrap();
        w.transfers[0].amount = w.transfers[0].sender.balance + 1;
        assert!(!is_satisfied::<Transfer>(w, st).unwrap());
    }
}
