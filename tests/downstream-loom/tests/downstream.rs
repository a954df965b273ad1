//! Under `RUSTFLAGS="--cfg loom"` this crate's own shim is loom's, and kiln still runs.

#[test]
fn kiln_runs_normally_in_a_crate_built_with_cfg_loom() {
    // Before kiln namespaced its loom gate, a bare `--cfg loom` turned kiln's internals into
    // loom types and any runtime panicked outside a loom model.
    let expected: u64 = (0..10).map(|i| i * 2).sum();
    assert_eq!(kiln_downstream_loom::serve(10), expected);
}

#[kiln::test(start_paused = true)]
async fn paused_time_and_the_test_attribute_work_here_too() {
    let start = kiln::time::now();
    kiln::time::sleep(std::time::Duration::from_secs(3600)).await;
    assert!(kiln::time::now() - start >= std::time::Duration::from_secs(3600));
}

/// This crate's own loom model: really loom (it would panic outside `loom::model`).
#[cfg(loom)]
#[test]
fn own_loom_model_of_the_counter() {
    loom::model(|| {
        let hits = loom::sync::Arc::new(kiln_downstream_loom::Hits::new());
        let other = hits.clone();
        let t = loom::thread::spawn(move || other.hit());
        let mine = hits.hit();
        let theirs = t.join().unwrap();
        assert_ne!(mine, theirs);
        assert_eq!(hits.get(), 2);
    });
}

#[cfg(loom)]
#[test]
#[should_panic]
fn the_crate_s_shim_is_loom_here() {
    // loom's atomics panic outside a model: proof that `--cfg loom` reached this crate.
    kiln_downstream_loom::Hits::new().hit();
}
