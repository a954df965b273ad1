//! Cooperative budgeting: a task gets [`BUDGET`] operations on kiln's own resources per poll.
//!
//! Each resource future calls `poll_proceed` before doing work. Once the budget is spent the
//! resource returns `Pending` after waking the task, so the task yields to its worker and one
//! busy connection or channel cannot starve the rest. Outside a kiln task the budget is
//! unconstrained. A resource that ends up `Pending` anyway refunds its unit (the guard's drop)
//! unless it calls `made_progress`.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may perform on kiln resources in one poll.
pub const BUDGET: u8 = 128;

thread_local! {
    static CURRENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one after.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u8>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = CURRENT.try_with(|c| c.set(prev));
        }
    }
    let _reset = Reset(CURRENT.with(|c| c.replace(Some(BUDGET))));
    f()
}

/// Whether the current task has budget left (true outside a task).
pub(crate) fn has_budget_remaining() -> bool {
    CURRENT.try_with(|c| c.get() != Some(0)).unwrap_or(true)
}

/// Spends one unit, or wakes the task and returns `Pending` if none is left.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    let spent = CURRENT
        .try_with(|c| match c.get() {
            Some(0) => None,
            Some(n) => {
                c.set(Some(n - 1));
                Some(true)
            }
            None => Some(false),
        })
        .unwrap_or(Some(false));
    match spent {
        None => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(counted) => Poll::Ready(RestoreOnPending(Cell::new(counted))),
    }
}

/// Refunds the unit on drop unless the operation made progress.
pub(crate) struct RestoreOnPending(Cell<bool>);

impl RestoreOnPending {
    /// The operation completed: keep the unit spent.
    pub(crate) fn made_progress(&self) {
        self.0.set(false);
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        if self.0.get() {
            let _ = CURRENT.try_with(|c| {
                if let Some(n) = c.get() {
                    c.set(Some(n.saturating_add(1).min(BUDGET)));
                }
            });
        }
    }
}
