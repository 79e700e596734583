//! prova-store: a miner node's durable state, one redb file per miner.
//!
//! What it holds: the sequences the node saw (with their batch data), the proof tasks of each
//! sequence and their state, every proof, the node's on-chain submissions (commit and reveal),
//! and the chain cursors. Every state change is one write transaction committed with
//! `Durability::Immediate` before the call returns: after a crash (SIGKILL included) the node
//! resumes from exactly what it had acknowledged, and never proves a stored proof again.
//!
//! Task ids are derived from the sequence ([`TaskId`]), so rebuilding a sequence's task graph
//! after a restart finds the same tasks and never duplicates work.
//!
//! Records are JSON (serde) in redb tables: a person can read a stuck node's state, and a new
//! field with a serde default needs no migration. A change that does need one bumps
//! [`SCHEMA_VERSION`] and adds a step to [`MIGRATIONS`].
//!
//! Architecture invariant: this crate knows nothing of the chain client or of tokio; hashes
//! and addresses are plain byte arrays.

mod records;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use records::*;

/// "schema_version" -> the version of the records below.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// final batch -> JSON [`Sequence`].
const SEQUENCES: TableDefinition<u64, &[u8]> = TableDefinition::new("sequences");
/// (final batch, batch index) -> the batch data as posted (the witness).
const BATCH_DATA: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("batch_data");
/// task id -> JSON [`Task`].
const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
/// task id -> proof bytes.
const PROOFS: TableDefinition<&str, &[u8]> = TableDefinition::new("proofs");
/// final batch -> JSON [`Submission`].
const SUBMISSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("submissions");
/// name -> JSON of whatever the caller keeps there (the watcher's cursor).
const CURSORS: TableDefinition<&str, &[u8]> = TableDefinition::new("cursors");

/// The version this build writes. 1: the first.
pub const SCHEMA_VERSION: u64 = 1;

/// Steps that bring a file from version `i + 1` to `i + 2` (index 0 migrates 1 -> 2). Empty
/// while there is one version; [`Store::open`] runs the steps a file needs in one transaction.
const MIGRATIONS: &[fn(&WriteTransaction) -> Result<(), redb::Error>] = &[];

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
}

pub struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store at `path`, migrating an older schema and refusing a newer.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db_err = |e: &dyn std::fmt::Display| StoreError::Db { path: path.display().to_string(), message: e.to_string() };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| db_err(&e))?;
        }
        let db = Database::create(path).map_err(|e| db_err(&e))?;
        let store = Self { db, path: path.to_path_buf() };
        store
            .write(|w| {
                let meta = w.open_table(META)?;
                let found = meta.get("schema_version")?.map(|v| v.value());
                drop(meta);
                let found = match found {
                    Some(v) => v,
                    None => {
                        w.open_table(META)?.insert("schema_version", SCHEMA_VERSION)?;
                        SCHEMA_VERSION
                    }
                };
                if found > SCHEMA_VERSION {
                    return Ok(Err(found));
                }
                for step in &MIGRATIONS[(found - 1) as usize..] {
                    step(w)?;
                }
                w.open_table(META)?.insert("schema_version", SCHEMA_VERSION)?;
                for t in [SEQUENCES, SUBMISSIONS] {
                    w.open_table(t)?;
                }
                for t in [TASKS, PROOFS, CURSORS] {
                    w.open_table(t)?;
                }
                w.open_table(BATCH_DATA)?;
                Ok(Ok(()))
            })?
            .map_err(|found| StoreError::TooNew { path: path.display().to_string(), found, supported: SCHEMA_VERSION })?;
        Ok(store)
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

    /// Runs `f` in one write transaction and commits it durably; nothing is written if `f` fails.
    fn write<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T, redb::Error>) -> Result<T, StoreError> {
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        let out = f(&w).map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))?;
        Ok(out)
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

    /// Stores a newly seen sequence with its batch data and creates its tasks, all pending.
    /// Returns false (and changes nothing) if the sequence is already known.
    pub fn add_sequence(&self, seq: &Sequence, batch_data: &[Vec<u8>]) -> Result<bool, StoreError> {
        let tasks: Vec<Task> = TaskId::graph(seq.final_batch, seq.batches()).into_iter().map(Task::new).collect();
        self.write(|w| {
            let mut seqs = w.open_table(SEQUENCES)?;
            if seqs.get(seq.final_batch)?.is_some() {
                return Ok(false);
            }
            seqs.insert(seq.final_batch, json(seq).as_slice())?;
            let mut data = w.open_table(BATCH_DATA)?;
            for (i, d) in batch_data.iter().enumerate() {
                data.insert((seq.final_batch, i as u32), d.as_slice())?;
            }
            let mut t = w.open_table(TASKS)?;
            for task in &tasks {
                t.insert(task.id.as_str(), json(task).as_slice())?;
            }
            Ok(true)
        })
    }

    pub fn sequence(&self, final_batch: u64) -> Result<Option<Sequence>, StoreError> {
        self.get_json(SEQUENCES, "sequences", final_batch, final_batch)
    }

    /// Every stored sequence, lowest first.
    pub fn sequences(&self) -> Result<Vec<Sequence>, StoreError> {
        self.all_json(SEQUENCES, "sequences")
    }

    pub fn set_sequence_status(&self, final_batch: u64, status: SequenceStatus) -> Result<(), StoreError> {
        let mut seq = self.sequence(final_batch)?.ok_or_else(|| self.missing("sequence", final_batch))?;
        seq.status = status;
        self.write(|w| {
            w.open_table(SEQUENCES)?.insert(final_batch, json(&seq).as_slice())?;
            Ok(())
        })
    }

    pub fn batch_data(&self, final_batch: u64, index: u32) -> Result<Vec<u8>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(BATCH_DATA).map_err(|e| self.err(e))?;
        let v = t.get((final_batch, index)).map_err(|e| self.err(e))?;
        v.map(|v| v.value().to_vec()).ok_or_else(|| self.missing("batch data", format!("{final_batch}/{index}")))
    }

    pub fn task(&self, id: &TaskId) -> Result<Option<Task>, StoreError> {
        self.get_json(TASKS, "tasks", id.as_str(), id)
    }

    /// Every task, in id order (= sequence order).
    pub fn tasks(&self) -> Result<Vec<Task>, StoreError> {
        self.all_json(TASKS, "tasks")
    }

    /// The tasks of one sequence, in id order: a range of the task table (ids start with the
    /// zero-padded final batch and a `/`, and `0` sorts right after `/`).
    pub fn tasks_of(&self, final_batch: u64) -> Result<Vec<Task>, StoreError> {
        let (from, to) = (format!("{final_batch:020}/"), format!("{final_batch:020}0"));
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(TASKS).map_err(|e| self.err(e))?;
        let mut out = vec![];
        for row in t.range(from.as_str()..to.as_str()).map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| self.corrupt("tasks", k.value(), e))?);
        }
        Ok(out)
    }

    fn update_task<T>(&self, id: &TaskId, f: impl FnOnce(&mut Task) -> T) -> Result<T, StoreError> {
        let mut task = self.task(id)?.ok_or_else(|| self.missing("task", id))?;
        let out = f(&mut task);
        self.write(|w| {
            w.open_table(TASKS)?.insert(id.as_str(), json(&task).as_slice())?;
            Ok(())
        })?;
        Ok(out)
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
    /// moves its sequence to [`SequenceStatus::Proved`].
    pub fn complete(&self, id: &TaskId, worker: &str, proof: &[u8], now_ms: u64) -> Result<(), StoreError> {
        let mut task = self.task(id)?.ok_or_else(|| self.missing("task", id))?;
        task.state = TaskState::Done;
        task.done_by = Some(worker.to_string());
        task.finished_ms = Some(now_ms);
        task.completions += 1;
        let seq = match id.kind() {
            TaskKind::Final => {
                let mut s = self.sequence(id.sequence())?.ok_or_else(|| self.missing("sequence", id.sequence()))?;
                if s.status == SequenceStatus::Proving {
                    s.status = SequenceStatus::Proved;
                }
                Some(s)
            }
            _ => None,
        };
        self.write(|w| {
            w.open_table(PROOFS)?.insert(id.as_str(), proof)?;
            w.open_table(TASKS)?.insert(id.as_str(), json(&task).as_slice())?;
            if let Some(s) = &seq {
                w.open_table(SEQUENCES)?.insert(s.final_batch, json(s).as_slice())?;
            }
            Ok(())
        })
    }

    /// Records a failed attempt on `worker`. The task goes back to pending, or to failed once it
    /// has had `max_attempts`. Returns the new state.
    pub fn fail(&self, id: &TaskId, worker: &str, error: &str, max_attempts: u32) -> Result<TaskState, StoreError> {
        self.update_task(id, |t| {
            if !t.failed_on.iter().any(|w| w == worker) {
                t.failed_on.push(worker.to_string());
            }
            t.last_error = Some(error.to_string());
            t.state = if t.attempts >= max_attempts { TaskState::Failed { error: error.to_string() } } else { TaskState::Pending };
            t.state.clone()
        })
    }

    /// Gives up on the unfinished tasks of a sequence nobody needs any more (verified by others
    /// before this node committed); their state becomes [`TaskState::Dropped`].
    pub fn drop_tasks(&self, final_batch: u64) -> Result<(), StoreError> {
        let tasks = self.tasks_of(final_batch)?;
        self.write(|w| {
            let mut table = w.open_table(TASKS)?;
            for mut t in tasks {
                if !matches!(t.state, TaskState::Done | TaskState::Failed { .. }) {
                    t.state = TaskState::Dropped;
                    table.insert(t.id.as_str(), json(&t).as_slice())?;
                }
            }
            Ok(())
        })
    }

    /// After a restart: tasks that were assigned to workers of the dead process go back to
    /// pending. Their attempt is not counted against them: the node died, not the task.
    pub fn requeue_assigned(&self) -> Result<usize, StoreError> {
        let stale: Vec<Task> = self.tasks()?.into_iter().filter(|t| matches!(t.state, TaskState::Assigned { .. })).collect();
        let n = stale.len();
        self.write(|w| {
            let mut table = w.open_table(TASKS)?;
            for mut t in stale {
                t.state = TaskState::Pending;
                t.attempts = t.attempts.saturating_sub(1);
                table.insert(t.id.as_str(), json(&t).as_slice())?;
            }
            Ok(())
        })?;
        Ok(n)
    }

    pub fn proof(&self, id: &TaskId) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(PROOFS).map_err(|e| self.err(e))?;
        Ok(t.get(id.as_str()).map_err(|e| self.err(e))?.map(|v| v.value().to_vec()))
    }

    // ------------------------------------------------------------------ submissions

    pub fn submission(&self, final_batch: u64) -> Result<Option<Submission>, StoreError> {
        self.get_json(SUBMISSIONS, "submissions", final_batch, final_batch)
    }

    /// Every submission, lowest sequence first.
    pub fn submissions(&self) -> Result<Vec<Submission>, StoreError> {
        self.all_json(SUBMISSIONS, "submissions")
    }

    /// Writes a submission's new state (durable before the transaction it announces is sent).
    pub fn put_submission(&self, s: &Submission) -> Result<(), StoreError> {
        self.write(|w| {
            w.open_table(SUBMISSIONS)?.insert(s.final_batch, json(s).as_slice())?;
            Ok(())
        })
    }

    // ------------------------------------------------------------------ cursors

    pub fn cursor<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.get_json(CURSORS, "cursors", name, name)
    }

    pub fn set_cursor<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        self.write(|w| {
            w.open_table(CURSORS)?.insert(name, json(value).as_slice())?;
            Ok(())
        })
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("store records serialize")
}

#[cfg(test)]
mod tests;
