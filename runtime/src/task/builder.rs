//! [`Builder`]: spawning a task with a name.

use super::JoinHandle;
use crate::Handle;
use std::future::Future;
use std::io;
use std::panic::Location;

/// Configures a task before spawning it: today, its name.
///
/// The name appears in [`Handle::dump`], in stall warnings (see
/// [`Builder::stall_threshold`](crate::Builder::stall_threshold)) and in
/// [`JoinError`](super::JoinError)'s `Display`.
///
/// ```
/// kiln::run(async {
///     let h = kiln::task::Builder::new()
///         .name("conn 42")
///         .spawn(async { 1 })
///         .unwrap();
///     assert_eq!(h.await.unwrap(), 1);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Builder<'a> {
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder for an unnamed task.
    ///
    /// ```
    /// let _b = kiln::task::Builder::new();
    /// ```
    pub fn new() -> Builder<'a> {
        Builder { name: None }
    }

    /// Names the task. Names need not be unique.
    ///
    /// ```
    /// let _b = kiln::task::Builder::new().name("reader");
    /// ```
    pub fn name(self, name: &'a str) -> Builder<'a> {
        Builder { name: Some(name) }
    }

    /// Spawns `future` on the current runtime (like [`kiln::spawn`](crate::spawn)).
    ///
    /// # Errors
    /// Outside a runtime (an error of kind `Other` that says so).
    ///
    /// ```
    /// let err = kiln::task::Builder::new().spawn(async {}).unwrap_err();
    /// assert!(err.to_string().contains("inside a kiln runtime"));
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let at = Location::caller();
        // Borrows the thread's handle rather than cloning it: a clone and drop per spawn are
        // two atomic read-modify-writes on a count every worker shares.
        crate::context::with_handle(move |h| match h {
            Some(handle) => Ok(self.spawn_at(future, handle, at)),
            None => Err(no_runtime(at)),
        })
    }

    /// Spawns `future` on `handle`'s runtime.
    ///
    /// # Errors
    /// None today; the `Result` keeps the signature the same as [`Builder::spawn`].
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = kiln::task::Builder::new()
    ///     .name("on handle")
    ///     .spawn_on(async { 2 }, rt.handle())
    ///     .unwrap();
    /// assert_eq!(rt.block_on(h).unwrap(), 2);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(self.spawn_at(future, handle, Location::caller()))
    }

    /// Runs `f` on the current runtime's blocking pool (like
    /// [`kiln::spawn_blocking`](crate::spawn_blocking)).
    ///
    /// # Errors
    /// Outside a runtime (an error of kind `Other` that says so).
    ///
    /// ```
    /// kiln::run(async {
    ///     let h = kiln::task::Builder::new()
    ///         .name("checksum")
    ///         .spawn_blocking(|| 6 * 7)
    ///         .unwrap();
    ///     assert_eq!(h.await.unwrap(), 42);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let at = Location::caller();
        crate::context::with_handle(move |h| match h {
            Some(handle) => Ok(self.spawn_blocking_at(f, handle, at)),
            None => Err(no_runtime(at)),
        })
    }

    /// Runs `f` on `handle`'s blocking pool.
    ///
    /// # Errors
    /// None today; the `Result` keeps the signature the same as [`Builder::spawn_blocking`].
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = kiln::task::Builder::new()
    ///     .spawn_blocking_on(|| 5, rt.handle())
    ///     .unwrap();
    /// assert_eq!(rt.block_on(h).unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn spawn_blocking_on<F, R>(self, f: F, handle: &Handle) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Ok(self.spawn_blocking_at(f, handle, Location::caller()))
    }

    fn spawn_at<F>(
        self,
        future: F,
        handle: &Handle,
        at: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.scheduler().spawn_at(
            future,
            crate::cell::TaskMeta {
                at,
                name: self.name,
            },
        )
    }

    fn spawn_blocking_at<F, R>(
        self,
        f: F,
        handle: &Handle,
        at: &'static Location<'static>,
    ) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::blocking::spawn_blocking_at(
            handle,
            f,
            crate::cell::TaskMeta {
                at,
                name: self.name,
            },
        )
    }
}

fn no_runtime(at: &Location<'_>) -> io::Error {
    io::Error::other(format!(
        "kiln::task::Builder::spawn must be called from inside a kiln runtime (within \
             `kiln::run`, `Runtime::block_on`, a spawned task, or after `Runtime::enter`), or \
             use `spawn_on` with a handle; called at {at}"
    ))
}
