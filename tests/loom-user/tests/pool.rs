//! The pool of `src/lib.rs` under loom: every interleaving of a submitter and a worker,
//! through kiln's own Queue, Semaphore and Mutex (built on loom by `--cfg kiln_loom`).
#![cfg(kiln_loom)]

use kiln_loom_user::{Pool, Variant};
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

/// One submitter (the model's main thread) and one worker thread share a pool.
fn submit_and_join(variant: Variant) -> impl Fn() + Sync + Send + 'static {
    move || {
        let pool = Arc::new(Pool::new(1, 1));
        let worker = {
            let pool = pool.clone();
            thread::spawn(move || block_on(pool.work_one(variant)))
        };
        let results = block_on(async {
            pool.submit(21).await;
            pool.join().await
        });
        assert_eq!(
            results,
            [42],
            "join returned before the job's result was recorded"
        );
        worker.join().unwrap();
    }
}

#[test]
fn fixed_pool_passes_every_interleaving() {
    loom::model(submit_and_join(Variant::Fixed));
}

#[test]
#[should_panic(expected = "join returned before the job's result was recorded")]
fn broken_pool_fails_in_some_interleaving() {
    loom::model(submit_and_join(Variant::Broken));
}

#[test]
fn loom_records_the_failing_interleaving_and_replays_it() {
    let path = std::env::temp_dir().join(format!("kiln-loom-user-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    // Record each explored interleaving's schedule before running it.
    let mut record = loom::model::Builder::new();
    record.checkpoint_file = Some(path.clone());
    record.checkpoint_interval = 1;
    let failed = std::panic::catch_unwind(|| record.check(submit_and_join(Variant::Broken)));
    assert!(failed.is_err(), "loom found no failing interleaving");
    let schedule = std::fs::read_to_string(&path).expect("loom wrote the failing schedule");
    let runs = thread_runs(&schedule);
    eprintln!("loom's failing interleaving (thread 0: submitter, 1: worker): {runs:?}");
    assert!(
        runs.len() >= 3,
        "the failure needs the threads to interleave: {runs:?}"
    );
    // Starting from that schedule, the very first execution fails again.
    let mut replay = loom::model::Builder::new();
    replay.checkpoint_file = Some(path.clone());
    replay.max_permutations = Some(1);
    let replayed = std::panic::catch_unwind(|| replay.check(submit_and_join(Variant::Broken)));
    std::fs::remove_file(&path).unwrap();
    assert!(
        replayed.is_err(),
        "the recorded schedule did not reproduce the failure"
    );
}

/// The order in which threads ran in a loom schedule file: (thread, scheduling steps) runs.
fn thread_runs(schedule: &str) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for part in schedule.split("\"threads\":[").skip(1) {
        let list = &part[..part.find(']').expect("a thread list")];
        let Some(active) = list.split(',').position(|t| t == "\"Active\"") else {
            continue;
        };
        match runs.last_mut() {
            Some((t, n)) if *t == active => *n += 1,
            _ => runs.push((active, 1)),
        }
    }
    runs
}
