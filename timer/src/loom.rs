//! The crate's only door to atomics, cells, `Arc` and locks, so loom can replace them.
//!
//! Under `cfg(all(test, loom))` (this crate's unit tests built with `RUSTFLAGS="--cfg loom"`)
//! every type comes from loom; otherwise, a downstream crate's `--cfg loom` build included,
//! from std and parking_lot. `imp` picks them once, one module per side, the same shape as
//! the shims of `kiln-runtime`, `kiln-sync` and `kiln-blocking`; both sides expose the same
//! API ([`Mutex::lock`] never fails, [`UnsafeCell`] is reached only through `with_mut`), so
//! no call site branches on `cfg(loom)` and every access to a cell is one loom can check.

pub(crate) use std::sync::atomic::Ordering;

#[cfg(all(test, loom))]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use loom::sync::Arc;
    use loom::sync::MutexGuard;

    /// loom's mutex with the infallible `lock()` of the std side.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // A poisoned lock means a panic already failed the model.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

#[cfg(not(all(test, loom)))]
mod imp {
    pub(crate) use parking_lot::Mutex;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use std::sync::Arc;

    /// `std::cell::UnsafeCell` with loom's closure-based access (`with_mut`).
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

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
}

pub(crate) use imp::*;
