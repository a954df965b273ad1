//! The idle-thread ledger: which waiting threads are free to take a new job.
//!
//! # State
//!
//! One `AtomicU64` packs two counters so that every transition is a single CAS:
//!
//! - `waiting` (low 32 bits): pool threads currently blocked on the job queue (or about to be).
//!   Incremented by a thread just before it blocks ([`Idle::enter_wait`]); decremented by that
//!   same thread when it leaves the wait, for whatever reason.
//! - `claimed` (high 32 bits): waiting threads that a submitter has promised a job to. A
//!   submitter increments it ([`Idle::try_claim`]) *before* pushing its job on the queue, and only
//!   while `claimed < waiting`. A thread that leaves the wait with a job consumes one claim if any
//!   is outstanding ([`Idle::leave_with_job`]).
//!
//! # Invariants
//!
//! 1. `claimed <= waiting` at all times; every transition preserves it.
//! 2. `waiting - claimed` is the number of waiting threads no job has been promised to; only they
//!    may retire. A thread whose keep-alive timer fires while `claimed == waiting` stays
//!    ([`Retire::Stay`]): a job is on its way to some waiting thread and, from the ledger's point
//!    of view, that thread may be this one. This is what keeps a claimed job from being stranded
//!    by a thread retiring at the instant the job is queued.
//! 3. A claim is made before its job is queued, so a thread receiving that job always finds the
//!    claim (or an equal one) already counted.
//!
//! Claims are fungible: a thread that receives a job consumes *a* claim, not necessarily the one
//! made for that job. A job queued without a claim (the pool was at its thread cap) may consume a
//! claim whose job is still being pushed; that job then waits for the next free thread, which is
//! the behaviour a full pool has anyway.

use crate::loom::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

const WAITING_ONE: u64 = 1;
const CLAIMED_ONE: u64 = 1 << 32;
const LOW: u64 = u32::MAX as u64;

/// The largest number of threads the ledger can count.
pub(crate) const MAX_COUNT: usize = u32::MAX as usize;

/// What a thread whose keep-alive expired must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retire {
    /// The thread was unclaimed and has been removed from `waiting`: it may exit.
    Exit,
    /// Every waiting thread is claimed: keep waiting, a job is on its way.
    Stay,
}

/// The packed `waiting`/`claimed` word. See the module docs.
#[derive(Debug)]
pub(crate) struct Idle {
    state: AtomicU64,
}

fn waiting(s: u64) -> u64 {
    s & LOW
}

fn claimed(s: u64) -> u64 {
    s >> 32
}

impl Idle {
    pub(crate) fn new() -> Self {
        Idle {
            state: AtomicU64::new(0),
        }
    }

    /// A thread is about to block on the queue.
    pub(crate) fn enter_wait(&self) {
        // AcqRel: pairs with the CAS in `try_claim`, which must see this thread as waiting
        // before promising it a job.
        self.state.fetch_add(WAITING_ONE, AcqRel);
    }

    /// A submitter asks for an unclaimed waiting thread. On `true` the caller must queue its job.
    pub(crate) fn try_claim(&self) -> bool {
        // Relaxed initial load: the CAS below revalidates it.
        let mut s = self.state.load(Relaxed);
        loop {
            if claimed(s) >= waiting(s) {
                return false;
            }
            // AcqRel: pairs with `enter_wait` / `leave_*` so claims never exceed waiters.
            match self
                .state
                .compare_exchange_weak(s, s + CLAIMED_ONE, AcqRel, Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// The calling thread left the wait holding a job.
    pub(crate) fn leave_with_job(&self) {
        self.update(|s| {
            let c = if claimed(s) > 0 { CLAIMED_ONE } else { 0 };
            s - WAITING_ONE - c
        });
    }

    /// The calling thread left the wait because the pool is shutting down.
    pub(crate) fn leave_on_shutdown(&self) {
        self.update(|s| {
            let w = waiting(s) - 1;
            // Keep invariant 1: the queue is being discarded, so surplus claims are moot.
            let c = claimed(s).min(w);
            (c << 32) | w
        });
    }

    /// The calling thread's keep-alive expired while waiting.
    pub(crate) fn leave_on_timeout(&self) -> Retire {
        let mut s = self.state.load(Relaxed);
        loop {
            if claimed(s) >= waiting(s) {
                return Retire::Stay;
            }
            // AcqRel: pairs with `try_claim`; a claim that wins this race makes us stay.
            match self
                .state
                .compare_exchange_weak(s, s - WAITING_ONE, AcqRel, Relaxed)
            {
                Ok(_) => return Retire::Exit,
                Err(actual) => s = actual,
            }
        }
    }

    /// Threads currently waiting for a job (claimed or not).
    pub(crate) fn waiting(&self) -> usize {
        waiting(self.state.load(Acquire)) as usize
    }

    fn update(&self, f: impl Fn(u64) -> u64) {
        let mut s = self.state.load(Relaxed);
        loop {
            debug_assert!(waiting(s) > 0, "leaving the wait without having entered it");
            match self.state.compare_exchange_weak(s, f(s), AcqRel, Relaxed) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    #[cfg(test)]
    fn snapshot(&self) -> (u64, u64) {
        let s = self.state.load(Acquire);
        (waiting(s), claimed(s))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn claim_needs_an_unclaimed_waiter() {
        let idle = Idle::new();
        assert!(!idle.try_claim());
        idle.enter_wait();
        assert!(idle.try_claim());
        assert!(!idle.try_claim());
        assert_eq!(idle.snapshot(), (1, 1));
        // Fully claimed: the keep-alive may not retire the thread.
        assert_eq!(idle.leave_on_timeout(), Retire::Stay);
        idle.leave_with_job();
        assert_eq!(idle.snapshot(), (0, 0));
    }

    #[test]
    fn unclaimed_waiter_retires() {
        let idle = Idle::new();
        idle.enter_wait();
        idle.enter_wait();
        assert!(idle.try_claim());
        assert_eq!(idle.leave_on_timeout(), Retire::Exit);
        assert_eq!(idle.snapshot(), (1, 1));
        assert_eq!(idle.leave_on_timeout(), Retire::Stay);
    }

    #[test]
    fn job_without_claim_leaves_claims_alone() {
        let idle = Idle::new();
        idle.enter_wait();
        idle.leave_with_job();
        assert_eq!(idle.snapshot(), (0, 0));
        assert_eq!(idle.waiting(), 0);
    }

    #[test]
    fn shutdown_keeps_claims_below_waiters() {
        let idle = Idle::new();
        idle.enter_wait();
        idle.enter_wait();
        assert!(idle.try_claim());
        assert!(idle.try_claim());
        idle.leave_on_shutdown();
        assert_eq!(idle.snapshot(), (1, 1));
        idle.leave_on_shutdown();
        assert_eq!(idle.snapshot(), (0, 0));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::Arc;
    use loom::thread;

    /// A submitter's claim racing a keep-alive expiry: either the claim wins and the thread
    /// stays to take the job, or the thread retires first and the claim fails (the submitter
    /// then starts a thread). Never both a successful claim and a retirement.
    #[test]
    fn loom_claim_races_retirement() {
        loom::model(|| {
            let idle = Arc::new(Idle::new());
            idle.enter_wait();
            let i2 = idle.clone();
            let submitter = thread::spawn(move || i2.try_claim());
            let retired = idle.leave_on_timeout() == Retire::Exit;
            let claimed = submitter.join().unwrap();
            assert!(claimed != retired, "claimed={claimed} retired={retired}");
            if claimed {
                idle.leave_with_job();
            }
            assert_eq!(idle.snapshot(), (0, 0));
        });
    }

    /// Two submitters and two waiters that each take a job: claims never exceed waiters and the
    /// ledger returns to empty.
    #[test]
    fn loom_claims_never_exceed_waiters() {
        loom::model(|| {
            let idle = Arc::new(Idle::new());
            idle.enter_wait();
            let i2 = idle.clone();
            let waiter = thread::spawn(move || {
                i2.enter_wait();
                let (w, c) = i2.snapshot();
                assert!(c <= w);
            });
            let a = idle.try_claim();
            let b = idle.try_claim();
            waiter.join().unwrap();
            assert!(a, "one waiter was there from the start");
            let (w, c) = idle.snapshot();
            assert_eq!(w, 2);
            assert_eq!(c, 1 + b as u64);
            idle.leave_with_job();
            idle.leave_with_job();
            assert_eq!(idle.snapshot(), (0, 0));
        });
    }
}
