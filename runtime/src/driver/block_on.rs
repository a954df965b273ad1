//! A `block_on` thread waits for its own timers (multi-thread flavor).
//!
//! A future run by `Runtime::block_on` registers its timers on the runtime's outside driver,
//! a worker's (see `peers.rs`, "Placement"). Left to that worker, each timer costs two
//! wake-ups in series: the worker wakes at the deadline (or is woken to re-plan its wait when
//! the timer is armed, or has its wake-up timer re-armed, `mod.rs`, "Timer wake-ups"), fires
//! the timer, and its waker wakes the `block_on` thread. The second wake-up's latency is
//! lateness, and both cost CPU time.
//!
//! So the `block_on` thread waits for its own timers ([`BlockOnWait`], through
//! `kiln_timer::WaitHere`): a timer it arms that the parked worker's wait does not cover
//! leaves the worker asleep, and the thread bounds its own park by that deadline
//! (`thread::park_timeout`; from its first wait until `block_on` returns it asks for the
//! workers' short time slice, `Builder::worker_time_slice`, and from its first timed wait its
//! timer slack is 1 ns, so that its wake-up is as prompt as a worker's on a busy machine; both
//! restored after, and no system call made for them if the future never waits), then fires
//! what is due on that driver itself: one wake-up per timer, and the worker sleeps on. A timer
//! armed while the worker is awake stays the worker's (its next wait covers it). When
//! `block_on` returns, timers the thread armed and left pending (a sleep moved into a task) go
//! back to the worker, which is woken to re-plan.
//!
//! In precise mode (`Builder::timer_spin_limit` above zero) the thread also spins, as a
//! worker does (`spin.rs`): it parks until `deadline - slack`, then spins until its waker is
//! woken or the deadline passes, and fires the timer; `slack` is learned the same way (a
//! decaying maximum of how late its timed parks woke, capped by the spin limit), and the same
//! contention check stops the spin while the CPUs are oversubscribed. The cost is CPU time,
//! up to `slack` per deadline of this thread's timers.

use super::spin::Spin;
use super::DriverHandle;
use crate::loom::sync::atomic::{AtomicBool, Ordering::Acquire};
use crate::loom::thread::{park, park_timeout};
use std::time::{Duration, Instant};

/// A `block_on` thread's waits (see the module docs). Lives for one `block_on` call on its
/// thread.
pub(crate) struct BlockOnWait {
    /// What its waits changed on the thread, given back on drop (first, before `here` hands
    /// pending timers back).
    borrowed: Borrowed,
    here: kiln_timer::WaitHere,
    spin: Spin,
    /// The workers' time slice, which the thread borrows from its first wait on.
    slice: Duration,
}

/// The settings a `block_on` thread borrows for its waits, each at the first wait that needs
/// it, and gives back on drop.
#[derive(Default)]
struct Borrowed {
    /// Whether the time slice was asked for (at the first wait).
    slice_taken: bool,
    /// The thread's scheduling settings before, if the request changed them.
    sched: Option<crate::sys::SavedSched>,
    /// Whether the 1 ns timer slack was asked for (at the first timed wait).
    slack_taken: bool,
    /// The thread's timer slack before, if it was changed.
    slack: Option<u64>,
}

impl Borrowed {
    /// The workers' time slice `slice` (zero: the thread's own), for any wait: it makes the
    /// wake-up that ends the wait prompt.
    fn time_slice(&mut self, slice: Duration) {
        if !self.slice_taken {
            self.slice_taken = true;
            self.sched = crate::sys::borrow_time_slice(slice);
        }
    }

    /// A 1 ns timer slack, for a timed wait (the slack delays only timed wake-ups).
    fn timer_slack(&mut self) {
        if !self.slack_taken {
            self.slack_taken = true;
            self.slack = crate::sys::park::timer_slack().filter(|&ns| ns != 1);
            if self.slack.is_some() {
                crate::sys::park::set_timer_slack(1);
            }
        }
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        if let Some(ns) = self.slack {
            crate::sys::park::set_timer_slack(ns);
        }
        if let Some(saved) = self.sched.take() {
            crate::sys::restore_sched(saved);
        }
    }
}

impl BlockOnWait {
    /// Waits of a `block_on` thread whose timers go to `driver`, spinning at most `limit`
    /// before a deadline (zero: never), with the workers' time slice `slice` (zero: the
    /// thread's own). Changes nothing on the thread until it waits: a future that is ready at
    /// once costs no system call.
    pub(crate) fn new(driver: &DriverHandle, limit: Duration, slice: Duration) -> BlockOnWait {
        BlockOnWait {
            borrowed: Borrowed::default(),
            here: driver.timer.handle().wait_here(),
            spin: Spin::new(limit),
            slice,
        }
    }

    /// One wait of the `block_on` thread: until `woken` is set, at most until the deadline of
    /// its own earliest timer, which it then fires. The caller re-checks `woken` after it (a
    /// return without it set is a spurious wake-up).
    pub(crate) fn park(&mut self, woken: &AtomicBool) {
        self.borrowed.time_slice(self.slice);
        let Some(deadline) = self.here.next_wake() else {
            park();
            return;
        };
        self.borrowed.timer_slack();
        let now = Instant::now();
        if deadline <= now {
            self.here.fire_due();
            return;
        }
        if !(self.spin.enabled() && self.spin.uncontended(now)) {
            park_timeout(deadline - now);
            return;
        }
        let wake_at = deadline.checked_sub(self.spin.slack()).unwrap_or(now);
        if wake_at > now {
            park_timeout(wake_at - now);
            let woke = Instant::now();
            // Acquire: pairs with the waker's AcqRel swap (only a hint here; the caller's
            // swap orders its poll).
            if !woken.load(Acquire) && woke >= wake_at {
                self.spin.observe(woke - wake_at);
            }
            return;
        }
        // Within the slack: spin until woken or due, then fire.
        while !woken.load(Acquire) {
            if Instant::now() >= deadline {
                self.here.fire_due();
                return;
            }
            std::hint::spin_loop();
        }
    }
}
