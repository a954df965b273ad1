//! The model-checked flavor: the names of [`real`](crate::real), backed by loom.
//!
//! Only usable inside a `loom::model` (or this module's [`model`]), as any loom type. The
//! wrappers give loom's types the real flavor's API: a lock never fails (a poisoned lock is
//! taken over, as `parking_lot`, which does not poison, would), and a [`sync::Condvar`] waits
//! through a `&mut` guard, which is why [`sync::MutexGuard`] holds loom's guard in an
//! `Option` (`None` only inside a wait). loom does not model time: `wait_timeout` ends only by
//! a notification, and then reports whether loom's own wait timed out (it never does).

/// Whether this is the model-checked flavor: `true` here (see
/// [`real::MODEL_CHECKED`](crate::real::MODEL_CHECKED)).
pub const MODEL_CHECKED: bool = true;

/// Runs `body` under `loom::model`, once per interleaving loom explores.
pub fn model<F: Fn() + Sync + Send + 'static>(body: F) {
    loom::model(body);
}

/// `std::sync`'s shape, on loom's atomics, `Arc`, locks and condition variable.
pub mod sync {
    use std::ops::{Deref, DerefMut};
    use std::sync::{PoisonError, TryLockError};
    use std::time::Duration;

    pub use loom::sync::{Arc, RwLockReadGuard, RwLockWriteGuard};

    /// loom's atomics and fence; std's orderings (loom uses them too).
    pub mod atomic {
        pub use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
        pub use std::sync::atomic::Ordering;
    }

    /// loom's mutex whose [`lock`](Mutex::lock) never fails.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        /// A new unlocked mutex holding `value`.
        pub fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        /// Locks, blocking the (modelled) thread until the lock is free.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
        }

        /// Locks if the lock is free right now; `None` otherwise.
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(g) => Some(MutexGuard(Some(g))),
                Err(TryLockError::Poisoned(e)) => Some(MutexGuard(Some(e.into_inner()))),
                Err(TryLockError::WouldBlock) => None,
            }
        }
    }

    /// loom's guard, in an `Option` so that [`Condvar`] can wait on it through `&mut`.
    pub struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            self.0.as_ref().expect("kiln-shim: guard taken by a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("kiln-shim: guard taken by a wait")
        }
    }

    /// loom's condition variable, waiting through a `&mut` [`MutexGuard`].
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        /// Releases the guard's lock, waits for a notification and locks again.
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.0.take().expect("kiln-shim: guard taken by a wait");
            guard.0 = Some(self.0.wait(g).unwrap_or_else(PoisonError::into_inner));
        }

        /// As [`wait`](Condvar::wait): loom does not model time, so only a notification ends
        /// it; `true` if loom reports a time-out (it does not).
        pub fn wait_timeout<T>(&self, guard: &mut MutexGuard<'_, T>, dur: Duration) -> bool {
            let g = guard.0.take().expect("kiln-shim: guard taken by a wait");
            let (g, res) = self
                .0
                .wait_timeout(g, dur)
                .unwrap_or_else(PoisonError::into_inner);
            guard.0 = Some(g);
            res.timed_out()
        }

        /// Wakes one waiting thread, if any.
        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        /// Wakes every waiting thread.
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// loom's lazily built static: a value built on first use in each model execution, and
    /// dropped at its end (see [`real::sync::LazyLock`](crate::real::sync::LazyLock)).
    pub struct LazyLock<T>(loom::lazy_static::Lazy<T>);

    impl<T: 'static> LazyLock<T> {
        /// A value that `init` builds on the first [`get`](LazyLock::get) of each execution.
        pub const fn new(init: fn() -> T) -> Self {
            // loom's `lazy_static!` builds its `Lazy` the same way (it has no `const fn new`).
            LazyLock(loom::lazy_static::Lazy {
                init,
                _p: std::marker::PhantomData,
            })
        }

        /// The value, built by the execution's first call.
        pub fn get(&'static self) -> &'static T {
            self.0.get()
        }
    }

    /// loom's reader-writer lock whose [`read`](RwLock::read) and [`write`](RwLock::write)
    /// never fail.
    #[derive(Debug, Default)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        /// A new unlocked lock holding `value`.
        pub fn new(value: T) -> Self {
            RwLock(loom::sync::RwLock::new(value))
        }

        /// Locks for shared reading.
        pub fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(PoisonError::into_inner)
        }

        /// Locks for exclusive writing.
        pub fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(PoisonError::into_inner)
        }
    }
}

/// `std::cell`'s shape: loom's checked `UnsafeCell`.
pub mod cell {
    pub use loom::cell::UnsafeCell;
}

/// `std::thread`'s parking, on loom's threads.
pub mod thread {
    pub use loom::thread::{current, park, Thread};

    /// A timed park. loom does not model time, so, like the model's timed condition-variable
    /// wait, it ends only by an unpark (a model whose thread relies on the timeout to go on
    /// then fails as a deadlock, which is what such a dependency is worth checking for).
    pub fn park_timeout(_dur: std::time::Duration) {
        loom::thread::park();
    }
}
