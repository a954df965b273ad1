//! The state shared by both mpsc flavors.
//!
//! Messages sit in a `VecDeque` under one lock together with the receiver's waker and the two
//! close flags. The receiver moves the whole queue into its own local buffer in one locked
//! swap and then pops from that buffer lock-free, so a busy consumer takes the lock once per
//! batch, not once per message.
//!
//! Bounded channels add a [`RawSemaphore`] with `capacity` permits: a sender takes a permit
//! (CAS fast path, FIFO wait when full) before pushing, and the receiver returns one permit
//! per message it hands out. Messages held in the receiver's local buffer therefore still
//! count against the capacity until `recv` returns them.
//!
//! # Flags (under the lock)
//!
//! * `rx_closed` — set by `Receiver::close` or receiver drop; pushes fail and hand the value
//!   back. For bounded channels the semaphore is closed right after, failing waiting sends.
//! * `tx_closed` — set when the last sender is dropped; `recv` returns `None` once empty.

use std::collections::VecDeque;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::batch::RawSemaphore;
use crate::loom::{AtomicUsize, Mutex, Ordering};

#[derive(Debug)]
struct Synced<T> {
    queue: VecDeque<T>,
    rx_waker: Option<Waker>,
    rx_closed: bool,
    tx_closed: bool,
}

#[derive(Debug)]
pub(super) struct Chan<T> {
    synced: Mutex<Synced<T>>,
    /// Capacity permits; `None` for unbounded channels.
    pub(super) sem: Option<RawSemaphore>,
    pub(super) capacity: usize,
    tx_count: AtomicUsize,
}

impl<T> Chan<T> {
    pub(super) fn new(bound: Option<usize>) -> Arc<Self> {
        Arc::new(Self {
            synced: Mutex::new(Synced {
                queue: VecDeque::new(),
                rx_waker: None,
                rx_closed: false,
                tx_closed: false,
            }),
            sem: bound.map(RawSemaphore::new),
            capacity: bound.unwrap_or(usize::MAX),
            tx_count: AtomicUsize::new(1),
        })
    }

    /// Appends a message; hands it back if the receiver is closed.
    pub(super) fn push(&self, value: T) -> Result<(), T> {
        let mut synced = self.synced.lock();
        if synced.rx_closed {
            return Err(value);
        }
        synced.queue.push_back(value);
        let waker = synced.rx_waker.take();
        drop(synced);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    pub(super) fn is_rx_closed(&self) -> bool {
        self.synced.lock().rx_closed
    }

    pub(super) fn add_sender(&self) {
        // Relaxed: the caller already holds a sender, so the count cannot reach zero now.
        self.tx_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn drop_sender(&self) {
        // AcqRel: the last sender's decrement must see every other sender's earlier pushes
        // (they are also ordered by the lock it takes next).
        if self.tx_count.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut synced = self.synced.lock();
        synced.tx_closed = true;
        let waker = synced.rx_waker.take();
        drop(synced);
        if let Some(w) = waker {
            w.wake();
        }
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
    local: VecDeque<T>,
}

impl<T> RxCore<T> {
    pub(super) fn new(chan: Arc<Chan<T>>) -> Self {
        Self {
            chan,
            local: VecDeque::new(),
        }
    }

    fn take_local(&mut self) -> Option<T> {
        let v = self.local.pop_front()?;
        if let Some(sem) = &self.chan.sem {
            sem.release(1);
        }
        Some(v)
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if let Some(v) = self.take_local() {
            return Poll::Ready(Some(v));
        }
        let mut synced = self.chan.synced.lock();
        if !synced.queue.is_empty() {
            mem::swap(&mut synced.queue, &mut self.local);
            drop(synced);
            return Poll::Ready(self.take_local());
        }
        if synced.tx_closed || synced.rx_closed {
            return Poll::Ready(None);
        }
        match &synced.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => synced.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecv> {
        if let Some(v) = self.take_local() {
            return Ok(v);
        }
        let mut synced = self.chan.synced.lock();
        if !synced.queue.is_empty() {
            mem::swap(&mut synced.queue, &mut self.local);
            drop(synced);
            return self.take_local().ok_or(TryRecv::Empty);
        }
        if synced.tx_closed || synced.rx_closed {
            Err(TryRecv::Disconnected)
        } else {
            Err(TryRecv::Empty)
        }
    }

    pub(super) fn close(&mut self) {
        self.chan.synced.lock().rx_closed = true;
        if let Some(sem) = &self.chan.sem {
            sem.close();
        }
    }

    pub(super) fn len(&self) -> usize {
        self.local.len() + self.chan.synced.lock().queue.len()
    }
}

impl<T> Drop for RxCore<T> {
    fn drop(&mut self) {
        self.close();
        // Drop undelivered messages outside the lock: their destructors may do anything.
        let queued = mem::take(&mut self.chan.synced.lock().queue);
        drop(queued);
    }
}
