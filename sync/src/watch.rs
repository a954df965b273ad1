//! A single-value channel: receivers observe the latest value and wait for changes.
//!
//! # Protocol
//!
//! * The value sits behind a reader-writer lock; `version` counts sends. A sender replaces
//!   the value under the write lock, bumps `version` while still holding it, then releases
//!   every waiter in the wait list.
//! * A receiver remembers the version it last marked seen. `changed` compares versions; if
//!   unchanged it enqueues itself and compares *again under the wait-list lock*. A sender
//!   bumps the version before taking that lock, so the receiver either sees the new version
//!   or is in the list when the sender drains it: no lost wake-up.
//! * The last sender's drop sets `closed` (then drains the list); `changed` reports an error
//!   once the value is unchanged and no sender remains.
//! * A receiver keeps its wait-list key between polls, so a dropped `changed` future loses
//!   nothing.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Mutex, RwLock, RwLockReadGuard,
};
use crate::waiters::{Key, WaitList, WakeList};

#[derive(Debug)]
struct Shared<T> {
    value: RwLock<T>,
    version: AtomicU64,
    closed: AtomicBool,
    rx_count: AtomicUsize,
    tx_count: AtomicUsize,
    waiters: Mutex<WaitList<()>>,
}

impl<T> Shared<T> {
    fn wake_all(&self) {
        let mut wakers = WakeList::new();
        self.waiters.lock().drain_all(&mut wakers, |_| {});
        wakers.wake_all();
    }
}

/// Creates a watch channel holding `initial`.
///
/// ```
/// use kiln_sync::watch;
///
/// futures::executor::block_on(async {
///     let (tx, mut rx) = watch::channel("idle");
///     tx.send("busy").unwrap();
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow_and_update(), "busy");
/// });
/// ```
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(initial),
        version: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        rx_count: AtomicUsize::new(1),
        tx_count: AtomicUsize::new(1),
        waiters: Mutex::new(WaitList::new()),
    });
    let rx = Receiver {
        shared: shared.clone(),
        seen: 0,
        key: None,
    };
    (Sender { shared }, rx)
}

/// No receiver exists; the value is handed back.
///
/// ```
/// let (tx, rx) = kiln_sync::watch::channel(0);
/// drop(rx);
/// assert_eq!(tx.send(1).unwrap_err().into_inner(), 1);
/// ```
#[derive(PartialEq, Eq, Clone)]
pub struct SendError<T>(T);

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no watch receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Every sender is gone, so the value will not change again.
///
/// ```
/// futures::executor::block_on(async {
///     let (tx, mut rx) = kiln_sync::watch::channel(());
///     drop(tx);
///     assert_eq!(rx.changed().await.unwrap_err().to_string(), "watch sender dropped");
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("watch sender dropped")
    }
}

impl std::error::Error for RecvError {}

/// A read borrow of the current value; holds the value's read lock, so keep it short.
///
/// ```
/// let (_tx, rx) = kiln_sync::watch::channel(vec![1, 2]);
/// let r: kiln_sync::watch::Ref<'_, Vec<i32>> = rx.borrow();
/// assert_eq!(r.len(), 2);
/// ```
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver that borrowed it (always `false` for
    /// [`Receiver::borrow`] and [`Sender::borrow`]).
    pub fn has_changed(&self) -> bool {
        self.changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The sending half; clone it for more producers.
///
/// ```
/// let (tx, _rx) = kiln_sync::watch::channel(1);
/// tx.send_modify(|v| *v += 1);
/// assert_eq!(*tx.borrow(), 2);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Relaxed: the caller holds a sender, so the count cannot reach zero concurrently.
        self.shared.tx_count.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: the last sender orders every earlier send before setting `closed`.
        if self.shared.tx_count.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Release: pairs with the Acquire loads of `closed` in `changed`.
            self.shared.closed.store(true, Ordering::Release);
            self.shared.wake_all();
        }
    }
}

impl<T> Sender<T> {
    /// Replaces the value and notifies receivers; fails, handing the value back, if no
    /// receiver exists.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(0);
    /// tx.send(5).unwrap();
    /// assert_eq!(*rx.borrow(), 5);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value whether or not receivers exist; returns the old value.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::watch::channel(1);
    /// assert_eq!(tx.send_replace(2), 1);
    /// ```
    pub fn send_replace(&self, value: T) -> T {
        let mut old = Some(value);
        self.send_if_modified(|v| {
            old = Some(std::mem::replace(v, old.take().expect("set above")));
            true
        });
        old.expect("replaced above")
    }

    /// Modifies the value in place and notifies receivers.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(vec![]);
    /// tx.send_modify(|v| v.push(1));
    /// assert_eq!(*rx.borrow(), vec![1]);
    /// ```
    pub fn send_modify(&self, f: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            f(v);
            true
        });
    }

    /// Runs `f` on the value; notifies receivers only if it returns `true`.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(1);
    /// assert!(!tx.send_if_modified(|_| false));
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn send_if_modified(&self, f: impl FnOnce(&mut T) -> bool) -> bool {
        let mut value = self.shared.value.write();
        if !f(&mut value) {
            return false;
        }
        // Release: pairs with the Acquire loads in `has_changed`/`changed`. Bumped under the
        // write lock so a reader that sees the new version reads the new value.
        self.shared.version.fetch_add(1, Ordering::Release);
        drop(value);
        self.shared.wake_all();
        true
    }

    /// Borrows the current value.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::watch::channel('a');
    /// assert_eq!(*tx.borrow(), 'a');
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.value.read(),
            changed: false,
        }
    }

    /// A new receiver that considers the current value seen.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(0);
    /// drop(rx);
    /// let rx = tx.subscribe();
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        // Relaxed: a plain count; sends check it only to report "no receivers".
        self.shared.rx_count.fetch_add(1, Ordering::Relaxed);
        Receiver {
            shared: self.shared.clone(),
            seen: self.shared.version.load(Ordering::Acquire),
            key: None,
        }
    }

    /// How many receivers exist.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(());
    /// let _rx2 = rx.clone();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.rx_count.load(Ordering::Relaxed)
    }

    /// Whether every receiver is gone.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }
}

/// A receiving half; clone it for more observers.
///
/// ```
/// let (tx, rx) = kiln_sync::watch::channel(1);
/// let rx2 = rx.clone();
/// tx.send(2).unwrap();
/// assert!(rx2.has_changed().unwrap());
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
    key: Option<Key>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.rx_count.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
            seen: self.seen,
            key: None,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.rx_count.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key.take() {
            self.shared.waiters.lock().remove(key);
        }
    }
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen.
    ///
    /// ```
    /// let (_tx, rx) = kiln_sync::watch::channel(3);
    /// assert_eq!(*rx.borrow(), 3);
    /// ```
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.value.read(),
            changed: false,
        }
    }

    /// Borrows the current value and marks it seen.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// assert!(rx.borrow_and_update().has_changed());
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.value.read();
        // Read under the read lock: senders bump the version under the write lock, so this
        // version belongs to exactly the value we hold.
        let version = self.shared.version.load(Ordering::Acquire);
        let changed = version != self.seen;
        self.seen = version;
        Ref { guard, changed }
    }

    /// Whether a value newer than the last seen one was sent. Errors once every sender is
    /// gone.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::watch::channel(0);
    /// assert!(!rx.has_changed().unwrap());
    /// drop(tx);
    /// assert!(rx.has_changed().is_err());
    /// ```
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(RecvError(()));
        }
        Ok(self.shared.version.load(Ordering::Acquire) != self.seen)
    }

    /// Marks the current value seen without borrowing it.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// rx.mark_unchanged();
    /// assert!(!rx.has_changed().unwrap());
    /// ```
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version.load(Ordering::Acquire);
    }

    fn check(shared: &Shared<T>, seen: &mut u64) -> Option<Result<(), RecvError>> {
        // `closed` first: a sender stores its last version before it closes, so once the
        // Acquire load sees the close, the version load below sees that last version. Read the
        // other way round, a send and close landing between the two loads would report the
        // close and lose the value.
        let closed = shared.closed.load(Ordering::Acquire);
        let version = shared.version.load(Ordering::Acquire);
        if version != *seen {
            *seen = version;
            return Some(Ok(()));
        }
        if closed {
            return Some(Err(RecvError(())));
        }
        None
    }

    /// Polls for a value newer than the last seen one; marks it seen when ready.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// let r = futures::executor::block_on(std::future::poll_fn(|cx| rx.poll_changed(cx)));
    /// assert!(r.is_ok());
    /// ```
    pub fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RecvError>> {
        if let Some(r) = Self::check(&self.shared, &mut self.seen) {
            return Poll::Ready(r);
        }
        let mut list = self.shared.waiters.lock();
        if let Some(key) = self.key.take() {
            list.remove(key);
        }
        // Re-check under the list lock: a sender bumps the version before draining the list.
        if let Some(r) = Self::check(&self.shared, &mut self.seen) {
            return Poll::Ready(r);
        }
        self.key = Some(list.push_back((), cx.waker()));
        Poll::Pending
    }

    /// Waits for a value newer than the last seen one and marks it seen. Fails once the
    /// value is unchanged and every sender is gone. Cancel-safe.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::watch::channel(0);
    /// let t = std::thread::spawn(move || tx.send(7).unwrap());
    /// futures::executor::block_on(rx.changed()).unwrap();
    /// assert_eq!(*rx.borrow(), 7);
    /// t.join().unwrap();
    /// ```
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        std::future::poll_fn(|cx| self.poll_changed(cx)).await
    }
}
