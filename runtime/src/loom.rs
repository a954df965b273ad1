//! The one place this crate takes its concurrency primitives from.
//!
//! Under `cfg(all(test, loom))` (this crate's own unit tests built with `RUSTFLAGS="--cfg
//! loom"`) every atomic, lock, condition variable and cell used by the concurrent core comes
//! from `loom`, so the models in the `loom_tests` modules explore every interleaving of the
//! real code. Otherwise the std atomics and `parking_lot` locks are used: a downstream crate
//! that sets `--cfg loom` for its own models builds kiln as a dependency, without `cfg(test)`,
//! so kiln runs normally there.
//!
//! Both sides (`mod imp`) expose one API, so no call site branches on `cfg(loom)`:
//! - [`Mutex`]: `lock()` never fails (a poisoned loom lock means a panic already failed the
//!   model), `try_lock()` returns an `Option`.
//! - [`Condvar`]: `wait(&mut guard)` and `wait_timeout(&mut guard, dur)` (`true` if it timed
//!   out; loom never times out, so a model only ends a wait by a notification).
//! - [`UnsafeCell`]: only `with`/`with_mut`, the closure-scoped access loom checks.
//!
//! The same shape (one `imp` per side, the same wrappers) is used by the shims of
//! `kiln-timer`, `kiln-sync` and `kiln-blocking`.

pub(crate) use std::sync::atomic::Ordering;

#[cfg(all(test, loom))]
mod imp {
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
    pub(crate) use loom::sync::Arc;

    /// loom's mutex with the infallible `lock()` of the std side.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("kiln: lock poisoned")))
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok().map(|g| MutexGuard(Some(g)))
        }
    }

    /// loom's guard, held in an `Option` so [`Condvar`] can wait on it through `&mut`
    /// (`None` only inside a wait).
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            self.0.as_ref().expect("kiln: guard taken by a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("kiln: guard taken by a wait")
        }
    }

    /// loom's condition variable with `parking_lot`'s `&mut guard` signatures.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.0.take().expect("kiln: guard taken by a wait");
            guard.0 = Some(self.0.wait(g).expect("kiln: lock poisoned"));
        }

        /// loom does not model time: this waits for a notification like [`Condvar::wait`].
        pub(crate) fn wait_timeout<T>(&self, guard: &mut MutexGuard<'_, T>, dur: Duration) -> bool {
            let g = guard.0.take().expect("kiln: guard taken by a wait");
            let (g, res) = self.0.wait_timeout(g, dur).expect("kiln: lock poisoned");
            guard.0 = Some(g);
            res.timed_out()
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

#[cfg(not(all(test, loom)))]
mod imp {
    use std::time::Duration;

    pub(crate) use parking_lot::MutexGuard;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};

    /// `parking_lot::Mutex` with the loom side's API.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock()
        }
    }

    /// `parking_lot::Condvar` with the loom side's API.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(parking_lot::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }

        /// Waits for a notification or `dur`; `true` if it timed out.
        pub(crate) fn wait_timeout<T>(&self, guard: &mut MutexGuard<'_, T>, dur: Duration) -> bool {
            self.0.wait_for(guard, dur).timed_out()
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// `std::cell::UnsafeCell` behind loom's closure API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(data: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(data))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

pub(crate) use imp::*;

/// Runs `body` under the loom model checker, or once, plainly, without `cfg(all(test, loom))`.
#[cfg(test)]
#[allow(dead_code, reason = "used by whichever test flavor is compiled")]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(body: F) {
    #[cfg(all(test, loom))]
    loom::model(body);
    #[cfg(not(all(test, loom)))]
    body();
}
