//! The futures and the stream a [`Queue`] hands out: each borrows the queue and follows its
//! protocol (see the parent module): a get waits for an item permit and then pops, a join
//! waits in the queue's `joiners` list under the items lock, and the stream is a get repeated.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::{Queue, QueueShutDown};
use crate::batch::Acquire;
use crate::waiters::Key;

/// Future returned by [`Queue::get`].
///
/// ```
/// let q = kiln_sync::Queue::new(0);
/// q.try_put(5).unwrap();
/// let get: kiln_sync::QueueGet<'_, i32> = q.get();
/// assert_eq!(futures::executor::block_on(get), Ok(5));
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct QueueGet<'a, T> {
    pub(super) queue: &'a Queue<T>,
    pub(super) acquire: Acquire<'a>,
}

impl<T> fmt::Debug for QueueGet<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet").finish_non_exhaustive()
    }
}

impl<T> Future for QueueGet<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.acquire).poll(cx) {
            // `Ok`: we hold an item permit. `Err`: `items` was closed by `shutdown`; either
            // way the deque decides (see "Shutdown").
            Poll::Ready(_) => Poll::Ready(this.queue.pop().ok_or(QueueShutDown(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Future returned by [`Queue::join`].
///
/// ```
/// let q = kiln_sync::Queue::<u8>::new(0);
/// let join: kiln_sync::QueueJoin<'_, u8> = q.join();
/// futures::executor::block_on(join);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct QueueJoin<'a, T> {
    pub(super) queue: &'a Queue<T>,
    pub(super) key: Option<Key>,
}

impl<T> fmt::Debug for QueueJoin<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin").finish_non_exhaustive()
    }
}

impl<T> Future for QueueJoin<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut synced = this.queue.synced.lock();
        match &this.key {
            None => {
                if synced.unfinished == 0 {
                    return Poll::Ready(());
                }
                this.key = Some(synced.joiners.push_back((), cx.waker()));
                Poll::Pending
            }
            Some(key) => {
                if synced.joiners.is_notified(key) {
                    synced
                        .joiners
                        .remove(this.key.take().expect("checked above"));
                    Poll::Ready(())
                } else {
                    synced.joiners.register(key, cx.waker());
                    Poll::Pending
                }
            }
        }
    }
}

impl<T> Drop for QueueJoin<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.synced.lock().joiners.remove(key);
        }
    }
}

/// A [`Stream`] over a [`Queue`]'s items; see [`Queue::stream`].
///
/// ```
/// use futures::StreamExt;
/// let q = kiln_sync::Queue::new(0);
/// q.try_put(1).unwrap();
/// let mut s: kiln_sync::QueueStream<'_, i32> = q.stream();
/// assert_eq!(futures::executor::block_on(s.next()), Some(1));
/// ```
pub struct QueueStream<'a, T> {
    pub(super) queue: &'a Queue<T>,
    pub(super) pending: Option<QueueGet<'a, T>>,
}

impl<T> fmt::Debug for QueueStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream").finish_non_exhaustive()
    }
}

impl<'a, T> Stream for QueueStream<'a, T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let queue: &'a Queue<T> = this.queue;
        let get = this.pending.get_or_insert_with(|| queue.get());
        match Pin::new(get).poll(cx) {
            Poll::Ready(item) => {
                this.pending = None;
                Poll::Ready(item.ok())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
