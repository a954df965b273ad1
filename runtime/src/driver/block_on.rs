//! Precise mode on a `block_on` thread: it waits for its own timers as a worker does.
//!
//! A future run by `Runtime::block_on` (multi-thread flavor) registers its timers on the
//! runtime's outside driver, a worker's (see `peers.rs`, "Placement"). When one is due, that
//! worker wakes, fires it, and the timer's waker wakes the `block_on` thread: two wake-ups in
//! series, and the second one's latency (a futex wake-up, tens of microseconds, more on a
//! loaded machine) is lateness that the worker's spin (`spin.rs`) cannot remove.
//!
//! So in precise mode (`Builder::timer_spin_limit` above zero) the `block_on` thread plans
//! its own waits by that driver's next deadline ([`BlockOnWait::park`]): it parks until
//! `deadline - slack` (`thread::park_timeout`, with its timer slack lowered to 1 ns while it
//! runs the future, and restored after), then spins until its waker is woken or the deadline
//! passes, and then fires the driver's due timers itself ([`DriverHandle::process_due_timers`],
//! which any thread may call): its own timer wakes it at once, whichever of the two threads
//! gets there first. `slack` is learned as the worker's is (a decaying maximum of how late
//! its timed parks woke, capped by the spin limit), and the same contention checks stop the
//! spin while the CPUs are oversubscribed; then it parks until woken, as without precise mode.
//!
//! The cost is CPU time, up to `slack` per deadline of that driver on this thread too (the
//! worker spins up to the same deadline): a deadline of another task on the driver costs a
//! spin that finds nothing to wake.

use super::spin::Spin;
use super::DriverHandle;
use std::sync::atomic::{AtomicBool, Ordering::Acquire};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `block_on` thread's waits in precise mode (see the module docs). Thread-local to the
/// `block_on` call.
pub(crate) struct BlockOnWait {
    driver: Arc<DriverHandle>,
    spin: Spin,
    /// The thread's timer slack before, restored on drop.
    saved_slack: Option<u64>,
}

impl BlockOnWait {
    /// Waits of a `block_on` thread whose timers go to `driver`, spinning at most `limit`
    /// before a deadline; `None` when `limit` is zero (no precise mode: the caller parks until
    /// woken).
    pub(crate) fn new(driver: Arc<DriverHandle>, limit: Duration) -> Option<BlockOnWait> {
        let spin = Spin::new(limit);
        if !spin.enabled() {
            return None;
        }
        let saved_slack = crate::sys::park::timer_slack();
        crate::sys::park::set_timer_slack(1);
        Some(BlockOnWait {
            driver,
            spin,
            saved_slack,
        })
    }

    /// One wait of the `block_on` thread: until `woken` is set, at most until the driver's
    /// next deadline, spinning its last `slack`, then firing what is due there. The caller
    /// re-checks `woken` after it (a return without it set is a spurious wake-up).
    pub(crate) fn park(&mut self, woken: &AtomicBool) {
        let now = Instant::now();
        // Only deadlines bound the wait; a far one is left to the worker's own wait.
        let deadline = self.driver.timer.next_deadline();
        let Some(deadline) = deadline.filter(|_| self.spin.uncontended(now)) else {
            std::thread::park();
            return;
        };
        if deadline <= now {
            self.driver.process_due_timers(now);
            return;
        }
        let wake_at = deadline.checked_sub(self.spin.slack()).unwrap_or(now);
        if wake_at > now {
            std::thread::park_timeout(wake_at - now);
            // Acquire: pairs with the waker's AcqRel swap (a hint here; the caller's swap is
            // what orders its poll).
            let woke = Instant::now();
            if !woken.load(Acquire) && woke >= wake_at {
                self.spin.observe(woke - wake_at);
            }
            return;
        }
        // Within the slack: spin until woken or due, then fire it ourselves.
        loop {
            if woken.load(Acquire) {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::hint::spin_loop();
        }
        self.driver.process_due_timers(Instant::now());
    }
}

impl Drop for BlockOnWait {
    fn drop(&mut self) {
        if let Some(ns) = self.saved_slack {
            crate::sys::park::set_timer_slack(ns);
        }
    }
}
