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
//! | `task.cancel()` | [`JoinHandle::abort`] |
//! | `asyncio.TaskGroup()` | [`task::TaskGroup`], [`task::group`] |
//! | `asyncio.Queue`, `Lock`, `Semaphore`, `Event`, `Condition` | [`sync::Queue`], [`sync::Mutex`], [`sync::Semaphore`], [`sync::Event`], [`sync::Notify`] |
//!
//! The full mapping, with a tested example for each row, is in `docs/asyncio.md`.
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

pub use kiln_runtime::{
    run, spawn, spawn_blocking, Builder, EnterGuard, Handle, HistogramBucket, JoinError,
    JoinHandle, Runtime, RuntimeMetrics,
};

/// Tasks: spawning, yielding, ids.
pub mod task {
    pub use kiln_runtime::task::{
        group, id, try_id, yield_now, Builder, GroupError, GroupSpawner, Id, JoinError, JoinHandle,
        JoinSet, TaskDump, TaskGroup, TaskInfo, TaskState,
    };
    pub use kiln_runtime::{spawn, spawn_blocking};
}

/// Files over the blocking pool: asyncio's `loop.run_in_executor` around `open`/`read`/`write`.
pub use kiln_runtime::fs;

/// Time: sleeps, timeouts and intervals with microsecond precision, driven by each worker's
/// timer wheel.
pub mod time {
    pub use kiln_timer::{
        interval, interval_at, sleep, sleep_until, timeout, timeout_at, Duration, Elapsed, Instant,
        Interval, MissedTickBehavior, Sleep, Timeout,
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

/// Networking on the per-worker event loops: TCP, UDP and Unix-domain sockets with the
/// futures-io `AsyncRead`/`AsyncWrite` traits.
pub mod net {
    pub use kiln_runtime::net::*;
}
