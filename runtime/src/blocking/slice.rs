//! A blocking-pool thread that runs CPU-bound jobs asks the OS for a long time slice while it
//! does (`Builder::blocking_cpu_slice`), and for its base slice again once its jobs are short.
//!
//! Why: on Linux's EEVDF scheduler a thread's slice sets its virtual deadline, and among the
//! threads that are owed CPU time the one with the earliest deadline runs. Pool threads that
//! keep every CPU busy with long jobs have deadlines as early as a worker's, so a worker that
//! wakes for a timer or a socket waits behind them (measured beside a busy neighbour: a 1 ms
//! ticker's p99 at 3.7 ms with 64 CPU-bound jobs in flight). A long slice puts those threads'
//! deadlines far ahead without changing their CPU share. Given to every pool thread, it would
//! also delay the threads that run short jobs (a 50 µs job behind an HTTP route, a blocking
//! read that completed): each of them then waits for its turn instead of running at once. So
//! only a thread whose last job was CPU-bound keeps the long slice.
//!
//! Protocol, per thread (all state is the thread's own, in a thread-local):
//! - The pool's start hook sets the thread's policy ([`adopt`]): its base slice (zero: the OS
//!   default) and the long one. Threads without a policy run jobs untouched.
//! - The thread is in one of three states ([`State`]): `Base` (its last timed job was short),
//!   `Measuring` (its last job was long but not shown CPU-bound: a blocking call that waited,
//!   a short job preempted by a busy neighbour, or a first long job) and `Long` (its last job
//!   was CPU-bound). It holds the long slice in `Long` only.
//! - A job is *long* when it took at least [`CPU_BOUND`] of wall time, and *CPU-bound* when,
//!   besides, the thread's CPU clock was read before and after it and advanced by as much.
//!   In `Base`, one job in [`SAMPLE_EVERY`] is timed on the wall clock (the others only count
//!   down a thread-local counter: trivial jobs cost well under a microsecond, and two clock
//!   reads would be a tenth of that); in the other states every job is, and the CPU clock (a
//!   system call) is read around it too. So the wall clock alone never gives a thread the
//!   long slice (a short job preempted for a millisecond does not make its thread wait behind
//!   others on the next one), and a thread that turns to CPU-bound work gets it after at most
//!   [`SAMPLE_EVERY`] + 1 jobs.
//! - Switching is one read and one write of the thread's scheduling attributes, when the
//!   thread enters or leaves `Long`: once per change of the thread's kind of work, not per
//!   job.

use crate::sys;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// A job that runs at least this long (wall and, where measured, CPU time) is CPU-bound:
/// about the OS default slice on a small machine (0.75 ms scaled by the CPU count's log).
const CPU_BOUND: Duration = Duration::from_millis(1);

/// A thread in [`State::Base`] times one job in this many.
const SAMPLE_EVERY: u8 = 8;

/// What a pool thread's last job was (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Short: the next job is timed on the wall clock only.
    Base,
    /// Long, not shown CPU-bound: the next job's CPU time is read too.
    Measuring,
    /// CPU-bound: the thread holds the long slice, and the next job's CPU time is read.
    Long,
}

/// One pool thread's slices and its [`State`].
struct Slices {
    /// `(base, long)` as set by [`adopt`]; `None`: jobs run untouched.
    policy: Cell<Option<(Duration, Duration)>>,
    state: Cell<State>,
    /// Jobs a thread in [`State::Base`] runs untimed before it times one.
    skip: Cell<u8>,
}

thread_local! {
    static SLICES: Slices = const {
        Slices {
            policy: Cell::new(None),
            state: Cell::new(State::Base),
            skip: Cell::new(0),
        }
    };
}

/// Makes the calling pool thread switch to `long` after CPU-bound jobs and back to `base` (zero:
/// the OS default) after other jobs. A `long` of zero, or not longer than `base`, leaves its
/// jobs untouched.
pub(crate) fn adopt(base: Duration, long: Duration) {
    let policy = (long > base).then_some((base, long));
    SLICES.with(|s| {
        s.policy.set(policy);
        s.state.set(State::Base);
        s.skip.set(0);
    });
}

/// Runs `job` on this pool thread, then moves the thread to the [`State`] the job shows, and
/// switches its slice if it enters or leaves [`State::Long`] (see the module docs).
pub(super) fn run(job: impl FnOnce()) {
    let plan = SLICES.try_with(|s| {
        let (base, long) = s.policy.get()?;
        let state = s.state.get();
        if state == State::Base {
            let skip = s.skip.get();
            s.skip.set(skip.checked_sub(1).unwrap_or(SAMPLE_EVERY - 1));
            if skip != 0 {
                return None;
            }
        }
        Some((base, long, state))
    });
    let Ok(Some((base, long, state))) = plan else {
        return job();
    };
    let cpu_before = match state {
        State::Base => None,
        State::Measuring | State::Long => sys::thread_cpu_time(),
    };
    let started = Instant::now();
    job();
    let next = if started.elapsed() < CPU_BOUND {
        State::Base
    } else {
        let cpu = cpu_before.and_then(|b| Some(sys::thread_cpu_time()?.saturating_sub(b)));
        if cpu.is_some_and(|c| c >= CPU_BOUND) {
            State::Long
        } else {
            State::Measuring
        }
    };
    if (next == State::Long) != (state == State::Long) {
        sys::switch_time_slice(if next == State::Long { long } else { base });
    }
    if next != state {
        SLICES.with(|s| s.state.set(next));
    }
}

/// Whether the calling pool thread holds the long slice now (its last job was CPU-bound).
#[cfg(all(test, not(loom)))]
pub(crate) fn holds_long() -> bool {
    SLICES.with(|s| s.state.get() == State::Long)
}
