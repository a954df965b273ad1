//! `JoinHandle` and `JoinError`: the awaiting side of a task.

use super::raw::{Header, RawTask};
use super::Id;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// An owned permission to await a task's output: a future of `Result<T, JoinError>`.
///
/// Dropping the handle detaches the task: it keeps running and its output is dropped. Use
/// [`JoinHandle::abort`] to cancel it instead.
///
/// ```
/// let out = kiln::run(async {
///     let handle = kiln::spawn(async { 40 + 2 });
///     handle.await.unwrap()
/// });
/// assert_eq!(out, 42);
/// ```
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output (`T: Send`) across threads; the cell is shared
// through the atomic state protocol.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort`, `is_finished` and `id`, all atomic.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Cancels the task. If it is idle it will not be polled again and its future is dropped on
    /// a runtime thread; if it is running, it is cancelled when its current poll returns.
    /// Awaiting the handle then yields a [`JoinError`] for which `is_cancelled()` is true,
    /// unless the task completed first.
    ///
    /// ```
    /// kiln::run(async {
    ///     let handle = kiln::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        super::abort(self.raw);
    }

    /// Whether the task has completed (with output, panic or cancellation).
    ///
    /// ```
    /// kiln::run(async {
    ///     let handle = kiln::spawn(async {});
    ///     while !handle.is_finished() {
    ///         kiln::task::yield_now().await;
    ///     }
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }

    /// The task's id.
    ///
    /// ```
    /// kiln::run(async {
    ///     let a = kiln::spawn(async {});
    ///     let b = kiln::spawn(async {});
    ///     assert_ne!(a.id(), b.id());
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.raw.header().id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the type the task's vtable writes, and we are its JoinHandle.
        unsafe {
            self.raw.try_read_output(
                &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                cx.waker(),
            )
        };
        if out.is_ready() {
            coop.made_progress();
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join_handle();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// Why a task produced no output: it was cancelled, or it panicked.
///
/// ```
/// kiln::run(async {
///     let err = kiln::spawn(async { panic!("boom") }).await.unwrap_err();
///     assert!(err.is_panic());
///     let payload = err.into_panic();
///     assert_eq!(*payload.downcast::<&str>().unwrap(), "boom");
/// });
/// ```
pub struct JoinError {
    repr: Repr,
    id: Id,
    name: Option<Box<str>>,
}

enum Repr {
    Cancelled,
    Panic(SyncPayload),
}

/// How a task failed, as its cell stores it: a [`JoinError`] without the id and the name,
/// which the task header already holds. Keeping them out keeps the cell as small as it was
/// before names existed; the `JoinHandle` builds the full error when it takes the output.
pub(crate) struct Failure(Repr);

impl Failure {
    pub(crate) fn cancelled() -> Failure {
        Failure(Repr::Cancelled)
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Failure {
        Failure(Repr::Panic(SyncPayload(payload)))
    }

    /// The [`JoinError`] of `task`, carrying its id and name.
    pub(crate) fn into_join_error(self, task: &Header) -> JoinError {
        JoinError {
            repr: self.0,
            id: task.id,
            name: task.diag.name().map(Box::from),
        }
    }

    /// What [`JoinError`]'s `Display` would say, if this is a panic.
    pub(crate) fn panic_message(&self, task: &Header) -> Option<String> {
        matches!(self.0, Repr::Panic(_)).then(|| {
            Describe {
                repr: &self.0,
                id: task.id,
                name: task.diag.name(),
            }
            .to_string()
        })
    }
}

/// A panic payload made `Sync` by only ever handing it out by value.
struct SyncPayload(Box<dyn Any + Send + 'static>);

// SAFETY: the payload is never accessed through a shared reference; it is only moved out in
// `into_panic`/`try_into_panic`, which take `self` by value.
unsafe impl Sync for SyncPayload {}

impl JoinError {
    pub(crate) fn cancelled(id: Id) -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
            id,
            name: None,
        }
    }

    pub(crate) fn panic(id: Id, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(SyncPayload(payload)),
            id,
            name: None,
        }
    }

    /// The task was aborted or the runtime shut down before it finished.
    ///
    /// ```
    /// kiln::run(async {
    ///     let h = kiln::spawn(std::future::pending::<()>());
    ///     h.abort();
    ///     assert!(h.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked (the panic was caught; the worker thread lives on).
    ///
    /// ```
    /// kiln::run(async {
    ///     assert!(kiln::spawn(async { panic!() }).await.unwrap_err().is_panic());
    /// });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the error is not a panic (see [`JoinError::is_panic`]).
    ///
    /// ```
    /// kiln::run(async {
    ///     let err = kiln::spawn(async { std::panic::panic_any(7u8) }).await.unwrap_err();
    ///     assert_eq!(*err.into_panic().downcast::<u8>().unwrap(), 7);
    /// });
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("kiln: JoinError::into_panic called on a cancellation, not a panic")
    }

    /// The panic payload, or the error back if it was a cancellation.
    ///
    /// ```
    /// kiln::run(async {
    ///     let h = kiln::spawn(std::future::pending::<()>());
    ///     h.abort();
    ///     assert!(h.await.unwrap_err().try_into_panic().is_err());
    /// });
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.0),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the task that failed.
    ///
    /// ```
    /// kiln::run(async {
    ///     let h = kiln::spawn(async { panic!() });
    ///     let id = h.id();
    ///     assert_eq!(h.await.unwrap_err().id(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// The name the task was spawned with (see [`task::Builder`](crate::task::Builder)), if any.
    ///
    /// ```
    /// kiln::run(async {
    ///     let h = kiln::task::Builder::new()
    ///         .name("worker 7")
    ///         .spawn(async { panic!("boom") })
    ///         .unwrap();
    ///     let err = h.await.unwrap_err();
    ///     assert_eq!(err.name(), Some("worker 7"));
    ///     let expected = format!("task 'worker 7' (id {}) panicked with message \"boom\"", err.id());
    ///     assert_eq!(err.to_string(), expected);
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The text of a [`JoinError`]: `task 'name' (id 7) ...` or `task 7 ...`.
struct Describe<'a> {
    repr: &'a Repr,
    id: Id,
    name: Option<&'a str>,
}

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => write!(f, "task '{name}' (id {})", self.id)?,
            None => write!(f, "task {}", self.id)?,
        }
        match self.repr {
            Repr::Cancelled => f.write_str(" was cancelled"),
            Repr::Panic(p) => match panic_message(&*p.0) {
                Some(msg) => write!(f, " panicked with message {msg:?}"),
                None => f.write_str(" panicked"),
            },
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Describe {
            repr: &self.repr,
            id: self.id,
            name: self.name.as_deref(),
        }
        .fmt(f)
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({:?})", self.id),
            Repr::Panic(p) => match panic_message(&*p.0) {
                Some(msg) => write!(f, "JoinError::Panic({:?}, {msg:?}, ...)", self.id),
                None => write!(f, "JoinError::Panic({:?}, ...)", self.id),
            },
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        let kind = if err.is_cancelled() {
            std::io::ErrorKind::Interrupted
        } else {
            std::io::ErrorKind::Other
        };
        std::io::Error::new(kind, err.to_string())
    }
}
