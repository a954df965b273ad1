//! Loom model of the probe's publication of a poll to the watchdog
//! ([`WorkerProbe::begin_poll`] against [`WorkerProbe::current_poll`]): a watchdog that sees a
//! task id running never pairs it with an earlier poll's start, which would make it report a
//! poll that has just begun as stalled.

use super::WorkerProbe;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::loom::sync::Arc;
use loom::thread;

#[test]
fn loom_watchdog_never_sees_an_earlier_polls_start() {
    loom::model(|| {
        let probe = Arc::new(WorkerProbe::new(0));
        let worker = {
            let probe = probe.clone();
            thread::spawn(move || {
                // Task 1 polled at coarse time 10, then task 2 at 20 (the runner's end of a
                // poll clears `task`, as `PollGuard` does).
                probe.begin_poll(10, 1);
                probe.task.store(0, Relaxed);
                probe.begin_poll(20, 2);
            })
        };
        if let Some((seq, task, started)) = probe.current_poll() {
            match task {
                1 => {
                    assert!(started >= 10, "task 1 paired with start {started}");
                    assert!(seq >= 1, "task 1 paired with seq {seq}");
                }
                2 => {
                    assert_eq!(started, 20, "task 2 paired with an earlier start");
                    assert_eq!(seq, 2);
                }
                other => panic!("no task {other} was polled"),
            }
        }
        worker.join().unwrap();
    });
}
