//! The crate's one concurrency shim.
//!
//! Every atomic and lock the pool's shared core touches is imported from here, so that
//! `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked versions while ordinary builds use
//! `std`. Both sides expose the same API surface (std's poisoning `Mutex`/`Condvar`).

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};
