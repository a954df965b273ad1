//! Test support on the current-thread flavor: paused time (`Builder::start_paused`) and a
//! reproducible task order (`Builder::rng_seed`). The builder methods live with the builder
//! (`builder/testing.rs`); this module holds what the schedulers use.
//!
//! # Auto-advance (paused time)
//! The current-thread runtime reads time from a `kiln_timer::PausableClock`. While it is
//! paused, the scheduler never waits for a timer in real time. When it runs out of work it
//! applies this rule, in this order, each time:
//! 1. A blocking job (`spawn_blocking`, the `fs` operations) of this runtime is still queued or
//!    running: wait in real time, up to [`PAUSED_JOB_POLL`], for a wake-up or an I/O event,
//!    and look again. The clock does not move while such a job may still wake a task.
//! 2. Poll I/O without waiting, dispatch its events and fire due timers. If that, or a wake-up
//!    from another thread, made any task (or the `block_on` future) ready, run it.
//! 3. Otherwise every task is idle: the clock jumps to the next timer deadline, and the timers
//!    due then fire.
//! 4. With no timer pending either, wait (in real time) for I/O or a wake-up from another
//!    thread.
//!
//! I/O readiness is only *polled* before a jump, never waited for: a socket whose peer is
//! slow in real time (another process, a thread outside the runtime) does not hold the clock,
//! so a `timeout` around such a read fires at once once nothing else can run. The jobs count
//! is read before the queues, and a job wakes its task before it counts as finished, so a
//! job's wake-up is never missed by step 3.
//!
//! # Seeded order
//! With a seed, each time the scheduler takes a task it takes one chosen by a small PRNG
//! (splitmix64) among every ready task, remote wake-ups included; the same seed and the same
//! program give the same order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a paused runtime waits in real time, with blocking jobs in flight, before it
/// looks again (rule 1 in the module docs).
pub(crate) const PAUSED_JOB_POLL: Duration = Duration::from_millis(1);

/// The testing options of a `Builder`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TestOptions {
    pub(crate) start_paused: bool,
    pub(crate) rng_seed: Option<u64>,
}

/// splitmix64: a tiny, fast generator; only the order of ready tasks depends on it.
#[derive(Debug)]
pub(crate) struct SeededRng(u64);

impl SeededRng {
    pub(crate) fn new(seed: u64) -> SeededRng {
        SeededRng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        // Lemire's multiply-shift: unbiased enough for scheduling order.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// How many blocking jobs of one runtime are queued or running (rule 1 in the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct JobsInFlight(Arc<AtomicUsize>);

impl JobsInFlight {
    /// Counts a job until the guard drops; drop it only after the job's task is completed
    /// (or cancelled) and its JoinHandle woken.
    pub(crate) fn start(&self) -> JobGuard {
        // Relaxed: only the decrement publishes anything.
        self.0.fetch_add(1, Ordering::Relaxed);
        JobGuard(self.0.clone())
    }

    pub(crate) fn any(&self) -> bool {
        // Acquire pairs with the Release decrement in `JobGuard::drop`: every wake-up a
        // finished job made is visible to the queue checks that follow.
        self.0.load(Ordering::Acquire) != 0
    }
}

/// One job counted in [`JobsInFlight`].
#[derive(Debug)]
pub(crate) struct JobGuard(Arc<AtomicUsize>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        // Release pairs with the Acquire load in `JobsInFlight::any`.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::SeededRng;

    #[test]
    fn seeded_rng_is_reproducible_and_in_range() {
        let mut a = SeededRng::new(42);
        let mut b = SeededRng::new(42);
        let mut c = SeededRng::new(43);
        let xs: Vec<usize> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<usize> = (0..100).map(|_| b.below(10)).collect();
        let zs: Vec<usize> = (0..100).map(|_| c.below(10)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!(xs.iter().all(|&x| x < 10));
        // Every value turns up: the choice is spread over the whole range.
        assert!((0..10).all(|v| xs.contains(&v)));
    }
}
