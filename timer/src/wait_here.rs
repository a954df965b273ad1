//! A thread that waits for its own timers ([`WaitHere`]): a runtime's `block_on` thread.
//!
//! A `block_on` thread registers its timers on a worker's driver. Normally, when it arms one
//! earlier than that worker's park, the worker is woken or its kernel timer re-armed
//! ([`Unpark::unpark_at`](crate::Unpark::unpark_at)), and at the deadline the worker wakes,
//! fires the timer, and wakes the `block_on` thread: two wake-ups in series per timer. With a
//! [`WaitHere`] guard on its thread, an arming by that thread that no wait of the parked owner
//! covers leaves the owner alone, and the thread waits for the deadline itself
//! ([`WaitHere::next_wake`]) and fires it ([`WaitHere::fire_due`]): one wake-up.
//!
//! # Protocol
//! Under the driver's lock, `parked_until` is the tick the parked owner's wait ends at. An
//! arming from any other thread earlier than that still moves or ends the owner's wait (the
//! parking protocol in `driver.rs`), so every pending timer before `parked_until` was armed
//! by the waiting thread and skipped. [`WaitHere::next_wake`] reads the earliest of them
//! under the lock (`Inner::uncovered_tick`); the thread arms timers only while it runs (not
//! while it waits), so a wait bounded by that instant misses none. A timer armed while the
//! owner is awake is the owner's as usual (its next park covers it), and if the owner parks
//! again while the thread waits, its park covers the thread's timers too: both wake, none is
//! missed. Dropping the guard hands uncovered timers back to the owner (it is unparked and
//! re-plans), so timers that outlive the waiting (a sleep moved into a task) are never left
//! unattended. Only timers on the system clock are skipped. Proved in `loom_tests`
//! (`loom_wait_here_*`): whichever way an arming and the owner's park race, the timer is
//! covered by the owner's wait, or the owner is unparked, or the waiting thread sees it.

use crate::driver::Inner;
use crate::handle::TimerHandle;
use crate::loom::sync::Arc;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::time::Instant;

// Under loom, model threads share one OS thread: loom's thread-locals keep them apart.
#[cfg(not(all(test, loom)))]
std::thread_local! {
    /// The driver (its `Inner`'s address) the current thread waits for itself, or 0.
    static WAITER: Cell<usize> = const { Cell::new(0) };
}
#[cfg(all(test, loom))]
loom::thread_local! {
    static WAITER: Cell<usize> = Cell::new(0);
}

fn address(inner: &Inner) -> usize {
    inner as *const Inner as usize
}

/// Whether the calling thread waits for `inner`'s uncovered timers itself.
pub(crate) fn is_waiter(inner: &Inner) -> bool {
    WAITER
        .try_with(|w| w.get() == address(inner))
        .unwrap_or(false)
}

/// The calling thread waits for its own timers on one driver until this guard drops (see
/// [`TimerHandle::wait_here`]). Not `Send`: it marks its thread.
///
/// ```
/// use kiln_timer::{Driver, Unpark};
/// use std::future::Future;
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// struct Count(AtomicUsize);
/// impl Unpark for Count {
///     fn unpark(&self) {
///         self.0.fetch_add(1, SeqCst);
///     }
/// }
/// let unparks = Arc::new(Count(AtomicUsize::new(0)));
/// let driver = Driver::new(unparks.clone());
/// let handle = driver.handle();
/// // The owner parks with nothing to wait for.
/// assert_eq!(driver.before_park(), None);
///
/// let here = handle.wait_here();
/// let mut sleep = std::pin::pin!(handle.sleep(Duration::from_millis(1)));
/// let waker = futures::task::noop_waker();
/// let mut cx = std::task::Context::from_waker(&waker);
/// assert!(sleep.as_mut().poll(&mut cx).is_pending());
/// // Not unparked: this thread waits for the sleep itself.
/// assert_eq!(unparks.0.load(SeqCst), 0);
/// let at = here.next_wake().expect("the sleep is this thread's to wait for");
/// assert!(at >= sleep.deadline());
/// std::thread::sleep(at.saturating_duration_since(Instant::now()));
/// assert_eq!(here.fire_due(), 1);
/// assert!(sleep.is_elapsed());
/// assert_eq!(here.next_wake(), None);
/// ```
#[must_use = "the thread waits for its timers only while the guard lives"]
pub struct WaitHere {
    inner: Arc<Inner>,
    /// The driver this thread waited for before (nested guards), restored on drop.
    prev: usize,
    _not_send: PhantomData<*const ()>,
}

impl TimerHandle {
    /// Makes the calling thread wait for its own timers on this driver until the guard drops
    /// (see [`WaitHere`]): its armings that the parked owner's wait does not cover no longer
    /// wake or re-arm the owner; the thread must bound each of its waits by
    /// [`WaitHere::next_wake`] and call [`WaitHere::fire_due`] when it wakes.
    pub fn wait_here(&self) -> WaitHere {
        let prev = WAITER.with(|w| w.replace(address(&self.inner)));
        WaitHere {
            inner: self.inner.clone(),
            prev,
            _not_send: PhantomData,
        }
    }
}

impl WaitHere {
    /// When this thread must wake to fire timers that no wait of the driver's owner covers:
    /// the earliest such deadline (never later than it by more than the wheel's rounding), or
    /// `None` if there is none (the owner fires every pending timer; one of this thread's
    /// wakes it through its waker).
    pub fn next_wake(&self) -> Option<Instant> {
        let tick = self.inner.uncovered_tick()?;
        self.inner.instant_of(tick)
    }

    /// Fires the driver's timers due now (its own tasks' too) from this thread; returns how
    /// many fired.
    pub fn fire_due(&self) -> usize {
        self.inner.process_at(self.inner.now())
    }
}

impl Drop for WaitHere {
    fn drop(&mut self) {
        let _ = WAITER.try_with(|w| w.set(self.prev));
        self.inner.hand_back();
    }
}

impl fmt::Debug for WaitHere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitHere").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Driver, Unpark};
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Context;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Unpark for Count {
        fn unpark(&self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A timer the waiting thread armed and then left (dropping the guard) goes back to the
    /// owner, which is unparked to re-plan; one armed by another thread unparks the owner as
    /// before; one armed while the owner is awake is the owner's.
    #[test]
    fn uncovered_timers_go_back_to_the_owner() {
        let unparks = Arc::new(Count(AtomicUsize::new(0)));
        let driver = Driver::new(unparks.clone());
        let handle = driver.handle();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);

        assert_eq!(driver.before_park(), None);
        let here = handle.wait_here();
        let mut sleep = Box::pin(handle.sleep(Duration::from_secs(10)));
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
        assert_eq!(unparks.0.load(SeqCst), 0);
        assert!(here.next_wake().is_some());
        drop(here);
        assert_eq!(unparks.0.load(SeqCst), 1, "handed back to the owner");
        // The owner re-plans with it.
        driver.after_park();
        assert!(driver.before_park().is_some());

        // Another thread's earlier timer still unparks the owner.
        let h2 = handle.clone();
        std::thread::spawn(move || {
            let mut other = Box::pin(h2.sleep(Duration::from_secs(1)));
            let waker = futures::task::noop_waker();
            assert!(other
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        })
        .join()
        .unwrap();
        assert_eq!(unparks.0.load(SeqCst), 2);

        // With the owner awake, the waiter has nothing of its own to wait for.
        driver.after_park();
        let here = handle.wait_here();
        let mut late = Box::pin(handle.sleep(Duration::from_secs(5)));
        assert!(late.as_mut().poll(&mut cx).is_pending());
        assert_eq!(here.next_wake(), None);
        drop(here);
        assert_eq!(unparks.0.load(SeqCst), 2);
    }
}
