//! [`Map`]: the ordered results of [`ThreadPool::map`](crate::executor::ThreadPool::map).

use super::{JoinError, JoinHandle};
use futures_core::Stream;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The results of a [`ThreadPool::map`](crate::executor::ThreadPool::map) batch, in input
/// order: a `Stream<Item = Result<R, JoinError>>`, also readable with [`Map::next`]. The jobs
/// run in parallel; the stream yields result *i* once job *i* is done (later results that are
/// already done wait their turn). Dropping it aborts the jobs that have not started.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::executor::ThreadPool::builder().threads(2).build()?;
/// let lens = kiln_blocking::executor::block_on(async {
///     let mut map = pool.map(["a", "bbb", "cc"], |s: &str| s.len());
///     let mut out = Vec::new();
///     while let Some(len) = map.next().await {
///         out.push(len.unwrap());
///     }
///     out
/// });
/// assert_eq!(lens, [1, 3, 2]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Map<R> {
    pending: VecDeque<JoinHandle<R>>,
}

impl<R> Map<R> {
    pub(crate) fn new(pending: VecDeque<JoinHandle<R>>) -> Map<R> {
        Map { pending }
    }

    /// The next result in input order, or `None` after the last.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// let mut map = pool.map(vec![2u32, 3], |x| x + 1);
    /// let first = kiln_blocking::executor::block_on(map.next());
    /// assert_eq!(first.unwrap().unwrap(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[allow(
        clippy::should_implement_trait,
        reason = "an async `next`, like `StreamExt::next`; a blocking Iterator would stall async callers"
    )]
    pub fn next(&mut self) -> Next<'_, R> {
        Next { map: self }
    }

    /// Results not yet yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// let map = pool.map(0..3, |x: i32| x);
    /// assert_eq!(map.remaining(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remaining(&self) -> usize {
        self.pending.len()
    }

    fn poll_next_result(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<R, JoinError>>> {
        let Some(first) = self.pending.front_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(first).poll(cx) {
            Poll::Ready(result) => {
                self.pending.pop_front();
                Poll::Ready(Some(result))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<R> Stream for Map<R> {
    type Item = Result<R, JoinError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_next_result(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}

impl<R> Unpin for Map<R> {}

impl<R> Drop for Map<R> {
    fn drop(&mut self) {
        for h in &self.pending {
            h.abort();
        }
    }
}

impl<R> fmt::Debug for Map<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("remaining", &self.pending.len())
            .finish()
    }
}

/// The future [`Map::next`] returns.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
/// let mut map = pool.map([1u8], |x| x);
/// let next: kiln_blocking::executor::Next<'_, u8> = map.next();
/// assert_eq!(kiln_blocking::executor::block_on(next).unwrap().unwrap(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Next<'a, R> {
    map: &'a mut Map<R>,
}

impl<R> Future for Next<'_, R> {
    type Output = Option<Result<R, JoinError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.map.poll_next_result(cx)
    }
}

impl<R> fmt::Debug for Next<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}
