//! prova-store: a miner node's durable state, one redb file per node.
//!
//! One file ([`StoreFile`]) holds every rollup the node serves, each in tables of its own
//! (a scope, `rollup-<n>/…`), reached through a [`Store`]: the sequences the node saw for that
//! rollup (with their batch data), the proof tasks of each sequence and their state, every
//! proof, the node's on-chain submissions (commit and reveal), and the chain cursors. Rollups
//! share nothing but the file and its writer: one rollup's records can never be read as
//! another's, and a rollup added to the configuration starts with empty tables. Every state change is one write transaction committed with
//! `Durability::Immediate` before the call returns: after a crash (SIGKILL included) the node
//! resumes from exactly what it had acknowledged, and never proves a stored proof again.
//!
//! Task ids are derived from the sequence ([`TaskId`]), so rebuilding a sequence's task graph
//! after a restart finds the same tasks and never duplicates work.
//!
//! Every read-modify-write happens inside one write transaction (redb has one writer at a
//! time), so two parts of the node can never overwrite each other's change. Each scope knows
//! which chain, contract and rollup it is for ([`Identity`]); the file belongs to one miner key
//! and refuses to open for another. Sequences the node still works on
//! are indexed, so each block costs work in proportion to what is open, not to history; the
//! proofs and batch data of closed sequences are pruned after a retention period.
//!
//! Records are JSON (serde) in redb tables: a person can read a stuck node's state, and a new
//! field with a serde default needs no migration. A change that does need one bumps
//! [`SCHEMA_VERSION`] and adds a step to [`MIGRATIONS`].
//!
//! Architecture invariant: this crate knows nothing of the chain client or of tokio; hashes
//! and addresses are plain byte arrays.

mod migrations;
mod records;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use records::*;

/// "schema_version" -> the version of the records below.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// scope -> JSON [`Identity`] of the rollup whose tables are `rollup-<scope>/…`.
const ROLLUPS: TableDefinition<u32, &[u8]> = TableDefinition::new("rollups");

/// The version this build writes. 1: the first. 2: typed rewards and slashes, the open and
/// closed indexes, the identity record. 3: one file for many rollups, each in its own tables.
pub const SCHEMA_VERSION: u64 = 3;

/// The tables of one rollup, named `rollup-<scope>/<table>`.
#[derive(Clone, Copy)]
struct Tables {
    /// final batch -> JSON [`Sequence`].
    sequences: TableDefinition<'static, u64, &'static [u8]>,
    /// final batch of every sequence whose status [`SequenceStatus::is_open`]: what each block
    /// looks at.
    open: TableDefinition<'static, u64, ()>,
    /// (block it closed in, final batch) of every closed sequence whose proofs and data are
    /// still kept: what pruning looks at.
    closed: TableDefinition<'static, (u64, u64), ()>,
    /// (final batch, batch index) -> the batch data as posted (the witness).
    batch_data: TableDefinition<'static, (u64, u32), &'static [u8]>,
    /// task key ([`TaskId::key`]) -> JSON [`Task`].
    tasks: TableDefinition<'static, &'static str, &'static [u8]>,
    /// task key -> proof bytes.
    proofs: TableDefinition<'static, &'static str, &'static [u8]>,
    /// final batch -> JSON [`Submission`].
    submissions: TableDefinition<'static, u64, &'static [u8]>,
    /// name -> JSON of whatever the caller keeps there (the watcher's cursor).
    cursors: TableDefinition<'static, &'static str, &'static [u8]>,
    /// (final batch, window, miner) of each commitment of another miner the keeper watches
    /// until it is settled: what the keeper looks at on each block.
    watched: TableDefinition<'static, (u64, u64, [u8; 20]), ()>,
}

impl Tables {
    /// The tables of `scope`. redb wants table names that outlive the definitions; each scope's
    /// names are made once per process and kept (a few short strings per rollup served).
    fn of(scope: u32) -> Self {
        static MADE: OnceLock<Mutex<HashMap<u32, Tables>>> = OnceLock::new();
        let mut made = MADE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        *made.entry(scope).or_insert_with(|| {
            let name = |t: &str| -> &'static str { Box::leak(format!("rollup-{scope}/{t}").into_boxed_str()) };
            Tables {
                sequences: TableDefinition::new(name("sequences")),
                open: TableDefinition::new(name("open_sequences")),
                closed: TableDefinition::new(name("closed_sequences")),
                batch_data: TableDefinition::new(name("batch_data")),
                tasks: TableDefinition::new(name("tasks")),
                proofs: TableDefinition::new(name("proofs")),
                submissions: TableDefinition::new(name("submissions")),
                cursors: TableDefinition::new(name("cursors")),
                watched: TableDefinition::new(name("watched_commitments")),
            }
        })
    }

    /// Creates them (a new scope), so that reads never meet a missing table.
    fn create(&self, w: &WriteTransaction) -> Result<(), redb::TableError> {
        w.open_table(self.sequences)?;
        w.open_table(self.open)?;
        w.open_table(self.closed)?;
        w.open_table(self.batch_data)?;
        w.open_table(self.tasks)?;
        w.open_table(self.proofs)?;
        w.open_table(self.submissions)?;
        w.open_table(self.cursors)?;
        w.open_table(self.watched)?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {message}")]
    Db { path: String, message: String },
    #[error("store {path} has schema version {found}, newer than this build's {supported}: upgrade prova")]
    TooNew { path: String, found: u64, supported: u64 },
    #[error("store {path}: record {key} in {table} is corrupt: {message}")]
    Corrupt { path: String, table: &'static str, key: String, message: String },
    #[error("store {path}: no {what} {key}")]
    Missing { path: String, what: &'static str, key: String },
    #[error("store {path} belongs to {stored}, not to {given}: use another data folder for this key")]
    NotOurs { path: String, stored: Box<Identity>, given: Box<Identity> },
    #[error("store {path} does not exist")]
    NotFound { path: String },
}

/// What [`Store::add_sequence`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Stored, with its tasks if it is to be proved.
    New,
    /// Known already, with the same data: nothing changed.
    Known,
    /// Known with other data (a reorg replaced it): nothing changed; see
    /// [`Store::replace_sequence`].
    Differs,
}

/// Why a write transaction's closure failed: the database, or a record it read.
enum TxError {
    Db(redb::Error),
    Store(StoreError),
}

macro_rules! from_redb {
    ($($e:ty),*) => {$(
        impl From<$e> for TxError {
            fn from(e: $e) -> Self {
                Self::Db(e.into())
            }
        }
    )*};
}
from_redb!(redb::Error, redb::TableError, redb::StorageError);

type TxResult<T> = Result<T, TxError>;

/// A node's store file: the database and the rollups (scopes) in it. Open it once per process
/// (redb locks the file) and take a [`Store`] per rollup from it.
pub struct StoreFile {
    db: Arc<Database>,
    path: PathBuf,
}

/// One rollup's records in a [`StoreFile`]: what the node's parts for that rollup read and write.
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    t: Tables,
    identity: Identity,
}

impl StoreFile {
    /// Opens (or creates) the store file at `path`, migrating an older schema and refusing a
    /// newer one.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        let db_err = |e: &dyn std::fmt::Display| StoreError::Db { path: path.display().to_string(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| db_err(&e))?;
        }
        let db = Database::create(path).map_err(|e| db_err(&e))?;
        Self::init(db, path.to_path_buf())
    }

    /// Opens (or creates) a store over any redb storage backend (the simulation's in-memory
    /// disk, which can fail writes and survives a simulated crash); `name` stands for the path
    /// in errors.
    pub fn open_with_backend(name: &str, backend: impl redb::StorageBackend) -> Result<Arc<Self>, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(4 << 20)
            .create_with_backend(backend)
            .map_err(|e| StoreError::Db { path: name.to_string(), message: e.to_string() })?;
        Self::init(db, PathBuf::from(name))
    }

    /// Opens an existing store file, to read it (tools and tests).
    pub fn inspect(path: &Path) -> Result<Arc<Self>, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotFound { path: path.display().to_string() });
        }
        Self::open(path)
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db { path: self.path.display().to_string(), message: e.to_string() }
    }

    /// Creates the file's tables, migrating an older schema and refusing a newer one, in one
    /// transaction.
    fn init(db: Database, path: PathBuf) -> Result<Arc<Self>, StoreError> {
        let file = Self { db: Arc::new(db), path };
        let w = file.db.begin_write().map_err(|e| file.err(e))?;
        let found = {
            let meta = w.open_table(META).map_err(|e| file.err(e))?;
            meta.get("schema_version").map_err(|e| file.err(e))?.map(|v| v.value())
        };
        let found = found.unwrap_or(SCHEMA_VERSION);
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: file.path.display().to_string(), found, supported: SCHEMA_VERSION });
        }
        w.open_table(ROLLUPS).map_err(|e| file.err(e))?;
        for step in &migrations::STEPS[(found - 1) as usize..] {
            step(&w).map_err(|e| file.err(e))?;
        }
        w.open_table(META).map_err(|e| file.err(e))?.insert("schema_version", SCHEMA_VERSION).map_err(|e| file.err(e))?;
        w.commit().map_err(|e| file.err(e))?;
        Ok(Arc::new(file))
    }

    /// The rollups the file holds, in the order they were added.
    pub fn identities(&self) -> Result<Vec<Identity>, StoreError> {
        Ok(self.scopes()?.into_iter().map(|(_, i)| i).collect())
    }

    fn scopes(&self) -> Result<Vec<(u32, Identity)>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(ROLLUPS).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let identity = serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                path: self.path.display().to_string(),
                table: "rollups",
                key: k.value().to_string(),
                message: e.to_string(),
            })?;
            out.push((k.value(), identity));
        }
        Ok(out)
    }

    /// The records of the rollup `identity` names, in a scope of their own, created on first
    /// use. The file belongs to one miner key: a rollup for another key is refused.
    pub fn rollup(self: &Arc<Self>, identity: &Identity) -> Result<Store, StoreError> {
        let scopes = self.scopes()?;
        if let Some((_, stored)) = scopes.iter().find(|(_, i)| i.miner != identity.miner) {
            return Err(StoreError::NotOurs {
                path: self.path.display().to_string(),
                stored: Box::new(stored.clone()),
                given: Box::new(identity.clone()),
            });
        }
        let scope = match scopes.iter().find(|(_, i)| i == identity) {
            Some((scope, _)) => *scope,
            None => {
                // The first rollup takes scope 0, where a migrated file's records are already.
                let scope = scopes.iter().map(|(s, _)| s + 1).max().unwrap_or(0);
                let w = self.db.begin_write().map_err(|e| self.err(e))?;
                Tables::of(scope).create(&w).map_err(|e| self.err(e))?;
                w.open_table(ROLLUPS).map_err(|e| self.err(e))?.insert(scope, json(identity).as_slice()).map_err(|e| self.err(e))?;
                w.commit().map_err(|e| self.err(e))?;
                scope
            }
        };
        Ok(Store { db: self.db.clone(), path: self.path.clone(), t: Tables::of(scope), identity: identity.clone() })
    }

    /// Every rollup's records (tools and tests).
    pub fn rollups(self: &Arc<Self>) -> Result<Vec<Store>, StoreError> {
        self.identities()?.iter().map(|i| self.rollup(i)).collect()
    }
}

impl Store {
    /// Opens (or creates) the store file at `path` and takes `identity`'s records from it: a
    /// node that serves one rollup.
    pub fn open(path: &Path, identity: &Identity) -> Result<Self, StoreError> {
        StoreFile::open(path)?.rollup(identity)
    }

    /// [`StoreFile::open_with_backend`], then `identity`'s records.
    pub fn open_with_backend(name: &str, backend: impl redb::StorageBackend, identity: &Identity) -> Result<Self, StoreError> {
        StoreFile::open_with_backend(name, backend)?.rollup(identity)
    }

    /// The chain, contract, rollup and miner these records are for.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db { path: self.path.display().to_string(), message: e.to_string() }
    }

    fn corrupt(&self, table: &'static str, key: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt { path: self.path.display().to_string(), table, key: key.to_string(), message: e.to_string() }
    }

    fn missing(&self, what: &'static str, key: impl std::fmt::Display) -> StoreError {
        StoreError::Missing { path: self.path.display().to_string(), what, key: key.to_string() }
    }

    /// Runs `f` in one write transaction and commits it durably; nothing is written if `f`
    /// fails. Every read-modify-write of the store goes through here, reading inside `f`.
    fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> TxResult<T>) -> Result<T, StoreError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        let out = match f(&w) {
            Ok(v) => v,
            Err(TxError::Db(e)) => return Err(self.err(e)),
            Err(TxError::Store(e)) => return Err(e),
        };
        w.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// Decodes a record read inside a write transaction.
    fn decode<T: DeserializeOwned>(&self, table: &'static str, key: impl std::fmt::Display, bytes: &[u8]) -> TxResult<T> {
        serde_json::from_slice(bytes).map_err(|e| TxError::Store(self.corrupt(table, key, e)))
    }

    fn get_json<K: redb::Key + 'static, T: DeserializeOwned>(
        &self,
        table: TableDefinition<K, &[u8]>,
        name: &'static str,
        key: K::SelfType<'_>,
        shown: impl std::fmt::Display,
    ) -> Result<Option<T>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(table).map_err(|e| self.err(e))?;
        match t.get(key).map_err(|e| self.err(e))? {
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|e| self.corrupt(name, shown, e)),
            None => Ok(None),
        }
    }

    fn all_json<K: redb::Key + 'static, T: DeserializeOwned>(
        &self,
        table: TableDefinition<K, &[u8]>,
        name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(table).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.iter().map_err(|e| self.err(e))? {
            let (_, v) = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.corrupt(name, "(scan)", e))?);
        }
        Ok(out)
    }

    // ------------------------------------------------------------------ sequences and tasks

    /// Writes a sequence record and keeps the open and closed indexes true to its status.
    fn put_sequence(&self, w: &WriteTransaction, seq: &Sequence) -> TxResult<()> {
        w.open_table(self.t.sequences)?.insert(seq.final_batch, json(seq).as_slice())?;
        let (mut open, mut closed) = (w.open_table(self.t.open)?, w.open_table(self.t.closed)?);
        if seq.status.is_open() {
            open.insert(seq.final_batch, ())?;
        } else {
            open.remove(seq.final_batch)?;
            if let Some(b) = seq.closed_block {
                closed.insert((b, seq.final_batch), ())?;
            }
        }
        Ok(())
    }

    fn read_sequence(&self, w: &WriteTransaction, final_batch: u64) -> TxResult<Sequence> {
        let t = w.open_table(self.t.sequences)?;
        let v = t.get(final_batch)?.ok_or_else(|| TxError::Store(self.missing("sequence", final_batch)))?;
        self.decode("sequences", final_batch, v.value())
    }

    fn read_task(&self, w: &WriteTransaction, id: &TaskId) -> TxResult<Task> {
        let t = w.open_table(self.t.tasks)?;
        let v = t.get(id.key().as_str())?.ok_or_else(|| TxError::Store(self.missing("task", id)))?;
        self.decode("tasks", id, v.value())
    }

    /// Stores a newly seen sequence with its batch data, in the status it is given. A sequence
    /// to prove ([`SequenceStatus::Proving`]) gets its tasks, all pending; any other gets none.
    /// All in one transaction: a crash cannot leave an unprovable sequence with tasks.
    pub fn add_sequence(&self, seq: &Sequence, batch_data: &[Vec<u8>]) -> Result<Added, StoreError> {
        self.write(|w| {
            if let Some(v) = w.open_table(self.t.sequences)?.get(seq.final_batch)? {
                let known: Sequence = self.decode("sequences", seq.final_batch, v.value())?;
                let same = known.init_batch == seq.init_batch && known.acc_input_hash == seq.acc_input_hash;
                return Ok(if same { Added::Known } else { Added::Differs });
            }
            self.insert_new(w, seq, batch_data)?;
            Ok(Added::New)
        })
    }

    fn insert_new(&self, w: &WriteTransaction, seq: &Sequence, batch_data: &[Vec<u8>]) -> TxResult<()> {
        self.put_sequence(w, seq)?;
        let mut data = w.open_table(self.t.batch_data)?;
        for (i, d) in batch_data.iter().enumerate() {
            data.insert((seq.final_batch, i as u32), d.as_slice())?;
        }
        if seq.status == SequenceStatus::Proving {
            let mut t = w.open_table(self.t.tasks)?;
            for id in TaskId::graph(seq.final_batch, seq.batches()) {
                t.insert(id.key().as_str(), json(&Task::new(id)).as_slice())?;
            }
        }
        Ok(())
    }

    /// A reorg replaced a sequence's posted data: forgets everything derived from the old data
    /// (tasks, proofs, batch data, an unsettled submission, whose commitment the reorg took
    /// with it) and stores `seq` in its place, in one transaction. Returns the old record.
    pub fn replace_sequence(&self, seq: &Sequence, batch_data: &[Vec<u8>]) -> Result<Option<Sequence>, StoreError> {
        self.write(|w| {
            let old = match w.open_table(self.t.sequences)?.get(seq.final_batch)? {
                Some(v) => Some(self.decode::<Sequence>("sequences", seq.final_batch, v.value())?),
                None => None,
            };
            if let Some(old) = &old {
                self.forget_derived(w, old)?;
                let mut subs = w.open_table(self.t.submissions)?;
                let sub = match subs.get(seq.final_batch)? {
                    Some(v) => Some(self.decode::<Submission>("submissions", seq.final_batch, v.value())?),
                    None => None,
                };
                if sub.is_some_and(|s| !s.state.is_settled() || s.state == SubmissionState::Abandoned) {
                    subs.remove(seq.final_batch)?;
                }
                if let Some(b) = old.closed_block {
                    w.open_table(self.t.closed)?.remove((b, old.final_batch))?;
                }
            }
            self.insert_new(w, seq, batch_data)?;
            Ok(old)
        })
    }

    /// Deletes the tasks, proofs and batch data of `seq`.
    fn forget_derived(&self, w: &WriteTransaction, seq: &Sequence) -> TxResult<()> {
        let (mut tasks, mut proofs, mut data) =
            (w.open_table(self.t.tasks)?, w.open_table(self.t.proofs)?, w.open_table(self.t.batch_data)?);
        for id in TaskId::graph(seq.final_batch, seq.batches()) {
            tasks.remove(id.key().as_str())?;
            proofs.remove(id.key().as_str())?;
        }
        for i in 0..seq.batches() {
            data.remove((seq.final_batch, i))?;
        }
        Ok(())
    }

    pub fn sequence(&self, final_batch: u64) -> Result<Option<Sequence>, StoreError> {
        self.get_json(self.t.sequences, "sequences", final_batch, final_batch)
    }

    /// Every stored sequence, lowest first (history included: for tools, not for each block).
    pub fn sequences(&self) -> Result<Vec<Sequence>, StoreError> {
        self.all_json(self.t.sequences, "sequences")
    }

    /// The sequences the node still works on (proving, or a submission to settle), lowest
    /// first: an index, so the cost follows what is open, not history.
    pub fn open_sequences(&self) -> Result<Vec<Sequence>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let (open, seqs) = (r.open_table(self.t.open).map_err(|e| self.err(e))?, r.open_table(self.t.sequences).map_err(|e| self.err(e))?);
        let mut out = vec![];
        for row in open.iter().map_err(|e| self.err(e))? {
            let f = row.map_err(|e| self.err(e))?.0.value();
            let v = seqs.get(f).map_err(|e| self.err(e))?.ok_or_else(|| self.corrupt("open_sequences", f, "indexed but not stored"))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.corrupt("sequences", f, e))?);
        }
        Ok(out)
    }

    /// Moves a sequence to `status` unless it is closed already (a closed sequence never
    /// reopens: a late `Proved` cannot overwrite a `Settled`). `block` is the head the node
    /// saw, recorded when the sequence closes. Returns whether it changed.
    pub fn set_sequence_status(&self, final_batch: u64, status: SequenceStatus, block: u64) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut seq = self.read_sequence(w, final_batch)?;
            if !seq.status.is_open() || seq.status == status {
                return Ok(false);
            }
            if !status.is_open() {
                seq.closed_block = Some(block);
            }
            seq.status = status;
            self.put_sequence(w, &seq)?;
            Ok(true)
        })
    }

    pub fn batch_data(&self, final_batch: u64, index: u32) -> Result<Vec<u8>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(self.t.batch_data).map_err(|e| self.err(e))?;
        let v = t.get((final_batch, index)).map_err(|e| self.err(e))?;
        v.map(|v| v.value().to_vec()).ok_or_else(|| self.missing("batch data", format!("{final_batch}/{index}")))
    }

    pub fn task(&self, id: &TaskId) -> Result<Option<Task>, StoreError> {
        self.get_json(self.t.tasks, "tasks", id.key().as_str(), id)
    }

    /// Every task, in id order (= sequence order).
    pub fn tasks(&self) -> Result<Vec<Task>, StoreError> {
        self.all_json(self.t.tasks, "tasks")
    }

    /// The tasks of one sequence, in id order: a range of the task table (keys start with the
    /// zero-padded final batch and a `/`, and `0` sorts right after `/`).
    pub fn tasks_of(&self, final_batch: u64) -> Result<Vec<Task>, StoreError> {
        let (from, to) = (format!("{final_batch:020}/"), format!("{final_batch:020}0"));
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(self.t.tasks).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.range(from.as_str()..to.as_str()).map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.corrupt("tasks", k.value(), e))?);
        }
        Ok(out)
    }

    /// Reads, changes and writes one task in one transaction.
    fn update_task<T>(&self, id: &TaskId, f: impl FnOnce(&mut Task) -> T) -> Result<T, StoreError> {
        self.write(|w| {
            let mut task = self.read_task(w, id)?;
            let out = f(&mut task);
            w.open_table(self.t.tasks)?.insert(id.key().as_str(), json(&task).as_slice())?;
            Ok(out)
        })
    }

    /// Hands a task to a worker: one more attempt, with a deadline (unix ms).
    pub fn assign(&self, id: &TaskId, worker: &str, now_ms: u64, deadline_ms: u64) -> Result<u32, StoreError> {
        self.update_task(id, |t| {
            t.attempts += 1;
            t.started_ms.get_or_insert(now_ms);
            t.state = TaskState::Assigned { worker: worker.to_string(), attempt: t.attempts, deadline_ms };
            t.attempts
        })
    }

    /// Stores a task's proof and marks it done, in one transaction (a crash cannot leave a
    /// done task without its proof, or a proof whose task will run again). A final proof also
    /// moves a proving sequence to [`SequenceStatus::Proved`]. Returns false, and stores
    /// nothing, when the task is done, failed or dropped already (a late or superseded job).
    pub fn complete(&self, id: &TaskId, worker: &str, proof: &[u8], now_ms: u64) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut task = self.read_task(w, id)?;
            if matches!(task.state, TaskState::Done | TaskState::Failed { .. } | TaskState::Dropped) {
                return Ok(false);
            }
            task.state = TaskState::Done;
            task.done_by = Some(worker.to_string());
            task.finished_ms = Some(now_ms);
            task.completions += 1;
            w.open_table(self.t.proofs)?.insert(id.key().as_str(), proof)?;
            w.open_table(self.t.tasks)?.insert(id.key().as_str(), json(&task).as_slice())?;
            if id.kind() == TaskKind::Final {
                let mut s = self.read_sequence(w, id.sequence())?;
                if s.status == SequenceStatus::Proving {
                    s.status = SequenceStatus::Proved;
                    self.put_sequence(w, &s)?;
                }
            }
            Ok(true)
        })
    }

    /// Records a failed attempt on `worker`. The task goes back to pending, or to failed once it
    /// has had `max_attempts`, and then its sequence becomes unprovable, in the same
    /// transaction. Returns the new state.
    pub fn fail(&self, id: &TaskId, worker: &str, error: &str, max_attempts: u32, block: u64) -> Result<TaskState, StoreError> {
        self.write(|w| {
            let mut t = self.read_task(w, id)?;
            if !t.failed_on.iter().any(|w| w == worker) {
                t.failed_on.push(worker.to_string());
            }
            t.last_error = Some(error.to_string());
            t.state = if t.attempts >= max_attempts { TaskState::Failed { error: error.to_string() } } else { TaskState::Pending };
            w.open_table(self.t.tasks)?.insert(id.key().as_str(), json(&t).as_slice())?;
            if let TaskState::Failed { .. } = t.state {
                let mut s = self.read_sequence(w, id.sequence())?;
                if s.status.is_open() {
                    s.status = SequenceStatus::Unprovable { reason: format!("task {id} failed {} times; last error: {error}", t.attempts) };
                    s.closed_block = Some(block);
                    self.put_sequence(w, &s)?;
                }
            }
            Ok(t.state)
        })
    }

    /// A final proof failed the local check before anything of it was committed: deletes the
    /// proof and the submission made for it, and sends the final task back to pending on
    /// another worker (`done_by` joins `failed_on`) until it was rejected `max_rejections`
    /// times; then the sequence becomes unprovable. One transaction. Returns the task's new state.
    pub fn reject_final(&self, final_batch: u64, reason: &str, max_rejections: u32, block: u64) -> Result<TaskState, StoreError> {
        let id = TaskId::new(final_batch, TaskKind::Final);
        self.write(|w| {
            let mut t = self.read_task(w, &id)?;
            t.rejections += 1;
            let again = t.rejections < max_rejections;
            if let Some(by) = t.done_by.take()
                && !t.failed_on.contains(&by)
            {
                t.failed_on.push(by);
            }
            t.last_error = Some(reason.to_string());
            w.open_table(self.t.proofs)?.remove(id.key().as_str())?;
            let mut subs = w.open_table(self.t.submissions)?;
            let sub = match subs.get(final_batch)? {
                Some(v) => Some(self.decode::<Submission>("submissions", final_batch, v.value())?),
                None => None,
            };
            if sub.is_some_and(|s| !s.state.is_settled() && s.windows.is_empty()) {
                subs.remove(final_batch)?;
            }
            drop(subs);
            let mut s = self.read_sequence(w, final_batch)?;
            if again {
                t.state = TaskState::Pending;
                if s.status == SequenceStatus::Proved {
                    s.status = SequenceStatus::Proving;
                }
            } else {
                t.state = TaskState::Failed { error: reason.to_string() };
                if s.status.is_open() {
                    s.status = SequenceStatus::Unprovable { reason: format!("final proof rejected {} times: {reason}", t.rejections) };
                    s.closed_block = Some(block);
                }
            }
            w.open_table(self.t.tasks)?.insert(id.key().as_str(), json(&t).as_slice())?;
            self.put_sequence(w, &s)?;
            Ok(t.state)
        })
    }

    /// Gives up on a sequence nobody needs any more (verified by others before this node
    /// committed): its unfinished tasks become [`TaskState::Dropped`] and it becomes
    /// [`SequenceStatus::Settled`], in one transaction. Returns false if it was closed already.
    pub fn drop_sequence(&self, final_batch: u64, block: u64) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut s = self.read_sequence(w, final_batch)?;
            if !s.status.is_open() {
                return Ok(false);
            }
            self.drop_unfinished(w, &s)?;
            s.status = SequenceStatus::Settled;
            s.closed_block = Some(block);
            self.put_sequence(w, &s)?;
            Ok(true)
        })
    }

    /// A reorg took the sequence's posted data off the chain: it becomes
    /// [`SequenceStatus::Replaced`], its unfinished tasks dropped and an unsettled submission
    /// [`SubmissionState::Abandoned`] (its commitment went with the data), in one transaction.
    /// If the data is posted again, [`Store::replace_sequence`] starts it afresh.
    pub fn close_replaced(&self, final_batch: u64, block: u64) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut s = self.read_sequence(w, final_batch)?;
            if !s.status.is_open() {
                return Ok(false);
            }
            self.drop_unfinished(w, &s)?;
            let mut subs = w.open_table(self.t.submissions)?;
            let sub = match subs.get(final_batch)? {
                Some(v) => Some(self.decode::<Submission>("submissions", final_batch, v.value())?),
                None => None,
            };
            if let Some(mut sub) = sub.filter(|s| !s.state.is_settled()) {
                sub.state = SubmissionState::Abandoned;
                subs.insert(final_batch, json(&sub).as_slice())?;
            }
            drop(subs);
            s.status = SequenceStatus::Replaced;
            s.closed_block = Some(block);
            self.put_sequence(w, &s)?;
            Ok(true)
        })
    }

    /// Final batches of the sequences closed in block `since` or later, whose proofs are still
    /// kept: what a reorg may have undone.
    pub fn closed_since(&self, since: u64) -> Result<Vec<u64>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(self.t.closed).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.range((since, 0)..).map_err(|e| self.err(e))? {
            out.push(row.map_err(|e| self.err(e))?.0.value().1);
        }
        Ok(out)
    }

    /// A reorg undid the transaction that settled a submission (its reveal, or the others'
    /// verification it was missed by): the submission goes back to `state` and its sequence,
    /// which still has its final proof, is open again. One transaction. The only write that
    /// moves a settled submission, and only ever on the chain's word.
    pub fn reopen(&self, final_batch: u64, state: SubmissionState) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut seq = self.read_sequence(w, final_batch)?;
            let has_proof = w.open_table(self.t.proofs)?.get(TaskId::new(final_batch, TaskKind::Final).key().as_str())?.is_some();
            let mut subs = w.open_table(self.t.submissions)?;
            let Some(v) = subs.get(final_batch)?.map(|v| v.value().to_vec()) else { return Ok(false) };
            let mut sub: Submission = self.decode("submissions", final_batch, &v)?;
            if !sub.state.is_settled() || !has_proof || seq.status != SequenceStatus::Settled {
                return Ok(false);
            }
            sub.state = state;
            sub.reveal_block = None;
            subs.insert(final_batch, json(&sub).as_slice())?;
            drop(subs);
            if let Some(b) = seq.closed_block.take() {
                w.open_table(self.t.closed)?.remove((b, final_batch))?;
            }
            seq.status = SequenceStatus::Proved;
            self.put_sequence(w, &seq)?;
            Ok(true)
        })
    }

    /// Marks the unfinished tasks of `seq` dropped.
    fn drop_unfinished(&self, w: &WriteTransaction, seq: &Sequence) -> TxResult<()> {
        let mut table = w.open_table(self.t.tasks)?;
        for id in TaskId::graph(seq.final_batch, seq.batches()) {
            let key = id.key();
            let Some(v) = table.get(key.as_str())?.map(|v| v.value().to_vec()) else { continue };
            let mut t: Task = self.decode("tasks", id, &v)?;
            if !matches!(t.state, TaskState::Done | TaskState::Failed { .. }) {
                t.state = TaskState::Dropped;
                table.insert(key.as_str(), json(&t).as_slice())?;
            }
        }
        Ok(())
    }

    /// After a restart: tasks that were assigned to workers of the dead process go back to
    /// pending. Their attempt is not counted against them: the node died, not the task. Looks
    /// only at open sequences.
    pub fn requeue_assigned(&self) -> Result<usize, StoreError> {
        let open = self.open_sequences()?;
        self.write(|w| {
            let mut table = w.open_table(self.t.tasks)?;
            let mut n = 0;
            for seq in &open {
                for id in TaskId::graph(seq.final_batch, seq.batches()) {
                    let key = id.key();
                    let Some(v) = table.get(key.as_str())?.map(|v| v.value().to_vec()) else { continue };
                    let mut t: Task = self.decode("tasks", id, &v)?;
                    if matches!(t.state, TaskState::Assigned { .. }) {
                        t.state = TaskState::Pending;
                        t.attempts = t.attempts.saturating_sub(1);
                        table.insert(key.as_str(), json(&t).as_slice())?;
                        n += 1;
                    }
                }
            }
            Ok(n)
        })
    }

    pub fn proof(&self, id: &TaskId) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(self.t.proofs).map_err(|e| self.err(e))?;
        Ok(t.get(id.key().as_str()).map_err(|e| self.err(e))?.map(|v| v.value().to_vec()))
    }

    /// Deletes the proofs and batch data of sequences closed at or before block `upto` (their
    /// records and submissions stay, for the operator). Looks only at what is prunable.
    /// Returns how many sequences it pruned.
    pub fn prune(&self, upto: u64) -> Result<usize, StoreError> {
        // Most blocks have nothing due: a read, not a durable write.
        {
            let r = self.db.begin_read().map_err(|e| self.err(e))?;
            let closed = r.open_table(self.t.closed).map_err(|e| self.err(e))?;
            if closed.range((0, 0)..=(upto, u64::MAX)).map_err(|e| self.err(e))?.next().is_none() {
                return Ok(0);
            }
        }
        self.write(|w| {
            let due: Vec<(u64, u64)> = {
                let closed = w.open_table(self.t.closed)?;
                let mut due = vec![];
                for row in closed.range((0, 0)..=(upto, u64::MAX))? {
                    due.push(row?.0.value());
                }
                due
            };
            for &(b, f) in &due {
                let seq = self.read_sequence(w, f)?;
                let (mut proofs, mut data) = (w.open_table(self.t.proofs)?, w.open_table(self.t.batch_data)?);
                for id in TaskId::graph(f, seq.batches()) {
                    proofs.remove(id.key().as_str())?;
                }
                for i in 0..seq.batches() {
                    data.remove((f, i))?;
                }
                w.open_table(self.t.closed)?.remove((b, f))?;
            }
            Ok(due.len())
        })
    }

    // ------------------------------------------------------------------ submissions

    pub fn submission(&self, final_batch: u64) -> Result<Option<Submission>, StoreError> {
        self.get_json(self.t.submissions, "submissions", final_batch, final_batch)
    }

    /// Every submission, lowest sequence first (history included: for tools and tests).
    pub fn submissions(&self) -> Result<Vec<Submission>, StoreError> {
        self.all_json(self.t.submissions, "submissions")
    }

    /// Writes a submission's new state (durable before the transaction it announces is sent).
    /// A settled state also settles its sequence, in the same transaction. Refuses to move a
    /// settled submission (returns false): nothing may overwrite an outcome.
    pub fn put_submission(&self, s: &Submission, block: u64) -> Result<bool, StoreError> {
        self.write(|w| {
            let mut subs = w.open_table(self.t.submissions)?;
            if let Some(v) = subs.get(s.final_batch)? {
                let old: Submission = self.decode("submissions", s.final_batch, v.value())?;
                if old.state.is_settled() {
                    return Ok(false);
                }
            }
            subs.insert(s.final_batch, json(s).as_slice())?;
            drop(subs);
            if s.state.is_settled() {
                let mut seq = self.read_sequence(w, s.final_batch)?;
                if seq.status.is_open() {
                    seq.status = SequenceStatus::Settled;
                    seq.closed_block = Some(block);
                    self.put_sequence(w, &seq)?;
                }
            }
            Ok(true)
        })
    }

    // ------------------------------------------------------------------ cursors

    pub fn cursor<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.get_json(self.t.cursors, "cursors", name, name)
    }

    /// Moves the cursor `name` on and records the commitments found before it to watch, in one
    /// transaction: a crash cannot move past a commitment without recording it.
    pub fn advance_cursor<T: Serialize>(&self, name: &str, value: &T, watch: &[WatchedCommitment]) -> Result<(), StoreError> {
        self.write(|w| {
            w.open_table(self.t.cursors)?.insert(name, json(value).as_slice())?;
            let mut t = w.open_table(self.t.watched)?;
            for c in watch {
                t.insert((c.final_batch, c.window, c.miner), ())?;
            }
            Ok(())
        })
    }

    // ------------------------------------------------------------------ the keeper's watch list

    /// Every watched commitment, by final batch, window and miner.
    pub fn watched(&self) -> Result<Vec<WatchedCommitment>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(self.t.watched).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.iter().map_err(|e| self.err(e))? {
            let (final_batch, window, miner) = row.map_err(|e| self.err(e))?.0.value();
            out.push(WatchedCommitment { final_batch, window, miner });
        }
        Ok(out)
    }

    /// Stops watching `c` (settled, or nothing to gain); false if it was not watched.
    pub fn unwatch(&self, c: &WatchedCommitment) -> Result<bool, StoreError> {
        self.write(|w| Ok(w.open_table(self.t.watched)?.remove((c.final_batch, c.window, c.miner))?.is_some()))
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store records serialize")
}

#[cfg(test)]
mod tests;
