//! Whether every CPU already has a runnable thread: the hint that makes a worker patient with
//! surplus from its driver before it wakes a sleeping sibling (`worker.rs`, "patience"), and
//! that makes a worker about to park while a sibling runs tasks follow that sibling quietly
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
//! worker finds it due first: at a maintenance tick when a patience is set, and when a worker
//! about to park finds a sibling running tasks. It is only a hint: a stale value makes a
//! worker wake a sibling at once, or after the patience at the latest, or follow a sibling
//! for at most one recheck interval. Where the count is unknown (the portable build), the CPUs
//! count as free: siblings are woken at once, and parked workers watch busy siblings.
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

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The longest a refreshed hint is kept before the next maintenance tick reads the count again.
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
    /// The CPUs this process may run on.
    cpus: usize,
}

/// How many refreshes in a row must find every CPU taken besides the reader before a parking
/// worker counts the CPUs as oversubscribed: one read is a snapshot, and a client thread that
/// blocks and wakes at every round trip would make it say so now and then.
const OVERSUBSCRIBED_STREAK: usize = 3;

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
    /// each of the last [`OVERSUBSCRIBED_STREAK`] refreshes (the hint refreshed first if it is
    /// [`CHECK_EVERY`] old): a worker about to park would, once woken, wait for a CPU or take
    /// one from a running thread (module docs).
    pub(super) fn oversubscribed_now(&self) -> bool {
        self.refresh(Instant::now());
        self.streak.load(Relaxed) >= OVERSUBSCRIBED_STREAK
    }

    /// Reads the count again if the last read is [`CHECK_EVERY`] old (one caller per period).
    pub(super) fn refresh(&self, now: Instant) {
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
        self.record(crate::sys::runnable_threads().unwrap_or(0), close);
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

    #[test]
    fn a_refresh_is_taken_at_most_once_per_period() {
        let c = Contention::new();
        let t = c.base + CHECK_EVERY;
        c.refresh(t);
        let first = c.checked_ns.load(Relaxed);
        assert_eq!(first, CHECK_EVERY.as_nanos() as u64);
        c.refresh(t + CHECK_EVERY / 2);
        assert_eq!(
            c.checked_ns.load(Relaxed),
            first,
            "refreshed again within the period"
        );
        c.refresh(t + CHECK_EVERY);
        assert_eq!(c.checked_ns.load(Relaxed), first * 2);
    }
}
