//! The crate's only door to atomics, cells, `Arc` and locks, so loom can replace them.
//!
//! Under `cfg(all(test, loom))` (this crate's unit tests built with `RUSTFLAGS="--cfg loom"`)
//! every type comes from loom; otherwise, a downstream crate's `--cfg loom` build included,
//! from std and parking_lot. The [`Mutex`] wrapper gives both sides the same infallible `lock()`;
//! the std [`UnsafeCell`] is reachable only through loom's `with_mut`, so every access
//! to a cell is one loom can check.

#[cfg(all(test, loom))]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(all(test, loom))]
pub(crate) use loom::sync::Arc;

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::Arc;

/// `std::cell::UnsafeCell` with loom's closure-based access (`with_mut`).
#[cfg(not(all(test, loom)))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(all(test, loom)))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a mutable pointer to the value.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// A mutual-exclusion lock: parking_lot's, or loom's under `cfg(all(test, loom))`.
pub(crate) struct Mutex<T>(
    #[cfg(all(test, loom))] loom::sync::Mutex<T>,
    #[cfg(not(all(test, loom)))] parking_lot::Mutex<T>,
);

#[cfg(all(test, loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // A poisoned lock means a panic already failed the model.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(not(all(test, loom)))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex(parking_lot::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.0.lock()
    }
}
