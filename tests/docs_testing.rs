//! The examples of `docs/testing.md`. Each ```rust block of the guide is, byte for byte, a
//! part of this file or of the loom example crate `tests/loom-user` (which CI runs with
//! `--cfg kiln_loom`); `guide_blocks_are_these_tests` fails if they drift apart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

#[kiln::test]
async fn spawned_tasks_run_on_the_test_thread() {
    let task = kiln::spawn(async { 6 * 7 });
    assert_eq!(task.await.unwrap(), 42);
}

#[kiln::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers() {
    let tasks: Vec<_> = (0..4).map(|i| kiln::spawn(async move { i })).collect();
    let mut sum = 0;
    for t in tasks {
        sum += t.await.unwrap();
    }
    assert_eq!(sum, 6);
}

/// Retries `op` every minute until it succeeds or an hour has passed.
async fn retry_for_an_hour(mut op: impl FnMut() -> bool) -> bool {
    let attempts = async {
        let mut every_minute = kiln::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            if op() {
                return;
            }
        }
    };
    kiln::time::timeout(Duration::from_secs(3600), attempts)
        .await
        .is_ok()
}

#[kiln::test(start_paused = true)]
async fn retry_gives_up_after_an_hour() {
    let start = kiln::time::now();
    let mut calls = 0;
    let ok = retry_for_an_hour(|| {
        calls += 1;
        false
    })
    .await;
    assert!(!ok);
    // Attempts at 0, 1, ..., 60 minutes: at 60 minutes the tick and the timeout are due
    // together, and a timeout polls its future before it checks its deadline.
    assert_eq!(calls, 61);
    assert_eq!(kiln::time::now() - start, Duration::from_secs(3600));
}

#[kiln::test(start_paused = true)]
async fn retry_succeeds_on_the_third_attempt() {
    let mut calls = 0;
    let ok = retry_for_an_hour(|| {
        calls += 1;
        calls == 3
    })
    .await;
    assert!(ok);
    assert_eq!(calls, 3);
}

#[kiln::test]
async fn step_through_time_by_hand() {
    kiln::time::pause();
    let reminder = kiln::spawn(kiln::time::sleep(Duration::from_secs(30)));
    kiln::task::yield_now().await; // let the task register its timer
    kiln::time::advance(Duration::from_secs(29)).await;
    assert!(!reminder.is_finished());
    kiln::time::advance(Duration::from_secs(1)).await;
    assert!(reminder.is_finished());
    kiln::time::resume();
}

#[kiln::test(start_paused = true)]
async fn a_blocking_job_holds_the_clock() {
    let start = kiln::time::now();
    // 20 ms of real work on the blocking pool, raced against a 1 s timeout: the clock may not
    // jump to the timeout's deadline while the job runs, so the job wins.
    let job = kiln::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)));
    let out = kiln::time::timeout(Duration::from_secs(1), job).await;
    assert!(out.is_ok());
    assert!(kiln::time::now() - start < Duration::from_secs(1));
}

/// The order in which 5 ready tasks first run on a runtime seeded with `seed`.
fn first_polls(seed: u64) -> Vec<u32> {
    let rt = kiln::Builder::new_current_thread()
        .rng_seed(seed)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let order = order.clone();
                kiln::spawn(async move { order.lock().unwrap().push(i) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let order = order.lock().unwrap().clone();
    order
}

#[test]
fn a_seed_fixes_the_order() {
    assert_eq!(first_polls(17), first_polls(17));
    // Over a few seeds, more than one order shows up.
    let orders: std::collections::HashSet<Vec<u32>> = (0..8).map(first_polls).collect();
    assert!(orders.len() > 1);
}

/// Checks that each ```rust block of `guide` is a part of one of `sources`; returns how many
/// blocks it found.
fn check_blocks(name: &str, guide: &str, sources: &[(&str, &str)]) -> usize {
    let mut blocks = 0;
    let mut rest = guide;
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body
            .find("```\n")
            .unwrap_or_else(|| panic!("unterminated code block in {name}"));
        let block = &body[..end];
        assert!(
            sources.iter().any(|(_, text)| text.contains(block)),
            "this block of {name} is not part of {:?}:\n{block}",
            sources.iter().map(|(file, _)| file).collect::<Vec<_>>()
        );
        blocks += 1;
        rest = &body[end..];
    }
    blocks
}

/// Every ```rust block of the guide is code that runs: in this file, or in the loom example
/// crate.
#[test]
fn guide_blocks_are_these_tests() {
    let sources = [
        ("tests/docs_testing.rs", include_str!("docs_testing.rs")),
        (
            "tests/loom-user/src/lib.rs",
            include_str!("loom-user/src/lib.rs"),
        ),
        (
            "tests/loom-user/tests/pool.rs",
            include_str!("loom-user/tests/pool.rs"),
        ),
    ];
    let n = check_blocks(
        "docs/testing.md",
        include_str!("../docs/testing.md"),
        &sources,
    );
    assert!(
        n >= 10,
        "expected every example of the guide, found {n} blocks"
    );
}
