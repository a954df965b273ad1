//! Loom model of the probe's publication of a poll to the watchdog
//! ([`WorkerProbe::publish_poll`] against [`WorkerProbe::current_poll`]): whatever the
//! interleaving, a reading names one real poll with that poll's task, never a later poll's
//! task under an earlier poll's number (which would make the watchdog take a poll that has
//! just begun for one it saw on its previous tick, and report it under another task's name).

use super::WorkerProbe;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::loom::sync::Arc;
use loom::thread;

/// The tasks of the model's polls, in order: poll number `i + 1` polls `TASKS[i]`.
const TASKS: [u64; 2] = [1, 2];

#[test]
fn loom_watchdog_reads_one_polls_number_and_task() {
    loom::model(|| {
        let probe = Arc::new(WorkerProbe::new(0));
        let worker = {
            let probe = probe.clone();
            thread::spawn(move || {
                // Each poll ends by clearing `task`, as `PollGuard` does.
                for (i, task) in TASKS.into_iter().enumerate() {
                    probe.publish_poll(i as u64 + 1, task);
                    probe.task.store(0, Relaxed);
                }
            })
        };
        if let Some((n, task)) = probe.current_poll() {
            assert!(
                (1..=TASKS.len() as u64).contains(&n),
                "no poll number {n} was published"
            );
            assert_eq!(
                task,
                TASKS[n as usize - 1],
                "poll {n} paired with another poll's task"
            );
        }
        worker.join().unwrap();
    });
}
