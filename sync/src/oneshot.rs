//! A channel for sending exactly one value.
//!
//! Both halves share one small lock-protected state: the value slot, the receiver's waker,
//! the sender's waker (for [`Sender::closed`]) and two flags. There is exactly one waiter on
//! each side, so the wait list degenerates to a single waker slot per side.
//!
//! * `tx_done` — set when the sender sends or is dropped; never cleared. Receiving finds the
//!   value, or learns that none will come.
//! * `rx_closed` — set when the receiver is dropped or calls [`Receiver::close`]; a later
//!   send hands the value back.
//!
//! Wakers are taken out under the lock and woken after it is released.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::loom::sync::Mutex;

#[derive(Debug)]
struct State<T> {
    value: Option<T>,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
    tx_done: bool,
    rx_closed: bool,
}

type Shared<T> = Arc<Mutex<State<T>>>;

/// Creates a one-shot channel.
///
/// ```
/// use kiln_sync::oneshot;
///
/// let (tx, rx) = oneshot::channel();
/// std::thread::spawn(move || tx.send("done").unwrap());
/// assert_eq!(futures::executor::block_on(rx).unwrap(), "done");
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(State {
        value: None,
        rx_waker: None,
        tx_waker: None,
        tx_done: false,
        rx_closed: false,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver {
            shared: Some(shared),
        },
    )
}

/// The sending half; consumed by [`send`](Sender::send).
///
/// ```
/// let (tx, rx) = kiln_sync::oneshot::channel::<u8>();
/// drop(rx);
/// assert!(tx.is_closed());
/// ```
pub struct Sender<T> {
    shared: Option<Shared<T>>,
}

/// The receiving half; a future resolving to the value.
///
/// ```
/// let (tx, rx) = kiln_sync::oneshot::channel();
/// tx.send(5).unwrap();
/// assert_eq!(futures::executor::block_on(rx), Ok(5));
/// ```
pub struct Receiver<T> {
    shared: Option<Shared<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// The sender was dropped without sending.
///
/// ```
/// let (tx, rx) = kiln_sync::oneshot::channel::<u8>();
/// drop(tx);
/// let err = futures::executor::block_on(rx).unwrap_err();
/// assert_eq!(err.to_string(), "oneshot sender dropped without sending");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// [`Receiver::try_recv`] found no value.
///
/// ```
/// let (tx, mut rx) = kiln_sync::oneshot::channel::<u8>();
/// assert!(rx.try_recv().unwrap_err().is_empty());
/// drop(tx);
/// assert!(rx.try_recv().unwrap_err().is_closed());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryRecvError {
    closed: bool,
}

impl TryRecvError {
    /// No value yet, but the sender may still send one.
    pub fn is_empty(&self) -> bool {
        !self.closed
    }

    /// No value and none will come (sender gone or value already taken).
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            f.write_str("oneshot channel closed")
        } else {
            f.write_str("oneshot channel empty")
        }
    }
}

impl std::error::Error for TryRecvError {}

impl<T> Sender<T> {
    /// Sends the value; hands it back as `Err` if the receiver is gone or closed.
    ///
    /// ```
    /// let (tx, rx) = kiln_sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(3), Err(3));
    /// ```
    pub fn send(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("sender used after send");
        let mut st = shared.lock();
        st.tx_done = true;
        if st.rx_closed {
            return Err(value);
        }
        st.value = Some(value);
        let waker = st.rx_waker.take();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone or closed.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::oneshot::channel::<()>();
    /// rx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.lock().rx_closed)
    }

    /// Polls for the receiver closing; registers the waker otherwise.
    ///
    /// ```
    /// use std::task::Poll;
    /// let (mut tx, rx) = kiln_sync::oneshot::channel::<()>();
    /// drop(rx);
    /// futures::executor::block_on(std::future::poll_fn(|cx| tx.poll_closed(cx)));
    /// ```
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.as_ref().expect("sender used after send");
        let mut st = shared.lock();
        if st.rx_closed {
            return Poll::Ready(());
        }
        match &st.tx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.tx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits until the receiver is dropped or closed. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let (mut tx, rx) = kiln_sync::oneshot::channel::<()>();
    ///     drop(rx);
    ///     tx.closed().await;
    /// });
    /// ```
    pub async fn closed(&mut self) {
        std::future::poll_fn(|cx| self.poll_closed(cx)).await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut st = shared.lock();
            st.tx_done = true;
            let waker = st.rx_waker.take();
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> Receiver<T> {
    /// Stops the sender from sending; a value sent before this stays receivable.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::oneshot::channel();
    /// rx.close();
    /// assert_eq!(tx.send(1), Err(1));
    /// ```
    pub fn close(&mut self) {
        if let Some(shared) = &self.shared {
            let mut st = shared.lock();
            st.rx_closed = true;
            let waker = st.tx_waker.take();
            drop(st);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Waits for the value from synchronous code, parking the calling thread until it arrives
    /// or the sender is dropped without sending.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// the sender runs on that thread); await the receiver there instead.
    ///
    /// ```
    /// use std::thread;
    ///
    /// let (tx, rx) = kiln_sync::oneshot::channel();
    /// let waiter = thread::spawn(move || rx.blocking_recv());
    /// tx.send("ready").unwrap();
    /// assert_eq!(waiter.join().unwrap(), Ok("ready"));
    /// ```
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        crate::park::block_on(self)
    }

    /// Takes the value if it has arrived.
    ///
    /// ```
    /// let (tx, mut rx) = kiln_sync::oneshot::channel();
    /// tx.send(9).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(9));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(shared) = &self.shared else {
            return Err(TryRecvError { closed: true });
        };
        let mut st = shared.lock();
        if let Some(v) = st.value.take() {
            drop(st);
            self.shared = None;
            return Ok(v);
        }
        Err(TryRecvError { closed: st.tx_done })
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(shared) = &this.shared else {
            return Poll::Ready(Err(RecvError(())));
        };
        let mut st = shared.lock();
        if let Some(v) = st.value.take() {
            drop(st);
            this.shared = None;
            return Poll::Ready(Ok(v));
        }
        if st.tx_done {
            drop(st);
            this.shared = None;
            return Poll::Ready(Err(RecvError(())));
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut st = shared.lock();
            st.rx_closed = true;
            let value = st.value.take();
            let waker = st.tx_waker.take();
            drop(st);
            drop(value);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}
