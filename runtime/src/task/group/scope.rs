//! [`group`]: the scoped form of a [`TaskGroup`], asyncio's `async with TaskGroup()` block.

use super::{GroupError, GroupSpawner, TaskGroup};
use std::future::Future;
use std::task::Poll;

/// Runs `body` with a [`GroupSpawner`], then waits for every child: asyncio's
/// `async with asyncio.TaskGroup() as tg:` block.
///
/// The body runs inline in the calling task. If a child fails while the body still runs, the
/// body is cancelled (dropped at its current `.await`), like asyncio cancels the block. If the
/// body panics, the panic propagates and every child is aborted. Dropping the returned future
/// aborts every child.
///
/// ```
/// use std::time::Duration;
///
/// kiln::run(async {
///     let out = kiln::task::group(|g| async move {
///         for i in 0..3u64 {
///             g.spawn(async move {
///                 kiln::time::sleep(Duration::from_millis(3 - i)).await;
///                 Ok::<_, std::io::Error>(i)
///             });
///         }
///     })
///     .await
///     .unwrap();
///     assert_eq!(out, vec![0, 1, 2]); // spawn order
/// });
/// ```
pub async fn group<T, E, F, Fut>(body: F) -> Result<Vec<T>, GroupError<E>>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce(GroupSpawner<T, E>) -> Fut,
    Fut: Future<Output = ()>,
{
    let group = TaskGroup::new();
    let mut body = Some(Box::pin(body(group.spawner())));
    std::future::poll_fn(|cx| {
        if let Some(b) = body.as_mut() {
            if b.as_mut().poll(cx).is_ready() {
                body = None;
            } else {
                let mut state = group.spawner.shared.state.lock();
                let old = state.joiner.replace(cx.waker().clone());
                let failed = state.failure.is_some();
                drop(state);
                drop(old);
                if !failed {
                    return Poll::Pending;
                }
                // A child failed: cancel the body (drop it outside the lock).
                body = None;
            }
        }
        Poll::Ready(())
    })
    .await;
    drop(body);
    group.join().await
}
