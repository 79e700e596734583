//! Steps that bring a store file from one schema version to the next, each inside the one
//! write transaction [`crate::StoreFile`] opens the file with: a failed step writes nothing.
//!
//! A step names the tables of the version it reads by their names at that version (below), so
//! that renaming a table later never changes what an old step does.

use redb::{ReadableTable, WriteTransaction};

use crate::{Identity, Sequence, Tables};

/// Brings a file from version `i + 1` to `i + 2`: index 0 migrates 1 -> 2.
pub(crate) type Step = fn(&WriteTransaction) -> Result<(), redb::Error>;
pub(crate) const STEPS: &[Step] = &[v1_to_v2, v2_to_v3];

/// Versions 1 and 2 kept one rollup per file in tables with these names.
pub(crate) mod v2 {
    use redb::TableDefinition;

    pub const IDENTITY: TableDefinition<&str, &[u8]> = TableDefinition::new("identity");
    pub const SEQUENCES: TableDefinition<u64, &[u8]> = TableDefinition::new("sequences");
    pub const OPEN: TableDefinition<u64, ()> = TableDefinition::new("open_sequences");
    pub const CLOSED: TableDefinition<(u64, u64), ()> = TableDefinition::new("closed_sequences");
    pub const BATCH_DATA: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("batch_data");
    pub const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
    pub const PROOFS: TableDefinition<&str, &[u8]> = TableDefinition::new("proofs");
    pub const SUBMISSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("submissions");
    pub const CURSORS: TableDefinition<&str, &[u8]> = TableDefinition::new("cursors");
    pub const WATCHED: TableDefinition<(u64, u64, [u8; 20]), ()> = TableDefinition::new("watched_commitments");
}

fn corrupt(to: u64) -> impl Fn(serde_json::Error) -> redb::Error {
    move |e| redb::Error::Corrupted(format!("migrating to version {to}: {e}"))
}

/// Version 1 kept rewards as free text and had no indexes: rewrite settled submissions with
/// integer amounts (text that is no number, such as "credited before restart", becomes 0) and
/// index the open sequences.
fn v1_to_v2(w: &WriteTransaction) -> Result<(), redb::Error> {
    let corrupt = corrupt(2);
    let mut subs = w.open_table(v2::SUBMISSIONS)?;
    let mut rewrite = vec![];
    for row in subs.iter()? {
        let (k, v) = row?;
        let mut j: serde_json::Value = serde_json::from_slice(v.value()).map_err(&corrupt)?;
        let state = &mut j["state"];
        let amount = |s: &serde_json::Value| s.as_str().and_then(|s| s.parse::<u128>().ok()).unwrap_or(0).to_string();
        match state["state"].as_str() {
            Some("revealed") => {
                state["reward_wei"] = amount(&state["reward"]).into();
                state.as_object_mut().map(|o| o.remove("reward"));
            }
            Some("slashed") => {
                state["amount_wei"] = amount(&state["amount"]).into();
                state.as_object_mut().map(|o| o.remove("amount"));
                let reason = match state["reason"].as_str() {
                    Some(r) if r.contains("HashMismatch") => "hash_mismatch",
                    Some(r) if r.contains("InvalidProof") => "invalid_proof",
                    _ => "no_reveal",
                };
                state["reason"] = reason.into();
            }
            _ => continue,
        }
        rewrite.push((k.value(), serde_json::to_vec(&j).map_err(&corrupt)?));
    }
    for (k, v) in rewrite {
        subs.insert(k, v.as_slice())?;
    }
    let seqs = w.open_table(v2::SEQUENCES)?;
    let mut open = w.open_table(v2::OPEN)?;
    for row in seqs.iter()? {
        let (k, v) = row?;
        let seq: Sequence = serde_json::from_slice(v.value()).map_err(&corrupt)?;
        if seq.status.is_open() {
            open.insert(k.value(), ())?;
        }
    }
    Ok(())
}

/// Version 3 holds many rollups per file: the one rollup of a version 2 file becomes scope 0,
/// its tables renamed to scope 0's (no record is copied, so a large store migrates at once) and
/// its identity recorded as scope 0's. A file that never had an identity (created and not yet
/// claimed) leaves scope 0 to the first rollup that opens it.
fn v2_to_v3(w: &WriteTransaction) -> Result<(), redb::Error> {
    let to = Tables::of(0);
    // Tables a version 2 build created at every open; opening them first makes a file that
    // lacks one (written by a build that had not added it yet) migrate all the same.
    macro_rules! rename {
        ($($old:expr => $new:expr),*) => {$(
            w.open_table($old)?;
            w.rename_table($old, $new)?;
        )*};
    }
    rename!(
        v2::SEQUENCES => to.sequences,
        v2::OPEN => to.open,
        v2::CLOSED => to.closed,
        v2::BATCH_DATA => to.batch_data,
        v2::TASKS => to.tasks,
        v2::PROOFS => to.proofs,
        v2::SUBMISSIONS => to.submissions,
        v2::CURSORS => to.cursors,
        v2::WATCHED => to.watched
    );
    let identity = w.open_table(v2::IDENTITY)?.get("identity")?.map(|v| v.value().to_vec());
    if let Some(bytes) = identity {
        let identity: Identity = serde_json::from_slice(&bytes).map_err(corrupt(3))?;
        let json = serde_json::to_vec(&identity).map_err(corrupt(3))?;
        w.open_table(crate::ROLLUPS)?.insert(0, json.as_slice())?;
    }
    w.delete_table(v2::IDENTITY)?;
    Ok(())
}
