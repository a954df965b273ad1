//! kiln's elastic blocking thread pool: the engine under `kiln::spawn_blocking` (asyncio's
//! `run_in_executor`) and `kiln::fs`.
//!
//! The pool runs opaque [`Job`]s. Threads start on demand up to a cap
//! ([`DEFAULT_MAX_THREADS`]), idle ones exit after a keep-alive ([`DEFAULT_KEEP_ALIVE`]), and
//! jobs beyond the cap wait in a FIFO queue (a `crossbeam-channel`). Submitting a job while a
//! pool thread is searching the queue costs one channel push and a fence, with no lock and no
//! wake-up; otherwise the submitter wakes one thread, and threads hand a burst on to each other.
//!
//! Modules, each documenting its protocol:
//! - `idle`: the searching count and the sleepers, and why no job is left with every thread
//!   asleep (loom-tested);
//! - `pool`: the submit path, the thread loop, retirement and the numbered shutdown protocol;
//! - [`executor`]: [`executor::ThreadPool`], a fixed-size pool on the same engine with a
//!   bounded queue, awaitable handles, cancellation and backpressure (`kiln::executor`).
//!
//! The crate has no `unsafe` code.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! let pool = kiln_blocking::Builder::new()
//!     .max_threads(8)
//!     .keep_alive(Duration::from_secs(2))
//!     .build()?;
//! let (tx, rx) = std::sync::mpsc::channel();
//! pool.spawn(Box::new(move || {
//!     // blocking work, e.g. a file read
//!     tx.send("done").unwrap();
//! }))
//! .unwrap();
//! assert_eq!(rx.recv().unwrap(), "done");
//! assert!(pool.shutdown(Some(Duration::from_secs(5))));
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]

mod builder;
mod error;
pub mod executor;
mod idle;
// The concurrency primitives, under std's paths: loom's in this crate's own loom models,
// std's and parking_lot's everywhere else, a downstream crate's `--cfg loom` build included
// (see kiln-shim's docs for the rule). Code imports them from `crate::loom` only.
#[cfg(all(test, loom))]
use kiln_shim::model as loom;
#[cfg(not(all(test, loom)))]
use kiln_shim::real as loom;
mod metrics;
mod pool;
mod sys;

#[cfg(all(test, not(loom)))]
mod tests;

pub use builder::{Builder, ThreadHook, ThreadNameFn};
pub use error::SpawnError;
pub use metrics::PoolMetrics;
pub use pool::Pool;

use std::time::Duration;

/// A unit of work for the pool.
///
/// The pool runs it at most once; a job dropped unrun (queued when the pool shut down) is how
/// the pool reports cancellation, so callers that wrap a task in a job cancel the task in the
/// job's destructor.
///
/// # Examples
///
/// ```
/// let job: kiln_blocking::Job = Box::new(|| println!("on a pool thread"));
/// let pool = kiln_blocking::Builder::new().build().unwrap();
/// pool.spawn(job).unwrap();
/// pool.shutdown(None);
/// ```
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The default thread cap of a pool.
///
/// # Examples
///
/// ```
/// assert_eq!(kiln_blocking::DEFAULT_MAX_THREADS, 512);
/// ```
pub const DEFAULT_MAX_THREADS: usize = 512;

/// The default time an idle pool thread waits for a job before exiting.
///
/// # Examples
///
/// ```
/// assert_eq!(kiln_blocking::DEFAULT_KEEP_ALIVE.as_secs(), 10);
/// ```
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
