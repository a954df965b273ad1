//! The watchdog: one light thread per observed runtime.
//!
//! Every [`Observer::period`] it ticks the coarse clock, then (with a stall threshold) reads
//! each worker's probe:
//! 1. A poll is in progress ([`WorkerProbe::current_poll`]: its number and task, read as one
//!    poll's, see `observe`'s module docs) and the watchdog saw the same number on its
//!    previous tick, so the poll has run at least one period: it looks the task up in the
//!    owned list (under the shard's lock, so the task cannot be freed meanwhile) and reads the
//!    poll's start from the task's record. If the poll still runs and has run longer than the
//!    threshold, it logs id, name, spawn location, worker and elapsed time, and remembers the
//!    report.
//! 2. A reported poll is no longer in progress (the worker's number moved on, or it is between
//!    polls): it logs that the poll returned, with the total from the poll's start to this
//!    tick, so the total is late by at most one period. The worker's poll path pays nothing for
//!    this.
//! 3. The worker is not parked and its loop last turned more than the threshold ago: it logs
//!    that once per stuck turn (`turn_reported`).
//!
//! A poll seen on one tick only costs the watchdog two reads of its probe; the lookup is for
//! polls that outlast a period. A report is diagnostics and never affects scheduling. When the
//! runtime shuts down, a reported poll that has not been seen to return is logged once more,
//! as not seen to return before the shutdown.
//!
//! The thread holds the runtime only weakly and exits once the runtime is shut down or gone.

use super::{now_ns, Observer, WorkerProbe, PARKED};
use crate::cell::owned::OwnedTasks;
use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::scheduler::Scheduler;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What the watchdog needs of a runtime's shared state.
pub(crate) trait Watched: Send + Sync {
    fn owned(&self) -> &OwnedTasks;
    fn is_shutdown(&self) -> bool;
}

impl Watched for crate::scheduler::multi::Shared {
    fn owned(&self) -> &OwnedTasks {
        &self.owned
    }
    fn is_shutdown(&self) -> bool {
        crate::scheduler::multi::Shared::is_shutdown(self)
    }
}

impl Watched for crate::scheduler::current::Shared {
    fn owned(&self) -> &OwnedTasks {
        &self.owned
    }
    fn is_shutdown(&self) -> bool {
        crate::scheduler::current::Shared::is_shutdown(self)
    }
}

/// Starts the watchdog of the runtime behind `sched`, if its observer is active.
pub(crate) fn start(sched: &Scheduler) -> std::io::Result<()> {
    let observer = sched.observer().clone();
    if !observer.is_active() {
        return Ok(());
    }
    let weak: Weak<dyn Watched> = match sched {
        Scheduler::Multi(s) => Arc::downgrade(s) as Weak<dyn Watched>,
        Scheduler::Current(s) => Arc::downgrade(s) as Weak<dyn Watched>,
    };
    std::thread::Builder::new()
        .name("kiln-watchdog".into())
        .spawn(move || run(&observer, &weak))?;
    Ok(())
}

fn run(observer: &Observer, runtime: &Weak<dyn Watched>) {
    let period = observer.period();
    let mut polls: Vec<PollWatch> = observer
        .workers
        .iter()
        .map(|_| PollWatch::default())
        .collect();
    loop {
        std::thread::sleep(period);
        let rt = runtime.upgrade().filter(|rt| !rt.is_shutdown());
        let Some(rt) = rt else {
            for (probe, watch) in observer.workers.iter().zip(&mut polls) {
                if let Some(stall) = watch.reported.take() {
                    stall.log_shutdown(probe);
                }
            }
            return;
        };
        observer.tick();
        if let Some(threshold) = observer.settings.stall_threshold {
            for (probe, watch) in observer.workers.iter().zip(&mut polls) {
                watch.check(observer, probe, rt.owned(), threshold);
                check_loop(observer, probe, threshold);
            }
        }
    }
}

/// What the watchdog knows of one worker's polls between ticks.
#[derive(Default)]
struct PollWatch {
    /// The number of the poll in progress at the previous tick (0: none).
    seen: u64,
    /// The poll it reported as stalled, until it is seen to have returned.
    reported: Option<Stall>,
}

/// A reported poll.
struct Stall {
    number: u64,
    task: u64,
    name: Option<String>,
    at: String,
    /// The coarse clock at the poll's start.
    started: u64,
}

impl PollWatch {
    fn check(
        &mut self,
        observer: &Observer,
        probe: &WorkerProbe,
        owned: &OwnedTasks,
        threshold: Duration,
    ) {
        let current = probe.current_poll();
        if let Some(stall) = self
            .reported
            .take_if(|s| current.map_or(true, |(n, _)| n != s.number))
        {
            stall.log_over(probe, observer.coarse_now(), observer.period());
        }
        let Some((n, task)) = current else {
            self.seen = 0;
            return;
        };
        if std::mem::replace(&mut self.seen, n) != n || self.reported.is_some() {
            return;
        }
        let Some((name, at, started)) = owned.with_task(task, |t| {
            let h = t.header();
            (
                h.diag.name().map(str::to_owned),
                h.spawned_at().to_string(),
                h.diag.last_poll(),
            )
        }) else {
            return;
        };
        // The poll may have returned (and the task completed) since we read the probe; if not,
        // the record's last poll is this poll's start (stored before its number was published).
        if probe.current_poll() != Some((n, task)) || started == 0 {
            return;
        }
        let elapsed = Duration::from_nanos(observer.coarse_now().saturating_sub(started));
        if elapsed < threshold {
            return;
        }
        log::warn!(
            "kiln: stall: task {task}{} (spawned at {at}) has been running for {elapsed:?} in \
             one poll on worker {}, over the {threshold:?} stall threshold; every task queued \
             on this worker waits (move blocking code to kiln::spawn_blocking)",
            Name(name.as_deref()),
            probe.index
        );
        self.reported = Some(Stall {
            number: n,
            task,
            name,
            at,
            started,
        });
    }
}

impl Stall {
    /// Logs that the poll returned, seen at the tick of coarse time `now` (ticks `period`
    /// apart).
    fn log_over(&self, probe: &WorkerProbe, now: u64, period: Duration) {
        let total = Duration::from_nanos(now.saturating_sub(self.started));
        log::warn!(
            "kiln: stall over: task {}{} (spawned at {}) returned from its poll on worker {} \
             after {total:?} in total (seen at the watchdog's next tick, every {period:?})",
            self.task,
            Name(self.name.as_deref()),
            self.at,
            probe.index
        );
    }

    /// Logs that the runtime shut down before the poll was seen to return.
    fn log_shutdown(&self, probe: &WorkerProbe) {
        let since = Duration::from_nanos(now_ns().saturating_sub(self.started));
        log::warn!(
            "kiln: stall: the runtime shut down before task {}{} (spawned at {}) was seen to \
             return from the poll it began on worker {} {since:?} ago",
            self.task,
            Name(self.name.as_deref()),
            self.at,
            probe.index
        );
    }
}

fn check_loop(observer: &Observer, probe: &WorkerProbe, threshold: Duration) {
    let turned = probe.turned.load(Relaxed);
    if turned == PARKED || turned == 0 || probe.turn_reported.load(Relaxed) == turned {
        return;
    }
    let elapsed = Duration::from_nanos(observer.coarse_now().saturating_sub(turned));
    if elapsed < threshold {
        return;
    }
    log::warn!(
        "kiln: stall: worker {}'s event loop has not turned for {elapsed:?}, over the \
         {threshold:?} stall threshold; its sockets and timers are not being serviced",
        probe.index
    );
    probe.turn_reported.store(turned, Relaxed);
}

/// ` 'name'` or nothing.
struct Name<'a>(Option<&'a str>);

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, " '{n}'"),
            None => Ok(()),
        }
    }
}
