//! [`Sleep`]: a future that completes at a deadline.
//!
//! A `Sleep` registers with the driver it was created on at its first poll (a deadline that
//! is already due completes right there, without touching the wheel: `sleep(ZERO)` and a
//! `sleep_until` a past instant always, any deadline the driver has already processed past
//! too) and stays registered
//! with that driver wherever it is polled later. Each poll stores the current waker in the
//! shared entry; dropping or resetting it from any thread updates the wheel in O(1).

use crate::driver::{Entry, Registered, TimerHandle};
use crate::loom::Arc;
use crate::wheel::Key;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Completes at [`deadline`](Sleep::deadline), never before. Created by [`sleep`](crate::sleep),
/// [`sleep_until`](crate::sleep_until) or [`TimerHandle::sleep`].
///
/// Dropping it cancels the timer, from any thread.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use std::time::{Duration, Instant};
///
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// let sleep = kiln_timer::sleep(Duration::from_secs(5));
/// assert!(sleep.deadline() > Instant::now());
/// drop(sleep); // cancelled
/// assert_eq!(driver.pending(), 0);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    handle: TimerHandle,
    deadline: Instant,
    reg: Option<Registration>,
    /// Completed without a live registration (due at first poll or at shutdown).
    done: bool,
    /// Whether the first poll must read the clock to see if the deadline already passed.
    /// `sleep(d)` knows its deadline was in the future when created and skips that read
    /// (one clock read per sleep); if the deadline passes before the first poll the wheel
    /// still refuses it when the driver has processed past it, or fires it at the next
    /// `process`, never early.
    check_due: bool,
}

struct Registration {
    entry: Arc<Entry>,
    key: Key,
}

/// `now + d`, or a deadline about 30 years away when that overflows.
pub(crate) fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365 * 30)))
        .unwrap_or(now)
}

impl TimerHandle {
    /// A [`Sleep`] on this driver completing `d` after the driver's now.
    pub fn sleep(&self, d: Duration) -> Sleep {
        let mut sleep = self.sleep_until(deadline_after(self.now(), d));
        sleep.done = d.is_zero();
        sleep.check_due = false;
        sleep
    }

    /// A [`Sleep`] on this driver completing at `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            handle: self.clone(),
            deadline,
            reg: None,
            done: false,
            check_due: true,
        }
    }
}

impl Sleep {
    /// The instant at which this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the sleep has completed (its deadline passed and the driver saw it, or it was
    /// found due when polled or reset).
    pub fn is_elapsed(&self) -> bool {
        self.done || self.reg.as_ref().is_some_and(|r| r.entry.is_fired())
    }

    /// Moves the deadline to `deadline`, earlier or later, even after completion. A task
    /// waiting on this sleep is woken when the new deadline passes (at once if it already has).
    ///
    /// ```
    /// # use kiln_timer::{Driver, Unpark};
    /// # use std::sync::Arc;
    /// # struct Nop;
    /// # impl Unpark for Nop { fn unpark(&self) {} }
    /// use std::pin::Pin;
    /// use std::time::{Duration, Instant};
    ///
    /// let driver = Driver::new(Arc::new(Nop));
    /// let mut sleep = driver.handle().sleep(Duration::from_secs(60));
    /// let soon = Instant::now() + Duration::from_millis(1);
    /// Pin::new(&mut sleep).reset(soon);
    /// assert_eq!(sleep.deadline(), soon);
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        this.done = false;
        this.check_due = true;
        if let Some(reg) = &mut this.reg {
            if let Registered::Pending(key) = this.handle.inner.reset(reg.key, &reg.entry, deadline)
            {
                reg.key = key;
            }
        }
    }

    /// The handle of the driver this sleep is registered with.
    pub fn handle(&self) -> &TimerHandle {
        &self.handle
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        if let Some(reg) = &this.reg {
            if reg.entry.is_fired() {
                return Poll::Ready(());
            }
            reg.entry.set_waker(cx.waker());
            // Re-check after publishing the waker (see the driver's entry protocol).
            return if reg.entry.is_fired() {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        let inner = &this.handle.inner;
        if inner.is_shutdown() || (this.check_due && this.deadline <= inner.now()) {
            this.done = true;
            return Poll::Ready(());
        }
        let entry = Arc::new(Entry::new(Some(cx.waker().clone())));
        match inner.insert(this.deadline, &entry) {
            Registered::Pending(key) => {
                this.reg = Some(Registration { entry, key });
                Poll::Pending
            }
            Registered::Due(_) => {
                this.done = true;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(reg) = &self.reg {
            // A fired entry has already left the wheel (the driver frees the node before
            // publishing `FIRED`), so only a pending one needs the lock.
            if !reg.entry.is_fired() {
                self.handle.inner.cancel(reg.key, &reg.entry);
            }
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}
