//! A fair async mutex: a one-permit [`RawSemaphore`] guarding an `UnsafeCell`.
//!
//! Holding the single permit is what grants access to the data; the permit's Acquire/Release
//! ordering (see `batch`) orders one holder's writes before the next holder's reads. Unlocking
//! with waiters queued hands the permit straight to the longest waiter (no barging).

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::batch::RawSemaphore;
use crate::loom::cell::UnsafeCell;

/// An async mutual-exclusion lock with FIFO fairness.
///
/// ```
/// use kiln_sync::Mutex;
///
/// futures::executor::block_on(async {
///     let m = Mutex::new(0);
///     *m.lock().await += 1;
///     assert_eq!(*m.lock().await, 1);
/// });
/// ```
pub struct Mutex<T> {
    sem: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the data is only reached through a guard, and at most one guard exists at a time
// (it holds the only permit), so sharing the mutex shares `T` between threads one at a time.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves `T`; the semaphore is Send.
unsafe impl<T: Send> Send for Mutex<T> {}

/// [`Mutex::try_lock`] failed because the lock is held (or others are waiting for it).
///
/// ```
/// let m = kiln_sync::Mutex::new(());
/// let _g = m.try_lock().unwrap();
/// assert_eq!(m.try_lock().unwrap_err().to_string(), "mutex is locked");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mutex is locked")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex.
    ///
    /// ```
    /// let m = kiln_sync::Mutex::new(vec![1]);
    /// assert_eq!(m.into_inner(), vec![1]);
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            sem: RawSemaphore::new(1),
            data: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock. Waiters are served in arrival order.
    ///
    /// Cancel-safe: dropping the future gives up its place; if the lock had just been handed
    /// to it, the lock passes to the next waiter.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let m = kiln_sync::Mutex::new(String::new());
    ///     m.lock().await.push('x');
    ///     assert_eq!(&*m.lock().await, "x");
    /// });
    /// ```
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        // The semaphore is never closed, so acquiring cannot fail.
        let _ = self.sem.acquire(1).await;
        MutexGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Locks from synchronous code, parking the calling thread until the lock is handed to it.
    /// Waiters are served in arrival order together with async [`lock`](Mutex::lock) callers.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// the current holder needs that thread to finish); use `lock().await` there instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let m = Arc::new(kiln_sync::Mutex::new(0));
    /// let m2 = m.clone();
    /// thread::spawn(move || *m2.blocking_lock() += 1).join().unwrap();
    /// assert_eq!(*m.blocking_lock(), 1);
    /// ```
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        crate::park::block_on(self.lock())
    }

    /// Takes the lock if it is free and nobody is waiting.
    ///
    /// ```
    /// let m = kiln_sync::Mutex::new(1);
    /// let g = m.try_lock().unwrap();
    /// assert!(m.try_lock().is_err());
    /// drop(g);
    /// assert!(m.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire(1) {
            Ok(()) => Ok(MutexGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Waits for the lock, returning a guard that keeps the mutex alive through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// futures::executor::block_on(async {
    ///     let m = Arc::new(kiln_sync::Mutex::new(1));
    ///     let mut g = m.clone().lock_owned().await;
    ///     *g += 1;
    ///     drop(g);
    ///     assert_eq!(*m.lock().await, 2);
    /// });
    /// ```
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let _ = self.sem.acquire(1).await;
        OwnedMutexGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Non-waiting [`lock_owned`](Mutex::lock_owned).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(kiln_sync::Mutex::new(()));
    /// let g = m.clone().try_lock_owned().unwrap();
    /// assert!(m.clone().try_lock_owned().is_err());
    /// drop(g);
    /// ```
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.sem.try_acquire(1) {
            Ok(()) => Ok(OwnedMutexGuard {
                lock: self,
                _marker: PhantomData,
            }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Mutable access without locking: `&mut self` proves no guard exists.
    ///
    /// ```
    /// let mut m = kiln_sync::Mutex::new(1);
    /// *m.get_mut() = 2;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard (guards borrow or share the mutex).
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Consumes the mutex, returning the data.
    ///
    /// ```
    /// assert_eq!(kiln_sync::Mutex::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    fn data_ptr(&self) -> *mut T {
        self.data.with_mut(|p| p)
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Exclusive access to a [`Mutex`]'s data; unlocks when dropped.
///
/// ```
/// futures::executor::block_on(async {
///     let m = kiln_sync::Mutex::new(vec![]);
///     let mut guard = m.lock().await;
///     guard.push(1);
///     assert_eq!(guard.len(), 1);
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
    // Sync/Send of the guard follow `&mut T`: sharing the guard shares `&T`.
    _marker: PhantomData<&'a mut T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so no `&mut T` exists elsewhere.
        unsafe { &*self.lock.data_ptr() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit and `&mut self` excludes other borrows of it.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an `Arc<Mutex<T>>`'s data; unlocks when dropped.
///
/// ```
/// use std::sync::Arc;
/// let m = Arc::new(kiln_sync::Mutex::new(0));
/// let mut g = m.clone().try_lock_owned().unwrap();
/// *g = 3;
/// assert!(Arc::ptr_eq(g.mutex(), &m));
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T> {
    lock: Arc<Mutex<T>>,
    _marker: PhantomData<T>,
}

impl<T> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(kiln_sync::Mutex::new(()));
    /// let g = m.clone().try_lock_owned().unwrap();
    /// assert_eq!(Arc::strong_count(g.mutex()), 2);
    /// ```
    pub fn mutex(&self) -> &Arc<Mutex<T>> {
        &self.lock
    }
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit.
        unsafe { &*self.lock.data_ptr() }
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit and `&mut self` is unique.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

impl<T> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
