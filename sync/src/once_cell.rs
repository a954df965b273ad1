//! A cell written once, possibly by an async initializer.
//!
//! `initialized` (atomic) guards `value`: it is set with Release only after the value is
//! written, and readers load it with Acquire before touching the value, so a reader that sees
//! `true` sees the value. Writers serialize on a one-permit [`RawSemaphore`]: the holder
//! checks `initialized`, runs the initializer, writes, sets the flag, and closes the semaphore
//! so every queued initializer wakes and returns the stored value. If the holder's future is
//! dropped mid-initialization, its permit passes to the next waiting initializer (cancel-safe).

use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;

use crate::batch::{RawSemaphore, TryAcquire};
use crate::loom::{
    cell::UnsafeCell,
    sync::atomic::{AtomicBool, Ordering},
};

/// An async once-initialized cell.
///
/// ```
/// use kiln_sync::OnceCell;
///
/// futures::executor::block_on(async {
///     let cell = OnceCell::new();
///     let v = cell.get_or_init(|| async { 42 }).await;
///     assert_eq!(*v, 42);
///     assert_eq!(cell.get(), Some(&42));
/// });
/// ```
pub struct OnceCell<T> {
    initialized: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
    init_lock: RawSemaphore,
}

// SAFETY: `&OnceCell` hands out `&T` on any thread (needs `T: Sync`) and a value written on
// one thread may be dropped on another (needs `T: Send`). Writes are serialized by the
// semaphore and published by `initialized`.
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}
// SAFETY: moving the cell moves `T`.
unsafe impl<T: Send> Send for OnceCell<T> {}

/// [`OnceCell::set`] failed; the value is handed back.
///
/// ```
/// let cell = kiln_sync::OnceCell::new();
/// cell.set(1).unwrap();
/// let err = cell.set(2).unwrap_err();
/// assert!(err.is_already_init());
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(PartialEq, Eq)]
pub struct SetError<T> {
    value: T,
    initializing: bool,
}

impl<T> SetError<T> {
    /// Whether the cell already held a value.
    pub fn is_already_init(&self) -> bool {
        !self.initializing
    }

    /// Whether another task was initializing the cell at that moment.
    pub fn is_initializing(&self) -> bool {
        self.initializing
    }

    /// The value that was not stored.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetError")
            .field("initializing", &self.initializing)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.initializing {
            f.write_str("cell is being initialized")
        } else {
            f.write_str("cell already initialized")
        }
    }
}

impl<T> std::error::Error for SetError<T> {}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> OnceCell<T> {
    /// An empty cell.
    ///
    /// ```
    /// let cell: kiln_sync::OnceCell<u8> = kiln_sync::OnceCell::new();
    /// assert!(!cell.initialized());
    /// ```
    pub fn new() -> Self {
        Self {
            initialized: AtomicBool::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            init_lock: RawSemaphore::new(1),
        }
    }

    /// A cell holding `value` (or empty for `None`).
    ///
    /// ```
    /// let cell = kiln_sync::OnceCell::new_with(Some(1));
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn new_with(value: Option<T>) -> Self {
        let cell = Self::new();
        if let Some(v) = value {
            // A fresh cell has a free permit and no value: `set` cannot fail.
            let _ = cell.set(v);
        }
        cell
    }

    /// Whether a value is stored.
    ///
    /// ```
    /// let cell = kiln_sync::OnceCell::new();
    /// cell.set(()).unwrap();
    /// assert!(cell.initialized());
    /// ```
    pub fn initialized(&self) -> bool {
        // Acquire: pairs with the Release store in `write_value`.
        self.initialized.load(Ordering::Acquire)
    }

    /// The value, if stored.
    ///
    /// ```
    /// let cell = kiln_sync::OnceCell::new();
    /// assert_eq!(cell.get(), None);
    /// cell.set(3).unwrap();
    /// assert_eq!(cell.get(), Some(&3));
    /// ```
    pub fn get(&self) -> Option<&T> {
        if self.initialized() {
            // SAFETY: `initialized` is true, so the value was fully written (Release/Acquire)
            // and is never written again while `&self` lives.
            Some(unsafe { self.value_unchecked() })
        } else {
            None
        }
    }

    /// # Safety
    /// `initialized` must have been observed `true`.
    unsafe fn value_unchecked(&self) -> &T {
        // SAFETY: the caller guarantees the value is initialized and immutable from now on.
        self.value.with(|p| unsafe { (*p).assume_init_ref() })
    }

    /// Writes the value, sets the flag and closes the init lock. Caller holds the permit.
    fn write_value(&self, value: T) -> &T {
        // SAFETY: the caller holds the only init permit and `initialized` is false, so no
        // reader or writer touches the slot concurrently.
        self.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: pairs with the Acquire load in `initialized`.
        self.initialized.store(true, Ordering::Release);
        // Wake queued initializers: they see `initialized` and return the value. The permit
        // held by the caller is simply never returned.
        self.init_lock.close();
        // SAFETY: just initialized.
        unsafe { self.value_unchecked() }
    }

    /// Stores `value` if the cell is empty and nobody is initializing it.
    ///
    /// ```
    /// let cell = kiln_sync::OnceCell::new();
    /// assert!(cell.set(1).is_ok());
    /// assert!(cell.set(2).is_err());
    /// ```
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError {
                value,
                initializing: false,
            });
        }
        match self.init_lock.try_acquire(1) {
            Ok(()) => {
                self.write_value(value);
                Ok(())
            }
            Err(TryAcquire::Closed) => Err(SetError {
                value,
                initializing: false,
            }),
            Err(TryAcquire::NoPermits) => Err(SetError {
                value,
                initializing: true,
            }),
        }
    }

    /// Returns the value, running `init` to produce it if the cell is empty. Concurrent
    /// callers wait; exactly one initializer runs at a time, and if it is cancelled the next
    /// waiting caller runs its own.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let cell = kiln_sync::OnceCell::new();
    ///     assert_eq!(*cell.get_or_init(|| async { 1 }).await, 1);
    ///     assert_eq!(*cell.get_or_init(|| async { 2 }).await, 1);
    /// });
    /// ```
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self
            .get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(init().await) })
            .await
        {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_init`](OnceCell::get_or_init) with a fallible initializer; on error the
    /// cell stays empty and the next caller may try.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let cell = kiln_sync::OnceCell::new();
    ///     assert!(cell.get_or_try_init(|| async { Err::<u8, _>("no") }).await.is_err());
    ///     assert_eq!(*cell.get_or_try_init(|| async { Ok::<_, ()>(7) }).await.unwrap(), 7);
    /// });
    /// ```
    pub async fn get_or_try_init<E, F, Fut>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        match self.init_lock.acquire(1).await {
            // Closed: someone finished initializing.
            Err(()) => Ok(self
                .get()
                .expect("init lock closes only after the value is set")),
            Ok(()) => {
                // Give the permit back unless we end up storing a value (also on cancel).
                let permit = PermitGuard(&self.init_lock);
                if let Some(v) = self.get() {
                    return Ok(v);
                }
                let value = init().await?;
                std::mem::forget(permit);
                Ok(self.write_value(value))
            }
        }
    }

    /// Consumes the cell, returning the value if one was stored.
    ///
    /// ```
    /// let cell = kiln_sync::OnceCell::new_with(Some("x"));
    /// assert_eq!(cell.into_inner(), Some("x"));
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty and reusable.
    ///
    /// ```
    /// let mut cell = kiln_sync::OnceCell::new_with(Some(1));
    /// assert_eq!(cell.take(), Some(1));
    /// assert!(cell.set(2).is_ok());
    /// ```
    pub fn take(&mut self) -> Option<T> {
        if !self.initialized() {
            return None;
        }
        self.initialized.store(false, Ordering::Relaxed);
        // SAFETY: the flag was set, so the value is initialized; `&mut self` is exclusive and
        // clearing the flag first means it is read out exactly once.
        let value = self.value.with_mut(|p| unsafe { (*p).assume_init_read() });
        self.init_lock = RawSemaphore::new(1);
        Some(value)
    }
}

/// Returns the init permit when dropped (error or cancellation during `init`).
struct PermitGuard<'a>(&'a RawSemaphore);

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        self.0.release(1);
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if self.initialized() {
            // SAFETY: initialized and exclusively owned; dropped exactly once.
            self.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> Self {
        Self::new_with(self.get().cloned())
    }
}
