//! Runtime-agnostic async synchronization primitives and channels.
//!
//! Everything here works under any executor: waiting is expressed only through `Waker`s, and
//! no type spawns tasks, reads clocks or touches thread-locals.
//!
//! # Design
//!
//! One fair waiter core (`waiters`: a slab-backed FIFO of wakers plus per-waiter data, always
//! used under its primitive's lock) carries every wait in the crate. On top of it:
//!
//! * `batch` — a fair batch semaphore whose uncontended acquire and release are a single CAS
//!   on an atomic permit count; [`Semaphore`], [`Mutex`], [`RwLock`], [`OnceCell`], bounded
//!   [`mpsc`] and [`Queue`] are built on it.
//! * [`Notify`], [`Event`] (and [`CancellationToken`], a tree of events), [`Barrier`], [`broadcast`], [`watch`] and [`Queue::join`] use the
//!   wait list directly; [`oneshot`] and the `mpsc` receiver have exactly one waiter and keep
//!   a single waker slot instead.
//!
//! # Cancel safety
//!
//! Dropping any pending future from this crate loses nothing: a dropped acquire returns the
//! permits it had been handed, a dropped `notify_one` recipient passes the notification on,
//! and receives take a message only in the poll that returns it.
//!
//! # Synchronous callers
//!
//! The locks, channels and [`Queue`] have `blocking_*` forms (`Mutex::blocking_lock`,
//! `mpsc::Receiver::blocking_recv`, `Queue::blocking_get`, ...) for threads outside any async
//! runtime: they drive the async operation on the calling thread and park it in between
//! (`park`). Called from inside an async task they block that task's worker thread.
//!
//! # Model-checking your code with loom
//!
//! Build with `RUSTFLAGS="--cfg kiln_loom"` and every primitive here is built on
//! [loom](https://docs.rs/loom)'s atomics, locks, cells and thread parking, so a
//! `loom::model` in your own crate explores every interleaving of your code *and* of kiln's
//! primitives together (drive async code inside the model with `loom::future::block_on`).
//! Outside a model such a build panics on first use, as any loom type does, so set the flag
//! only for the loom test run (with its own `CARGO_TARGET_DIR`). A plain `--cfg loom`, which
//! your crate may set for its own models, changes nothing in kiln. `docs/testing.md` walks
//! through a full example.
//!
//! ```
//! use kiln_sync::{mpsc, Mutex};
//!
//! futures::executor::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(8);
//!     let total = Mutex::new(0);
//!     tx.send(2).await.unwrap();
//!     drop(tx);
//!     while let Some(v) = rx.recv().await {
//!         *total.lock().await += v;
//!     }
//!     assert_eq!(*total.lock().await, 2);
//! });
//! ```

mod barrier;
mod batch;
pub mod broadcast;
mod cancellation;
mod event;
// The concurrency primitives, under std's paths: loom's under `--cfg kiln_loom` (users'
// models of their code with these primitives) and in this crate's own loom models; std's and
// parking_lot's everywhere else, a downstream crate's plain `--cfg loom` build included (see
// kiln-shim's docs for the rule). Code imports them from `crate::loom` only.
#[cfg(any(kiln_loom, all(test, loom)))]
use kiln_shim::model as loom;
#[cfg(not(any(kiln_loom, all(test, loom))))]
use kiln_shim::real as loom;
#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, loom))]
mod loom_tests_primitives;
pub mod mpsc;
mod mutex;
mod notify;
mod once_cell;
pub mod oneshot;
mod park;
mod queue;
mod rwlock;
mod semaphore;
mod waiters;
pub mod watch;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use cancellation::{CancellationToken, DropGuard, WaitForCancellation};
pub use event::{Event, EventWait};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use queue::{Queue, QueueEmpty, QueueFull, QueueGet, QueueJoin, QueueShutDown, QueueStream};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
