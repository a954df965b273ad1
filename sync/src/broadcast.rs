//! A multi-producer, multi-consumer broadcast channel: every receiver sees every message
//! sent after it subscribed, unless it falls more than `capacity` messages behind.
//!
//! # State (one lock)
//!
//! * `buffer` holds the last `capacity` messages; message number `head + i` is `buffer[i]`,
//!   and `tail = head + buffer.len()` is the number the next message will get.
//! * Each receiver keeps `next`, the number of the next message it wants. If `next < head`
//!   its messages were overwritten: the next `recv` reports `Lagged(head - next)` and jumps to
//!   `head`, so a lagging receiver learns exactly how many messages it missed.
//! * Waiting receivers sit in the wait list; a send releases all of them (each wants the new
//!   message). A receiver keeps its own wait-list key between polls, so a dropped `recv`
//!   future loses nothing: the message stays in the buffer and the key is reused or freed.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::loom::sync::Mutex;
use crate::waiters::{Key, WaitList, WakeList};

#[derive(Debug)]
struct Synced<T> {
    buffer: VecDeque<T>,
    head: u64,
    rx_count: usize,
    tx_count: usize,
    waiters: WaitList<()>,
}

impl<T> Synced<T> {
    fn tail(&self) -> u64 {
        self.head + self.buffer.len() as u64
    }
}

#[derive(Debug)]
struct Shared<T> {
    capacity: usize,
    synced: Mutex<Synced<T>>,
}

/// Creates a broadcast channel retaining the last `capacity` messages for slow receivers.
///
/// # Panics
///
/// If `capacity` is 0.
///
/// ```
/// use kiln_sync::broadcast;
///
/// futures::executor::block_on(async {
///     let (tx, mut rx1) = broadcast::channel(16);
///     let mut rx2 = tx.subscribe();
///     tx.send(10).unwrap();
///     assert_eq!(rx1.recv().await.unwrap(), 10);
///     assert_eq!(rx2.recv().await.unwrap(), 10);
/// });
/// ```
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "broadcast::channel capacity must be at least 1 (got 0)"
    );
    let shared = Arc::new(Shared {
        capacity,
        synced: Mutex::new(Synced {
            buffer: VecDeque::with_capacity(capacity.min(1024)),
            head: 0,
            rx_count: 1,
            tx_count: 1,
            waiters: WaitList::new(),
        }),
    });
    let rx = Receiver {
        shared: shared.clone(),
        next: 0,
        key: None,
    };
    (Sender { shared }, rx)
}

/// No receiver exists; the value is handed back.
///
/// ```
/// let (tx, rx) = kiln_sync::broadcast::channel(1);
/// drop(rx);
/// assert_eq!(tx.send(3).unwrap_err().into_inner(), 3);
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
        f.write_str("no broadcast receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Receiving failed: every sender is gone, or this receiver lagged behind.
///
/// ```
/// futures::executor::block_on(async {
///     let (tx, mut rx) = kiln_sync::broadcast::channel(1);
///     tx.send(1).unwrap();
///     tx.send(2).unwrap();
///     let err = rx.recv().await.unwrap_err();
///     assert_eq!(err.lagged(), Some(1));
///     assert_eq!(rx.recv().await.unwrap(), 2);
///     drop(tx);
///     assert!(rx.recv().await.unwrap_err().is_closed());
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError {
    lagged: u64,
}

impl RecvError {
    /// Every sender is gone and every retained message was received.
    pub fn is_closed(&self) -> bool {
        self.lagged == 0
    }

    /// The receiver fell behind and messages were overwritten before it saw them.
    pub fn is_lagged(&self) -> bool {
        self.lagged != 0
    }

    /// How many messages were missed, if this is a lag report.
    pub fn lagged(&self) -> Option<u64> {
        (self.lagged != 0).then_some(self.lagged)
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lagged == 0 {
            f.write_str("broadcast channel closed")
        } else {
            write!(f, "receiver lagged by {} messages", self.lagged)
        }
    }
}

impl std::error::Error for RecvError {}

/// [`Receiver::try_recv`] failed.
///
/// ```
/// let (tx, mut rx) = kiln_sync::broadcast::channel::<u8>(1);
/// assert!(rx.try_recv().unwrap_err().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryRecvError {
    inner: Option<RecvError>,
}

impl TryRecvError {
    /// No new message yet.
    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// Every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_some_and(RecvError::is_closed)
    }

    /// How many messages were missed, if this is a lag report.
    pub fn lagged(&self) -> Option<u64> {
        self.inner.as_ref().and_then(RecvError::lagged)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("broadcast channel empty"),
            Some(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The sending half; clone it for more producers.
///
/// ```
/// let (tx, _rx) = kiln_sync::broadcast::channel::<u8>(4);
/// assert_eq!(tx.receiver_count(), 1);
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
        self.shared.synced.lock().tx_count += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        let mut synced = self.shared.synced.lock();
        synced.tx_count -= 1;
        if synced.tx_count == 0 {
            synced.waiters.drain_all(&mut wakers, |_| {});
        }
        drop(synced);
        wakers.wake_all();
    }
}

impl<T> Sender<T> {
    /// Sends to every current receiver; returns how many there are. Fails, handing the
    /// value back, if there are none.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::broadcast::channel(4);
    /// assert_eq!(tx.send("x").unwrap(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wakers = WakeList::new();
        let mut synced = self.shared.synced.lock();
        if synced.rx_count == 0 {
            return Err(SendError(value));
        }
        synced.buffer.push_back(value);
        let evicted = if synced.buffer.len() > self.shared.capacity {
            synced.head += 1;
            synced.buffer.pop_front()
        } else {
            None
        };
        synced.waiters.drain_all(&mut wakers, |_| {});
        let receivers = synced.rx_count;
        drop(synced);
        drop(evicted);
        wakers.wake_all();
        Ok(receivers)
    }

    /// A new receiver that sees messages sent from now on.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::broadcast::channel::<u8>(4);
    /// drop(rx);
    /// let _rx = tx.subscribe();
    /// assert_eq!(tx.receiver_count(), 1);
    /// ```
    pub fn subscribe(&self) -> Receiver<T> {
        let mut synced = self.shared.synced.lock();
        synced.rx_count += 1;
        let next = synced.tail();
        drop(synced);
        Receiver {
            shared: self.shared.clone(),
            next,
            key: None,
        }
    }

    /// How many receivers exist.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::broadcast::channel::<u8>(4);
    /// let _rx2 = rx.resubscribe();
    /// assert_eq!(tx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.shared.synced.lock().rx_count
    }
}

/// A receiving half. Also a [`Stream`] of `Result<T, RecvError>` (lag reports) that ends
/// when every sender is gone.
///
/// ```
/// use futures::StreamExt;
/// futures::executor::block_on(async {
///     let (tx, rx) = kiln_sync::broadcast::channel(4);
///     tx.send(1).unwrap();
///     drop(tx);
///     let all: Vec<_> = rx.map(Result::unwrap).collect().await;
///     assert_eq!(all, vec![1]);
/// });
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
    key: Option<Key>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut synced = self.shared.synced.lock();
        synced.rx_count -= 1;
        if let Some(key) = self.key.take() {
            synced.waiters.remove(key);
        }
    }
}

impl<T: Clone> Receiver<T> {
    /// Takes the next message without waiting. The outer `Err` carries why nothing was
    /// returned: empty, closed, or lagged.
    fn take(next: &mut u64, synced: &Synced<T>) -> Option<Result<T, RecvError>> {
        if *next < synced.head {
            let missed = synced.head - *next;
            *next = synced.head;
            return Some(Err(RecvError { lagged: missed }));
        }
        if *next < synced.tail() {
            let value = synced.buffer[(*next - synced.head) as usize].clone();
            *next += 1;
            return Some(Ok(value));
        }
        if synced.tx_count == 0 {
            return Some(Err(RecvError { lagged: 0 }));
        }
        None
    }

    /// Polls for the next message.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::broadcast::channel(2);
    /// tx.send(5).unwrap();
    /// let v = futures::executor::block_on(std::future::poll_fn(|cx| rx.poll_recv(cx)));
    /// assert_eq!(v.unwrap(), 5);
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut synced = self.shared.synced.lock();
        if let Some(key) = self.key.take() {
            synced.waiters.remove(key);
        }
        if let Some(r) = Self::take(&mut self.next, &synced) {
            return Poll::Ready(r);
        }
        self.key = Some(synced.waiters.push_back((), cx.waker()));
        Poll::Pending
    }

    /// Receives the next message. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::broadcast::channel(2);
    ///     tx.send('a').unwrap();
    ///     assert_eq!(rx.recv().await.unwrap(), 'a');
    /// });
    /// ```
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Takes the next message if one is ready.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::broadcast::channel(2);
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv().unwrap(), 1);
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let synced = self.shared.synced.lock();
        match Self::take(&mut self.next, &synced) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(TryRecvError { inner: Some(e) }),
            None => Err(TryRecvError { inner: None }),
        }
    }
}

impl<T> Receiver<T> {
    /// A new receiver starting at the newest position (it does not see older messages).
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::broadcast::channel(2);
    /// tx.send(1).unwrap();
    /// let mut rx2 = rx.resubscribe();
    /// assert!(rx2.try_recv().is_err());
    /// ```
    pub fn resubscribe(&self) -> Self {
        let mut synced = self.shared.synced.lock();
        synced.rx_count += 1;
        let next = synced.tail();
        drop(synced);
        Self {
            shared: self.shared.clone(),
            next,
            key: None,
        }
    }

    /// Messages this receiver has not yet seen (including ones it already lost).
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::broadcast::channel(4);
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        (self.shared.synced.lock().tail() - self.next) as usize
    }

    /// Whether this receiver has seen every message.
    ///
    /// ```
    /// let (_tx, rx) = kiln_sync::broadcast::channel::<()>(4);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Clone> Stream for Receiver<T> {
    type Item = Result<T, RecvError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().poll_recv(cx) {
            Poll::Ready(Err(e)) if e.is_closed() => Poll::Ready(None),
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}
