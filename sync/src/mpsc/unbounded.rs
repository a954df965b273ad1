//! The unbounded flavor: the same channel state without a capacity semaphore.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::chan::{Chan, RxCore};
use super::{SendError, TryRecvError};

/// Creates a channel without a capacity limit; sending never waits.
///
/// ```
/// let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel();
/// for i in 0..1000 {
///     tx.send(i).unwrap();
/// }
/// assert_eq!(rx.try_recv().unwrap(), 0);
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(None);
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver {
            core: RxCore::new(chan),
        },
    )
}

/// The sending half of an unbounded channel.
///
/// ```
/// let (tx, _rx) = kiln_sync::mpsc::unbounded_channel::<u8>();
/// assert!(!tx.is_closed());
/// ```
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender").finish_non_exhaustive()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> UnboundedSender<T> {
    /// Sends without waiting; hands the value back if the receiver is gone or closed.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv().unwrap(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.push(value).map_err(SendError)
    }

    /// Whether the receiver is gone or closed.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::mpsc::unbounded_channel::<()>();
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.is_rx_closed()
    }

    /// Whether both senders feed the same channel.
    ///
    /// ```
    /// let (tx, _rx) = kiln_sync::mpsc::unbounded_channel::<()>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        Chan::same(&self.chan, &other.chan)
    }
}

/// The receiving half of an unbounded channel. Also a [`Stream`].
///
/// ```
/// futures::executor::block_on(async {
///     let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel();
///     tx.send('x').unwrap();
///     assert_eq!(rx.recv().await, Some('x'));
/// });
/// ```
pub struct UnboundedReceiver<T> {
    core: RxCore<T>,
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver").finish_non_exhaustive()
    }
}

impl<T> UnboundedReceiver<T> {
    /// Receives the next message; `None` once every sender is gone and the buffer is empty.
    /// Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel::<()>();
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub async fn recv(&mut self) -> Option<T> {
        std::future::poll_fn(|cx| self.core.poll_recv(cx)).await
    }

    /// Receives from synchronous code, parking the calling thread until a message arrives;
    /// `None` once every sender is gone and the buffer is empty.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// a sender runs on that thread); use `recv().await` there instead.
    ///
    /// ```
    /// use std::thread;
    ///
    /// let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel();
    /// let consumer = thread::spawn(move || {
    ///     let mut sum = 0;
    ///     while let Some(v) = rx.blocking_recv() {
    ///         sum += v;
    ///     }
    ///     sum
    /// });
    /// for i in 1..=4 {
    ///     tx.send(i).unwrap();
    /// }
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), 10);
    /// ```
    pub fn blocking_recv(&mut self) -> Option<T> {
        crate::park::block_on(self.recv())
    }

    /// Polls for the next message.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel();
    /// tx.send(2).unwrap();
    /// let v = futures::executor::block_on(std::future::poll_fn(|cx| rx.poll_recv(cx)));
    /// assert_eq!(v, Some(2));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.core.poll_recv(cx)
    }

    /// Takes a message if one is ready.
    ///
    /// ```
    /// let (_tx, mut rx) = kiln_sync::mpsc::unbounded_channel::<u8>();
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.core.try_recv().map_err(Into::into)
    }

    /// Closes the channel to senders; buffered messages stay receivable.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::mpsc::unbounded_channel();
    /// tx.send(1).unwrap();
    /// rx.close();
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.try_recv().unwrap(), 1);
    /// ```
    pub fn close(&mut self) {
        self.core.close();
    }

    /// Messages waiting to be received.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::mpsc::unbounded_channel();
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no message is waiting.
    ///
    /// ```
    /// let (_tx, rx) = kiln_sync::mpsc::unbounded_channel::<()>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// The receiver is never structurally pinned: polling only takes `&mut self`.
impl<T> Unpin for UnboundedReceiver<T> {}

impl<T> Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().core.poll_recv(cx)
    }
}
