//! Whether every CPU already has a runnable thread: the hint that makes a worker patient with
//! surplus from its driver before it wakes a sleeping sibling (`surplus.rs`), and that makes a
//! worker about to park while a sibling runs tasks follow or stay behind that sibling quietly
//! instead of watching its sockets (`crate::driver::Peers::scan_io`).
//!
//! A woken sibling helps only if a CPU is free for it. When every CPU already has a runnable
//! thread, it waits for one, or takes one from a thread the runtime's work depends on (a client
//! on the same machine, the worker that would have run the tasks anyway): the work only moves,
//! and pays for a wake-up, a context switch and a cache transfer on the way.
//!
//! The count comes from [`crate::sys::runnable_threads`] (Linux: `/proc/loadavg`, which counts
//! the calling worker too), so all CPUs are taken when it is at least the CPU count. Reading it
//! costs a file read, so the hint is refreshed at most every [`CHECK_EVERY`], by whichever
//! worker finds it due first, and only where a decision reads it: when a harvest of a worker's
//! driver leaves surplus to weigh (if the patience is not zero or workers may stay behind
//! busy siblings; for a batch of timers only if the patience is not zero), and when a worker
//! about to park finds a sibling running tasks. A worker that only wakes for its own timers
//! (one task at a time: no surplus) never reads it (the read would delay the tasks it woke).
//! It is only a hint: a stale value makes a worker wake a sibling at once, or after the
//! patience at the latest, or follow a sibling for at most one recheck interval. Where the
//! count is unknown (the portable build), the CPUs count as free: siblings are woken at once,
//! and parked workers watch busy siblings.
//!
//! Protocol: a refresh is claimed by a compare-exchange on `checked_ns`, so one worker reads the
//! count per period; `runnable` is a Relaxed value that orders nothing.
//!
//! Two questions read the same count, which includes the worker that read it (running then):
//! - a running worker deciding whether to wake a sibling ([`Contention::contended`]): the
//!   sibling finds no free CPU once the runnable threads fill every CPU;
//! - a worker about to park ([`Contention::oversubscribed_now`]): a later wake-up of its own
//!   finds no free CPU only if the *other* runnable threads fill every CPU, one more than the
//!   first question's bar.
//!
//! # Staying
//! With `Builder::stay_behind_busy_siblings`, a third question separates the runtime's own
//! workers from the rest: each reading also counts the workers not parked at the time, and the
//! runnable threads besides them are the *others* (a client, a load generator, other programs).
//! That count moves only after [`OTHERS_STEADY`] readings in a row differ from it, so a client
//! that blocks now and then for a round trip does not flip it. When the others leave at least
//! one CPU and the running workers take every CPU they leave ([`Contention::no_cpu_left_by`]),
//! a woken worker would only take turns with a running one: then a running worker keeps surplus
//! from its driver (`Shared::surplus_patience`), and a worker about to park beside a busy
//! sibling stays behind it (`Recheck::Stay`, `crate::driver` `follow.rs`). When the others
//! alone fill every CPU, workers wake and park as usual: the OS shares the CPUs among runnable
//! threads, and a runtime that kept workers asleep there would only get less of them.

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How long surplus from a worker's driver may wait before a sibling is woken for it
/// (`Shared::surplus_patience`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Patience {
    /// Not at all: a sibling is woken at once.
    None,
    /// This long: `Builder::sibling_wake_patience`, while every CPU is taken.
    For(Duration),
    /// As long as the running workers take every CPU that other threads leave, except for a
    /// batch of timers (`Builder::stay_behind_busy_siblings`; "Staying" above).
    Staying,
}

/// The shortest time between two readings of the count.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(2);

/// See the module documentation.
pub(super) struct Contention {
    /// The zero of `checked_ns`.
    base: Instant,
    /// When the count was last read, in ns since `base`.
    checked_ns: AtomicU64,
    /// The system's runnable threads at the last refresh (0: unknown, or not read yet).
    runnable: AtomicUsize,
    /// How many refreshes in a row found the CPUs oversubscribed (see
    /// [`Contention::oversubscribed_now`]), at most [`OVERSUBSCRIBED_STREAK`].
    streak: AtomicUsize,
    /// The runnable threads besides the runtime's unparked workers, as [`OTHERS_STEADY`]
    /// readings in a row last agreed ([`UNKNOWN`] until they have).
    others: AtomicUsize,
    /// How many readings in a row have differed from `others`.
    others_contrary: AtomicUsize,
    /// The CPUs this process may run on.
    cpus: usize,
}

/// How many refreshes in a row must find every CPU taken besides the reader before a parking
/// worker counts the CPUs as oversubscribed: one read is a snapshot, and a client thread that
/// blocks and wakes at every round trip would make it say so now and then.
const OVERSUBSCRIBED_STREAK: usize = 3;

/// How many readings in a row must differ from the steady count of other runnable threads
/// before it moves: a client that blocks now and then for a round trip must not wake and park
/// a worker each time.
const OTHERS_STEADY: usize = 3;

/// `others` before it is known: no CPU counts as taken by other threads.
const UNKNOWN: usize = usize::MAX / 2;

/// A refresh this long after the previous one starts a new streak: readings in a row are
/// readings close together, not the last few of a runtime that rarely asks.
const STREAK_GAP: Duration = Duration::from_millis(20);

impl Contention {
    /// The hint of a runtime; counts the CPUs (`num_cpus` reads the affinity mask and cgroup
    /// files).
    pub(super) fn new() -> Contention {
        Contention {
            base: Instant::now(),
            checked_ns: AtomicU64::new(0),
            runnable: AtomicUsize::new(0),
            streak: AtomicUsize::new(0),
            others: AtomicUsize::new(UNKNOWN),
            others_contrary: AtomicUsize::new(0),
            cpus: num_cpus::get().max(1),
        }
    }

    /// The CPUs this process may run on, as counted when the hint was built.
    pub(super) fn cpus(&self) -> usize {
        self.cpus
    }

    /// Whether every CPU had a runnable thread at the last refresh.
    #[inline]
    pub(super) fn contended(&self) -> bool {
        all_taken(self.runnable.load(Relaxed), self.cpus)
    }

    /// Whether, besides the worker that read the count, every CPU had a runnable thread at
    /// each of the last [`OVERSUBSCRIBED_STREAK`] refreshes: a worker about to park would,
    /// once woken, wait for a CPU or take one from a running thread (module docs).
    pub(super) fn oversubscribed_now(&self) -> bool {
        self.streak.load(Relaxed) >= OVERSUBSCRIBED_STREAK
    }

    /// Whether a worker woken now would find no CPU that other threads leave free: the
    /// runnable threads besides the runtime's workers (as last steady) leave at least one CPU,
    /// and `active` running workers take every CPU they leave (module docs, "Staying").
    #[inline]
    pub(super) fn no_cpu_left_by(&self, active: usize) -> bool {
        let others = self.others.load(Relaxed);
        others < self.cpus && others + active >= self.cpus
    }

    /// Reads the count again if the last read is [`CHECK_EVERY`] old (one caller per period);
    /// `unparked`: how many of the runtime's workers are not parked now, the reader among
    /// them.
    pub(super) fn refresh(&self, now: Instant, unparked: usize) {
        let now_ns =
            u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX);
        let last = self.checked_ns.load(Relaxed);
        if now_ns.saturating_sub(last) < CHECK_EVERY.as_nanos() as u64 {
            return;
        }
        if self
            .checked_ns
            .compare_exchange(last, now_ns, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        let close = now_ns.saturating_sub(last) <= STREAK_GAP.as_nanos() as u64;
        let runnable = crate::sys::runnable_threads().unwrap_or(0);
        self.record(runnable, close);
        self.record_others(runnable, unparked);
    }

    /// Records a reading of `runnable` threads (0: unknown) taken while `unparked` workers ran
    /// (one refresher per period): `others` moves to it after [`OTHERS_STEADY`] readings in a
    /// row that differ from it.
    fn record_others(&self, runnable: usize, unparked: usize) {
        let reading = if runnable == 0 {
            UNKNOWN
        } else {
            runnable.saturating_sub(unparked)
        };
        if reading == self.others.load(Relaxed) {
            self.others_contrary.store(0, Relaxed);
            return;
        }
        let contrary = self.others_contrary.load(Relaxed) + 1;
        if contrary >= OTHERS_STEADY {
            self.others.store(reading, Relaxed);
            self.others_contrary.store(0, Relaxed);
        } else {
            self.others_contrary.store(contrary, Relaxed);
        }
    }

    /// Records a count of `runnable` threads (0: unknown) read by the refresher of a period;
    /// `close`: within [`STREAK_GAP`] of the previous reading.
    fn record(&self, runnable: usize, close: bool) {
        self.runnable.store(runnable, Relaxed);
        // One refresher per period (the claim in `refresh`), so a load and a store suffice.
        let streak = if all_taken(runnable.saturating_sub(1), self.cpus) {
            let before = if close { self.streak.load(Relaxed) } else { 0 };
            (before + 1).min(OVERSUBSCRIBED_STREAK)
        } else {
            0
        };
        self.streak.store(streak, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
impl Contention {
    /// Pins the hint at `contended` for good: no later refresh reads the count.
    pub(super) fn force(&self, contended: bool) {
        self.checked_ns.store(u64::MAX, Relaxed);
        let runnable = if contended { 2 * self.cpus + 1 } else { 0 };
        self.runnable.store(runnable, Relaxed);
        let streak = if contended { OVERSUBSCRIBED_STREAK } else { 0 };
        self.streak.store(streak, Relaxed);
    }

    /// Pins the steady count of other runnable threads at `others` for good (with `force`'s
    /// pinned count).
    pub(super) fn force_others(&self, others: usize) {
        self.checked_ns.store(u64::MAX, Relaxed);
        self.others.store(others, Relaxed);
    }

    /// When a refresh last claimed a reading (0: never).
    pub(super) fn last_checked_ns(&self) -> u64 {
        self.checked_ns.load(Relaxed)
    }
}

/// Whether `runnable` threads leave no CPU of `cpus` free (0 threads: the count is unknown,
/// so the CPUs count as free).
fn all_taken(runnable: usize, cpus: usize) -> bool {
    runnable > 0 && runnable >= cpus
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn all_cpus_are_taken_once_runnable_threads_match_them() {
        assert!(
            !all_taken(1, 2),
            "the caller alone leaves a CPU of two free"
        );
        assert!(all_taken(2, 2));
        assert!(all_taken(5, 2));
        assert!(all_taken(1, 1), "one CPU is always taken by the caller");
        assert!(!all_taken(3, 16));
        assert!(!all_taken(0, 1), "an unknown count leaves the CPUs free");
    }

    #[test]
    fn the_cpus_are_oversubscribed_after_a_streak_of_counts_that_fill_them_besides_the_reader() {
        let c = Contention::new();
        // No refresh reads the system's count in this test.
        c.checked_ns.store(u64::MAX, Relaxed);
        let over = c.cpus + 1;
        for _ in 1..OVERSUBSCRIBED_STREAK {
            c.record(over, true);
            assert!(c.contended());
            assert!(!c.oversubscribed_now(), "one snapshot is not a streak");
        }
        c.record(over, true);
        assert!(c.oversubscribed_now());
        // A count that leaves a CPU free besides the reader ends the streak.
        c.record(c.cpus, true);
        assert!(c.contended(), "the reader fills the last CPU");
        assert!(!c.oversubscribed_now());
        c.record(over, true);
        assert!(!c.oversubscribed_now(), "the streak starts again");
        c.record(over, true);
        c.record(over, false);
        assert!(
            !c.oversubscribed_now(),
            "a reading long after the previous one starts a new streak"
        );
        c.record(0, true);
        assert!(!c.contended(), "an unknown count leaves the CPUs free");
    }

    /// The count of other runnable threads moves only after three readings in a row differ
    /// from it; a worker then finds no CPU left once the running workers fill what the others
    /// leave, and never while the others alone fill every CPU.
    #[test]
    fn no_cpu_is_left_once_running_workers_fill_what_steady_other_threads_leave() {
        let c = Contention::new();
        let cpus = c.cpus;
        // One other thread beside one running worker, read three times.
        c.record_others(2, 1);
        c.record_others(2, 1);
        assert!(
            !c.no_cpu_left_by(cpus),
            "unknown until three readings agree"
        );
        c.record_others(2, 1);
        assert_eq!(c.others.load(Relaxed), 1);
        assert_eq!(c.no_cpu_left_by(cpus - 1), cpus > 1);
        if cpus >= 2 {
            assert!(
                !c.no_cpu_left_by(cpus - 2),
                "a CPU is free for one more worker"
            );
        }
        // The client blocks for one reading, then two: still one other thread.
        c.record_others(1, 1);
        c.record_others(2, 1);
        c.record_others(1, 1);
        c.record_others(1, 1);
        assert_eq!(c.others.load(Relaxed), 1, "two readings are not a change");
        c.record_others(1, 1);
        assert_eq!(c.others.load(Relaxed), 0, "three are");
        assert!(
            !c.no_cpu_left_by(cpus - 1),
            "a CPU is free for one more worker"
        );
        assert!(c.no_cpu_left_by(cpus));
        // Other threads that fill every CPU: workers compete for CPUs with them as usual.
        for _ in 0..OTHERS_STEADY {
            c.record_others(cpus + 2, 1);
        }
        assert_eq!(c.others.load(Relaxed), cpus + 1);
        assert!(!c.no_cpu_left_by(1));
        // An unknown count leaves a CPU for every worker.
        for _ in 0..OTHERS_STEADY {
            c.record_others(0, 1);
        }
        assert!(!c.no_cpu_left_by(usize::MAX / 4));
    }

    #[test]
    fn a_refresh_is_taken_at_most_once_per_period() {
        let c = Contention::new();
        let t = c.base + CHECK_EVERY;
        c.refresh(t, 1);
        let first = c.checked_ns.load(Relaxed);
        assert_eq!(first, CHECK_EVERY.as_nanos() as u64);
        c.refresh(t + CHECK_EVERY / 2, 1);
        assert_eq!(
            c.checked_ns.load(Relaxed),
            first,
            "refreshed again within the period"
        );
        c.refresh(t + CHECK_EVERY, 1);
        assert_eq!(c.checked_ns.load(Relaxed), first * 2);
    }
}
