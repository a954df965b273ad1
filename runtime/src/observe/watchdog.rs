//! The watchdog: one light thread per observed runtime.
//!
//! Every [`Observer::period`] it ticks the coarse clock, then (with a stall threshold) reads
//! each worker's probe:
//! 1. A poll is in progress ([`WorkerProbe::current_poll`]: its mark and task, read as one
//!    poll's, see `observe`'s module docs) and has run longer than the threshold (by the
//!    coarse start its mark carries), and its mark was not reported: it looks the task up in
//!    the owned list (under the shard's lock, so the task cannot be freed meanwhile), logs id,
//!    name, spawn location, worker and elapsed time, and stores that mark in `reported`. The
//!    runner compares `reported` with its own mark when the poll returns and, if equal, logs
//!    the total from the start its mark carries.
//! 2. The worker is not parked and its loop last turned more than the threshold ago: it logs
//!    that once per stuck turn (`turn_reported`).
//!
//! A later poll may begin while the watchdog reads, so it re-reads the mark after the task and
//! skips the worker if it moved; a report is diagnostics and never affects
//! scheduling.
//!
//! The thread holds the runtime only weakly and exits once the runtime is shut down or gone.

use super::{now_ns, Observer, PollMark, WorkerProbe, PARKED};
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
    loop {
        std::thread::sleep(period);
        let Some(rt) = runtime.upgrade() else { return };
        if rt.is_shutdown() {
            return;
        }
        observer.tick();
        if let Some(threshold) = observer.settings.stall_threshold {
            for probe in observer.workers.iter() {
                check_poll(observer, probe, rt.owned(), threshold);
                check_loop(observer, probe, threshold);
            }
        }
    }
}

fn check_poll(observer: &Observer, probe: &WorkerProbe, owned: &OwnedTasks, threshold: Duration) {
    let Some((mark, task)) = probe.current_poll() else {
        return;
    };
    if probe.reported.load(Relaxed) == mark.0 {
        return;
    }
    let elapsed = mark.elapsed(observer.coarse_now());
    if elapsed < threshold {
        return;
    }
    let who = owned.with_task(task, |t| {
        let h = t.header();
        (h.diag.name().map(str::to_owned), h.spawned_at())
    });
    // The poll may have returned (and the task completed) since we read the probe.
    if probe.mark.load(Relaxed) != mark.0 || probe.task.load(Relaxed) != task {
        return;
    }
    let (name, at) = match &who {
        Some((name, at)) => (Name(name.as_deref()), at.to_string()),
        None => (Name(None), "an unknown location".to_string()),
    };
    log::warn!(
        "kiln: stall: task {task}{name} (spawned at {at}) has been running for {elapsed:?} in \
         one poll on worker {}, over the {threshold:?} stall threshold; every task queued on \
         this worker waits (move blocking code to kiln::spawn_blocking)",
        probe.index
    );
    probe.reported.store(mark.0, Relaxed);
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

/// Called by the runner when a poll the watchdog reported returns.
#[cold]
#[inline(never)]
pub(crate) fn report_returned(
    probe: &WorkerProbe,
    header: &crate::cell::raw::Header,
    mark: PollMark,
) {
    let total = Duration::from_nanos(now_ns().saturating_sub(mark.started()));
    log::warn!(
        "kiln: stall over: task {}{} (spawned at {}) returned from its poll on worker {} after \
         {total:?} in total",
        header.id,
        Name(header.diag.name()),
        header.spawned_at(),
        probe.index
    );
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
