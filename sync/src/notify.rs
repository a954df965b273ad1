//! Task notification: `notify_one` (stores a permit when nobody waits) and
//! `notify_waiters` (wakes everyone waiting now).
//!
//! # Protocol
//!
//! All state lives under one lock: the stored permit, the wait list, and a generation counter
//! bumped by every `notify_waiters`. The generation is mirrored in an atomic so a
//! [`Notified`] future can record it when *created*: a `notify_waiters` issued after creation
//! but before the first poll still completes it.
//!
//! A waiter picked by `notify_one` carries `Kind::One`. If its future is dropped before it
//! observed the notification, `Drop` hands the notification to the next waiter (or stores it
//! as the permit), so `notify_one` is never lost to cancellation. Waiters released by
//! `notify_waiters` carry `Kind::All`; nothing is passed on for them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};
use crate::waiters::{Key, WaitList, WakeList};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Waiting,
    One,
    All,
}

#[derive(Debug)]
struct Synced {
    permit: bool,
    waiters: WaitList<Kind>,
}

/// Wakes tasks waiting for an event; the async counterpart of a condition variable with a
/// one-slot memory.
///
/// ```
/// use kiln_sync::Notify;
///
/// let notify = Notify::new();
/// notify.notify_one(); // stored: nobody is waiting yet
/// futures::executor::block_on(notify.notified()); // completes at once
/// ```
pub struct Notify {
    generation: AtomicUsize,
    synced: Mutex<Synced>,
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").finish_non_exhaustive()
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl Notify {
    /// Creates a `Notify` with no stored permit.
    ///
    /// ```
    /// let _n = kiln_sync::Notify::new();
    /// ```
    pub fn new() -> Self {
        Self {
            generation: AtomicUsize::new(0),
            synced: Mutex::new(Synced {
                permit: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// A future that completes on the next `notify_one` addressed to it, a stored permit, or
    /// any `notify_waiters` issued after this call.
    ///
    /// ```
    /// let n = kiln_sync::Notify::new();
    /// let fut = n.notified();
    /// n.notify_waiters();
    /// futures::executor::block_on(fut);
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            // Acquire: pairs with the Release increment in `notify_waiters`.
            generation: self.generation.load(Ordering::Acquire),
            key: None,
            done: false,
        }
    }

    /// Wakes the longest-waiting task, or stores a permit for the next `notified()` if none
    /// waits. Several calls with nobody waiting store a single permit.
    ///
    /// ```
    /// let n = kiln_sync::Notify::new();
    /// n.notify_one();
    /// n.notify_one();
    /// futures::executor::block_on(n.notified());
    /// ```
    pub fn notify_one(&self) {
        let mut wakers = WakeList::new();
        let mut synced = self.synced.lock();
        Self::notify_one_locked(&mut synced, &mut wakers);
        drop(synced);
        wakers.wake_all();
    }

    fn notify_one_locked(synced: &mut Synced, wakers: &mut WakeList) {
        match synced.waiters.front_mut() {
            Some(kind) => {
                *kind = Kind::One;
                synced.waiters.pop_front(wakers);
            }
            None => synced.permit = true,
        }
    }

    /// Wakes every task waiting now (and every `Notified` created before this call); stores
    /// no permit.
    ///
    /// ```
    /// let n = kiln_sync::Notify::new();
    /// let a = n.notified();
    /// let b = n.notified();
    /// n.notify_waiters();
    /// futures::executor::block_on(async { a.await; b.await });
    /// ```
    pub fn notify_waiters(&self) {
        let mut wakers = WakeList::new();
        let mut synced = self.synced.lock();
        // Release: pairs with the Acquire load in `notified`. Bumped under the lock so a
        // first poll (which re-reads it under the lock) cannot miss it.
        self.generation.fetch_add(1, Ordering::Release);
        synced.waiters.drain_all(&mut wakers, |k| *k = Kind::All);
        drop(synced);
        wakers.wake_all();
    }
}

/// Future returned by [`Notify::notified`]. Cancel-safe: if dropped after a `notify_one`
/// chose it, the notification passes to the next waiter.
///
/// ```
/// futures::executor::block_on(async {
///     let n = kiln_sync::Notify::new();
///     n.notify_one();
///     n.notified().await;
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: usize,
    key: Option<Key>,
    done: bool,
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let mut synced = this.notify.synced.lock();
        match &this.key {
            None => {
                if this.notify.generation.load(Ordering::Relaxed) != this.generation {
                    // Relaxed: read under the lock that `notify_waiters` bumped it under.
                } else if synced.permit {
                    synced.permit = false;
                } else {
                    this.key = Some(synced.waiters.push_back(Kind::Waiting, cx.waker()));
                    return Poll::Pending;
                }
            }
            Some(key) => {
                if !synced.waiters.is_notified(key) {
                    synced.waiters.register(key, cx.waker());
                    return Poll::Pending;
                }
                let key = this.key.take().expect("checked above");
                synced.waiters.remove(key);
            }
        }
        this.done = true;
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut wakers = WakeList::new();
        let mut synced = self.notify.synced.lock();
        let removed = synced.waiters.remove(key);
        if removed.notified && removed.data == Kind::One {
            Notify::notify_one_locked(&mut synced, &mut wakers);
        }
        drop(synced);
        wakers.wake_all();
    }
}
