//! The rollup's state and batch witnesses, computed natively.
//!
//! State is a sparse Merkle tree of depth [`DEPTH`] over Poseidon. Leaf `i` is
//! `H(pk_i, balance_i)`; an account never touched is `(0, 0)`. A batch is exactly
//! [`TRANSFERS_PER_BATCH`] transfers; a sequencer pads a short batch with no-op transfers
//! (account 0 to account 0, amount 0), which change nothing.
//!
//! Not modelled (stated, not hidden): signatures and nonces. Anyone may move anyone's balance in
//! this toy rollup; what the proofs guarantee is that roots, balances and commitments are right.

use std::collections::HashMap;

use ark_bn254::Fr;
use ark_ff::Zero;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use prova_guest::AdapterError;
use prova_guest::groth16::Statement;
use prova_guest::groth16::poseidon;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Tree depth: 2^16 accounts, addressed by 16-bit indices.
pub const DEPTH: usize = 16;
/// Transfers per batch. Fixed, because the circuit (and its keys) is.
pub const TRANSFERS_PER_BATCH: usize = 2;
/// Accounts funded by the sample generator.
const SAMPLE_ACCOUNTS: u16 = 8;

/// One account's leaf content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct Account {
    pub pk: Fr,
    pub balance: u64,
}

impl Account {
    pub fn leaf(&self) -> Fr {
        poseidon::hash(&[self.pk, Fr::from(self.balance)])
    }
}

/// One transfer with the data the circuit needs to check it against the running root.
#[derive(Debug, Clone, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct TransferWitness {
    pub from: u16,
    pub to: u16,
    pub amount: u64,
    /// The sender's account before the transfer.
    pub sender: Account,
    /// Siblings of the sender's leaf, bottom up, under the root before the transfer.
    pub sender_path: Vec<Fr>,
    /// The receiver's account after the debit (the same account as `sender` when from == to).
    pub receiver: Account,
    /// Siblings of the receiver's leaf under the root after the debit.
    pub receiver_path: Vec<Fr>,
}

/// Everything needed to prove one batch.
#[derive(Debug, Clone, PartialEq, Eq, CanonicalSerialize, CanonicalDeserialize)]
pub struct BatchWitness {
    pub old_root: Fr,
    pub transfers: Vec<TransferWitness>,
}

/// One step of the batch commitment: a hash chain over `(from, to, amount)` starting at zero.
pub fn commit_step(prev: Fr, from: u16, to: u16, amount: u64) -> Fr {
    poseidon::hash(&[prev, Fr::from(from), Fr::from(to), Fr::from(amount)])
}

/// Root reached from `leaf` at `index` with `path` (siblings bottom up).
pub fn root_from_path(leaf: Fr, index: u16, path: &[Fr]) -> Fr {
    path.iter().enumerate().fold(
        leaf,
        |cur, (level, sib)| {
            if (index >> level) & 1 == 1 { poseidon::node(*sib, cur) } else { poseidon::node(cur, *sib) }
        },
    )
}

impl BatchWitness {
    /// Decodes a witness and checks its shape (not its truth: see [`Self::statement`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, AdapterError> {
        let w =
            Self::deserialize_compressed(bytes).map_err(|e| AdapterError::InvalidInput(format!("batch witness does not decode: {e}")))?;
        if w.transfers.len() != TRANSFERS_PER_BATCH {
            return Err(AdapterError::InvalidInput(format!(
                "a batch holds exactly {TRANSFERS_PER_BATCH} transfers (pad with 0 -> 0, amount 0), got {}",
                w.transfers.len()
            )));
        }
        for (i, t) in w.transfers.iter().enumerate() {
            if t.sender_path.len() != DEPTH || t.receiver_path.len() != DEPTH {
                return Err(AdapterError::InvalidInput(format!("transfer {i}: Merkle paths must have {DEPTH} siblings")));
            }
        }
        Ok(w)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.serialize_compressed(&mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Replays the batch natively: checks every path, balance and range, and returns the roots
    /// and commitment. A witness that fails here would fail in the circuit; failing here names why.
    pub fn statement(&self) -> Result<Statement, AdapterError> {
        let mut root = self.old_root;
        let mut commitment = Fr::zero();
        for (i, t) in self.transfers.iter().enumerate() {
            let bad = |what: String| AdapterError::Unsatisfied(format!("transfer {i}: {what}"));
            if root_from_path(t.sender.leaf(), t.from, &t.sender_path) != root {
                return Err(bad(format!("sender account {} is not in the state", t.from)));
            }
            let debited = t
                .sender
                .balance
                .checked_sub(t.amount)
                .ok_or_else(|| bad(format!("overdraft: account {} holds {} and sends {}", t.from, t.sender.balance, t.amount)))?;
            root = root_from_path(Account { balance: debited, ..t.sender }.leaf(), t.from, &t.sender_path);
            if root_from_path(t.receiver.leaf(), t.to, &t.receiver_path) != root {
                return Err(bad(format!("receiver account {} is not in the state", t.to)));
            }
            let credited = t
                .receiver
                .balance
                .checked_add(t.amount)
                .ok_or_else(|| bad(format!("balance overflow: account {} would exceed 2^64 - 1", t.to)))?;
            root = root_from_path(Account { balance: credited, ..t.receiver }.leaf(), t.to, &t.receiver_path);
            commitment = commit_step(commitment, t.from, t.to, t.amount);
        }
        Ok(Statement { old_root: self.old_root, new_root: root, commitment })
    }

    /// A witness of the right shape and arbitrary values, for key generation.
    pub fn blank() -> Self {
        let t = TransferWitness {
            from: 0,
            to: 0,
            amount: 0,
            sender: Account::default(),
            sender_path: vec![Fr::zero(); DEPTH],
            receiver: Account::default(),
            receiver_path: vec![Fr::zero(); DEPTH],
        };
        Self { old_root: Fr::zero(), transfers: vec![t; TRANSFERS_PER_BATCH] }
    }
}

/// A sparse Merkle tree that stores only non-default nodes.
pub struct Tree {
    accounts: HashMap<u16, Account>,
    nodes: HashMap<(usize, u32), Fr>,
    defaults: [Fr; DEPTH + 1],
}

impl Tree {
    pub fn new() -> Self {
        let mut defaults = [Account::default().leaf(); DEPTH + 1];
        for l in 1..=DEPTH {
            defaults[l] = poseidon::node(defaults[l - 1], defaults[l - 1]);
        }
        Self { accounts: HashMap::new(), nodes: HashMap::new(), defaults }
    }

    fn node(&self, level: usize, index: u32) -> Fr {
        self.nodes.get(&(level, index)).copied().unwrap_or(self.defaults[level])
    }

    pub fn root(&self) -> Fr {
        self.node(DEPTH, 0)
    }

    pub fn account(&self, index: u16) -> Account {
        self.accounts.get(&index).copied().unwrap_or_default()
    }

    pub fn path(&self, index: u16) -> Vec<Fr> {
        (0..DEPTH).map(|l| self.node(l, ((index as u32) >> l) ^ 1)).collect()
    }

    pub fn set(&mut self, index: u16, account: Account) {
        self.accounts.insert(index, account);
        let mut i = index as u32;
        let mut cur = account.leaf();
        self.nodes.insert((0, i), cur);
        for l in 0..DEPTH {
            let sib = self.node(l, i ^ 1);
            cur = if i & 1 == 1 { poseidon::node(sib, cur) } else { poseidon::node(cur, sib) };
            i >>= 1;
            self.nodes.insert((l + 1, i), cur);
        }
    }

    /// Applies a transfer and returns its witness; `None` if it would overdraw or overflow.
    pub fn transfer(&mut self, from: u16, to: u16, amount: u64) -> Option<TransferWitness> {
        let sender = self.account(from);
        let sender_path = self.path(from);
        self.set(from, Account { balance: sender.balance.checked_sub(amount)?, ..sender });
        let receiver = self.account(to);
        let receiver_path = self.path(to);
        self.set(to, Account { balance: receiver.balance.checked_add(amount)?, ..receiver });
        Some(TransferWitness { from, to, amount, sender, sender_path, receiver, receiver_path })
    }
}

/// Most batches one sample may hold: a dev sequencer takes a long sample once and posts it in
/// pieces; 4096 batches of ~4 KiB witnesses stay well inside a job's memory.
pub const MAX_SAMPLE_BATCHES: u32 = 4096;

/// `batches` consecutive batch witnesses from a random genesis, reproducible from `seed`.
pub fn sample_sequence(batches: u32, seed: u64) -> Vec<BatchWitness> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut tree = Tree::new();
    for i in 0..SAMPLE_ACCOUNTS {
        let pk = Fr::from(rng.next_u64()) * Fr::from(rng.next_u64());
        tree.set(i, Account { pk, balance: 1_000 + rng.next_u64() % 1_000_000 });
    }
    (0..batches)
        .map(|_| {
            let old_root = tree.root();
            let transfers = (0..TRANSFERS_PER_BATCH)
                .map(|_| {
                    let from = (rng.next_u64() % SAMPLE_ACCOUNTS as u64) as u16;
                    let to = (rng.next_u64() % SAMPLE_ACCOUNTS as u64) as u16;
                    let amount = rng.next_u64() % (tree.account(from).balance / 2 + 1);
                    tree.transfer(from, to, amount).expect("amount is at most half the balance")
                })
                .collect();
            BatchWitness { old_root, transfers }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_batches_chain_and_replay() {
        let seq = sample_sequence(3, 7);
        let mut prev = None;
        for w in &seq {
            let w = BatchWitness::decode(&w.encode()).unwrap();
            let st = w.statement().unwrap();
            if let Some(p) = prev {
                assert_eq!(st.old_root, p);
            }
            prev = Some(st.new_root);
        }
    }

    #[test]
    fn an_overdraft_is_named() {
        let mut w = sample_sequence(1, 1).remove(0);
        w.transfers[0].amount = w.transfers[0].sender.balance + 1;
        let err = w.statement().unwrap_err();
        assert!(matches!(err, AdapterError::Unsatisfied(ref m) if m.contains("overdraft")), "{err:?}");
    }

    #[test]
    fn a_wrong_shape_is_invalid_input() {
        let mut w = sample_sequence(1, 1).remove(0);
        w.transfers.pop();
        assert!(matches!(BatchWitness::decode(&w.encode()), Err(AdapterError::InvalidInput(_))));
        assert!(matches!(BatchWitness::decode(&[1, 2, 3]), Err(AdapterError::InvalidInput(_))));
    }
}
