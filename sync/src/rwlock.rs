//! A fair async reader-writer lock on the batch semaphore.
//!
//! The semaphore starts with `MAX_READS` permits: a reader takes one, a writer takes all of
//! them. FIFO order makes a queued writer block readers that arrive after it, so writers are
//! never starved, and a writer at the front collects permits as readers leave.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::batch::RawSemaphore;
use crate::loom::cell::UnsafeCell;

/// How many readers may hold the lock at once.
const MAX_READS: usize = (u32::MAX >> 3) as usize;

/// An async reader-writer lock with FIFO fairness between readers and writers.
///
/// ```
/// use kiln_sync::RwLock;
///
/// futures::executor::block_on(async {
///     let lock = RwLock::new(5);
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await;
///         assert_eq!(*r1 + *r2, 10);
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
pub struct RwLock<T> {
    sem: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: readers on several threads share `&T` (needs `T: Sync`); a writer may be on any
// thread and move values in and out (needs `T: Send`). The permits enforce the exclusion.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves `T`.
unsafe impl<T: Send> Send for RwLock<T> {}

/// A non-waiting lock attempt failed because of a conflicting holder or waiter.
///
/// ```
/// let lock = kiln_sync::RwLock::new(());
/// let _w = lock.try_write().unwrap();
/// assert_eq!(lock.try_read().unwrap_err().to_string(), "rwlock is locked");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rwlock is locked")
    }
}

impl std::error::Error for TryLockError {}

impl<T> RwLock<T> {
    /// Creates an unlocked lock.
    ///
    /// ```
    /// let lock = kiln_sync::RwLock::new(1);
    /// assert_eq!(lock.into_inner(), 1);
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            sem: RawSemaphore::new(MAX_READS),
            data: UnsafeCell::new(value),
        }
    }

    fn ptr(&self) -> *mut T {
        self.data.with_mut(|p| p)
    }

    /// Waits for shared read access. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let lock = kiln_sync::RwLock::new("hi");
    ///     assert_eq!(*lock.read().await, "hi");
    /// });
    /// ```
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        // Never closed, so acquiring cannot fail.
        let _ = self.sem.acquire(1).await;
        RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Waits for exclusive write access. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let lock = kiln_sync::RwLock::new(0);
    ///     *lock.write().await = 9;
    ///     assert_eq!(*lock.read().await, 9);
    /// });
    /// ```
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let _ = self.sem.acquire(MAX_READS).await;
        RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Shared read access from synchronous code, parking the calling thread until granted.
    /// Served in the same FIFO order as async [`read`](RwLock::read) and
    /// [`write`](RwLock::write) callers.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// a writer ahead of it needs that thread to finish); use `read().await` there instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let lock = Arc::new(kiln_sync::RwLock::new(7));
    /// let l2 = lock.clone();
    /// let seen = thread::spawn(move || *l2.blocking_read()).join().unwrap();
    /// assert_eq!(seen, 7);
    /// ```
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        crate::park::block_on(self.read())
    }

    /// Exclusive write access from synchronous code, parking the calling thread until granted.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it blocks
    /// that task's worker thread, stalling every other task scheduled there (and deadlocking if
    /// a reader it waits for needs that thread to finish); use `write().await` there instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let lock = Arc::new(kiln_sync::RwLock::new(0));
    /// let l2 = lock.clone();
    /// thread::spawn(move || *l2.blocking_write() = 3).join().unwrap();
    /// assert_eq!(*lock.blocking_read(), 3);
    /// ```
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        crate::park::block_on(self.write())
    }

    /// Read access if available right now.
    ///
    /// ```
    /// let lock = kiln_sync::RwLock::new(1);
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    /// ```
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.sem.try_acquire(1).map_err(|_| TryLockError(()))?;
        Ok(RwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Write access if available right now.
    ///
    /// ```
    /// let lock = kiln_sync::RwLock::new(1);
    /// let r = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// drop(r);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.sem
            .try_acquire(MAX_READS)
            .map_err(|_| TryLockError(()))?;
        Ok(RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Waits for read access held through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// futures::executor::block_on(async {
    ///     let lock = Arc::new(kiln_sync::RwLock::new(2));
    ///     let r = lock.clone().read_owned().await;
    ///     assert_eq!(*r, 2);
    /// });
    /// ```
    pub async fn read_owned(self: Arc<Self>) -> OwnedRwLockReadGuard<T> {
        let _ = self.sem.acquire(1).await;
        OwnedRwLockReadGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Waits for write access held through an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// futures::executor::block_on(async {
    ///     let lock = Arc::new(kiln_sync::RwLock::new(2));
    ///     *lock.clone().write_owned().await = 3;
    ///     assert_eq!(*lock.read().await, 3);
    /// });
    /// ```
    pub async fn write_owned(self: Arc<Self>) -> OwnedRwLockWriteGuard<T> {
        let _ = self.sem.acquire(MAX_READS).await;
        OwnedRwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        }
    }

    /// Mutable access without locking.
    ///
    /// ```
    /// let mut lock = kiln_sync::RwLock::new(1);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every guard.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Consumes the lock, returning the data.
    ///
    /// ```
    /// assert_eq!(kiln_sync::RwLock::new('a').into_inner(), 'a');
    /// ```
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(g) => d.field("data", &&*g),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

macro_rules! guard_common {
    ($name:ident, $($lt:lifetime)?, $permits:expr) => {
        impl<$($lt,)? T> Deref for $name<$($lt,)? T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard holds at least one permit, so no writer (which needs all
                // of them) holds a `&mut T`.
                unsafe { &*self.lock.ptr() }
            }
        }

        impl<$($lt,)? T> Drop for $name<$($lt,)? T> {
            fn drop(&mut self) {
                self.lock.sem.release($permits);
            }
        }

        impl<$($lt,)? T: fmt::Debug> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
    };
}

/// Shared read access to an [`RwLock`].
///
/// ```
/// let lock = kiln_sync::RwLock::new(3);
/// let guard = lock.try_read().unwrap();
/// assert_eq!(*guard, 3);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a T>,
}
guard_common!(RwLockReadGuard, 'a, 1);

/// Exclusive write access to an [`RwLock`].
///
/// ```
/// let lock = kiln_sync::RwLock::new(3);
/// *lock.try_write().unwrap() = 4;
/// assert_eq!(*lock.try_read().unwrap(), 4);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a mut T>,
}
guard_common!(RwLockWriteGuard, 'a, MAX_READS);

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, so it is the only accessor.
        unsafe { &mut *self.lock.ptr() }
    }
}

/// Shared read access held through an `Arc<RwLock<T>>`.
///
/// ```
/// use std::sync::Arc;
/// futures::executor::block_on(async {
///     let lock = Arc::new(kiln_sync::RwLock::new(1));
///     let g = lock.clone().read_owned().await;
///     assert_eq!(*g, 1);
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedRwLockReadGuard<T> {
    lock: Arc<RwLock<T>>,
    _marker: PhantomData<Arc<T>>,
}
guard_common!(OwnedRwLockReadGuard, , 1);

/// Exclusive write access held through an `Arc<RwLock<T>>`.
///
/// ```
/// use std::sync::Arc;
/// futures::executor::block_on(async {
///     let lock = Arc::new(kiln_sync::RwLock::new(1));
///     *lock.clone().write_owned().await += 1;
///     assert_eq!(*lock.read().await, 2);
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedRwLockWriteGuard<T> {
    lock: Arc<RwLock<T>>,
    _marker: PhantomData<T>,
}
guard_common!(OwnedRwLockWriteGuard, , MAX_READS);

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, so it is the only accessor.
        unsafe { &mut *self.lock.ptr() }
    }
}
