//! Whether every CPU already has a runnable thread: the hint that makes a worker patient with
//! surplus from its driver before it wakes a sleeping sibling (`worker.rs`, "patience").
//!
//! A woken sibling helps only if a CPU is free for it. When every CPU already has a runnable
//! thread, it waits for one, or takes one from a thread the runtime's work depends on (a client
//! on the same machine, the worker that would have run the tasks anyway): the work only moves,
//! and pays for a wake-up, a context switch and a cache transfer on the way.
//!
//! The count comes from [`crate::sys::runnable_threads`] (Linux: `/proc/loadavg`, which counts
//! the calling worker too), so all CPUs are taken when it is at least the CPU count. Reading it
//! costs a file read, so the hint is refreshed at most every [`CHECK_EVERY`], from the
//! maintenance tick of whichever worker finds it due first. It is only a hint: a stale value
//! makes a worker wake a sibling at once, or after the patience at the latest. Where the count
//! is unknown (the portable build), the CPUs count as free and siblings are woken at once, as
//! before this hint existed.
//!
//! Protocol: a refresh is claimed by a compare-exchange on `checked_ns`, so one worker reads the
//! count per period; `contended` is a Relaxed flag that orders nothing.

use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The longest a refreshed hint is kept before the next maintenance tick reads the count again.
pub(super) const CHECK_EVERY: Duration = Duration::from_millis(2);

/// See the module documentation.
pub(super) struct Contention {
    /// The zero of `checked_ns`.
    base: Instant,
    /// When the count was last read, in ns since `base`.
    checked_ns: AtomicU64,
    contended: AtomicBool,
    /// The CPUs this process may run on (read only if the hint is `used`).
    cpus: usize,
}

impl Contention {
    /// The hint of a runtime that will `use` it (a patience is set): only then does building
    /// it count the CPUs (`num_cpus` reads the affinity mask and cgroup files).
    pub(super) fn new(used: bool) -> Contention {
        Contention {
            base: Instant::now(),
            checked_ns: AtomicU64::new(0),
            contended: AtomicBool::new(false),
            cpus: if used { num_cpus::get().max(1) } else { 1 },
        }
    }

    /// Whether every CPU had a runnable thread at the last refresh.
    #[inline]
    pub(super) fn contended(&self) -> bool {
        self.contended.load(Relaxed)
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
        let taken = crate::sys::runnable_threads().is_some_and(|n| all_taken(n, self.cpus));
        self.contended.store(taken, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
impl Contention {
    /// Pins the hint at `contended` for good: no later refresh reads the count.
    pub(super) fn force(&self, contended: bool) {
        self.checked_ns.store(u64::MAX, Relaxed);
        self.contended.store(contended, Relaxed);
    }
}

/// Whether `runnable` threads (the caller among them) leave no CPU of `cpus` free.
fn all_taken(runnable: usize, cpus: usize) -> bool {
    runnable >= cpus
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
    }

    #[test]
    fn a_refresh_is_taken_at_most_once_per_period() {
        let c = Contention::new(true);
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
