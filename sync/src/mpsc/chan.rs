//! The state shared by both mpsc flavors.
//!
//! Messages travel through a lock-free multi-producer [`List`]. The single receiver parks
//! its waker in a one-slot mutex and announces itself through `rx_waiting`; producers take
//! that lock only when the flag says the receiver is parked, so a send is the list push plus
//! one swap on `rx_waiting`.
//!
//! # No lost wake-up
//!
//! * Receiver, before returning `Pending`: store waker → `rx_waiting.swap(true)` → pop again
//!   (and re-check `TX_CLOSED`).
//! * Sender, after pushing (or closing): `rx_waiting.swap(false)`; if it returned `true`,
//!   take the stored waker and wake it.
//!
//! Both sides read-modify-write the same atomic (AcqRel), so the two swaps are totally
//! ordered: if the sender's comes second it sees `true` and wakes the receiver; if it comes
//! first, the receiver's swap reads from it and so happens-after the push, and the
//! receiver's second pop finds the message.
//!
//! # Capacity
//!
//! Bounded channels add a [`RawSemaphore`] with `capacity` permits: a sender takes a permit
//! (CAS fast path, FIFO wait when full) before pushing, and the receiver returns the permits
//! of messages it has handed out in small batches (at most `release_batch` at a time, and
//! always before it parks). Messages not yet released still count against the capacity, so
//! at most `capacity` messages are ever in flight; batching only trades a little head-room
//! for one contended CAS (and one round of sender wake-ups) per batch instead of per message.
//!
//! A [`Permit`](super::Permit) is one such permit taken ahead of the message: sending through
//! it pushes without touching the semaphore (the permit then travels with the message, exactly
//! as after `send`), and dropping it unused releases the permit, which the slow release path
//! hands to the longest-waiting sender.
//!
//! # Closing (`state` bits)
//!
//! * `RX_CLOSED` — set by `Receiver::close` or receiver drop; later sends hand the value
//!   back, and for bounded channels the semaphore is closed so waiting senders fail. A send
//!   racing with the close may still land in the list; it is received (after `close`) or
//!   dropped with the channel (after receiver drop) — as with any channel, `Ok` means
//!   "enqueued", not "received".
//! * After `close`, a bounded receiver reports the end only once no sender holds a capacity
//!   permit (a reservation, or a `send` between taking its permit and pushing): every permit
//!   is then free in the semaphore or travels with a message in the list, so
//!   `available + list.len() == capacity` (checked after returning the receiver's own
//!   batched permits). The semaphore is closed, so `available` only grows and, while the
//!   receiver does not pop, so does the list: reading `available` first makes the check
//!   conservative. A sender that returns a permit without a message (unused reservation,
//!   refused push) then runs the same wake-up handshake as a push, so a closed receiver
//!   never misses the last outstanding permit.
//! * `TX_CLOSED` — set (Release) by the last sender's drop after all its pushes; a receiver
//!   that sees it (Acquire) and then finds the list empty knows no message will come.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::list::List;
use crate::batch::RawSemaphore;
use crate::loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Mutex,
};

const RX_CLOSED: usize = 1;
const TX_CLOSED: usize = 2;

#[derive(Debug)]
pub(super) struct Chan<T> {
    list: List<T>,
    state: AtomicUsize,
    rx_waiting: AtomicBool,
    rx_waker: Mutex<Option<Waker>>,
    /// Capacity permits; `None` for unbounded channels.
    pub(super) sem: Option<RawSemaphore>,
    pub(super) capacity: usize,
    tx_count: AtomicUsize,
}

impl<T> Chan<T> {
    pub(super) fn new(bound: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            list: List::new(),
            state: AtomicUsize::new(0),
            rx_waiting: AtomicBool::new(false),
            rx_waker: Mutex::new(None),
            sem: bound.map(RawSemaphore::new),
            capacity: bound.unwrap_or(usize::MAX),
            tx_count: AtomicUsize::new(1),
        })
    }

    /// Appends a message; hands it back if the receiver is closed.
    pub(super) fn push(&self, value: T) -> Result<(), T> {
        if self.is_rx_closed() {
            return Err(value);
        }
        self.list.push(value);
        self.wake_rx();
        Ok(())
    }

    /// Appends a message whose capacity permit the caller already holds, even if the
    /// receiver has closed since: a reservation made before the close may still deliver (the
    /// receiver drains it, or it is dropped with the channel once the receiver is gone).
    pub(super) fn push_reserved(&self, value: T) {
        self.list.push(value);
        self.wake_rx();
    }

    /// Returns one capacity permit that will not travel with a message (an unused
    /// reservation, or a push refused after the receiver closed). A closed receiver may be
    /// waiting for exactly this permit before it reports the end (see "Closing"), so the
    /// wake-up handshake always runs: checking `RX_CLOSED` first would race with a concurrent
    /// close (that flag and the permit count are different atomics, so each side could miss
    /// the other's write), while the `rx_waiting` swap orders the release before the
    /// receiver's re-check. An open receiver woken here just polls once more.
    pub(super) fn return_permit(&self) {
        self.sem
            .as_ref()
            .expect("capacity permits exist only for bounded channels")
            .release(1);
        self.wake_rx();
    }

    /// The sender half of the handshake in the module docs.
    fn wake_rx(&self) {
        // AcqRel: pairs with the swap in `RxCore::park` (see "No lost wake-up").
        if self.rx_waiting.swap(false, Ordering::AcqRel) {
            let waker = self.rx_waker.lock().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    pub(super) fn is_rx_closed(&self) -> bool {
        // Acquire: pairs with the Release fetch_or in `RxCore::close`.
        self.state.load(Ordering::Acquire) & RX_CLOSED != 0
    }

    fn is_tx_closed(&self) -> bool {
        // Acquire: pairs with the Release fetch_or in `drop_sender`, making every push that
        // preceded the last sender's drop visible to the following pop.
        self.state.load(Ordering::Acquire) & TX_CLOSED != 0
    }

    pub(super) fn add_sender(&self) {
        // Relaxed: the caller already holds a sender, so the count cannot reach zero now.
        self.tx_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn drop_sender(&self) {
        // AcqRel: the last sender's decrement acquires every other sender's earlier pushes
        // (their decrements released them) before publishing TX_CLOSED.
        if self.tx_count.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.state.fetch_or(TX_CLOSED, Ordering::Release);
        self.wake_rx();
    }

    pub(super) fn same(a: &Arc<Self>, b: &Arc<Self>) -> bool {
        Arc::ptr_eq(a, b)
    }
}

/// Why `RxCore::try_recv` found nothing.
pub(super) enum TryRecv {
    Empty,
    Disconnected,
}

/// The receiving side shared by both flavors.
#[derive(Debug)]
pub(super) struct RxCore<T> {
    pub(super) chan: Arc<Chan<T>>,
    /// Messages handed out whose capacity permits are not yet returned.
    unreleased: usize,
    /// Return permits once this many are pending.
    release_batch: usize,
}

/// Upper bound on permits the receiver returns at once.
const MAX_RELEASE_BATCH: usize = 32;

impl<T> RxCore<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Self {
        let release_batch = (chan.capacity / 16).clamp(1, MAX_RELEASE_BATCH);
        Self {
            chan,
            unreleased: 0,
            release_batch,
        }
    }

    fn flush_permits(&mut self) {
        if self.unreleased > 0 {
            if let Some(sem) = &self.chan.sem {
                sem.release(self.unreleased);
            }
            self.unreleased = 0;
        }
    }

    fn pop(&mut self) -> Option<T> {
        let v = self.chan.list.pop();
        if self.chan.sem.is_some() {
            match v {
                Some(_) => {
                    self.unreleased += 1;
                    if self.unreleased >= self.release_batch {
                        self.flush_permits();
                    }
                }
                None => self.flush_permits(),
            }
        }
        v
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(v) = self.pop() {
            return Poll::Ready(Some(v));
        }
        if self.is_done() {
            return Poll::Ready(self.pop());
        }
        self.park(cx.waker());
        if let Some(v) = self.pop() {
            return Poll::Ready(Some(v));
        }
        if self.is_done() {
            return Poll::Ready(self.pop());
        }
        Poll::Pending
    }

    /// Whether no message can arrive any more: every sender is gone, or the receiver closed
    /// the channel and no sender still holds a capacity permit (see "Closing"). Called only
    /// after a `pop` found the list empty, which also returned the batched permits.
    fn is_done(&self) -> bool {
        if self.chan.is_tx_closed() {
            return true;
        }
        if !self.chan.is_rx_closed() {
            return false;
        }
        match &self.chan.sem {
            None => true,
            Some(sem) => {
                // `available` first: after the close it only grows (see "Closing").
                let free = sem.available_permits();
                free + self.chan.list.len() >= self.chan.capacity
            }
        }
    }

    /// The receiver half of the handshake in the module docs.
    fn park(&self, waker: &Waker) {
        {
            let mut slot = self.chan.rx_waker.lock();
            match &*slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        // AcqRel: pairs with the swap in `Chan::wake_rx` (see "No lost wake-up").
        self.chan.rx_waiting.swap(true, Ordering::AcqRel);
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecv> {
        if let Some(v) = self.pop() {
            return Ok(v);
        }
        if self.is_done() {
            return self.pop().ok_or(TryRecv::Disconnected);
        }
        Err(TryRecv::Empty)
    }

    pub(super) fn close(&mut self) {
        // Release: pairs with the Acquire load in `is_rx_closed`.
        self.chan.state.fetch_or(RX_CLOSED, Ordering::Release);
        if let Some(sem) = &self.chan.sem {
            sem.close();
        }
    }

    pub(super) fn len(&self) -> usize {
        self.chan.list.len()
    }
}

impl<T> Drop for RxCore<T> {
    fn drop(&mut self) {
        self.close();
        // Drop undelivered messages now rather than with the last sender.
        while self.chan.list.pop().is_some() {}
    }
}
