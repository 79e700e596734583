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

/// Wei as a decimal string in JSON: a number of 2^64 or more does not survive every JSON reader,
/// and serde's internally tagged enums cannot buffer a u128.
mod wei {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Who a store belongs to: written when the store is created and checked at every open, so
/// that a data folder is never reused against another chain, contract, rollup or key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub chain_id: u64,
    /// The hash of the chain's block 0: a fresh dev chain (anvil, embedded) with the same chain
    /// id is another chain.
    #[serde(with = "hex32")]
    pub genesis: Hash,
    #[serde(with = "hex20")]
    pub manager: Address,
    pub rollup: u32,
    #[serde(with = "hex20")]
    pub miner: Address,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {} (genesis 0x{}), manager 0x{}, rollup {}, miner 0x{}",
            self.chain_id,
            hex::encode(self.genesis),
            hex::encode(self.manager),
            self.rollup,
            hex::encode(self.miner)
        )
    }
}

mod hex20 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 20], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 20], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(s.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|_| serde::de::Error::custom("expected 20 bytes"))
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
    /// The block (as the node saw the head) in which it became settled or unprovable: the
    /// retention setting prunes its proofs and batch data some blocks later.
    #[serde(default)]
    pub closed_block: Option<u64>,
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
    /// A reorg replaced the posted data this record was made from: its tasks and proofs are
    /// void. The new data is stored under the same final batch when the watcher reads it again.
    Replaced,
}

impl SequenceStatus {
    /// Whether the node still has work on it (proving, or a submission to settle).
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Proving | Self::Proved)
    }
}

/// What a task computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskKind {
    Batch(u32),
    Aggregate,
    Final,
}

/// A task's id: its sequence (final batch) and kind. Stored as the key
/// `<final batch, 20 digits>/<kind>`, whose zero padding makes the store's key order the
/// sequence order; [`TaskId::parse`] validates that key, so a corrupt record is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    sequence: u64,
    kind: TaskKind,
}

impl TaskId {
    pub fn new(final_batch: u64, kind: TaskKind) -> Self {
        Self { sequence: final_batch, kind }
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

    /// The store key.
    pub fn key(&self) -> String {
        match self.kind {
            TaskKind::Batch(i) => format!("{:020}/batch-{i:03}", self.sequence),
            TaskKind::Aggregate => format!("{:020}/aggregate", self.sequence),
            TaskKind::Final => format!("{:020}/final", self.sequence),
        }
    }

    /// Reads a store key back, refusing anything [`TaskId::key`] would not have written.
    pub fn parse(key: &str) -> Result<Self, String> {
        let bad = || format!("{key:?} is not a task id");
        let (seq, kind) = key.split_once('/').ok_or_else(bad)?;
        if seq.len() != 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let sequence = seq.parse().map_err(|_| bad())?;
        let kind = match kind {
            "aggregate" => TaskKind::Aggregate,
            "final" => TaskKind::Final,
            b => {
                let i = b.strip_prefix("batch-").filter(|i| i.len() >= 3 && i.bytes().all(|c| c.is_ascii_digit())).ok_or_else(bad)?;
                TaskKind::Batch(i.parse().map_err(|_| bad())?)
            }
        };
        let id = Self { sequence, kind };
        if id.key() != key {
            return Err(bad());
        }
        Ok(id)
    }

    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn kind(&self) -> TaskKind {
        self.kind
    }
}

impl Serialize for TaskId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
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
    /// Not needed any more (the sequence was verified before this node could commit, or a
    /// reorg replaced its data).
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
    /// Times its proof was stored and then failed the local check (final tasks).
    #[serde(default)]
    pub rejections: u32,
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
            rejections: 0,
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

/// Why a commitment was slashed (the contract's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashKind {
    HashMismatch,
    InvalidProof,
    NoReveal,
}

/// The stored state of a submission; the sender's state machine (`prova-node`'s `submission`
/// module) moves it, one durable write per transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SubmissionState {
    /// The final proof is stored and nothing was sent yet.
    Ready,
    /// The commit is about to be sent, or was sent and its fate is not known yet: after a
    /// crash the chain says whether it landed.
    Committing,
    /// The commitment is on chain in the last of `windows`.
    Committed,
    /// The reveal is about to be sent, or was sent and its fate is not known yet.
    Revealing,
    /// Accepted on chain, with the share credited by the reveal's event (0 when late).
    Revealed {
        late: bool,
        #[serde(with = "wei")]
        reward_wei: u128,
    },
    /// Slashed (this must never happen to an honest node; it is recorded, not hidden).
    Slashed {
        reason: SlashKind,
        #[serde(with = "wei")]
        amount_wei: u128,
    },
    /// Verified by others before this node could commit: nothing to do.
    Missed,
    /// Our final proof failed the local check before its reveal: never revealed (a reveal
    /// would be slashed as invalid). An operator must look at the plugin and the prover.
    Rejected { reason: String },
    /// The sequence's data was replaced by a reorg after we committed: the commitment is for
    /// data that no longer exists and is never revealed.
    Abandoned,
}

impl SubmissionState {
    /// Nothing more will be sent for it.
    pub fn is_settled(&self) -> bool {
        matches!(self, Self::Revealed { .. } | Self::Slashed { .. } | Self::Missed | Self::Rejected { .. } | Self::Abandoned)
    }
}

/// Another miner's commitment the keeper watches until it is revealed or slashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchedCommitment {
    pub final_batch: u64,
    pub window: u64,
    pub miner: Address,
}
