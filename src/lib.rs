//! # kiln
//!
//! A multi-threaded, work-stealing async runtime with per-core event loops and a separate
//! pool for blocking and CPU-heavy work. If you know Python's asyncio, you already know kiln:
//!
//! | asyncio | kiln |
//! |---|---|
//! | `asyncio.run(main())` | [`kiln::run(main())`](run) |
//! | `asyncio.create_task(coro)` | [`kiln::spawn(fut)`](spawn) |
//! | `await asyncio.sleep(0)` | [`kiln::task::yield_now().await`](task::yield_now) |
//! | `asyncio.gather(*aws)` | `futures::future::join_all(handles).await` |
//! | `asyncio.wait(aws, return_when=FIRST_COMPLETED)` | `futures::future::select_all(handles).await` |
//! | `asyncio.as_completed(aws)` | [`task::JoinSet::join_next`] |
//! | `asyncio.wait_for(aw, t)` | [`time::timeout(t, fut).await`](time::timeout) |
//! | `asyncio.sleep(t)` | [`time::sleep(t).await`](time::sleep) |
//! | `loop.run_in_executor(None, f)` | [`kiln::spawn_blocking(f).await`](spawn_blocking) |
//! | `loop.run_in_executor(executor, f)` | [`pool.spawn(f).await`](executor::ThreadPool::spawn) |
//! | `ProcessPoolExecutor` for CPU-bound work | [`kiln::spawn_compute(f).await`](spawn_compute) |
//! | `task.cancel()` | [`JoinHandle::abort`] |
//! | `asyncio.TaskGroup()` | [`task::TaskGroup`], [`task::group`] |
//! | `loop.add_signal_handler(sig, cb)` | [`signal::unix::signal`], [`signal::ctrl_c`] |
//! | `asyncio.create_subprocess_exec(...)` | [`process::Command`] |
//! | `asyncio.Queue`, `Lock`, `Semaphore`, `Event`, `Condition` | [`sync::Queue`], [`sync::Mutex`], [`sync::Semaphore`], [`sync::Event`], [`sync::Notify`] |
//!
//! The full mapping, with a tested example for each row, is in `docs/asyncio.md`.
//!
//! **Platforms:** Unix. Linux is tuned (socket placement by `SO_INCOMING_CPU`, short
//! reads that clear readiness (`EPOLLRDHUP`), raw `epoll_wait` harvests, worker time slices, pidfds); other Unix systems run the
//! portable fallback, with the same behaviour and none of those tunings. Windows is not
//! supported.
//!
//! ```
//! let total = kiln::run(async {
//!     let tasks: Vec<_> = (0..10u64).map(|i| kiln::spawn(async move { i * i })).collect();
//!     let mut sum = 0;
//!     for t in tasks {
//!         sum += t.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(total, 285);
//! ```

/// `#[kiln::main]`: runs an `async fn main` on a kiln runtime (see `kiln-macros`).
pub use kiln_macros::main;
/// `#[kiln::test]`: runs an `async fn` test on its own kiln runtime, optionally with a paused
/// clock (see `kiln-macros` and `docs/testing.md`).
pub use kiln_macros::test;

pub use kiln_runtime::{
    run, spawn, spawn_blocking, Builder, EnterGuard, Handle, HistogramBucket, JoinError,
    JoinHandle, Runtime, RuntimeMetrics, UnhandledPanic,
};

pub use kiln_runtime::spawn_compute;

/// Thread pools for CPU-heavy and blocking work, usable inside any kiln runtime or with none:
/// asyncio's `loop.run_in_executor(executor, f)` with an executor of your own.
///
/// [`executor::ThreadPool`] has a fixed number of threads, a bounded queue
/// ([`try_spawn`](executor::ThreadPool::try_spawn) hands the closure back when it is full,
/// [`spawn_wait`](executor::ThreadPool::spawn_wait) waits for room), ordered parallel
/// [`map`](executor::ThreadPool::map), and awaitable [`executor::JoinHandle`]s.
/// Cancellation: aborting a handle before its job starts cancels the job; a running job polls
/// [`executor::is_cancelled`] to stop cooperatively. Each runtime keeps one as its compute
/// pool ([`spawn_compute`]).
///
/// ```
/// use kiln::executor::ThreadPool;
///
/// let pool = ThreadPool::builder().threads(2).queue_capacity(8).build()?;
/// let sum = kiln::run(async {
///     let a = pool.spawn(|| (0..1_000u64).sum::<u64>());
///     let b = pool.spawn_wait(|| (1_000..2_000u64).sum::<u64>()).await;
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 1_999_000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub mod executor {
    pub use kiln_blocking::executor::*;
}

/// Tasks: spawning, yielding, ids.
pub mod task {
    pub use kiln_runtime::task::{
        block_in_place, consume_budget, group, id, try_id, unconstrained, yield_now, Builder,
        GroupError, GroupSpawner, Id, JoinError, JoinHandle, JoinSet, TaskDump, TaskGroup,
        TaskInfo, TaskState, TaskTracker, TrackedFuture, TrackerWait, Unconstrained,
    };
    pub use kiln_runtime::{spawn, spawn_blocking};
}

/// Files over the blocking pool: asyncio's `loop.run_in_executor` around `open`/`read`/`write`.
pub use kiln_runtime::fs;

/// Time: sleeps, timeouts and intervals with microsecond precision, driven by each worker's
/// timer wheel.
pub mod time {
    pub use kiln_timer::{
        advance, interval, interval_at, now, pause, resume, sleep, sleep_until, timeout,
        timeout_at, Advance, Duration, Elapsed, Instant, Interval, MissedTickBehavior, Sleep,
        Timeout,
    };
}

/// Async synchronization primitives and channels that work under any executor: asyncio's
/// `Lock`, `Semaphore`, `Event`, `Condition` (via [`sync::Notify`]) and `Queue`.
pub mod sync {
    pub use kiln_sync::*;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Child processes awaited on the event loop: asyncio's `create_subprocess_exec` (Unix only).
#[cfg(unix)]
pub mod process {
    pub use kiln_runtime::process::*;
}

/// Signals delivered through the event loops: asyncio's `loop.add_signal_handler`
/// (Unix only).
#[cfg(unix)]
pub mod signal {
    pub use kiln_runtime::signal::*;
}

/// Networking on the per-worker event loops: TCP, UDP and Unix-domain sockets with the
/// futures-io `AsyncRead`/`AsyncWrite` traits.
pub mod net {
    pub use kiln_runtime::net::*;
}

/// tokio's `AsyncRead`/`AsyncWrite` on kiln's streams and files (feature `tokio-io`).
#[cfg(feature = "tokio-io")]
pub use kiln_runtime::tokio_io;
