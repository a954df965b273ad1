//! The cooperative budget as tasks see it: [`consume_budget`] to take part in it,
//! [`unconstrained`] to opt a future out (see `crate::coop` for the budget itself).

use crate::coop;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Spends one unit of the current task's cooperative budget, yielding to the scheduler first
/// if the budget is spent (outside a kiln task it never yields).
///
/// kiln's sockets and `JoinHandle`s draw on the budget by themselves; a loop over work that
/// is always ready without them (timers that already elapsed, a channel that always has a
/// message) calls this to yield as regularly.
///
/// ```
/// kiln::run(async {
///     let (tx, mut rx) = kiln::sync::mpsc::unbounded_channel();
///     for i in 0..1000 {
///         tx.send(i).unwrap();
///     }
///     drop(tx);
///     let mut sum = 0;
///     while let Some(i) = rx.recv().await {
///         kiln::task::consume_budget().await;
///         sum += i;
///     }
///     assert_eq!(sum, 499_500);
/// });
/// ```
pub async fn consume_budget() {
    std::future::poll_fn(|cx| {
        let spent = std::task::ready!(coop::poll_proceed(cx));
        spent.made_progress();
        Poll::Ready(())
    })
    .await
}

/// Runs `future` outside the cooperative budget: kiln's resources inside it never return
/// `Pending` for want of budget, and it spends none of the task's.
///
/// For a future that must make progress in one go (a latency-critical drain of a socket); a
/// long-running unconstrained future starves the other tasks of its worker.
///
/// ```
/// kiln::run(async {
///     let out = kiln::task::unconstrained(async {
///         let mut n = 0;
///         for _ in 0..1000 {
///             n += kiln::spawn(async { 1 }).await.unwrap();
///             kiln::task::consume_budget().await;
///         }
///         n
///     })
///     .await;
///     assert_eq!(out, 1000);
/// });
/// ```
pub fn unconstrained<F: Future>(future: F) -> Unconstrained<F> {
    Unconstrained { future }
}

/// The future returned by [`unconstrained`].
///
/// ```
/// let f: kiln::task::Unconstrained<_> = kiln::task::unconstrained(async { 1 });
/// assert_eq!(kiln::run(f), 1);
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Unconstrained<F> {
    future: F,
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self`, and
        // `Unconstrained` has no `Drop` impl and is `Unpin` only when `F` is.
        let future = unsafe { self.map_unchecked_mut(|s| &mut s.future) };
        coop::without_budget(|| future.poll(cx))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_yields_once_then_refills_on_the_next_poll() {
        let rt = crate::Builder::new_current_thread().build().unwrap();
        let yields = rt.block_on(rt.spawn(async {
            let mut yields = 0;
            for _ in 0..(3 * usize::from(coop::BUDGET)) {
                let mut f = std::pin::pin!(consume_budget());
                let pending =
                    std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_pending())).await;
                if pending {
                    yields += 1;
                    f.await;
                }
            }
            yields
        }));
        assert!(
            yields.unwrap() >= 2,
            "each budget's end makes the task yield"
        );
    }

    #[test]
    fn an_unconstrained_future_never_runs_out() {
        let rt = crate::Builder::new_current_thread().build().unwrap();
        let pending = rt.block_on(rt.spawn(unconstrained(async {
            let mut pending = 0;
            for _ in 0..(3 * usize::from(coop::BUDGET)) {
                let mut f = std::pin::pin!(consume_budget());
                if std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_pending())).await {
                    pending += 1;
                }
            }
            pending
        })));
        assert_eq!(pending.unwrap(), 0);
    }
}
