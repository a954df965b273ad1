//! Multi-producer, single-consumer channels: [`channel`] (bounded, with backpressure) and
//! [`unbounded_channel`].
//!
//! Bounded senders can also reserve capacity ahead of the message ([`Sender::reserve`],
//! [`Permit`]), and both flavors have `blocking_*` forms for synchronous threads.
//!
//! See `chan` for the shared state and its protocol. Sends are cancel-safe (a dropped
//! pending `send` gives up its place in line and any capacity it was handed, and the value is
//! dropped unsent); `recv` is cancel-safe (a message leaves the channel only in the poll that
//! returns it). Receivers implement [`Stream`].

mod chan;
mod list;
mod permit;
mod unbounded;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use self::chan::{Chan, RxCore, TryRecv};

pub use self::permit::{OwnedPermit, Permit};
pub use self::unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Creates a bounded channel holding at most `capacity` messages; `send` waits while full.
///
/// # Panics
///
/// If `capacity` is 0 (there is no rendezvous mode), or exceeds
/// [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) (`usize::MAX >> 3`); use
/// [`unbounded_channel`] for no limit.
///
/// ```
/// use kiln_sync::mpsc;
///
/// futures::executor::block_on(async {
///     let (tx, mut rx) = mpsc::channel(2);
///     tx.send(1).await.unwrap();
///     tx.send(2).await.unwrap();
///     assert!(tx.try_send(3).unwrap_err().is_full());
///     assert_eq!(rx.recv().await, Some(1));
/// });
/// ```
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "mpsc::channel capacity must be at least 1 (got 0); use unbounded_channel() for no limit"
    );
    assert!(
        capacity <= crate::Semaphore::MAX_PERMITS,
        "mpsc::channel capacity must be at most Semaphore::MAX_PERMITS ({}), got {capacity}; \
         use unbounded_channel() for no limit",
        crate::Semaphore::MAX_PERMITS
    );
    let chan = Chan::new(Some(capacity));
    (
        Sender { chan: chan.clone() },
        Receiver {
            core: RxCore::new(chan),
        },
    )
}

/// The value could not be sent because the receiver is gone or closed; it is handed back.
///
/// ```
/// let (tx, rx) = kiln_sync::mpsc::unbounded_channel();
/// drop(rx);
/// let err = tx.send(5).unwrap_err();
/// assert_eq!(err.into_inner(), 5);
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
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// [`Sender::try_send`] failed: the channel is full or closed. The value is handed back.
///
/// ```
/// let (tx, _rx) = kiln_sync::mpsc::channel(1);
/// tx.try_send(1).unwrap();
/// let err = tx.try_send(2).unwrap_err();
/// assert!(err.is_full() && !err.is_closed());
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(PartialEq, Eq, Clone)]
pub struct TrySendError<T> {
    value: T,
    closed: bool,
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Whether the channel was at capacity.
    pub fn is_full(&self) -> bool {
        !self.closed
    }

    /// Whether the receiver is gone or closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrySendError")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            f.write_str("channel closed")
        } else {
            f.write_str("channel full")
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// `try_recv` found nothing: empty for now, or disconnected for good.
///
/// ```
/// let (tx, mut rx) = kiln_sync::mpsc::channel::<u8>(1);
/// assert!(rx.try_recv().unwrap_err().is_empty());
/// drop(tx);
/// assert!(rx.try_recv().unwrap_err().is_disconnected());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryRecvError {
    disconnected: bool,
}

impl TryRecvError {
    /// No message now, but senders remain.
    pub fn is_empty(&self) -> bool {
        !self.disconnected
    }

    /// No message and none will come: every sender is gone, or the receiver was closed and
    /// no capacity reserved before the close is still unused.
    pub fn is_disconnected(&self) -> bool {
        self.disconnected
    }
}

impl From<TryRecv> for TryRecvError {
    fn from(e: TryRecv) -> Self {
        Self {
            disconnected: matches!(e, TryRecv::Disconnected),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.disconnected {
            f.write_str("channel disconnected")
        } else {
            f.write_str("channel empty")
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The sending half of a bounded channel; clone it for more producers.
///
/// ```
/// let (tx, mut rx) = kiln_sync::mpsc::channel(4);
/// let tx2 = tx.clone();
/// tx.try_send('a').unwrap();
/// tx2.try_send('b').unwrap();
/// assert_eq!(rx.try_recv().unwrap(), 'a');
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> Sender<T> {
    fn sem(&self) -> &crate::batch::RawSemaphore {
        self.chan
            .sem
            .as_ref()
            .expect("bounded channels have a semaphore")
    }

    /// Sends a message, waiting while the channel is full. Fails (handing the value back) if
    /// the receiver is gone or closed.
    ///
    /// Cancel-safe: if the future is dropped before completing, the message was not sent and
    /// the slot it may have been handed passes to the next waiting sender.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    ///     tx.send("hi").await.unwrap();
    ///     assert_eq!(rx.recv().await, Some("hi"));
    /// });
    /// ```
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.sem().acquire(1).await.is_err() {
            return Err(SendError(value));
        }
        self.chan.push(value).map_err(|value| {
            self.chan.return_permit();
            SendError(value)
        })
    }

    /// Sends from synchronous code, parking the calling thread while the channel is full.
    /// Fails (handing the value back) if the receiver is gone or closed. Blocked senders are
    /// served in the same FIFO order as async [`send`](Sender::send) callers.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// the receiver runs on that thread); use `send().await` there instead.
    ///
    /// ```
    /// use std::thread;
    ///
    /// let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    /// let producer = thread::spawn(move || {
    ///     for i in 0..3 {
    ///         tx.blocking_send(i).unwrap();
    ///     }
    /// });
    /// let got: Vec<_> = (0..3).map(|_| rx.blocking_recv().unwrap()).collect();
    /// producer.join().unwrap();
    /// assert_eq!(got, vec![0, 1, 2]);
    /// ```
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        crate::park::block_on(self.send(value))
    }

    /// Sends without waiting; on failure the error says why and hands the value back.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::mpsc::channel(1);
    /// drop(rx);
    /// let err = tx.try_send(1).unwrap_err();
    /// assert!(err.is_closed());
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let value = self.try_take_permit(value)?;
        self.chan.push(value).map_err(|value| {
            self.chan.return_permit();
            TrySendError {
                value,
                closed: true,
            }
        })
    }

    /// Whether the receiver is gone or closed.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::mpsc::channel::<()>(1);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.sem().is_closed()
    }

    /// How many more messages fit right now.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::mpsc::channel(3);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(tx.capacity(), 2);
    /// ```
    pub fn capacity(&self) -> usize {
        self.sem().available_permits()
    }

    /// The capacity the channel was created with.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::mpsc::channel::<()>(3);
    /// assert_eq!(tx.max_capacity(), 3);
    /// ```
    pub fn max_capacity(&self) -> usize {
        self.chan.capacity
    }

    /// Whether both senders feed the same channel.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::mpsc::channel::<()>(1);
    /// assert!(tx.same_channel(&tx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        Chan::same(&self.chan, &other.chan)
    }
}

/// The receiving half of a bounded channel. Also a [`Stream`] of messages.
///
/// ```
/// use futures::StreamExt;
/// futures::executor::block_on(async {
///     let (tx, rx) = kiln_sync::mpsc::channel(4);
///     tx.send(1).await.unwrap();
///     tx.send(2).await.unwrap();
///     drop(tx);
///     assert_eq!(rx.collect::<Vec<_>>().await, vec![1, 2]);
/// });
/// ```
pub struct Receiver<T> {
    core: RxCore<T>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Receives the next message; `None` once every sender is gone (or the receiver was
    /// closed) and the buffer is drained. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::mpsc::channel::<u8>(1);
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.core.poll_recv(cx)).await
    }

    /// Receives from synchronous code, parking the calling thread until a message arrives;
    /// `None` once every sender is gone (or the receiver was closed) and the buffer is empty.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// a sender runs on that thread); use `recv().await` there instead.
    ///
    /// ```
    /// use std::thread;
    ///
    /// let (tx, mut rx) = kiln_sync::mpsc::channel(2);
    /// let consumer = thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     while let Some(v) = rx.blocking_recv() {
    ///         got.push(v);
    ///     }
    ///     got
    /// });
    /// for i in 0..5 {
    ///     tx.blocking_send(i).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    pub fn blocking_recv(&mut self) -> Option<T> {
        crate::park::block_on(self.recv())
    }

    /// Polls for the next message.
    ///
    /// ```
    /// use std::task::Poll;
    /// let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    /// tx.try_send(1).unwrap();
    /// let got = futures::executor::block_on(std::future::poll_fn(|cx| rx.poll_recv(cx)));
    /// assert_eq!(got, Some(1));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.core.poll_recv(cx)
    }

    /// Takes a message if one is ready.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::mpsc::channel(1);
    /// tx.try_send(4).unwrap();
    /// assert_eq!(rx.try_recv().unwrap(), 4);
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.core.try_recv().map_err(Into::into)
    }

    /// Closes the channel to senders; messages already sent stay receivable, and so do
    /// messages sent through [`Permit`]s reserved before the close: `recv` returns `None` only
    /// once no reservation is outstanding.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::mpsc::channel(2);
    ///     tx.send(1).await.unwrap();
    ///     rx.close();
    ///     assert!(tx.send(2).await.is_err());
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn close(&mut self) {
        self.core.close();
    }

    /// Messages waiting to be received.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::mpsc::channel(2);
    /// tx.try_send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no message is waiting.
    ///
    /// ```
    /// let (_tx, rx) = kiln_sync::mpsc::channel::<()>(2);
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// The receiver is never structurally pinned: polling only takes `&mut self`.
impl<T> Unpin for Receiver<T> {}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().core.poll_recv(cx)
    }
}
