//! `TaskTracker`: counting tasks, close, and waiting for all of them.

use kiln::task::TaskTracker;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn wait_returns_after_close_and_every_task_ended() {
    kiln::run(async {
        let tracker = TaskTracker::new();
        let done = Arc::new(AtomicUsize::new(0));
        for i in 0..50u64 {
            let done = done.clone();
            tracker.spawn(async move {
                kiln::time::sleep(Duration::from_millis(i % 7)).await;
                done.fetch_add(1, SeqCst);
            });
        }
        tracker.close();
        kiln::time::timeout(Duration::from_secs(30), tracker.wait())
            .await
            .expect("wait never returned");
        assert_eq!(done.load(SeqCst), 50);
        assert!(tracker.is_empty());
    });
}

#[test]
fn wait_blocks_while_open_even_with_no_tasks() {
    kiln::run(async {
        let tracker = TaskTracker::new();
        let r = kiln::time::timeout(Duration::from_millis(30), tracker.wait()).await;
        assert!(r.is_err(), "an open tracker must not complete wait");
        let waiter = {
            let t = tracker.clone();
            kiln::spawn(async move { t.wait().await })
        };
        kiln::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        tracker.close();
        kiln::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("close did not wake the waiter")
            .unwrap();
    });
}

#[test]
fn an_aborted_task_stops_counting() {
    kiln::run(async {
        let tracker = TaskTracker::new();
        let h = tracker.spawn(std::future::pending::<()>());
        tracker.close();
        assert_eq!(tracker.len(), 1);
        h.abort();
        kiln::time::timeout(Duration::from_secs(30), tracker.wait())
            .await
            .expect("the aborted task still counted");
    });
}

#[test]
fn reopen_makes_wait_block_again() {
    kiln::run(async {
        let tracker = TaskTracker::new();
        tracker.close();
        tracker.wait().await;
        tracker.reopen();
        let _h = tracker.spawn(kiln::time::sleep(Duration::from_millis(20)));
        tracker.close();
        kiln::time::timeout(Duration::from_secs(30), tracker.wait())
            .await
            .unwrap();
        assert!(tracker.is_empty());
    });
}
