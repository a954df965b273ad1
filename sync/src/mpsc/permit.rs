//! Reserving capacity in a bounded channel ahead of the message.
//!
//! A permit is one capacity permit of the channel's semaphore, taken exactly as `send` takes
//! it (same FIFO queue, same fast path), but handed to the caller instead of being consumed
//! at once. The permit's lifetime is a small state machine with two exits:
//!
//! * `send` — pushes the message without touching the semaphore; the permit travels with the
//!   message and the receiver returns it after taking the message (see `chan`, "Capacity").
//!   It cannot fail and never waits: capacity was secured by the reservation.
//! * drop — releases the permit to the semaphore, whose slow path hands it to the
//!   longest-waiting sender (or reservation), so an unused reservation never strands a slot.
//!
//! A pending `reserve` future that is dropped behaves like a dropped `send`: it leaves the
//! queue and passes on whatever permit it was handed.

use std::fmt;

use super::chan::Chan;
use super::{SendError, Sender, TrySendError};
use crate::batch::TryAcquire;

impl<T> Sender<T> {
    /// Waits for one slot of capacity and reserves it, so that the message can be sent later
    /// without waiting and without failing. Fails if the receiver is gone or closed.
    ///
    /// Reservations queue with senders in arrival order. Cancel-safe: dropping the future
    /// gives up its place in line and passes on any slot it had been handed.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    ///     let permit = tx.reserve().await.unwrap();
    ///     assert_eq!(tx.capacity(), 0); // the slot is held by the permit
    ///     permit.send("hello");
    ///     assert_eq!(rx.recv().await, Some("hello"));
    /// });
    /// ```
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        match self.sem().acquire(1).await {
            Ok(()) => Ok(Permit { chan: &self.chan }),
            Err(()) => Err(SendError(())),
        }
    }

    /// Reserves one slot if one is free right now and no sender is waiting for it.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::mpsc::channel::<u8>(1);
    /// let permit = tx.try_reserve().unwrap();
    /// assert!(tx.try_reserve().unwrap_err().is_full());
    /// drop(permit); // the slot is free again
    /// assert!(tx.try_reserve().is_ok());
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.try_take_permit(())?;
        Ok(Permit { chan: &self.chan })
    }

    /// Like [`reserve`](Sender::reserve), but the permit owns the sender, so it can be moved
    /// into another task or thread. On failure the sender is handed back.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    ///     let permit = tx.reserve_owned().await.unwrap();
    ///     let tx = std::thread::spawn(move || permit.send(7)).join().unwrap();
    ///     assert_eq!(rx.recv().await, Some(7));
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<Self>> {
        match self.sem().acquire(1).await {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(()) => Err(SendError(self)),
        }
    }

    /// Non-waiting [`reserve_owned`](Sender::reserve_owned); on failure the error says why
    /// and hands the sender back.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::mpsc::channel::<u8>(1);
    /// drop(rx);
    /// let err = tx.try_reserve_owned().unwrap_err();
    /// assert!(err.is_closed());
    /// let tx = err.into_inner(); // the sender comes back
    /// assert!(tx.is_closed());
    /// ```
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        match self.try_take_permit(()) {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(e) => Err(TrySendError {
                value: self,
                closed: e.closed,
            }),
        }
    }

    /// Takes one capacity permit without waiting and hands `value` back; the error carries
    /// it back too.
    pub(super) fn try_take_permit<V>(&self, value: V) -> Result<V, TrySendError<V>> {
        match self.sem().try_acquire(1) {
            Ok(()) => Ok(value),
            Err(TryAcquire::Closed) => Err(TrySendError {
                value,
                closed: true,
            }),
            Err(TryAcquire::NoPermits) => Err(TrySendError {
                value,
                closed: self.chan.is_rx_closed(),
            }),
        }
    }
}

/// One reserved slot of a bounded channel, from [`Sender::reserve`] or
/// [`Sender::try_reserve`]. [`send`](Permit::send) uses it; dropping it unused frees the slot
/// for the next waiting sender.
///
/// ```
/// futures::executor::block_on(async {
///     let (tx, mut rx) = kiln_sync::mpsc::channel(2);
///     // Reserve both slots first, then fill them: neither send can fail or wait.
///     let a = tx.reserve().await.unwrap();
///     let b = tx.reserve().await.unwrap();
///     b.send(2);
///     a.send(1);
///     assert_eq!(rx.recv().await, Some(2));
///     assert_eq!(rx.recv().await, Some(1));
/// });
/// ```
#[must_use = "an unused permit frees its slot as soon as it is dropped"]
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved slot. Never waits and never fails. If the receiver has
    /// called [`close`](super::Receiver::close) since the reservation, it still receives the
    /// value (it reports the end only once no reservation is outstanding); if the receiver is
    /// gone, the value is dropped with the channel.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    /// tx.try_reserve().unwrap().send('k');
    /// assert_eq!(rx.try_recv().unwrap(), 'k');
    /// ```
    pub fn send(self, value: T) {
        self.chan.push_reserved(value);
        // The permit now travels with the message; the receiver returns it.
        std::mem::forget(self);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        release_slot(self.chan);
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// One reserved slot of a bounded channel that owns its [`Sender`], from
/// [`Sender::reserve_owned`] or [`Sender::try_reserve_owned`]. Dropping it unused frees the
/// slot (and drops the sender).
///
/// ```
/// let (tx, mut rx) = kiln_sync::mpsc::channel(1);
/// let permit: kiln_sync::mpsc::OwnedPermit<u8> = tx.try_reserve_owned().unwrap();
/// let tx = permit.send(3);
/// assert_eq!(rx.try_recv().unwrap(), 3);
/// assert_eq!(tx.capacity(), 1);
/// ```
#[must_use = "an unused permit frees its slot as soon as it is dropped"]
pub struct OwnedPermit<T> {
    /// `None` only after `send`/`release` took it out.
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Sends `value` into the reserved slot and hands the sender back. Never waits and never
    /// fails, as [`Permit::send`].
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    /// let tx = tx.try_reserve_owned().unwrap().send(1);
    /// assert!(tx.try_send(2).unwrap_err().is_full());
    /// assert_eq!(rx.try_recv().unwrap(), 1);
    /// ```
    pub fn send(mut self, value: T) -> Sender<T> {
        let sender = self
            .sender
            .take()
            .expect("an owned permit holds its sender");
        // The permit now travels with the message; the receiver returns it.
        sender.chan.push_reserved(value);
        sender
    }

    /// Gives the slot back unused and returns the sender.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::mpsc::channel::<u8>(1);
    /// let tx = tx.try_reserve_owned().unwrap().release();
    /// assert_eq!(tx.capacity(), 1);
    /// ```
    pub fn release(mut self) -> Sender<T> {
        let sender = self
            .sender
            .take()
            .expect("an owned permit holds its sender");
        release_slot(&sender.chan);
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            release_slot(&sender.chan);
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}

/// Returns one unused capacity permit; the semaphore hands it to the front waiter, if any.
fn release_slot<T>(chan: &Chan<T>) {
    chan.return_permit();
}
