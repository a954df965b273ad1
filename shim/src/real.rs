//! The flavor that ships: std's atomics, `Arc` and thread parking, `parking_lot`'s locks and
//! condition variable, and a plain `UnsafeCell`, behind the API the model flavor shares (see
//! the crate docs). Every wrapper is a newtype of `#[inline]` forwards.

/// Whether this is the model-checked flavor: `false` here.
///
/// For the few sizes a model wants small (so that it reaches the end of a batch or a
/// wrap-around in few steps); code reads it instead of branching on `cfg(loom)`.
pub const MODEL_CHECKED: bool = false;

/// Runs `body` once (the model flavor runs it under `loom::model`, once per interleaving,
/// hence the same bounds).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// static RUNS: AtomicUsize = AtomicUsize::new(0);
/// kiln_shim::real::model(|| {
///     RUNS.fetch_add(1, Ordering::Relaxed);
/// });
/// assert_eq!(RUNS.load(Ordering::Relaxed), 1);
/// ```
#[inline]
pub fn model<F: Fn() + Sync + Send + 'static>(body: F) {
    body();
}

/// `std::sync`'s shape: atomics, `Arc`, locks and a condition variable.
pub mod sync {
    use std::time::Duration;

    pub use parking_lot::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};
    pub use std::sync::Arc;

    /// `std::sync::atomic`'s atomics, fence and orderings.
    pub mod atomic {
        pub use std::sync::atomic::{
            fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
        };
    }

    /// A mutual-exclusion lock (`parking_lot`'s) whose [`lock`](Mutex::lock) never fails.
    ///
    /// ```
    /// let m = kiln_shim::real::sync::Mutex::new(1);
    /// *m.lock() += 1;
    /// assert_eq!(*m.try_lock().unwrap(), 2);
    /// ```
    #[derive(Debug, Default)]
    pub struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        /// A new unlocked mutex holding `value`.
        #[inline]
        pub const fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }

        /// Locks, blocking the thread until the lock is free.
        #[inline]
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }

        /// Locks if the lock is free right now; `None` otherwise.
        #[inline]
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock()
        }
    }

    /// A condition variable (`parking_lot`'s) that waits through a `&mut` [`MutexGuard`].
    ///
    /// ```
    /// use kiln_shim::real::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let mut guard = m.lock();
    /// assert!(cv.wait_timeout(&mut guard, Duration::from_millis(1)));
    /// ```
    #[derive(Debug, Default)]
    pub struct Condvar(parking_lot::Condvar);

    impl Condvar {
        /// A new condition variable.
        #[inline]
        pub const fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }

        /// Releases the guard's lock, waits for a notification and locks again (a spurious
        /// wake-up is possible: wait in a loop on the condition).
        #[inline]
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }

        /// As [`wait`](Condvar::wait), for at most `dur`; `true` if it timed out.
        #[inline]
        pub fn wait_timeout<T>(&self, guard: &mut MutexGuard<'_, T>, dur: Duration) -> bool {
            self.0.wait_for(guard, dur).timed_out()
        }

        /// Wakes one waiting thread, if any.
        #[inline]
        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        /// Wakes every waiting thread.
        #[inline]
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// A value built on first use, for a `static` (std's `LazyLock`, its initializer a plain
    /// `fn`). Reached through [`get`](LazyLock::get), which the model side needs: its value
    /// lives for one model execution.
    ///
    /// ```
    /// use kiln_shim::real::sync::{LazyLock, Mutex};
    ///
    /// static LOG: LazyLock<Mutex<Vec<u32>>> = LazyLock::new(|| Mutex::new(Vec::new()));
    /// LOG.get().lock().push(7);
    /// assert_eq!(*LOG.get().lock(), [7]);
    /// ```
    pub struct LazyLock<T>(std::sync::LazyLock<T, fn() -> T>);

    impl<T> LazyLock<T> {
        /// A value that `init` builds on the first [`get`](LazyLock::get).
        #[inline]
        pub const fn new(init: fn() -> T) -> Self {
            LazyLock(std::sync::LazyLock::new(init))
        }

        /// The value, built by the first call.
        #[inline]
        pub fn get(&'static self) -> &'static T {
            &self.0
        }
    }

    /// A reader-writer lock (`parking_lot`'s) whose [`read`](RwLock::read) and
    /// [`write`](RwLock::write) never fail.
    ///
    /// ```
    /// let l = kiln_shim::real::sync::RwLock::new(1);
    /// *l.write() += 1;
    /// assert_eq!(*l.read(), 2);
    /// ```
    #[derive(Debug, Default)]
    pub struct RwLock<T>(parking_lot::RwLock<T>);

    impl<T> RwLock<T> {
        /// A new unlocked lock holding `value`.
        #[inline]
        pub const fn new(value: T) -> Self {
            RwLock(parking_lot::RwLock::new(value))
        }

        /// Locks for shared reading.
        #[inline]
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read()
        }

        /// Locks for exclusive writing.
        #[inline]
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write()
        }
    }
}

/// `std::cell`'s shape: an `UnsafeCell` reached only through closures, as loom's is.
pub mod cell {
    /// `std::cell::UnsafeCell` behind loom's closure-scoped access.
    ///
    /// ```
    /// let c = kiln_shim::real::cell::UnsafeCell::new(1);
    /// // SAFETY: nothing else accesses `c`.
    /// c.with_mut(|p| unsafe { *p += 1 });
    /// assert_eq!(c.with(|p| unsafe { *p }), 2);
    /// ```
    #[derive(Debug)]
    #[repr(transparent)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// A new cell holding `value`.
        #[inline]
        pub const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// The contents.
        #[inline]
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
}

/// `std::thread`'s parking.
pub mod thread {
    pub use std::thread::{current, park, park_timeout, Thread};
}
