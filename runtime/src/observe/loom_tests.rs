//! Loom model of the probe's publication of a poll to the watchdog
//! ([`WorkerProbe::begin_poll`] against [`WorkerProbe::current_poll`]): whatever the
//! interleaving, a reading names one real poll, with that poll's task and that poll's start,
//! never a later poll's identity with an earlier poll's start (which would make the watchdog
//! report a poll that has just begun as stalled, under another task's name).

use super::WorkerProbe;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::loom::sync::Arc;
use loom::thread;

/// Coarse starts of the model's polls (multiples of the probe's time unit, so they are kept
/// exactly) and the ids of the tasks they poll.
const POLLS: [(u64, u64); 2] = [(10 << 20, 1), (20 << 20, 2)];

#[test]
fn loom_watchdog_reads_one_polls_task_and_start() {
    loom::model(|| {
        // The identities `begin_poll` hands out for these polls, in order (the same on any
        // probe that starts fresh).
        let expected = {
            let p = WorkerProbe::new(0);
            POLLS.map(|(start, task)| p.begin_poll(start, task))
        };
        let probe = Arc::new(WorkerProbe::new(0));
        let worker = {
            let probe = probe.clone();
            thread::spawn(move || {
                // Each poll ends by clearing `task`, as `PollGuard` does.
                for (start, task) in POLLS {
                    probe.begin_poll(start, task);
                    probe.task.store(0, Relaxed);
                }
            })
        };
        if let Some((mark, task)) = probe.current_poll() {
            let i = POLLS
                .iter()
                .position(|&(_, t)| t == task)
                .unwrap_or_else(|| panic!("no task {task} was polled"));
            assert_eq!(
                mark.started(),
                POLLS[i].0,
                "task {task} paired with another poll's start"
            );
            assert_eq!(
                mark, expected[i],
                "task {task} paired with another poll's mark"
            );
        }
        worker.join().unwrap();
    });
}
