//! [`Sleep`]: a future that completes at a deadline.
//!
//! A `Sleep` registers with the driver it was created on at its first poll (a deadline that
//! is already due completes right there, without touching the wheel: `sleep(ZERO)` and a
//! `sleep_until` a past instant always, any deadline the driver has already processed past
//! too) and stays registered with that driver wherever it is polled later. Its timer entry
//! lives inside it (see the `entry` module): registering allocates nothing, and dropping or
//! resetting it from any thread updates the wheel in O(1).

use crate::entry::TimerEntry;
use crate::handle::TimerHandle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pin_project! {
    /// Completes at [`deadline`](Sleep::deadline), never before. Created by
    /// [`sleep`](crate::sleep), [`sleep_until`](crate::sleep_until) or [`TimerHandle::sleep`].
    ///
    /// Dropping it cancels the timer, from any thread.
    ///
    /// A `Sleep` holds its own timer entry, which the driver links to by address once it is
    /// polled, so it is `!Unpin`: pin it (`std::pin::pin!`, `Box::pin`) to poll or
    /// [`reset`](Sleep::reset) it by hand; `.await` does that for you.
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
        deadline: Instant,
        // Completed without a live registration (due at first poll or at shutdown).
        done: bool,
        // The sleep's length in ticks (µs) when `sleep(d)` created it and it was not reset
        // since; 0 when unknown. Known, the first poll reads no clock: the deadline was in the
        // future when created (if it passes before the first poll the wheel still refuses it
        // when the driver has processed past it, or fires it at the next `process`, never
        // early), and coalescing counts the time left from creation (`register`). Unknown, the
        // first poll reads the clock to see whether the deadline already passed. A `u32` (up to
        // about 71 minutes; longer sleeps count as unknown) keeps a boxed `Sleep` at 88 bytes.
        created_left: u32,
        #[pin]
        entry: TimerEntry,
    }
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
        // Under 1 µs (or 0), or over `u32::MAX` µs, stays unknown: the first poll then reads
        // the clock.
        sleep.created_left = u32::try_from(d.as_micros()).unwrap_or(0);
        sleep
    }

    /// A [`Sleep`] on this driver completing at `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            done: false,
            created_left: 0,
            entry: TimerEntry::new(self.clone()),
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
        self.done || self.entry.is_fired()
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
    /// let mut sleep = std::pin::pin!(sleep);
    /// sleep.as_mut().reset(soon);
    /// assert_eq!(sleep.deadline(), soon);
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.project();
        *this.deadline = deadline;
        *this.done = false;
        *this.created_left = 0;
        if this.entry.is_registered() {
            this.entry.reset(deadline);
        }
    }

    /// The handle of the driver this sleep is registered with.
    pub fn handle(&self) -> &TimerHandle {
        self.entry.handle()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        if this.entry.is_registered() {
            return this.entry.poll_fired(cx.waker());
        }
        let inner = &this.entry.handle().inner;
        let mut left = u64::from(*this.created_left);
        let mut due = inner.is_shutdown();
        if left == 0 && !due {
            // One clock read both tells whether the deadline passed and sizes the coalescing
            // grid (`register` then reads none).
            match this.deadline.checked_duration_since(inner.now()) {
                Some(d) if !d.is_zero() => {
                    left = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
                }
                _ => due = true,
            }
        }
        if due || !this.entry.register(*this.deadline, left, cx.waker()) {
            *this.done = true;
            return Poll::Ready(());
        }
        Poll::Pending
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

/// A boxed `Sleep` (100k live timeouts are 100k of them) takes a 96-byte glibc heap chunk at this
/// size; 8 bytes more would take 112. (Under loom the atomics and cells are larger.)
#[cfg(all(target_pointer_width = "64", not(loom)))]
const _: () = assert!(std::mem::size_of::<Sleep>() <= 88);

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Driver, Unpark};
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    use std::time::Duration;

    struct Nop;

    impl Unpark for Nop {
        fn unpark(&self) {}
    }

    impl Wake for Nop {
        fn wake(self: Arc<Self>) {}
    }

    /// A `sleep(d)` first polled after part of `d` has passed is coalesced against `d` itself
    /// (registering reads no clock): its fire time is never before its deadline, and at most
    /// a quarter of `d` (at most 2,048 µs) after it.
    #[test]
    fn a_late_first_poll_coalesces_against_the_sleeps_length() {
        let driver = Driver::new(Arc::new(Nop));
        let handle = driver.handle();
        let waker = Waker::from(Arc::new(Nop));
        for d in [1_000, 5_000, 50_000].map(Duration::from_micros) {
            let mut sleep = Box::pin(handle.sleep(d));
            std::thread::sleep(d / 2);
            // Pending even if the thread overslept: only `process` completes a registered sleep.
            assert!(sleep
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            let fires = driver.next_deadline().expect("the sleep is registered");
            let bound = (d / 4).min(Duration::from_micros(2_048)) + Duration::from_micros(1);
            assert!(
                fires >= sleep.deadline(),
                "{d:?}: fires before its deadline"
            );
            assert!(
                fires <= sleep.deadline() + bound,
                "{d:?}: fires {:?} after its deadline",
                fires - sleep.deadline()
            );
            drop(sleep);
            assert_eq!(driver.pending(), 0);
        }
    }
}
