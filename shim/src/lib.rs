//! kiln's concurrency primitives under std's paths, in two flavors with one API: internal to
//! kiln (its crates' only source of atomics, locks, condition variables, cells and thread
//! parking), published only because they depend on it.
//!
//! - [`real`]: what ships. std's atomics, `Arc` and thread parking, `parking_lot`'s locks and
//!   condition variable, and a `#[repr(transparent)]` `UnsafeCell`. Every wrapper is a newtype
//!   whose methods are `#[inline]` forwards, so it costs nothing over using those types directly.
//! - `model` (feature `model`): the same names backed by [loom](https://docs.rs/loom), so a
//!   `loom::model` explores every interleaving of the code that uses them.
//!
//! Both mirror std's module tree (`sync::atomic::{AtomicBool, AtomicUsize, AtomicU64, fence,
//! Ordering}`, `sync::{Arc, Mutex, MutexGuard, Condvar, RwLock, LazyLock, ...}`, `cell::UnsafeCell`,
//! `thread::{current, park, park_timeout, Thread}`) and add [`real::model`], a runner for one body, and
//! [`real::MODEL_CHECKED`]. The API they share differs from std's where both sides need it:
//! - `Mutex::lock` never fails (`parking_lot` has no poisoning; on the model side a poisoned
//!   lock is taken over the same way, since a panic already fails the model), and `try_lock`
//!   returns an `Option`. `RwLock::read`/`write` likewise.
//! - `Condvar::wait(&mut guard)` and `Condvar::wait_timeout(&mut guard, dur) -> bool` (`true`
//!   if it timed out), `parking_lot`'s shape. loom does not model time: on the model side a
//!   timed wait ends only by a notification.
//! - `LazyLock` (for a `static`) takes a plain `fn` and is reached through `get(&'static
//!   self)`, not `Deref`: on the model side it is loom's lazy static, built anew in each
//!   model execution.
//! - `UnsafeCell` is reached only through `with`/`with_mut` (and `into_inner`), the
//!   closure-scoped access loom checks, so the real side cannot use an access the model side
//!   would not see.
//!
//! # Which flavor a crate uses: the rule
//!
//! This crate never decides. A shared crate cannot see its dependents' `cfg(test)`, and a
//! `--cfg loom` that a downstream crate sets for its own models reaches every crate of the
//! build, kiln's included, so the switch must be made by each kiln crate, with one `use` at
//! its root, and every call site imports `crate::loom::...`:
//!
//! ```ignore
//! // kiln-runtime, kiln-timer, kiln-blocking: loom only in the crate's own unit tests.
//! #[cfg(all(test, loom))]
//! pub(crate) use kiln_shim::model as loom;
//! #[cfg(not(all(test, loom)))]
//! pub(crate) use kiln_shim::real as loom;
//!
//! // kiln-sync also under `--cfg kiln_loom`, which users set to model-check their code
//! // together with kiln's primitives.
//! #[cfg(any(kiln_loom, all(test, loom)))]
//! pub(crate) use kiln_shim::model as loom;
//! #[cfg(not(any(kiln_loom, all(test, loom))))]
//! pub(crate) use kiln_shim::real as loom;
//! ```
//!
//! A downstream crate built with `--cfg loom` therefore gets the real kiln: its `cfg(test)`
//! is not kiln's, and nothing enables the `model` feature (kiln's crates enable it through a
//! `cfg(loom)` dev-dependency, which only their own test builds use, and kiln-sync through a
//! `cfg(kiln_loom)` dependency). No call site branches on `cfg(loom)`; what must differ
//! under a model (a smaller batch, so that a model reaches the end of one) reads
//! [`real::MODEL_CHECKED`].
//!
//! # Example
//!
//! ```
//! use kiln_shim::real as loom;
//! use loom::sync::atomic::{AtomicUsize, Ordering};
//! use loom::sync::{Arc, Condvar, Mutex};
//!
//! loom::model(|| {
//!     let pair = Arc::new((Mutex::new(false), Condvar::new()));
//!     let hits = Arc::new(AtomicUsize::new(0));
//!     let (p, h) = (pair.clone(), hits.clone());
//!     let t = std::thread::spawn(move || {
//!         h.fetch_add(1, Ordering::Relaxed);
//!         *p.0.lock() = true;
//!         p.1.notify_one();
//!     });
//!     let mut ready = pair.0.lock();
//!     while !*ready {
//!         pair.1.wait(&mut ready);
//!     }
//!     drop(ready);
//!     t.join().unwrap();
//!     assert_eq!(hits.load(Ordering::Relaxed), 1);
//! });
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "model")]
pub mod model;
pub mod real;
