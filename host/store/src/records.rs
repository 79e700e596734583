//! The records the store keeps, and the task graph of a sequence.

use serde::{Deserialize, Serialize};

/// 32 bytes as 0x-hex in JSON (readable when a person opens the store).
pub type Hash = [u8; 32];
/// 20 bytes.
pub type Address = [u8; 20];

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

mod hex32s {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct H(#[serde(with = "super::hex32")] [u8; 32]);

    pub fn serialize<S: Serializer>(v: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
        v.iter().map(|h| H(*h)).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
        Ok(Vec::<H>::deserialize(d)?.into_iter().map(|h| h.0).collect())
    }
}

/// A sequence as posted on chain (its batch data lives in its own table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub init_batch: u64,
    pub final_batch: u64,
    #[serde(with = "hex32")]
    pub acc_input_hash: Hash,
    #[serde(with = "hex32s")]
    pub commitments: Vec<Hash>,
    /// The block the watcher saw it in.
    pub seen_block: u64,
    pub status: SequenceStatus,
}

impl Sequence {
    pub fn batches(&self) -> u32 {
        (self.final_batch - self.init_batch) as u32
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SequenceStatus {
    /// Tasks are (or will be) running.
    Proving,
    /// The final proof is stored.
    Proved,
    /// Verified on chain (by this node or another) and nothing of ours is left to do.
    Settled,
    /// The posted data does not match its commitments, or a task failed for good: it will not
    /// be proved by this node.
    Unprovable { reason: String },
}

/// What a task computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskKind {
    Batch(u32),
    Aggregate,
    Final,
}

/// A task's id, derived from its sequence and kind: `<final batch, 20 digits>/<kind>`. The
/// zero padding makes the store's key order the sequence order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    pub fn new(final_batch: u64, kind: TaskKind) -> Self {
        Self(match kind {
            TaskKind::Batch(i) => format!("{final_batch:020}/batch-{i:03}"),
            TaskKind::Aggregate => format!("{final_batch:020}/aggregate"),
            TaskKind::Final => format!("{final_batch:020}/final"),
        })
    }

    /// Every task of a sequence of `batches` batches: the batches, an aggregate when there is
    /// more than one, and the final proof.
    pub fn graph(final_batch: u64, batches: u32) -> Vec<TaskId> {
        let mut ids: Vec<TaskId> = (0..batches).map(|i| Self::new(final_batch, TaskKind::Batch(i))).collect();
        if batches > 1 {
            ids.push(Self::new(final_batch, TaskKind::Aggregate));
        }
        ids.push(Self::new(final_batch, TaskKind::Final));
        ids
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn sequence(&self) -> u64 {
        self.0[..20].parse().expect("task ids are built by TaskId::new")
    }

    pub fn kind(&self) -> TaskKind {
        match &self.0[21..] {
            "aggregate" => TaskKind::Aggregate,
            "final" => TaskKind::Final,
            b => TaskKind::Batch(b.trim_start_matches("batch-").parse().expect("task ids are built by TaskId::new")),
        }
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Assigned {
        worker: String,
        attempt: u32,
        deadline_ms: u64,
    },
    Done,
    /// Out of attempts.
    Failed {
        error: String,
    },
    /// Not needed any more (the sequence was verified before this node could commit).
    Dropped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub state: TaskState,
    /// Attempts started (a restart does not count the one it interrupted).
    pub attempts: u32,
    /// Workers an attempt failed on: the next attempt goes elsewhere when it can.
    pub failed_on: Vec<String>,
    pub last_error: Option<String>,
    /// Unix ms of the first assignment and of completion, for the operator's views.
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// Times a proof was stored for it: 1 once done, and never more (the crash tests check
    /// that a stored proof is never proved again).
    #[serde(default)]
    pub completions: u32,
    /// The worker whose proof was stored.
    #[serde(default)]
    pub done_by: Option<String>,
}

impl Task {
    pub fn new(id: TaskId) -> Self {
        Self {
            id,
            state: TaskState::Pending,
            attempts: 0,
            failed_on: vec![],
            last_error: None,
            started_ms: None,
            finished_ms: None,
            completions: 0,
            done_by: None,
        }
    }
}

/// This node's submission of one sequence: the two steps and their outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub init_batch: u64,
    pub final_batch: u64,
    #[serde(with = "hex32")]
    pub proof_hash: Hash,
    pub state: SubmissionState,
    /// Windows this node committed in (a recommit after an expired window adds one).
    pub windows: Vec<u64>,
    pub commit_block: Option<u64>,
    pub reveal_block: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SubmissionState {
    /// The commit is about to be sent, or was sent and its fate is not known yet: after a
    /// crash the chain says whether it landed.
    Committing,
    /// The commitment is on chain in the last of `windows`.
    Committed,
    /// The reveal is about to be sent, or was sent and its fate is not known yet.
    Revealing,
    /// Accepted on chain. `reward` in wei (decimal: JSON numbers cannot hold 256 bits).
    Revealed { late: bool, reward: String },
    /// Slashed (this must never happen to an honest node; it is recorded, not hidden).
    Slashed { reason: String, amount: String },
    /// Verified by others before this node could commit: nothing to do.
    Missed,
}

impl SubmissionState {
    /// Nothing more will be sent for it.
    pub fn is_settled(&self) -> bool {
        matches!(self, Self::Revealed { .. } | Self::Slashed { .. } | Self::Missed)
    }
}
