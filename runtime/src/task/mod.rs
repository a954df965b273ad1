//! Tasks as users see them: ids, yielding, the cooperative budget ([`consume_budget`],
//! [`unconstrained`]), `block_in_place`, and the structured-concurrency
//! API ([`JoinSet`], [`TaskGroup`] and [`group()`], [`TaskTracker`]).
//!
//! The task cell itself (the allocation, its state machine, [`JoinHandle`], the owned list)
//! is `crate::cell`, a layer below the schedulers; this module sits above them and spawns
//! through `crate::runtime`'s handles.

mod block_in_place;
mod budget;
mod builder;
mod dump;
mod group;
mod group_error;
mod join_set;
mod tracker;

pub use crate::cell::{id, try_id, Id, JoinError, JoinHandle};
pub use block_in_place::block_in_place;
pub use budget::{consume_budget, unconstrained, Unconstrained};
pub use builder::Builder;
pub use dump::{TaskDump, TaskInfo, TaskState};
pub use group::{group, GroupError, GroupSpawner, TaskGroup};
pub use join_set::JoinSet;
pub use tracker::{TaskTracker, TrackedFuture, TrackerWait};

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler once: the task goes behind the work already queued on its worker.
///
/// asyncio's `await asyncio.sleep(0)`.
///
/// ```
/// kiln::run(async {
///     for _ in 0..3 {
///         kiln::task::yield_now().await;
///     }
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves while running marks the task NOTIFIED; after this poll the runner
        // requeues it through `Schedule::yield_now`, behind the queued work.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
