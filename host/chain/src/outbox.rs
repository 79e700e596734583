//! The durable transaction outbox: every signed transaction is written (and the write committed)
//! before it is broadcast, so that after a crash, a dropped transaction or a reorg the node
//! can rebroadcast exactly the bytes it signed, at the nonce it used, and never signs two
//! different transactions that both think they own a nonce.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, Bytes};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::{BlockRef, ChainError};

/// nonce -> JSON of [`OutboxTx`]. JSON, not a binary format: a human can read a stuck outbox.
const TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox_txs");

/// One signed transaction, as broadcast last (a fee bump replaces the entry at its nonce).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxTx {
    pub nonce: u64,
    pub hash: B256,
    /// Every hash this nonce was broadcast under (bumps add one), oldest first: any may be mined.
    pub hashes: Vec<B256>,
    /// The signed EIP-2718 envelope.
    pub raw: Bytes,
    pub purpose: String,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// Where it was mined, as last seen; `None` while pending (or after a reorg dropped it).
    pub included: Option<BlockRef>,
}

pub struct Outbox {
    db: Database,
    path: PathBuf,
}

impl Outbox {
    /// Opens (or creates) the outbox file.
    pub fn open(path: &Path) -> Result<Self, ChainError> {
        let err = |e: &dyn std::fmt::Display| ChainError::Outbox { path: path.display().to_string(), message: e.to_string() };
        let db = Database::create(path).map_err(|e| err(&e))?;
        let w = db.begin_write().map_err(|e| err(&e))?;
        w.open_table(TXS).map_err(|e| err(&e))?;
        w.commit().map_err(|e| err(&e))?;
        Ok(Self { db, path: path.to_path_buf() })
    }

    fn err(&self, e: impl std::fmt::Display) -> ChainError {
        ChainError::Outbox { path: self.path.display().to_string(), message: e.to_string() }
    }

    /// Stores `tx` at its nonce (replacing a bumped predecessor); durable when this returns.
    pub fn put(&self, tx: &OutboxTx) -> Result<(), ChainError> {
        let json = serde_json::to_vec(tx).map_err(|e| self.err(e))?;
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(TXS).map_err(|e| self.err(e))?.insert(tx.nonce, json.as_slice()).map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    pub fn remove(&self, nonce: u64) -> Result<(), ChainError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.open_table(TXS).map_err(|e| self.err(e))?.remove(nonce).map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    /// The transaction stored at `nonce`, if any.
    pub fn get(&self, nonce: u64) -> Result<Option<OutboxTx>, ChainError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(TXS).map_err(|e| self.err(e))?;
        let Some(v) = t.get(nonce).map_err(|e| self.err(e))? else { return Ok(None) };
        serde_json::from_slice(v.value()).map(Some).map_err(|e| self.err(format!("entry at nonce {nonce} is unreadable: {e}")))
    }

    /// Every stored transaction, lowest nonce first.
    pub fn all(&self) -> Result<Vec<OutboxTx>, ChainError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(TXS).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let tx: OutboxTx =
                serde_json::from_slice(v.value()).map_err(|e| self.err(format!("entry at nonce {} is unreadable: {e}", k.value())))?;
            out.push(tx);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(nonce: u64) -> OutboxTx {
        OutboxTx {
            nonce,
            hash: B256::repeat_byte(nonce as u8),
            hashes: vec![B256::repeat_byte(nonce as u8)],
            raw: Bytes::from(vec![nonce as u8; 3]),
            purpose: format!("test {nonce}"),
            gas_limit: 21_000,
            max_fee_per_gas: 2,
            max_priority_fee_per_gas: 1,
            included: None,
        }
    }

    #[test]
    fn entries_survive_reopening_and_a_bump_replaces_its_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.redb");
        {
            let o = Outbox::open(&path).unwrap();
            o.put(&tx(7)).unwrap();
            o.put(&tx(5)).unwrap();
            let mut bumped = tx(7);
            bumped.max_fee_per_gas = 3;
            o.put(&bumped).unwrap();
        }
        let o = Outbox::open(&path).unwrap();
        let all = o.all().unwrap();
        assert_eq!(all.iter().map(|t| t.nonce).collect::<Vec<_>>(), vec![5, 7]);
        assert_eq!(all[1].max_fee_per_gas, 3);
        assert_eq!(o.get(7).unwrap().map(|t| t.max_fee_per_gas), Some(3));
        assert_eq!(o.get(6).unwrap(), None);
        o.remove(5).unwrap();
        assert_eq!(o.all().unwrap().len(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.redb");
        std::fs::write(&path, b"not a database").unwrap();
        let e = Outbox::open(&path).err().expect("refused");
        assert!(e.to_string().contains("outbox.redb"), "{e}");
    }
}
