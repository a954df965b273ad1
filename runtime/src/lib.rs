//! kiln-runtime: the scheduler, per-worker event loops and the task system of kiln.
//!
//! Most users depend on the `kiln` facade, which re-exports this crate's API. Architecture:
//!
//! - `cell`: the task cell: one allocation per task (header with an atomic state word,
//!   vtable, id), the [`JoinHandle`], and [`JoinError`]. State transitions live in
//!   `cell/state.rs`.
//! - [`task`]: task ids, `yield_now`, and the structured-concurrency API (`JoinSet`,
//!   `TaskGroup`, `TaskTracker`).
//! - `scheduler`: the multi-thread work-stealing scheduler (local queues, a LIFO slot, a
//!   shared injector, bounded searching, parking in each worker's own `polling::Poller`) and
//!   the current-thread flavor on the same task cell.
//! - `driver`: each worker's event loop: its poller and its timer wheel.
//! - `blocking`: `spawn_blocking` on the elastic pool of `kiln-blocking`.
//! - [`signal`]: Unix signals delivered through the event loops.
//! - `sys`: every FFI call and OS probe of the crate, behind a few safe functions.
//! - `compute`: `spawn_compute` on the runtime's fixed-size compute pool (`kiln::executor`).
//!
//! # Platforms
//!
//! Unix only. Linux is tuned (`SO_INCOMING_CPU` socket placement, `EPOLLRDHUP` so a short read clears readiness, raw
//! `epoll_wait` harvests, `sched_setattr` time slices, load-aware spinning, pidfds); every
//! other Unix, and Linux built with `RUSTFLAGS="--cfg kiln_portable"`, runs the portable
//! fallback of `sys`, with the same behaviour and none of those tunings.
//!
//! ```
//! let rt = kiln_runtime::Runtime::new().unwrap();
//! let v = rt.block_on(async { kiln_runtime::spawn(async { 1 }).await.unwrap() });
//! assert_eq!(v, 1);
//! ```

mod blocking;
mod builder;
mod cell;
mod compute;
mod context;
pub mod coop;
mod driver;
pub mod fs;
pub(crate) mod io;
// The concurrency primitives, under std's paths: loom's in this crate's own loom models,
// std's and parking_lot's everywhere else, a downstream crate's `--cfg loom` build included
// (see kiln-shim's docs for the rule). Code imports them from `crate::loom` only.
#[cfg(all(test, loom))]
pub(crate) use kiln_shim::model as loom;
#[cfg(not(all(test, loom)))]
pub(crate) use kiln_shim::real as loom;
mod metrics;
pub mod net;
mod observe;
#[cfg(unix)]
pub mod process;
mod runtime;
mod scheduler;
#[cfg(unix)]
pub mod signal;
pub(crate) mod sys;
pub mod task;
mod testing;
#[cfg(feature = "tokio-io")]
pub mod tokio_io;

pub use builder::{Builder, DEFAULT_EVENT_INTERVAL, DEFAULT_GLOBAL_QUEUE_INTERVAL};
pub use cell::{JoinError, JoinHandle};
pub use compute::spawn_compute;
pub use metrics::RuntimeMetrics;
pub use observe::HistogramBucket;
pub use runtime::{run, spawn, spawn_blocking, EnterGuard, Handle, Runtime};
pub use scheduler::unhandled::UnhandledPanic;
