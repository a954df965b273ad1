//! The watchdog: one light thread per observed runtime.
//!
//! Every [`Observer::period`] it ticks the coarse clock, then (with a stall threshold) reads
//! each worker's probe:
//! 1. A poll is in progress (`task != 0`). The runner stores no start time: the watchdog
//!    remembers, per worker, the (`seq`, `task`) pair it last saw and the coarse clock of the
//!    tick *before* the one that first saw it, which is when the poll started at the latest
//!    resolution of the clock (the value a start stamp taken by the runner would have had, or
//!    one period earlier). Once that poll has run longer than the threshold and its `seq` was
//!    not reported, it looks the task up in the owned list (under the shard's lock, so the
//!    task cannot be freed meanwhile), logs id, name, spawn location, worker and elapsed time,
//!    and stores the start in `stall_started`, then that `seq` in `reported` (Release). The
//!    runner compares `reported` with its own `seq` when the poll returns and, if equal, logs
//!    the total (reading `stall_started` after an Acquire fence).
//! 2. The worker is not parked and its loop last turned more than the threshold ago: it logs
//!    that once per stuck turn (`turn_reported`).
//!
//! The probe's fields are written with independent Relaxed stores, so the watchdog re-reads
//! `seq` after reading `task` and skips the worker if a new poll began meanwhile; a report is
//! diagnostics and never affects scheduling.
//!
//! The thread holds the runtime only weakly and exits once the runtime is shut down or gone.

use super::{now_ns, Observer, WorkerProbe, PARKED};
use crate::cell::owned::OwnedTasks;
use crate::loom::sync::atomic::{
    fence,
    Ordering::{Acquire, Relaxed, Release},
};
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

/// What the watchdog last saw of one worker's current poll (see the module docs).
#[derive(Clone, Copy, Default)]
struct Seen {
    seq: u64,
    task: u64,
    /// Coarse clock of the tick before the one that first saw this poll.
    since: u64,
}

fn run(observer: &Observer, runtime: &Weak<dyn Watched>) {
    let period = observer.period();
    let mut seen = vec![Seen::default(); observer.workers.len()];
    loop {
        std::thread::sleep(period);
        let Some(rt) = runtime.upgrade() else { return };
        if rt.is_shutdown() {
            return;
        }
        let prev_tick = observer.coarse_now();
        observer.tick();
        if let Some(threshold) = observer.settings.stall_threshold {
            for (probe, seen) in observer.workers.iter().zip(&mut seen) {
                check_poll(observer, probe, rt.owned(), threshold, seen, prev_tick);
                check_loop(observer, probe, threshold);
            }
        }
    }
}

fn check_poll(
    observer: &Observer,
    probe: &WorkerProbe,
    owned: &OwnedTasks,
    threshold: Duration,
    seen: &mut Seen,
    prev_tick: u64,
) {
    let seq = probe.seq.load(Relaxed);
    let task = probe.task.load(Relaxed);
    if task == 0 || probe.seq.load(Relaxed) != seq {
        return;
    }
    if (seen.seq, seen.task) != (seq, task) {
        *seen = Seen {
            seq,
            task,
            since: prev_tick,
        };
    }
    if probe.reported.load(Relaxed) == seq {
        return;
    }
    let started = seen.since;
    let elapsed = Duration::from_nanos(observer.coarse_now().saturating_sub(started));
    if elapsed < threshold {
        return;
    }
    let who = owned.with_task(task, |t| {
        let h = t.header();
        (h.diag.name().map(str::to_owned), h.spawned_at())
    });
    // The poll may have returned (and the task completed) since we read the probe.
    if probe.seq.load(Relaxed) != seq || probe.task.load(Relaxed) != task {
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
    probe.stall_started.store(started, Relaxed);
    probe.reported.store(seq, Release);
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
pub(crate) fn report_returned(probe: &WorkerProbe, header: &crate::cell::raw::Header) {
    // The runner read `reported` (Relaxed) equal to its `seq`: this fence makes the watchdog's
    // `stall_started`, stored before its Release store of `reported`, visible.
    fence(Acquire);
    let started = probe.stall_started.load(Relaxed);
    let total = Duration::from_nanos(now_ns().saturating_sub(started));
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
