//! asyncio's `Event`: a flag that tasks can wait on.
//!
//! `set` raises the flag (an atomic, so `is_set` and the already-set fast path never lock)
//! and then, under the wait-list lock, releases every waiter. A waiter re-checks the flag
//! under the same lock before enqueueing, so it either sees the flag or is released by the
//! `set` that raised it. Like asyncio, a waiter released by `set` completes even if `clear`
//! runs before it is polled again.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex,
};
use crate::waiters::{Key, WaitList, WakeList};

/// An asyncio-style event flag: [`set`](Event::set), [`clear`](Event::clear),
/// [`wait`](Event::wait), [`is_set`](Event::is_set).
///
/// ```
/// use kiln_sync::Event;
///
/// let ev = Event::new();
/// assert!(!ev.is_set());
/// ev.set();
/// futures::executor::block_on(ev.wait()); // returns at once
/// ev.clear();
/// assert!(!ev.is_set());
/// ```
pub struct Event {
    flag: AtomicBool,
    waiters: Mutex<WaitList<()>>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// Creates a cleared event.
    ///
    /// ```
    /// assert!(!kiln_sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Whether the flag is raised.
    ///
    /// ```
    /// let ev = kiln_sync::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the Release store in `set`.
        self.flag.load(Ordering::Acquire)
    }

    /// Raises the flag and wakes every waiting task.
    ///
    /// ```
    /// let ev = kiln_sync::Event::new();
    /// let wait = ev.wait();
    /// ev.set();
    /// futures::executor::block_on(wait);
    /// ```
    pub fn set(&self) {
        // Release: pairs with the Acquire load in `is_set`/`wait`.
        self.flag.store(true, Ordering::Release);
        let mut wakers = WakeList::new();
        let mut list = self.waiters.lock();
        list.drain_all(&mut wakers, |_| {});
        drop(list);
        wakers.wake_all();
    }

    /// Lowers the flag; later `wait` calls block until the next `set`.
    ///
    /// ```
    /// let ev = kiln_sync::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Waits until the flag is raised. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let ev = kiln_sync::Event::new();
    ///     ev.set();
    ///     ev.wait().await;
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

/// Future returned by [`Event::wait`].
///
/// ```
/// let ev = kiln_sync::Event::new();
/// ev.set();
/// let fut: kiln_sync::EventWait<'_> = ev.wait();
/// futures::executor::block_on(fut);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<Key>,
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").finish_non_exhaustive()
    }
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.key.is_none() && this.event.is_set() {
            return Poll::Ready(());
        }
        let mut list = this.event.waiters.lock();
        match &this.key {
            None => {
                if this.event.is_set() {
                    return Poll::Ready(());
                }
                this.key = Some(list.push_back((), cx.waker()));
                Poll::Pending
            }
            Some(key) => {
                if list.is_notified(key) {
                    list.remove(this.key.take().expect("checked above"));
                    Poll::Ready(())
                } else {
                    list.register(key, cx.waker());
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.event.waiters.lock().remove(key);
        }
    }
}
