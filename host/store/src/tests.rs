use super::*;

fn seq(final_batch: u64, batches: u64) -> Sequence {
    Sequence {
        init_batch: final_batch - batches,
        final_batch,
        acc_input_hash: [7; 32],
        commitments: (0..batches).map(|i| [i as u8; 32]).collect(),
        seen_block: 3,
        status: SequenceStatus::Proving,
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("node.redb")).unwrap();
    (dir, s)
}

#[test]
fn task_graph_follows_the_batch_count() {
    let ids = |n| TaskId::graph(9, n).into_iter().map(|t| t.kind()).collect::<Vec<_>>();
    assert_eq!(ids(1), vec![TaskKind::Batch(0), TaskKind::Final]);
    assert_eq!(ids(3), vec![TaskKind::Batch(0), TaskKind::Batch(1), TaskKind::Batch(2), TaskKind::Aggregate, TaskKind::Final]);
    let id = TaskId::new(12, TaskKind::Batch(2));
    assert_eq!((id.sequence(), id.kind()), (12, TaskKind::Batch(2)));
    // Key order is sequence order, whatever the number of digits.
    assert!(TaskId::new(9, TaskKind::Final) < TaskId::new(10, TaskKind::Batch(0)));
}

#[test]
fn adding_a_sequence_twice_creates_its_tasks_once() {
    let (_d, s) = open();
    assert!(s.add_sequence(&seq(4, 3), &[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]).unwrap());
    let id = TaskId::new(4, TaskKind::Batch(1));
    s.assign(&id, "w0", 1, 2).unwrap();
    assert!(!s.add_sequence(&seq(4, 3), &[]).unwrap());
    assert_eq!(s.tasks().unwrap().len(), 5);
    s.add_sequence(&seq(40, 1), &[b"d".to_vec()]).unwrap();
    let of_4: Vec<_> = s.tasks_of(4).unwrap().into_iter().map(|t| t.id).collect();
    let mut graph = TaskId::graph(4, 3);
    graph.sort();
    assert_eq!(of_4, graph, "one sequence's tasks (in id order), not sequence 40's");
    assert!(matches!(s.task(&id).unwrap().unwrap().state, TaskState::Assigned { .. }), "re-adding must not reset a task");
    assert_eq!(s.batch_data(4, 2).unwrap(), b"c");
}

#[test]
fn state_survives_reopening_and_assigned_tasks_are_requeued_without_losing_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let (b0, fin) = (TaskId::new(1, TaskKind::Batch(0)), TaskId::new(1, TaskKind::Final));
    {
        let s = Store::open(&path).unwrap();
        s.add_sequence(&seq(1, 1), &[b"w".to_vec()]).unwrap();
        s.assign(&b0, "w0", 10, 20).unwrap();
        s.complete(&b0, "w0", b"proof-0", 15).unwrap();
        s.assign(&fin, "w1", 16, 30).unwrap();
        s.set_cursor("watcher", &(5u64, "x")).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.proof(&b0).unwrap().unwrap(), b"proof-0");
    assert_eq!(s.requeue_assigned().unwrap(), 1);
    let t = s.task(&fin).unwrap().unwrap();
    assert_eq!((t.state, t.attempts), (TaskState::Pending, 0));
    assert_eq!(s.cursor::<(u64, String)>("watcher").unwrap(), Some((5, "x".into())));
    s.complete(&fin, "w1", b"final", 40).unwrap();
    assert_eq!(s.sequence(1).unwrap().unwrap().status, SequenceStatus::Proved);
}

#[test]
fn failures_remember_the_worker_and_stop_after_the_last_attempt() {
    let (_d, s) = open();
    s.add_sequence(&seq(2, 1), &[vec![]]).unwrap();
    let id = TaskId::new(2, TaskKind::Batch(0));
    s.assign(&id, "w0", 0, 1).unwrap();
    assert_eq!(s.fail(&id, "w0", "trap", 2).unwrap(), TaskState::Pending);
    s.assign(&id, "w1", 0, 1).unwrap();
    assert_eq!(s.fail(&id, "w1", "timeout", 2).unwrap(), TaskState::Failed { error: "timeout".into() });
    let t = s.task(&id).unwrap().unwrap();
    assert_eq!(t.failed_on, vec!["w0".to_string(), "w1".to_string()]);
}

#[test]
fn submissions_round_trip_with_readable_hashes() {
    let (_d, s) = open();
    let sub = Submission {
        init_batch: 0,
        final_batch: 2,
        proof_hash: [0xab; 32],
        state: SubmissionState::Revealed { late: false, reward: "1000000000000000000".into() },
        windows: vec![1],
        commit_block: Some(4),
        reveal_block: Some(9),
    };
    s.put_submission(&sub).unwrap();
    assert_eq!(s.submission(2).unwrap(), Some(sub.clone()));
    assert_eq!(s.submissions().unwrap(), vec![sub]);
    assert!(String::from_utf8(json(&s.submission(2).unwrap().unwrap())).unwrap().contains("0xabab"));
}

#[test]
fn a_newer_schema_is_refused_and_a_corrupt_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    {
        let s = Store::open(&path).unwrap();
        s.write(|w| {
            w.open_table(META)?.insert("schema_version", SCHEMA_VERSION + 1)?;
            w.open_table(SUBMISSIONS)?.insert(7, b"{not json".as_slice())?;
            Ok(())
        })
        .unwrap();
        let e = s.submission(7).unwrap_err();
        assert!(matches!(&e, StoreError::Corrupt { table: "submissions", key, .. } if key == "7"), "{e}");
    }
    let e = Store::open(&path).err().expect("a newer schema must be refused");
    assert!(matches!(e, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1), "{e}");
}
