//! A fair counting semaphore.
//!
//! A thin public face over [`RawSemaphore`]: permits are taken in
//! strict FIFO order (a large `acquire_many` at the front is never overtaken by small ones),
//! the uncontended paths are a single CAS, and dropping a pending acquire passes on whatever
//! it had been handed.

use std::fmt;
use std::sync::Arc;

use crate::batch::{RawSemaphore, TryAcquire, MAX_PERMITS};

/// An async counting semaphore with fair (FIFO) acquisition.
///
/// ```
/// use kiln_sync::Semaphore;
///
/// futures::executor::block_on(async {
///     let sem = Semaphore::new(2);
///     let a = sem.acquire().await.unwrap();
///     let _b = sem.acquire().await.unwrap();
///     assert!(sem.try_acquire().is_err());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The semaphore was closed; no permit will ever be granted.
///
/// ```
/// use kiln_sync::Semaphore;
///
/// let sem = Semaphore::new(0);
/// sem.close();
/// let err = futures::executor::block_on(sem.acquire()).unwrap_err();
/// assert_eq!(err.to_string(), "semaphore closed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// A non-waiting acquire failed: either no permits are free or the semaphore is closed.
///
/// ```
/// use kiln_sync::Semaphore;
///
/// let sem = Semaphore::new(0);
/// assert!(sem.try_acquire().unwrap_err().is_no_permits());
/// sem.close();
/// assert!(sem.try_acquire().unwrap_err().is_closed());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryAcquireError {
    closed: bool,
}

impl TryAcquireError {
    /// Whether the semaphore was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether there were too few free permits (or others were already waiting for them).
    pub fn is_no_permits(&self) -> bool {
        !self.closed
    }
}

impl From<TryAcquire> for TryAcquireError {
    fn from(e: TryAcquire) -> Self {
        Self {
            closed: e == TryAcquire::Closed,
        }
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.closed {
            f.write_str("semaphore closed")
        } else {
            f.write_str("no permits available")
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl Semaphore {
    /// The largest number of permits a semaphore can hold.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// Creates a semaphore with `permits` free permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "Semaphore::new: a semaphore holds at most Semaphore::MAX_PERMITS ({MAX_PERMITS}) \
             permits, {permits} were requested"
        );
        Self {
            raw: RawSemaphore::new(permits),
        }
    }

    /// The number of free permits.
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(1);
    /// let _p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.raw.available_permits()
    }

    /// Adds `n` permits, handing them to waiters first.
    ///
    /// # Panics
    ///
    /// If the total would exceed [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        self.raw.release(n);
    }

    /// Removes up to `n` free permits; returns how many were removed.
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(3);
    /// assert_eq!(sem.forget_permits(5), 3);
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        self.raw.forget_permits(n)
    }

    /// Waits for one permit.
    ///
    /// Cancel-safe: dropping the future before it completes gives up its place in line and
    /// passes on any permit it had been handed.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let sem = kiln_sync::Semaphore::new(1);
    ///     let permit = sem.acquire().await.unwrap();
    ///     assert_eq!(permit.num_permits(), 1);
    /// });
    /// ```
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits at once, in FIFO order with other waiters.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let sem = kiln_sync::Semaphore::new(5);
    ///     let permit = sem.acquire_many(3).await.unwrap();
    ///     assert_eq!(sem.available_permits(), 2);
    ///     drop(permit);
    ///     assert_eq!(sem.available_permits(), 5);
    /// });
    /// ```
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        match self.raw.acquire(n as usize).await {
            Ok(()) => Ok(SemaphorePermit {
                sem: self,
                permits: n as usize,
            }),
            Err(()) => Err(AcquireError(())),
        }
    }

    /// Takes one permit if one is free and nobody is waiting.
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_err());
    /// drop(p);
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is waiting.
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(2);
    /// assert!(sem.try_acquire_many(3).is_err());
    /// assert!(sem.try_acquire_many(2).is_ok());
    /// ```
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.raw.try_acquire(n as usize)?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n as usize,
        })
    }

    /// Waits for one permit that keeps the semaphore alive through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// futures::executor::block_on(async {
    ///     let sem = Arc::new(kiln_sync::Semaphore::new(1));
    ///     let permit = sem.clone().acquire_owned().await.unwrap();
    ///     std::thread::spawn(move || drop(permit)).join().unwrap();
    ///     assert_eq!(sem.available_permits(), 1);
    /// });
    /// ```
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Waits for `n` permits held through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// futures::executor::block_on(async {
    ///     let sem = Arc::new(kiln_sync::Semaphore::new(4));
    ///     let permit = sem.clone().acquire_many_owned(4).await.unwrap();
    ///     assert_eq!(permit.num_permits(), 4);
    /// });
    /// ```
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        match self.raw.acquire(n as usize).await {
            Ok(()) => Ok(OwnedSemaphorePermit {
                sem: self,
                permits: n as usize,
            }),
            Err(()) => Err(AcquireError(())),
        }
    }

    /// Non-waiting [`acquire_owned`](Semaphore::acquire_owned).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(kiln_sync::Semaphore::new(1));
    /// assert!(sem.clone().try_acquire_owned().is_ok());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Non-waiting [`acquire_many_owned`](Semaphore::acquire_many_owned).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(kiln_sync::Semaphore::new(1));
    /// assert!(sem.clone().try_acquire_many_owned(2).is_err());
    /// ```
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.raw.try_acquire(n as usize)?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n as usize,
        })
    }

    /// Closes the semaphore: every pending and future acquire fails with an error. Permits
    /// already held stay valid.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let sem = kiln_sync::Semaphore::new(1);
    ///     sem.close();
    ///     assert!(sem.acquire().await.is_err());
    ///     assert!(sem.is_closed());
    /// });
    /// ```
    pub fn close(&self) {
        self.raw.close();
    }

    /// Whether [`close`](Semaphore::close) was called.
    ///
    /// ```
    /// assert!(!kiln_sync::Semaphore::new(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }
}

/// Permits borrowed from a [`Semaphore`]; returned when dropped.
///
/// ```
/// let sem = kiln_sync::Semaphore::new(1);
/// {
///     let _permit = sem.try_acquire().unwrap();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is returned as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(3);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Consumes the permit without returning it: the semaphore has that many fewer permits.
    ///
    /// ```
    /// let sem = kiln_sync::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits held through an `Arc<Semaphore>`; returned when dropped.
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(kiln_sync::Semaphore::new(1));
/// let permit = sem.clone().try_acquire_owned().unwrap();
/// assert!(Arc::ptr_eq(permit.semaphore(), &sem));
/// ```
#[must_use = "the permit is returned as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(kiln_sync::Semaphore::new(2));
    /// assert_eq!(sem.try_acquire_many_owned(2).unwrap().num_permits(), 2);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore these permits belong to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(kiln_sync::Semaphore::new(1));
    /// let p = sem.clone().try_acquire_owned().unwrap();
    /// assert_eq!(p.semaphore().available_permits(), 0);
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Consumes the permit without returning it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let sem = Arc::new(kiln_sync::Semaphore::new(1));
    /// sem.clone().try_acquire_owned().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}
