//! The crate's single gateway to atomics, cells, locks and thread parking.
//!
//! Under `cfg(kiln_loom)` (a user's `RUSTFLAGS="--cfg kiln_loom"`, so their `loom::model` explores
//! kiln's primitives together with their code) or `cfg(all(test, loom))` (this crate's own
//! models) every type here is loom's model-checked twin; otherwise they are the std atomics,
//! `parking_lot` locks, std thread parking and a thin `UnsafeCell` wrapper. A plain `--cfg loom`
//! set by a downstream crate for its own models leaves kiln-sync on the std types. Concurrent code in this crate
//! imports these names only from here, so the loom models exercise exactly the code that ships.
//!
//! The std `UnsafeCell` is exposed only through `with`/`with_mut`, the same closure-scoped
//! access loom checks, so the two builds cannot drift apart.
//!
//! One `imp` module per side, glob re-exported: the same shape as the shims of
//! `kiln-runtime`, `kiln-timer` and `kiln-blocking`, so no call site branches on `cfg(loom)`.

pub(crate) use std::sync::atomic::Ordering;

#[cfg(any(kiln_loom, all(test, loom)))]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use loom::sync::{MutexGuard, RwLockReadGuard};
    pub(crate) use loom::thread::{current as current_thread, park, Thread};

    /// A loom mutex with `parking_lot`'s non-poisoning signatures.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("loom mutex poisoned")
        }
    }

    /// A loom reader-writer lock with `parking_lot`'s non-poisoning signatures.
    #[derive(Debug)]
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().expect("loom rwlock poisoned")
        }

        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.0.write().expect("loom rwlock poisoned")
        }
    }
}

#[cfg(not(any(kiln_loom, all(test, loom))))]
mod imp {
    pub(crate) use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use std::thread::{current as current_thread, park, Thread};

    /// `std::cell::UnsafeCell` with loom's closure-scoped access API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
}

pub(crate) use imp::*;
