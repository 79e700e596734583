//! The runtime against real fixture components: each misbehaviour yields its own error, names
//! the plugin and the job, and the next job on the same plugin still runs.

use std::time::Duration;

use prova_runtime::{JobErrorKind, Limits, RuntimeError};
use prova_tests::{plugin_dir, plugins, runtime_with, test_limits};

const ADDR: [u8; 20] = [0xa1; 20];

#[test]
fn each_misbehaviour_has_its_own_error_and_the_next_job_runs() {
    let dir = plugin_dir(&[("misbehaving", plugins::FIXTURE_MISBEHAVING)]);
    let rt = runtime_with(test_limits(), None);
    let p = rt.load(&dir.path().join("misbehaving.wasm")).unwrap();
    assert_eq!(p.metadata().name, "misbehaving");

    let ok = |p: &prova_runtime::Plugin| assert_eq!(p.prove_batch("after", b"fine", &ADDR).unwrap(), b"fine");

    let e = p.prove_batch("job-loop", b"loop", &ADDR).unwrap_err();
    assert!(matches!(e.kind, JobErrorKind::FuelExhausted(2_000_000_000)), "{e}");
    assert_eq!((e.plugin.as_str(), e.job.as_str()), ("misbehaving", "job-loop"));
    ok(&p);

    let e = p.prove_batch("job-oom", b"oom", &ADDR).unwrap_err();
    // The plugin asks for 64 MiB; the job's limit is the smaller of that and the host's 256 MiB.
    assert!(matches!(e.kind, JobErrorKind::MemoryLimit { limit, requested } if limit == 64 << 20 && requested > limit), "{e}");
    ok(&p);

    let e = p.prove_batch("job-panic", b"panic", &ADDR).unwrap_err();
    match &e.kind {
        JobErrorKind::Panicked(msg) => assert!(msg.contains("fixture panic: the witness asked for it"), "{msg}"),
        other => panic!("expected a panic, got {other}"),
    }
    assert!(e.to_string().starts_with("plugin misbehaving, job job-panic: panicked"), "{e}");
    ok(&p);

    // An adapter error is passed through as the adapter's own error.
    let e = p.aggregate("job-agg", &[]).unwrap_err();
    assert!(matches!(&e.kind, JobErrorKind::Adapter(prova_runtime::AdapterError::Internal(m)) if m.contains("not supported")), "{e}");
}

#[test]
fn a_loop_is_stopped_by_the_wall_time_bound_when_fuel_is_plentiful() {
    let dir = plugin_dir(&[("misbehaving", plugins::FIXTURE_MISBEHAVING)]);
    let limits = Limits { fuel_per_job: u64::MAX, wall_time_per_job: Duration::from_millis(300), ..test_limits() };
    let p = runtime_with(limits, None).load(&dir.path().join("misbehaving.wasm")).unwrap();
    let t = std::time::Instant::now();
    let e = p.prove_batch("job-spin", b"loop", &ADDR).unwrap_err();
    assert!(matches!(e.kind, JobErrorKind::Timeout(d) if d == Duration::from_millis(300)), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(p.prove_batch("after", b"x", &ADDR).unwrap(), b"x");
}

#[test]
fn a_plugin_for_another_wit_major_version_is_refused() {
    let dir = plugin_dir(&[("wrong", plugins::FIXTURE_WRONG_VERSION)]);
    let e = runtime_with(test_limits(), None).load(&dir.path().join("wrong.wasm")).err().unwrap();
    assert!(matches!(&e, RuntimeError::WitVersion { found, supported, .. } if found == "1.0.0" && supported == "0.3.0, 0.2.0"), "{e}");
    assert!(e.to_string().contains("wrong.wasm"), "{e}");
}

#[test]
fn a_plugin_that_imports_the_filesystem_is_refused_before_it_runs() {
    let dir = plugin_dir(&[("fs", plugins::FIXTURE_FORBIDDEN_IMPORT)]);
    let e = runtime_with(test_limits(), None).load(&dir.path().join("fs.wasm")).err().unwrap();
    assert!(matches!(&e, RuntimeError::ForbiddenImport { import, .. } if import.starts_with("wasi:filesystem/")), "{e}");
}

#[test]
fn missing_and_corrupt_files_are_refused_and_a_folder_load_goes_on_past_them() {
    let dir = plugin_dir(&[
        ("a-good", plugins::FIXTURE_MISBEHAVING),
        ("b-wrong", plugins::FIXTURE_WRONG_VERSION),
        ("c-fs", plugins::FIXTURE_FORBIDDEN_IMPORT),
    ]);
    std::fs::write(dir.path().join("d-garbage.wasm"), b"\0asm garbage").unwrap();
    let mut truncated = std::fs::read(plugins::FIXTURE_MISBEHAVING).unwrap();
    truncated.truncate(truncated.len() / 2);
    std::fs::write(dir.path().join("e-truncated.wasm"), truncated).unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not a plugin").unwrap();

    let rt = runtime_with(test_limits(), None);
    let all = rt.load_dir(dir.path()).unwrap();
    assert_eq!(all.len(), 5, "only *.wasm files are plugins");
    assert!(all[0].is_ok());
    assert!(matches!(all[1], Err(RuntimeError::WitVersion { .. })));
    assert!(matches!(all[2], Err(RuntimeError::ForbiddenImport { .. })));
    assert!(matches!(&all[3], Err(RuntimeError::Invalid { path, .. }) if path.ends_with("d-garbage.wasm")));
    assert!(matches!(&all[4], Err(RuntimeError::Invalid { path, .. }) if path.ends_with("e-truncated.wasm")));
    assert!(matches!(rt.load(&dir.path().join("absent.wasm")), Err(RuntimeError::Read { .. })));
    assert!(matches!(rt.load_dir(&dir.path().join("absent")), Err(RuntimeError::Folder { .. })));
}

#[test]
fn precompiled_components_are_cached_and_a_corrupt_cache_entry_is_replaced() {
    let dir = plugin_dir(&[("m", plugins::FIXTURE_MISBEHAVING)]);
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime_with(test_limits(), Some(cache.path()));
    rt.load(&dir.path().join("m.wasm")).unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].extension().unwrap(), "cwasm");
    let good = std::fs::read(&entries[0]).unwrap();

    // A hit loads the same plugin; a corrupt entry is recompiled and rewritten.
    assert_eq!(rt.load(&dir.path().join("m.wasm")).unwrap().prove_batch("j", b"x", &ADDR).unwrap(), b"x");
    std::fs::write(&entries[0], b"corrupt").unwrap();
    let p = rt.load(&dir.path().join("m.wasm")).unwrap();
    assert_eq!(p.prove_batch("j", b"y", &ADDR).unwrap(), b"y");
    assert_eq!(std::fs::read(&entries[0]).unwrap(), good);
}
