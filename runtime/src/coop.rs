//! Cooperative budgeting: a task gets [`BUDGET`] operations on kiln's own resources per poll.
//!
//! Each budgeted resource calls `poll_proceed` before doing work. Once the budget is spent the
//! resource returns `Pending` after waking the task, so the task yields to its worker and one
//! busy connection cannot starve the rest. Outside a kiln task the budget is unconstrained. A
//! resource that ends up `Pending` anyway refunds its unit (the guard's drop) unless it calls
//! `made_progress`.
//!
//! Budgeted: awaiting a `JoinHandle`, and socket I/O (`crate::net`). Not budgeted: timers
//! (`kiln-timer`) and `kiln::sync` waits, which are runtime-agnostic crates; a task looping
//! over always-ready channel receives or elapsed timers can call
//! [`crate::task::consume_budget`] to take part. [`crate::task::unconstrained`] runs a future
//! without a budget.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may perform on kiln resources in one poll.
pub const BUDGET: u8 = 128;

thread_local! {
    static CURRENT: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one after.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    run_with(Some(BUDGET), f)
}

/// Runs `f` (one poll of an unconstrained future) without a budget, restoring the task's
/// budget after; units spent inside `f` are not counted.
pub(crate) fn without_budget<R>(f: impl FnOnce() -> R) -> R {
    run_with(None, f)
}

/// Runs `f` with `budget` as the thread's current budget, restoring the previous one after
/// (also when `f` unwinds).
#[inline]
fn run_with<R>(budget: Option<u8>, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u8>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0;
            let _ = CURRENT.try_with(|c| c.set(prev));
        }
    }
    let _reset = Reset(CURRENT.with(|c| c.replace(budget)));
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
