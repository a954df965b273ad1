//! The crate's only door to atomics, `Arc` and locks, so loom can replace them.
//!
//! Under `cfg(all(test, loom))` (this crate's unit tests built with `RUSTFLAGS="--cfg loom"`)
//! every type comes from loom; otherwise, a downstream crate's `--cfg loom` build included,
//! from std and parking_lot. `imp` picks them once, one module per side, the same shape as
//! the shims of `kiln-runtime`, `kiln-sync` and `kiln-blocking`; both sides expose the same
//! API ([`Mutex::lock`] never fails), so no call site branches on `cfg(loom)`.

pub(crate) use std::sync::atomic::Ordering;

#[cfg(all(test, loom))]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
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
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
    pub(crate) use std::sync::Arc;
}

pub(crate) use imp::*;
