//! The crate's one concurrency shim.
//!
//! Every atomic and lock the pool's shared core touches is imported from here, so that
//! this crate's own unit tests built with `RUSTFLAGS="--cfg loom"` (`cfg(all(test, loom))`) swap
//! in loom's model-checked versions, while every other build uses `std`: a downstream crate that
//! sets `--cfg loom` for its own models gets the ordinary pool. Both sides expose the same API surface (std's poisoning `Mutex`/`Condvar`).

#[cfg(all(test, loom))]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};
