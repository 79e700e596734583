use super::*;

fn seq(final_batch: u64, batches: u64) -> Sequence {
    Sequence {
        init_batch: final_batch - batches,
        final_batch,
        acc_input_hash: [7; 32],
        commitments: (0..batches).map(|i| [i as u8; 32]).collect(),
        seen_block: 3,
        status: SequenceStatus::Proving,
        closed_block: None,
    }
}

fn ident() -> Identity {
    Identity { chain_id: 31337, genesis: [1; 32], manager: [2; 20], rollup: 1, miner: [3; 20] }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("node.redb"), &ident()).unwrap();
    (dir, s)
}

fn sub(final_batch: u64, state: SubmissionState) -> Submission {
    Submission { init_batch: 0, final_batch, proof_hash: [0xab; 32], state, windows: vec![1], commit_block: Some(4), reveal_block: None }
}

#[test]
fn task_graph_follows_the_batch_count() {
    let ids = |n| TaskId::graph(9, n).into_iter().map(|t| t.kind()).collect::<Vec<_>>();
    assert_eq!(ids(1), vec![TaskKind::Batch(0), TaskKind::Final]);
    assert_eq!(ids(3), vec![TaskKind::Batch(0), TaskKind::Batch(1), TaskKind::Batch(2), TaskKind::Aggregate, TaskKind::Final]);
    let id = TaskId::new(12, TaskKind::Batch(2));
    assert_eq!((id.sequence(), id.kind()), (12, TaskKind::Batch(2)));
    // Key order is sequence order, whatever the number of digits.
    assert!(TaskId::new(9, TaskKind::Final).key() < TaskId::new(10, TaskKind::Batch(0)).key());
}

#[test]
fn task_ids_parse_back_and_refuse_what_was_never_written() {
    for id in TaskId::graph(123, 3) {
        assert_eq!(TaskId::parse(&id.key()), Ok(id));
    }
    for bad in [
        "",
        "12/final",
        "0000000000000000000x/final",
        "00000000000000000012/finale",
        "00000000000000000012/batch-1",
        "00000000000000000012/batch-abc",
        "00000000000000000012",
    ] {
        assert!(TaskId::parse(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn a_corrupt_task_record_is_an_error_not_a_panic() {
    // At 9c702b9 a task id was re-parsed with `expect`: a bad record panicked the node.
    let (_d, s) = open();
    s.write(|w| {
        w.open_table(s.t.tasks)?.insert("00000000000000000001/final", br#"{"id":"garbage","state":{"state":"pending"}}"#.as_slice())?;
        Ok(())
    })
    .unwrap();
    let e = s.tasks().unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { table: "tasks", .. }), "{e}");
}

#[test]
fn adding_a_sequence_twice_creates_its_tasks_once() {
    let (_d, s) = open();
    assert_eq!(s.add_sequence(&seq(4, 3), &[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]).unwrap(), Added::New);
    let id = TaskId::new(4, TaskKind::Batch(1));
    s.assign(&id, "w0", 1, 2).unwrap();
    assert_eq!(s.add_sequence(&seq(4, 3), &[]).unwrap(), Added::Known);
    let mut other = seq(4, 3);
    other.acc_input_hash = [9; 32];
    assert_eq!(s.add_sequence(&other, &[]).unwrap(), Added::Differs);
    assert_eq!(s.tasks().unwrap().len(), 5);
    s.add_sequence(&seq(40, 1), &[b"d".to_vec()]).unwrap();
    let of_4: Vec<_> = s.tasks_of(4).unwrap().into_iter().map(|t| t.id).collect();
    let mut graph = TaskId::graph(4, 3);
    graph.sort_by_key(|id| id.key());
    assert_eq!(of_4, graph, "one sequence's tasks (in key order), not sequence 40's");
    assert!(matches!(s.task(&id).unwrap().unwrap().state, TaskState::Assigned { .. }), "re-adding must not reset a task");
    assert_eq!(s.batch_data(4, 2).unwrap(), b"c");
}

#[test]
fn an_unprovable_sequence_is_stored_without_tasks_in_one_write() {
    // At 9c702b9 it was written with pending tasks, which a second transaction dropped: a crash
    // between the two proved it anyway.
    let (_d, s) = open();
    let mut bad = seq(5, 2);
    bad.status = SequenceStatus::Unprovable { reason: "bad data".into() };
    bad.closed_block = Some(3);
    s.add_sequence(&bad, &[vec![], vec![]]).unwrap();
    assert!(s.tasks_of(5).unwrap().is_empty());
    assert!(s.open_sequences().unwrap().is_empty());
}

#[test]
fn state_survives_reopening_and_assigned_tasks_are_requeued_without_losing_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let (b0, fin) = (TaskId::new(1, TaskKind::Batch(0)), TaskId::new(1, TaskKind::Final));
    {
        let s = Store::open(&path, &ident()).unwrap();
        s.add_sequence(&seq(1, 1), &[b"w".to_vec()]).unwrap();
        s.assign(&b0, "w0", 10, 20).unwrap();
        assert!(s.complete(&b0, "w0", b"proof-0", 15).unwrap());
        s.assign(&fin, "w1", 16, 30).unwrap();
        let lazy = WatchedCommitment { final_batch: 4, window: 2, miner: [9; 20] };
        s.advance_cursor("watcher", &(5u64, "x"), &[lazy]).unwrap();
    }
    let s = Store::open(&path, &ident()).unwrap();
    assert_eq!(s.proof(&b0).unwrap().unwrap(), b"proof-0");
    assert_eq!(s.requeue_assigned().unwrap(), 1);
    let t = s.task(&fin).unwrap().unwrap();
    assert_eq!((t.state, t.attempts), (TaskState::Pending, 0));
    assert_eq!(s.cursor::<(u64, String)>("watcher").unwrap(), Some((5, "x".into())));
    assert_eq!(
        s.watched().unwrap(),
        vec![WatchedCommitment { final_batch: 4, window: 2, miner: [9; 20] }],
        "the watch list with the cursor"
    );
    assert!(s.complete(&fin, "w1", b"final", 40).unwrap());
    assert!(!s.complete(&fin, "w0", b"late", 41).unwrap(), "a second completion stores nothing");
    assert_eq!(s.proof(&fin).unwrap().unwrap(), b"final");
    assert_eq!(s.sequence(1).unwrap().unwrap().status, SequenceStatus::Proved);
}

#[test]
fn a_late_completion_cannot_reopen_a_settled_sequence() {
    // At 9c702b9 `complete` read the sequence, then wrote `Proved` in a second transaction,
    // over a `Settled` written in between by `process_resend`.
    let (_d, s) = open();
    s.add_sequence(&seq(3, 1), &[vec![]]).unwrap();
    assert!(s.drop_sequence(3, 10).unwrap());
    let fin = TaskId::new(3, TaskKind::Final);
    assert!(!s.complete(&fin, "w0", b"p", 1).unwrap());
    assert!(!s.set_sequence_status(3, SequenceStatus::Proved, 11).unwrap());
    let q = s.sequence(3).unwrap().unwrap();
    assert_eq!((q.status, q.closed_block), (SequenceStatus::Settled, Some(10)));
    assert_eq!(s.task(&fin).unwrap().unwrap().state, TaskState::Dropped);
}

#[test]
fn failures_remember_the_worker_and_stop_after_the_last_attempt() {
    let (_d, s) = open();
    s.add_sequence(&seq(2, 1), &[vec![]]).unwrap();
    let id = TaskId::new(2, TaskKind::Batch(0));
    s.assign(&id, "w0", 0, 1).unwrap();
    assert_eq!(s.fail(&id, "w0", "trap", 2, 5).unwrap(), TaskState::Pending);
    s.assign(&id, "w1", 0, 1).unwrap();
    assert_eq!(s.fail(&id, "w1", "timeout", 2, 6).unwrap(), TaskState::Failed { error: "timeout".into() });
    let t = s.task(&id).unwrap().unwrap();
    assert_eq!(t.failed_on, vec!["w0".to_string(), "w1".to_string()]);
    assert!(matches!(s.sequence(2).unwrap().unwrap().status, SequenceStatus::Unprovable { .. }), "in the same write");
}

#[test]
fn a_rejected_final_proof_is_proved_again_on_another_worker_then_given_up() {
    let (_d, s) = open();
    s.add_sequence(&seq(2, 1), &[vec![]]).unwrap();
    let (b0, fin) = (TaskId::new(2, TaskKind::Batch(0)), TaskId::new(2, TaskKind::Final));
    s.assign(&b0, "w0", 0, 1).unwrap();
    s.complete(&b0, "w0", b"b", 1).unwrap();
    s.assign(&fin, "w0", 0, 1).unwrap();
    s.complete(&fin, "w0", b"bad", 1).unwrap();
    s.put_submission(&Submission { windows: vec![], ..sub(2, SubmissionState::Committing) }, 6).unwrap();
    assert_eq!(s.reject_final(2, "does not verify", 2, 7).unwrap(), TaskState::Pending);
    assert_eq!(s.submission(2).unwrap(), None, "the submission made for the bad proof is gone");
    let t = s.task(&fin).unwrap().unwrap();
    assert_eq!((t.failed_on.clone(), s.proof(&fin).unwrap()), (vec!["w0".to_string()], None));
    assert_eq!(s.sequence(2).unwrap().unwrap().status, SequenceStatus::Proving);
    s.assign(&fin, "w1", 0, 1).unwrap();
    s.complete(&fin, "w1", b"bad again", 1).unwrap();
    assert!(matches!(s.reject_final(2, "does not verify", 2, 8).unwrap(), TaskState::Failed { .. }));
    assert!(matches!(s.sequence(2).unwrap().unwrap().status, SequenceStatus::Unprovable { .. }));
}

#[test]
fn a_settled_submission_settles_its_sequence_and_is_never_overwritten() {
    let (_d, s) = open();
    s.add_sequence(&seq(2, 1), &[vec![]]).unwrap();
    assert!(s.put_submission(&sub(2, SubmissionState::Committed), 5).unwrap());
    assert_eq!(s.open_sequences().unwrap().len(), 1);
    let done = sub(2, SubmissionState::Revealed { late: false, reward_wei: 10u128.pow(30) });
    assert!(s.put_submission(&done, 9).unwrap());
    assert!(!s.put_submission(&sub(2, SubmissionState::Committing), 10).unwrap(), "an outcome is final");
    assert_eq!(s.submission(2).unwrap(), Some(done.clone()));
    assert_eq!(s.submissions().unwrap(), vec![done.clone()]);
    let text = String::from_utf8(json(&done)).unwrap();
    assert!(text.contains("0xabab") && text.contains("\"1000000000000000000000000000000\""), "{text}");
    let q = s.sequence(2).unwrap().unwrap();
    assert_eq!((q.status, q.closed_block), (SequenceStatus::Settled, Some(9)));
    assert!(s.open_sequences().unwrap().is_empty());
}

#[test]
fn a_replaced_sequence_forgets_what_was_derived_from_its_old_data() {
    let (_d, s) = open();
    s.add_sequence(&seq(2, 1), &[b"old".to_vec()]).unwrap();
    let fin = TaskId::new(2, TaskKind::Final);
    s.assign(&TaskId::new(2, TaskKind::Batch(0)), "w0", 0, 1).unwrap();
    s.complete(&TaskId::new(2, TaskKind::Batch(0)), "w0", b"p0", 1).unwrap();
    s.assign(&fin, "w0", 0, 1).unwrap();
    s.complete(&fin, "w0", b"pf", 1).unwrap();
    s.put_submission(&sub(2, SubmissionState::Committed), 4).unwrap();
    let mut new = seq(2, 1);
    new.acc_input_hash = [8; 32];
    let old = s.replace_sequence(&new, &[b"new".to_vec()]).unwrap().unwrap();
    assert_eq!(old.status, SequenceStatus::Proved);
    assert_eq!(s.sequence(2).unwrap().unwrap(), new);
    assert_eq!(s.batch_data(2, 0).unwrap(), b"new");
    assert_eq!(s.proof(&fin).unwrap(), None);
    assert!(s.tasks_of(2).unwrap().iter().all(|t| t.state == TaskState::Pending && t.attempts == 0));
    assert_eq!(s.submission(2).unwrap(), None);
}

#[test]
fn pruning_removes_proofs_and_data_of_sequences_closed_long_enough() {
    let (_d, s) = open();
    for (f, closed) in [(1, 10), (2, 20)] {
        s.add_sequence(&seq(f, 1), &[b"d".to_vec()]).unwrap();
        let b0 = TaskId::new(f, TaskKind::Batch(0));
        s.assign(&b0, "w", 0, 1).unwrap();
        s.complete(&b0, "w", b"p", 1).unwrap();
        s.drop_sequence(f, closed).unwrap();
    }
    s.add_sequence(&seq(3, 1), &[b"d".to_vec()]).unwrap();
    assert_eq!(s.prune(15).unwrap(), 1);
    assert_eq!(s.proof(&TaskId::new(1, TaskKind::Batch(0))).unwrap(), None);
    assert!(s.batch_data(1, 0).is_err());
    assert!(s.sequence(1).unwrap().is_some(), "the record stays");
    assert!(s.proof(&TaskId::new(2, TaskKind::Batch(0))).unwrap().is_some());
    assert_eq!(s.batch_data(3, 0).unwrap(), b"d", "open sequences are never pruned");
    assert_eq!(s.prune(15).unwrap(), 0, "pruned once");
    assert_eq!(s.prune(100).unwrap(), 1);
}

#[test]
fn a_store_file_holds_many_rollups_apart_and_refuses_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let file = StoreFile::open(&path).unwrap();
    let a = file.rollup(&ident()).unwrap();
    let mut other_chain = ident();
    other_chain.genesis = [9; 32];
    let b = file.rollup(&other_chain).unwrap();
    a.add_sequence(&seq(3, 1), &[b"a".to_vec()]).unwrap();
    b.add_sequence(&seq(3, 2), &[b"b0".to_vec(), b"b1".to_vec()]).unwrap();
    b.add_sequence(&seq(7, 1), &[b"b2".to_vec()]).unwrap();
    a.advance_cursor("watcher", &5u64, &[]).unwrap();
    // The same final batch in two rollups: two records, two task graphs, two batch data.
    assert_eq!(a.sequence(3).unwrap().unwrap().batches(), 1);
    assert_eq!(b.sequence(3).unwrap().unwrap().batches(), 2);
    assert_eq!(a.tasks().unwrap().len(), 2);
    assert_eq!(b.tasks().unwrap().len(), 6);
    assert_eq!((a.batch_data(3, 0).unwrap(), b.batch_data(3, 0).unwrap()), (b"a".to_vec(), b"b0".to_vec()));
    assert_eq!(a.open_sequences().unwrap().len(), 1);
    assert_eq!(b.open_sequences().unwrap().len(), 2);
    assert_eq!((a.cursor::<u64>("watcher").unwrap(), b.cursor::<u64>("watcher").unwrap()), (Some(5), None));
    drop((a, b, file));
    // Reopened, each identity finds its own records again, in the order they were added.
    let file = StoreFile::inspect(&path).unwrap();
    assert_eq!(file.identities().unwrap(), vec![ident(), other_chain.clone()]);
    assert_eq!(file.rollup(&other_chain).unwrap().open_sequences().unwrap().len(), 2);
    let mut other_key = ident();
    other_key.miner = [4; 20];
    let e = file.rollup(&other_key).err().expect("another key must be refused");
    assert!(matches!(e, StoreError::NotOurs { .. }), "{e}");
    assert!(e.to_string().contains("use another data folder for this key"), "{e}");
    assert_eq!(file.identities().unwrap().len(), 2, "the refused key added nothing");
    assert!(matches!(StoreFile::inspect(&dir.path().join("none.redb")), Err(StoreError::NotFound { .. })));
}

/// `tests/fixtures/store-v2.redb` was written by the release before version 3 (05aa269) through
/// its public API: sequence 2 (two batches) proved and revealed for 1 ETH; sequence 5 (three
/// batches) with batch 0 done and batch 1 assigned when the node stopped; sequence 6 proved and
/// committed; the watcher's cursor at block 40 and one commitment of miner 0x09… watched.
#[test]
fn a_store_written_by_the_version_2_release_is_migrated_with_all_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v2.redb"), &path).unwrap();
    let file = StoreFile::open(&path).unwrap();
    assert_eq!(file.identities().unwrap(), vec![ident()], "the v2 identity is scope 0's");
    let s = file.rollup(&ident()).unwrap();
    assert_eq!(s.sequences().unwrap().iter().map(|q| q.final_batch).collect::<Vec<_>>(), vec![2, 5, 6]);
    assert_eq!(s.open_sequences().unwrap().iter().map(|q| q.final_batch).collect::<Vec<_>>(), vec![5, 6]);
    assert_eq!(s.submission(2).unwrap().unwrap().state, SubmissionState::Revealed { late: false, reward_wei: 1_000_000_000_000_000_000 });
    assert_eq!(s.submission(6).unwrap().unwrap().state, SubmissionState::Committed);
    assert_eq!(s.proof(&TaskId::new(5, TaskKind::Batch(0))).unwrap().as_deref(), Some(b"proof 5/0".as_slice()));
    assert_eq!(s.batch_data(5, 2).unwrap(), b"e");
    assert_eq!(s.cursor::<serde_json::Value>("watcher").unwrap().unwrap()["next_block"], 40);
    assert_eq!(s.watched().unwrap(), vec![WatchedCommitment { final_batch: 6, window: 1, miner: [9; 20] }]);
    // Resumed as a node would: the interrupted job is pending again, the rest untouched.
    assert_eq!(s.requeue_assigned().unwrap(), 1);
    let state = |k| s.task(&TaskId::new(5, k)).unwrap().unwrap().state;
    assert_eq!(state(TaskKind::Batch(0)), TaskState::Done);
    assert_eq!((state(TaskKind::Batch(1)), state(TaskKind::Aggregate)), (TaskState::Pending, TaskState::Pending));
    assert!(s.complete(&TaskId::new(5, TaskKind::Batch(1)), "local-0", b"p", 9).unwrap());
    drop((s, file));
    // Migrated once: reopening finds version 3 and the same records.
    let s = Store::open(&path, &ident()).unwrap();
    assert_eq!(s.task(&TaskId::new(5, TaskKind::Batch(1))).unwrap().unwrap().state, TaskState::Done);
}

#[test]
fn a_version_1_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    {
        let db = Database::create(&path).unwrap();
        let w = db.begin_write().unwrap();
        w.open_table(META).unwrap().insert("schema_version", 1).unwrap();
        let mut seqs = w.open_table(migrations::v2::SEQUENCES).unwrap();
        for (f, status) in [(1u64, r#"{"status":"settled"}"#), (2, r#"{"status":"proving"}"#)] {
            let rec = format!(
                r#"{{"init_batch":{},"final_batch":{f},"acc_input_hash":"0x{}","commitments":[],"seen_block":1,"status":{status}}}"#,
                f - 1,
                "07".repeat(32)
            );
            seqs.insert(f, rec.as_bytes()).unwrap();
        }
        drop(seqs);
        let rec = format!(
            r#"{{"init_batch":0,"final_batch":1,"proof_hash":"0x{}","state":{{"state":"revealed","late":false,"reward":"credited before restart"}},"windows":[1],"commit_block":2,"reveal_block":null}}"#,
            "ab".repeat(32)
        );
        w.open_table(migrations::v2::SUBMISSIONS).unwrap().insert(1, rec.as_bytes()).unwrap();
        w.commit().unwrap();
    }
    let s = Store::open(&path, &ident()).unwrap();
    assert_eq!(s.submission(1).unwrap().unwrap().state, SubmissionState::Revealed { late: false, reward_wei: 0 });
    assert_eq!(s.open_sequences().unwrap().iter().map(|q| q.final_batch).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn a_newer_schema_is_refused_and_a_corrupt_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    {
        let s = Store::open(&path, &ident()).unwrap();
        s.write(|w| {
            w.open_table(META)?.insert("schema_version", SCHEMA_VERSION + 1)?;
            w.open_table(s.t.submissions)?.insert(7, b"{not json".as_slice())?;
            Ok(())
        })
        .unwrap();
        let e = s.submission(7).unwrap_err();
        assert!(matches!(&e, StoreError::Corrupt { table: "submissions", key, .. } if key == "7"), "{e}");
    }
    let e = Store::open(&path, &ident()).err().expect("a newer schema must be refused");
    assert!(matches!(e, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1), "{e}");
}

#[test]
fn the_watch_list_is_kept_once_per_commitment_and_settled_ones_leave_it() {
    let (_d, s) = open();
    let c = |f, w, m| WatchedCommitment { final_batch: f, window: w, miner: [m; 20] };
    s.advance_cursor("watcher", &1u64, &[c(3, 1, 7), c(1, 2, 8)]).unwrap();
    // A re-read of the same blocks (the watcher's lookback) finds them again: still one each.
    s.advance_cursor("watcher", &2u64, &[c(3, 1, 7), c(3, 1, 9)]).unwrap();
    assert_eq!(s.watched().unwrap(), vec![c(1, 2, 8), c(3, 1, 7), c(3, 1, 9)]);
    assert!(s.unwatch(&c(3, 1, 7)).unwrap());
    assert!(!s.unwatch(&c(3, 1, 7)).unwrap(), "already gone");
    assert_eq!(s.watched().unwrap(), vec![c(1, 2, 8), c(3, 1, 9)]);
    assert_eq!(s.cursor::<u64>("watcher").unwrap(), Some(2));
}
