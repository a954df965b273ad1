//! The one place this crate takes its concurrency primitives from.
//!
//! Under `cfg(all(test, loom))` (this crate's own unit tests built with `RUSTFLAGS="--cfg
//! loom"`) every atomic, lock, cell and thread used by the concurrent core comes from `loom`, so
//! the models in `loom_tests` explore every interleaving of the real code. Otherwise the std
//! (and `parking_lot`) types are used: a downstream crate that sets `--cfg loom` for its own
//! models builds kiln as a dependency, without `cfg(test)`, so kiln runs normally there. The std [`UnsafeCell`] is wrapped so that both
//! sides expose the same `with`/`with_mut` closure API and nothing reaches the raw cell directly.

#[cfg(all(test, loom))]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, MutexGuard,
    },
};

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(all(test, loom)))]
pub(crate) use parking_lot::{Condvar, MutexGuard};

/// `parking_lot::Mutex` with loom's `lock()` signature (`LockResult`-free callers use
/// [`Mutex::lock`] which never fails).
#[cfg(not(all(test, loom)))]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

#[cfg(not(all(test, loom)))]
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

/// loom's mutex with the same infallible `lock()` as the std side.
#[cfg(all(test, loom))]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(all(test, loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().expect("kiln: lock poisoned")
    }

    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.0.try_lock().ok()
    }
}

/// `std::cell::UnsafeCell` behind loom's closure API.
#[cfg(not(all(test, loom)))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(all(test, loom)))]
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

/// Runs `body` under the loom model checker, or once, plainly, without `cfg(all(test, loom))`.
#[cfg(test)]
#[allow(dead_code, reason = "used by whichever test flavor is compiled")]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(body: F) {
    #[cfg(all(test, loom))]
    loom::model(body);
    #[cfg(not(all(test, loom)))]
    body();
}
