//! Unit tests of a worker's core: when it takes a sibling's backlog.

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
