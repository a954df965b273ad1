//! Unit tests of a worker: when its core takes a sibling's backlog, and when it reads the CPUs'
//! load.

use super::{Core, BACKLOG_STEAL_MIN};
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::scheduler::multi::test_task::task;

/// A worker out of local work takes a sibling's backlog only if the sibling started no poll
/// since the worker last looked: a sibling working through its queue keeps it, and one that
/// stopped making progress loses half of it at the next look.
#[test]
fn a_backlog_is_taken_only_from_a_sibling_that_made_no_progress() {
    let b = crate::Builder::new_multi_thread();
    let (shared, mut parts) =
        super::Shared::new(2, b.config(), b.blocking_pool().unwrap()).unwrap();
    let (victim, _victim_driver) = parts.locals.pop().expect("worker 1's queue");
    let (local, _driver) = parts.locals.pop().expect("worker 0's queue");
    let mut thief = Core::new(0, local, 2, false);
    let started = &shared.owned.observer().expect("an observer").workers[1].polls_started;

    // Fewer queued tasks than a backlog: never taken, however stuck the sibling is.
    victim.push(task());
    for _ in 0..3 {
        assert!(thief
            .steal_from_siblings(&shared, BACKLOG_STEAL_MIN)
            .is_none());
    }
    // A backlog, seen for the first time after the sibling started a poll: left alone.
    for _ in 0..3 {
        victim.push(task());
    }
    started.store(1, Relaxed);
    assert!(
        thief
            .steal_from_siblings(&shared, BACKLOG_STEAL_MIN)
            .is_none(),
        "took the backlog of a sibling that had just started a poll"
    );
    // The sibling goes on polling between the thief's looks: still left alone.
    for n in 2..10 {
        started.store(n, Relaxed);
        assert!(
            thief
                .steal_from_siblings(&shared, BACKLOG_STEAL_MIN)
                .is_none(),
            "took the backlog of a sibling making progress"
        );
    }
    assert_eq!(victim.len(), 4, "the sibling kept its whole queue");
    // No poll started since the last look: the sibling is stuck, its backlog is taken.
    let first = thief.steal_from_siblings(&shared, BACKLOG_STEAL_MIN);
    assert!(first.is_some(), "left a stuck sibling's backlog alone");
    assert_eq!(
        thief.local.len() + 1 + victim.len(),
        4,
        "the tasks were moved, none lost"
    );
    assert!(victim.len() < 4);
    drop(first);
    while thief.local.pop().is_some() {}
    while victim.pop().is_some() {}
    drop(thief);
}

/// A worker that wakes only for its own timers never reads the CPUs' load (`contention.rs`):
/// the read would delay the task the timer woke. Its sibling stays parked throughout (a timer
/// wakes one task, no surplus to weigh), so no other path reads it either.
#[test]
fn a_worker_woken_only_by_its_timers_never_reads_the_cpus_load() {
    use std::time::Duration;
    fn last_checked() -> u64 {
        crate::scheduler::multi::with_current_shared(|s| s.contention.last_checked_ns())
    }
    let rt = crate::Builder::new_multi_thread()
        .worker_threads(2)
        .stay_behind_busy_siblings(true)
        .build()
        .unwrap();
    let (before, after) = rt
        .block_on(rt.spawn(async {
            // Let the sibling park first: parking beside a running worker reads the load.
            kiln_timer::sleep(Duration::from_millis(50)).await;
            let before = last_checked();
            for _ in 0..200 {
                kiln_timer::sleep(Duration::from_micros(500)).await;
            }
            (before, last_checked())
        }))
        .unwrap();
    assert_eq!(before, after, "a timer-only worker read the CPUs' load");
}
