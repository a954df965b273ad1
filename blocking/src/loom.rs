//! The crate's one concurrency shim.
//!
//! Every atomic, lock and condition variable the pool's shared core touches is imported from
//! here. Under `cfg(all(test, loom))` (this crate's own unit tests built with
//! `RUSTFLAGS="--cfg loom"`) they are loom's model-checked versions; every other build uses
//! `std`: a downstream crate that sets `--cfg loom` for its own models gets the ordinary pool.
//!
//! `imp` picks the primitives once; the wrappers below give both sides the API every kiln
//! crate's shim has (the same shape as `kiln-runtime`'s), so no call site branches on
//! `cfg(loom)`:
//! - [`Mutex::lock`] never fails: a poisoned lock is taken over (a panicking job never holds
//!   one of the pool's locks, and its state stays consistent).
//! - [`Condvar::wait`] and [`Condvar::wait_timeout`] take the guard by `&mut`;
//!   `wait_timeout` returns `true` if it timed out (loom never times out).

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;
use std::time::Duration;

#[cfg(all(test, loom))]
mod imp {
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use loom::sync::Arc;
    pub(super) use loom::sync::{Condvar as RawCondvar, Mutex as RawMutex, MutexGuard as RawGuard};
}

#[cfg(not(all(test, loom)))]
mod imp {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
    pub(crate) use std::sync::Arc;
    pub(super) use std::sync::{Condvar as RawCondvar, Mutex as RawMutex, MutexGuard as RawGuard};
}

pub(crate) use imp::{fence, Arc, AtomicBool, AtomicU64, AtomicUsize};
use imp::{RawCondvar, RawGuard, RawMutex};

/// A mutex whose `lock()` never fails.
#[derive(Debug)]
pub(crate) struct Mutex<T>(RawMutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(RawMutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

/// The guard of [`Mutex`], held in an `Option` so [`Condvar`] can wait on it through `&mut`
/// (`None` only inside a wait).
pub(crate) struct MutexGuard<'a, T>(Option<RawGuard<'a, T>>);

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

/// A condition variable waiting through `&mut` guards.
#[derive(Debug)]
pub(crate) struct Condvar(RawCondvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(RawCondvar::new())
    }

    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let g = guard.0.take().expect("kiln: guard taken by a wait");
        guard.0 = Some(self.0.wait(g).unwrap_or_else(PoisonError::into_inner));
    }

    /// Waits for a notification or `dur`; `true` if it timed out.
    pub(crate) fn wait_timeout<T>(&self, guard: &mut MutexGuard<'_, T>, dur: Duration) -> bool {
        let g = guard.0.take().expect("kiln: guard taken by a wait");
        let (g, res) = self
            .0
            .wait_timeout(g, dur)
            .unwrap_or_else(PoisonError::into_inner);
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
