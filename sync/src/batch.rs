//! The fair batch semaphore: the engine under `Semaphore`, `Mutex`, `RwLock`, `OnceCell`,
//! bounded `mpsc` and `Queue`.
//!
//! # State word
//!
//! `state = permits << SHIFT | WAITERS | CLOSED`
//!
//! * `CLOSED` — set once by [`RawSemaphore::close`], never cleared. Acquires fail afterwards.
//! * `WAITERS` — set (under the wait-list lock) by an acquirer that enqueues itself; cleared
//!   (under the lock) whenever the list becomes empty. While it is set, the permit count in the
//!   word is zero: released permits are handed directly to queued waiters instead.
//!
//! # Protocol
//!
//! * Fast paths never lock: `try_acquire` CASes permits away only while `WAITERS` is clear
//!   (a queued waiter is never overtaken: strict FIFO); `release` CASes permits back while
//!   `WAITERS` is clear.
//! * Slow acquire, under the lock: either takes the permits (no waiters, enough permits), or
//!   sets `WAITERS`, takes every permit still in the word as a partial assignment (it is then
//!   the only waiter, hence the front) and enqueues itself.
//! * Slow release, under the lock: hands permits to the front waiter until it is satisfied,
//!   notifies it, moves on; when the list empties it clears `WAITERS` and stores the rest.
//! * A dropped acquire that was queued, or notified but never observed, releases whatever it
//!   was assigned through the same slow path, so permits always flow to the next waiter.
//! * `close` sets `CLOSED`, then notifies every waiter; a waiter notified with fewer permits
//!   than it asked for gives them back and reports the close.
//!
//! Memory ordering: taking permits is `Acquire` and returning them `Release`, so whatever a
//! permit holder wrote (the mutex-protected data) happens-before the next holder's access.
//! Hand-offs through the wait list are ordered by the list's lock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex, MutexGuard,
};
use crate::waiters::{Key, WaitList, WakeList};

const CLOSED: usize = 1;
const WAITERS: usize = 2;
const SHIFT: usize = 2;

/// The largest number of permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

/// Why a non-waiting acquire failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryAcquire {
    Closed,
    NoPermits,
}

/// A queued acquirer's bookkeeping.
#[derive(Debug)]
struct Need {
    wanted: usize,
    assigned: usize,
}

/// The fair semaphore. See the module docs.
#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    waiters: Mutex<WaitList<Need>>,
}

impl RawSemaphore {
    /// A semaphore holding `permits` permits.
    #[track_caller]
    pub(crate) fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits, {permits} were requested"
        );
        Self {
            state: AtomicUsize::new(permits << SHIFT),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Permits currently free (not counting ones already handed to waiters).
    pub(crate) fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Takes `n` permits without waiting.
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquire> {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(TryAcquire::Closed);
            }
            if n == 0 {
                return Ok(());
            }
            if cur & WAITERS != 0 || (cur >> SHIFT) < n {
                return Err(TryAcquire::NoPermits);
            }
            // Acquire: pairs with the Release in `release`/`release_locked` of the previous
            // holder, so its writes under the permit are visible to us.
            match self.state.compare_exchange_weak(
                cur,
                cur - (n << SHIFT),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A future that takes `n` permits, waiting in FIFO order.
    pub(crate) fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            wanted: n,
            key: None,
        }
    }

    /// Returns `n` permits.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & WAITERS != 0 {
                self.release_locked(n, self.waiters.lock());
                return;
            }
            let new = add_permits(cur, n);
            // Release: pairs with the Acquire CAS in `try_acquire` of the next holder.
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Hands `n` permits to queued waiters in order; stores what is left once none remain.
    fn release_locked(&self, n: usize, mut list: MutexGuard<'_, WaitList<Need>>) {
        let mut rem = n;
        let mut wakers = WakeList::new();
        while rem > 0 {
            let Some(front) = list.front_mut() else { break };
            let give = rem.min(front.wanted - front.assigned);
            front.assigned += give;
            rem -= give;
            if front.assigned == front.wanted {
                list.pop_front(&mut wakers);
            }
        }
        if list.is_empty() {
            let mut cur = self.state.load(Ordering::Relaxed);
            loop {
                let new = add_permits(cur & !WAITERS, rem);
                // AcqRel: Release publishes the returned permits' data to fast-path
                // acquirers (their Acquire CAS); Acquire orders us after a concurrent `close`.
                match self.state.compare_exchange_weak(
                    cur,
                    new,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        }
        drop(list);
        wakers.wake_all();
    }

    /// Closes the semaphore: pending and future acquires fail; held permits stay valid and
    /// may still be released.
    pub(crate) fn close(&self) {
        // Release: pairs with the Acquire loads in `try_acquire`/`is_closed`.
        self.state.fetch_or(CLOSED, Ordering::Release);
        let mut list = self.waiters.lock();
        let mut wakers = WakeList::new();
        list.drain_all(&mut wakers, |_| {});
        // The list is empty now; later acquirers see CLOSED before they could enqueue.
        self.state.fetch_and(!WAITERS, Ordering::Release);
        drop(list);
        wakers.wake_all();
    }

    /// Removes `n` permits from the free pool without waiting (as many as are free, up to
    /// `n`); returns how many were removed.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let take = n.min(cur >> SHIFT);
            match self.state.compare_exchange_weak(
                cur,
                cur - (take << SHIFT),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(actual) => cur = actual,
            }
        }
    }
}

fn add_permits(state: usize, n: usize) -> usize {
    let have = state >> SHIFT;
    assert!(
        n <= MAX_PERMITS - have,
        "adding {n} permits to {have} would exceed the semaphore maximum of {MAX_PERMITS}"
    );
    state + (n << SHIFT)
}

/// Future returned by [`RawSemaphore::acquire`]. Resolves to `Err(())` if the semaphore is
/// closed. Dropping it before completion returns whatever it had been assigned.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Acquire<'a> {
    sem: &'a RawSemaphore,
    wanted: usize,
    key: Option<Key>,
}

impl Acquire<'_> {
    fn poll_first(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        match self.sem.try_acquire(self.wanted) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquire::Closed) => return Poll::Ready(Err(())),
            Err(TryAcquire::NoPermits) => {}
        }
        let mut list = self.sem.waiters.lock();
        let mut cur = self.sem.state.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Poll::Ready(Err(()));
            }
            let have = cur >> SHIFT;
            let (new, taken) = if cur & WAITERS == 0 && have >= self.wanted {
                (cur - (self.wanted << SHIFT), self.wanted)
            } else {
                // Either others queue ahead (then `have` is zero), or we become the only
                // waiter and keep what is free as a partial assignment.
                ((cur & ((1 << SHIFT) - 1)) | WAITERS, have)
            };
            // Acquire: pairs with the Release of whoever returned these permits.
            match self.sem.state.compare_exchange_weak(
                cur,
                new,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) if taken == self.wanted => return Poll::Ready(Ok(())),
                Ok(_) => {
                    let need = Need {
                        wanted: self.wanted,
                        assigned: taken,
                    };
                    self.key = Some(list.push_back(need, cx.waker()));
                    return Poll::Pending;
                }
                Err(actual) => cur = actual,
            }
        }
    }
}

impl Future for Acquire<'_> {
    type Output = Result<(), ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(key) = &this.key else {
            return this.poll_first(cx);
        };
        let mut list = this.sem.waiters.lock();
        if !list.is_notified(key) {
            list.register(key, cx.waker());
            return Poll::Pending;
        }
        let key = this.key.take().expect("checked above");
        let need = list.remove(key).data;
        if need.assigned == need.wanted {
            Poll::Ready(Ok(()))
        } else {
            // Notified short of its request: the semaphore was closed.
            this.sem.release_locked(need.assigned, list);
            Poll::Ready(Err(()))
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut list = self.sem.waiters.lock();
            let need = list.remove(key).data;
            // Pass on what we were handed (possibly everything, if we were notified but never
            // observed it); with nothing to pass on this still clears WAITERS if we were last.
            self.sem.release_locked(need.assigned, list);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    fn poll(fut: Pin<&mut Acquire<'_>>) -> Poll<Result<(), ()>> {
        let waker = Waker::from(Arc::new(Noop));
        fut.poll(&mut Context::from_waker(&waker))
    }

    fn waiters_flag(sem: &RawSemaphore) -> bool {
        sem.state.load(Ordering::Relaxed) & WAITERS != 0
    }

    #[test]
    fn partial_assignment_then_completion() {
        let sem = RawSemaphore::new(2);
        let mut big = pin!(sem.acquire(5));
        assert!(poll(big.as_mut()).is_pending());
        // The two free permits moved into the waiter; the word now holds none.
        assert_eq!(sem.available_permits(), 0);
        assert!(waiters_flag(&sem));
        sem.release(2);
        assert!(poll(big.as_mut()).is_pending());
        sem.release(2);
        assert_eq!(poll(big.as_mut()), Poll::Ready(Ok(())));
        assert!(!waiters_flag(&sem), "flag cleared once the list empties");
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn release_serves_front_before_back() {
        let sem = RawSemaphore::new(0);
        let mut front = pin!(sem.acquire(2));
        let mut back = pin!(sem.acquire(1));
        assert!(poll(front.as_mut()).is_pending());
        assert!(poll(back.as_mut()).is_pending());
        sem.release(1);
        // One permit is not enough for the front; the back may not overtake it.
        assert!(poll(back.as_mut()).is_pending());
        sem.release(2);
        assert_eq!(poll(front.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(poll(back.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(sem.available_permits(), 0);
        assert!(!waiters_flag(&sem));
    }

    #[test]
    fn close_returns_partial_assignments() {
        let sem = RawSemaphore::new(1);
        let mut big = pin!(sem.acquire(3));
        assert!(poll(big.as_mut()).is_pending());
        sem.close();
        assert_eq!(poll(big.as_mut()), Poll::Ready(Err(())));
        // The permit it had been handed is free again, though new acquires fail.
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.try_acquire(1), Err(TryAcquire::Closed));
        assert!(!waiters_flag(&sem));
    }

    #[test]
    fn zero_permits_always_succeed_until_closed() {
        let sem = RawSemaphore::new(0);
        assert_eq!(sem.try_acquire(0), Ok(()));
        sem.close();
        assert_eq!(sem.try_acquire(0), Err(TryAcquire::Closed));
    }

    #[test]
    fn forget_takes_only_free_permits() {
        let sem = RawSemaphore::new(3);
        sem.try_acquire(1).unwrap();
        assert_eq!(sem.forget_permits(5), 2);
        assert_eq!(sem.available_permits(), 0);
    }
}
