//! A job's completion slot, its [`JoinHandle`], [`JoinError`] and [`is_cancelled`].
//!
//! # The slot's state (one atomic byte, transitions below)
//!
//! - `QUEUED`: accepted, not started. Left by exactly one of: a pool thread starting the job
//!   (`transition_to_running`), an abort (`JoinHandle::abort`), or the job being dropped unrun
//!   (shutdown; `cancel_unrun`). The last two complete the slot with a cancelled error at once.
//! - `RUNNING`: a pool thread runs the closure; it completes the slot when the closure returns
//!   or panics.
//! - `DONE`: the result (or error) is in `inner`, or was taken by the handle.
//!
//! The `cancelled` flag is separate: set by `abort` in any state, read by the running closure
//! through [`is_cancelled`]. The result and the handle's waker live together under one mutex,
//! so a completion never misses a waker stored by a concurrent poll.

use crate::loom::sync::{
    atomic::{AtomicBool, AtomicUsize},
    Mutex,
};
use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};

const QUEUED: usize = 0;
const RUNNING: usize = 1;
const DONE: usize = 2;

/// Whether the job may run (see [`Slot::transition_to_running`]).
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// The closure runs now; the caller completes the slot afterwards.
    Run,
    /// The job was aborted before it started: drop the closure unrun.
    Cancelled,
}

struct Inner<R> {
    result: Option<Result<R, JoinError>>,
    waker: Option<Waker>,
}

/// Where a job's result meets its [`JoinHandle`].
pub(crate) struct Slot<R> {
    state: AtomicUsize,
    cancelled: AtomicBool,
    inner: Mutex<Inner<R>>,
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Arc<Slot<R>> {
        Arc::new(Slot::queued())
    }

    /// A slot in the `QUEUED` state, to embed in a job's allocation.
    pub(crate) fn queued() -> Slot<R> {
        Slot {
            state: AtomicUsize::new(QUEUED),
            cancelled: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                result: None,
                waker: None,
            }),
        }
    }

    /// A pool thread is about to run the job.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        // AcqRel: pairs with the CAS in `abort`/`cancel_unrun`; only one of them leaves QUEUED.
        match self
            .state
            .compare_exchange(QUEUED, RUNNING, AcqRel, Acquire)
        {
            Ok(_) => TransitionToRunning::Run,
            Err(_) => TransitionToRunning::Cancelled,
        }
    }

    /// Leaves `QUEUED` for `DONE` with a cancelled error, if nothing else left it first.
    pub(crate) fn cancel_unrun(&self) {
        if self
            .state
            .compare_exchange(QUEUED, DONE, AcqRel, Acquire)
            .is_ok()
        {
            self.complete(Err(JoinError::cancelled()));
        }
    }

    /// Stores the running job's outcome and wakes the handle.
    pub(crate) fn finish(&self, result: Result<R, JoinError>) {
        self.state.store(DONE, Release);
        self.complete(result);
    }

    fn complete(&self, result: Result<R, JoinError>) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.result = Some(result);
            inner.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn abort(&self) {
        // Release: pairs with the Acquire load in `is_cancelled` on the running thread.
        self.cancelled.store(true, Release);
        self.cancel_unrun();
    }

    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<R, JoinError>> {
        let mut inner = self.inner.lock();
        if let Some(result) = inner.result.take() {
            return Poll::Ready(result);
        }
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn is_done(&self) -> bool {
        self.state.load(Acquire) == DONE
    }
}

/// What a [`JoinHandle`] reaches: the [`Slot`] inside a job's allocation, whatever the
/// closure's type.
pub(crate) trait JobSlot<R>: Send + Sync {
    fn slot(&self) -> &Slot<R>;
}

impl<R: Send> JobSlot<R> for Slot<R> {
    fn slot(&self) -> &Slot<R> {
        self
    }
}

/// The cancellation flag of the job running on this thread, type-erased.
pub(crate) trait CancelFlag: Send + Sync {
    fn is_set(&self) -> bool;
}

impl<R: Send> CancelFlag for Slot<R> {
    fn is_set(&self) -> bool {
        self.cancelled.load(Acquire)
    }
}

thread_local! {
    /// The flag of the job this pool thread is running, if any.
    static CURRENT_JOB: RefCell<Option<Arc<dyn CancelFlag>>> = const { RefCell::new(None) };
}

/// Makes `flag` the current job's flag until dropped.
pub(crate) struct CurrentJob(Option<Arc<dyn CancelFlag>>);

impl CurrentJob {
    pub(crate) fn enter(flag: Arc<dyn CancelFlag>) -> CurrentJob {
        CurrentJob(CURRENT_JOB.with(|c| c.borrow_mut().replace(flag)))
    }
}

impl Drop for CurrentJob {
    fn drop(&mut self) {
        let prev = self.0.take();
        let old = CURRENT_JOB.try_with(|c| std::mem::replace(&mut *c.borrow_mut(), prev));
        drop(old);
    }
}

/// `true` inside a [`ThreadPool`](crate::executor::ThreadPool) job whose [`JoinHandle`] has
/// been aborted: the job should stop early. `false` everywhere else (outside any pool job, or
/// while the job's handle has not been aborted).
///
/// Aborting cannot interrupt a running closure; a long job polls this between steps to stop
/// cooperatively. Its handle then reports whatever the closure returns (the abort only cancels
/// a job that has not started).
///
/// # Examples
///
/// ```
/// use kiln_blocking::executor::{is_cancelled, ThreadPool};
/// use std::time::Duration;
///
/// assert!(!is_cancelled()); // not in a pool job
/// let pool = ThreadPool::builder().threads(1).build()?;
/// let (started_tx, started) = std::sync::mpsc::channel();
/// let job = pool.spawn(move || {
///     started_tx.send(()).unwrap();
///     let mut steps = 0u64;
///     while !is_cancelled() {
///         steps += 1; // one step of a long computation
///         std::thread::sleep(Duration::from_millis(1));
///     }
///     steps
/// });
/// started.recv().unwrap();
/// job.abort();
/// // A started job is not interrupted: it saw the abort and returned its own value.
/// let steps_done: u64 = job.join().unwrap();
/// println!("stopped after {steps_done} steps");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_cancelled() -> bool {
    CURRENT_JOB
        .try_with(|c| c.borrow().as_ref().is_some_and(|f| f.is_set()))
        .unwrap_or(false)
}

/// An owned permission to await a pool job's result: `Future<Output = Result<R, JoinError>>`.
///
/// Awaitable under any executor, or none: it needs no runtime ([`JoinHandle::join`] waits
/// from plain code). Dropping the handle
/// detaches the job: it still runs, and its result is dropped.
///
/// # Examples
///
/// ```
/// use kiln_blocking::executor::ThreadPool;
///
/// let pool = ThreadPool::builder().threads(2).build()?;
/// let handle = pool.spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinHandle<R> {
    job: Arc<dyn JobSlot<R>>,
}

impl<R> JoinHandle<R> {
    pub(crate) fn new(job: Arc<dyn JobSlot<R>>) -> JoinHandle<R> {
        JoinHandle { job }
    }

    /// Cancels the job if it has not started: it will never run, and the handle reports
    /// [`JoinError::is_cancelled`]. A job already running keeps running; it can notice the
    /// abort through [`is_cancelled`] and return early.
    ///
    /// # Examples
    ///
    /// ```
    /// use kiln_blocking::executor::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().threads(1).build()?;
    /// let (release, gate) = std::sync::mpsc::channel::<()>();
    /// let busy = pool.spawn(move || gate.recv().unwrap()); // holds the only thread
    /// let queued = pool.spawn(|| unreachable!("aborted before it started"));
    /// queued.abort();
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn abort(&self) {
        self.job.slot().abort();
    }

    /// `true` once the job has finished, panicked or been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use kiln_blocking::executor::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().build()?;
    /// let h = pool.spawn(|| 1);
    /// while !h.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(h.join().unwrap(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.job.slot().is_done()
    }

    /// Blocks this thread until the job's outcome is known (for code outside async). In async
    /// code, `.await` the handle instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// assert_eq!(pool.spawn(|| "done").join().unwrap(), "done");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn join(self) -> Result<R, JoinError> {
        crate::executor::block_on(self)
    }
}

impl<R> Future for JoinHandle<R> {
    type Output = Result<R, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.job.slot().poll_result(cx)
    }
}

impl<R> Unpin for JoinHandle<R> {}

impl<R> fmt::Debug for JoinHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Why a pool job has no result: it was cancelled (aborted before it started, or dropped
/// unrun at shutdown), or it panicked.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
/// let err = pool.spawn(|| panic!("boom")).join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// Behind a mutex only so the error is `Sync`; the payload is moved out by value.
    Panic(std::sync::Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(std::sync::Mutex::new(payload)),
        }
    }

    /// The job never ran: its handle was aborted first, or the pool shut down with the job
    /// still queued.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc::channel;
    /// use std::time::Duration;
    ///
    /// let pool = kiln_blocking::executor::ThreadPool::builder().threads(1).build()?;
    /// let (started_tx, started) = channel();
    /// let (release, gate) = channel::<()>();
    /// let busy = pool.spawn(move || {
    ///     started_tx.send(()).unwrap();
    ///     gate.recv().unwrap()
    /// });
    /// started.recv().unwrap(); // the only thread is busy
    /// let queued = pool.spawn(|| 1);
    /// pool.shutdown_timeout(Duration::ZERO); // drops the queued job, does not wait
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// release.send(()).unwrap();
    /// busy.join().unwrap(); // a running job finishes
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The job's closure panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// assert!(pool.spawn(|| panic!("oops")).join().unwrap_err().is_panic());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload.
    ///
    /// # Panics
    ///
    /// If the job was cancelled rather than panicking (see [`JoinError::try_into_panic`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// let err = pool.spawn(|| std::panic::panic_any(7u8)).join().unwrap_err();
    /// assert_eq!(*err.into_panic().downcast::<u8>().unwrap(), 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic: the job was cancelled, it did not panic")
    }

    /// The panic payload, or the error back if the job was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// let err = pool.spawn(|| panic!("x")).join().unwrap_err();
    /// assert!(err.try_into_panic().is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.into_inner().unwrap_or_else(PoisonError::into_inner)),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("pool job was cancelled before it ran"),
            Repr::Panic(p) => {
                let p = p.lock().unwrap_or_else(PoisonError::into_inner);
                match p
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| p.downcast_ref::<String>().map(String::as_str))
                {
                    Some(msg) => write!(f, "pool job panicked: {msg}"),
                    None => f.write_str("pool job panicked"),
                }
            }
        }
    }
}

impl std::error::Error for JoinError {}
