//! The queue's capacity: how many accepted jobs may wait unstarted, and the tasks waiting in
//! [`ThreadPool::spawn_wait`](crate::executor::ThreadPool::spawn_wait) for room.
//!
//! # State
//!
//! - `queued` (atomic): jobs accepted and not yet started or dropped. [`Gate::try_acquire`]
//!   raises it only below `capacity`; [`Gate::force_acquire`] (plain `spawn`) raises it
//!   regardless; [`Gate::release`] lowers it when a job leaves the queue. An unbounded gate
//!   (the default) counts nothing: no job ever waits for room, and the pool reads its queue's
//!   length instead, so the hot path touches no shared counter here.
//! - `waiting` (atomic): how many waiters are registered; read by releasers without the lock.
//! - `Waiters` (under the mutex): registered waiters in arrival order, each with its waker.
//!   A waiter removed from the list by someone else has been *notified*: it owes the next
//!   waiter a wake-up if it goes away without taking a slot.
//! - `closed` (atomic): shutdown; waiters give up.
//!
//! # Protocol (no lost wake-up)
//!
//! 1. A releaser lowers `queued`, fences (`SeqCst`), then reads `waiting`; if non-zero it takes
//!    the lock and notifies the first waiter. (An unbounded gate has no waiters and skips it.)
//! 2. A waiter that found the queue full registers under the lock and raises `waiting`, fences
//!    (`SeqCst`), then tries `queued` again. The two fences are ordered: either the releaser's
//!    read of `waiting` comes after the waiter's raise (the releaser notifies it) or the
//!    waiter's retry comes after the releaser's decrement (it sees room).
//! 3. A notified waiter that is dropped, or finds the slot taken by a concurrent `try_spawn`,
//!    passes the wake-up on (drop) or registers again (poll), so room never sits unused while
//!    a waiter sleeps.
//! 4. Shutdown sets `closed` and notifies every waiter under the lock; a waiter checks
//!    `closed` under the lock after registering, so none sleeps through it.

use crate::loom::sync::{
    atomic::{fence, AtomicBool, AtomicUsize},
    Mutex, MutexGuard,
};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Waiters {
    next_id: u64,
    list: VecDeque<(u64, Waker)>,
}

/// The capacity gate of one pool.
pub(crate) struct Gate {
    capacity: usize,
    queued: AtomicUsize,
    waiting: AtomicUsize,
    closed: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// A waiter's registration, kept by the waiting future between polls.
#[derive(Debug, Default)]
pub(crate) struct WaitSlot(Option<u64>);

/// The gate is closed (the pool shut down).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed;

impl Gate {
    pub(crate) fn new(capacity: usize) -> Gate {
        Gate {
            capacity,
            queued: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock()
    }

    /// Jobs queued and not started (counted only when the capacity is bounded).
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Relaxed)
    }

    /// Whether the gate counts queued jobs: only a bounded queue needs to.
    pub(crate) fn is_bounded(&self) -> bool {
        self.capacity != usize::MAX
    }

    /// Takes a slot if the queue is below capacity.
    pub(crate) fn try_acquire(&self) -> bool {
        if !self.is_bounded() {
            return true;
        }
        let mut n = self.queued.load(SeqCst);
        loop {
            if n >= self.capacity {
                return false;
            }
            // SeqCst: the retry of protocol step 2.
            match self.queued.compare_exchange_weak(n, n + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    /// Takes a slot even above capacity (plain `spawn`, which never waits or refuses).
    pub(crate) fn force_acquire(&self) {
        if self.is_bounded() {
            self.queued.fetch_add(1, SeqCst);
        }
    }

    /// A job left the queue (started, or dropped unrun): protocol step 1.
    pub(crate) fn release(&self) {
        if !self.is_bounded() {
            // Unbounded: nothing counted, and nobody ever waits for room.
            return;
        }
        self.queued.fetch_sub(1, SeqCst);
        // Pairs with the fence after a waiter's registration (step 2).
        fence(SeqCst);
        if self.waiting.load(SeqCst) > 0 {
            self.notify_one(&mut self.lock());
        }
    }

    fn notify_one(&self, w: &mut Waiters) {
        if let Some((_, waker)) = w.list.pop_front() {
            self.waiting.store(w.list.len(), SeqCst);
            waker.wake();
        }
    }

    /// Takes a slot, or registers `slot` to be woken when one may be free (protocol step 2).
    pub(crate) fn poll_acquire(
        &self,
        slot: &mut WaitSlot,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        if self.closed.load(Acquire) {
            self.cancel(slot);
            return Poll::Ready(Err(Closed));
        }
        if self.try_acquire() {
            self.unregister(slot);
            return Poll::Ready(Ok(()));
        }
        let mut w = self.lock();
        match slot
            .0
            .and_then(|id| w.list.iter_mut().find(|(i, _)| *i == id))
        {
            Some((_, waker)) => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
            }
            None => {
                // New, or notified and still without a slot: (re-)register at the back.
                let id = w.next_id;
                w.next_id += 1;
                w.list.push_back((id, cx.waker().clone()));
                slot.0 = Some(id);
            }
        }
        self.waiting.store(w.list.len(), SeqCst);
        // Pairs with the fence in `release` (step 2).
        fence(SeqCst);
        if self.closed.load(SeqCst) {
            remove(&mut w, slot);
            self.waiting.store(w.list.len(), SeqCst);
            return Poll::Ready(Err(Closed));
        }
        if self.try_acquire() {
            remove(&mut w, slot);
            self.waiting.store(w.list.len(), SeqCst);
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }

    /// Forgets a registration after a slot was taken.
    fn unregister(&self, slot: &mut WaitSlot) {
        if slot.0.is_some() {
            let mut w = self.lock();
            remove(&mut w, slot);
            self.waiting.store(w.list.len(), SeqCst);
        }
    }

    /// A waiter goes away without a slot: protocol step 3.
    pub(crate) fn cancel(&self, slot: &mut WaitSlot) {
        let Some(id) = slot.0.take() else { return };
        let mut w = self.lock();
        let before = w.list.len();
        w.list.retain(|(i, _)| *i != id);
        if w.list.len() == before {
            // We were notified: pass the wake-up on.
            self.notify_one(&mut w);
        }
        self.waiting.store(w.list.len(), SeqCst);
    }

    /// Protocol step 4: no waiter waits any more.
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
        let list = std::mem::take(&mut self.lock().list);
        self.waiting.store(0, SeqCst);
        for (_, waker) in list {
            waker.wake();
        }
    }
}

fn remove(w: &mut Waiters, slot: &mut WaitSlot) {
    if let Some(id) = slot.0.take() {
        w.list.retain(|(i, _)| *i != id);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::sync::Arc;
    use std::task::Wake;

    struct CountWaker(StdCount);

    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn waker() -> (Arc<CountWaker>, Waker) {
        let c = Arc::new(CountWaker(StdCount::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn full_gate_wakes_the_first_waiter_on_release() {
        let gate = Gate::new(1);
        assert!(gate.try_acquire());
        assert!(!gate.try_acquire());
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut slot = WaitSlot::default();
        assert!(gate.poll_acquire(&mut slot, &mut cx).is_pending());
        gate.release();
        assert_eq!(count.0.load(SeqCst), 1);
        assert_eq!(gate.poll_acquire(&mut slot, &mut cx), Poll::Ready(Ok(())));
        assert_eq!(gate.queued(), 1);
    }

    #[test]
    fn a_dropped_notified_waiter_passes_the_wake_up_on() {
        let gate = Gate::new(1);
        assert!(gate.try_acquire());
        let (first, w1) = waker();
        let (second, w2) = waker();
        let (mut s1, mut s2) = (WaitSlot::default(), WaitSlot::default());
        assert!(gate
            .poll_acquire(&mut s1, &mut Context::from_waker(&w1))
            .is_pending());
        assert!(gate
            .poll_acquire(&mut s2, &mut Context::from_waker(&w2))
            .is_pending());
        gate.release();
        assert_eq!(first.0.load(SeqCst), 1);
        assert_eq!(second.0.load(SeqCst), 0);
        gate.cancel(&mut s1);
        assert_eq!(second.0.load(SeqCst), 1);
        assert_eq!(
            gate.poll_acquire(&mut s2, &mut Context::from_waker(&w2)),
            Poll::Ready(Ok(()))
        );
    }

    #[test]
    fn close_releases_every_waiter() {
        let gate = Gate::new(1);
        gate.force_acquire();
        let (count, w) = waker();
        let mut slot = WaitSlot::default();
        assert!(gate
            .poll_acquire(&mut slot, &mut Context::from_waker(&w))
            .is_pending());
        gate.close();
        assert_eq!(count.0.load(SeqCst), 1);
        assert_eq!(
            gate.poll_acquire(&mut slot, &mut Context::from_waker(&w)),
            Poll::Ready(Err(Closed))
        );
    }
}
