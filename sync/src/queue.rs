//! asyncio's `Queue`: a FIFO shared by any number of producers and consumers, with
//! `task_done`/`join` tracking of unfinished work.
//!
//! # Protocol
//!
//! * `items` — a [`RawSemaphore`] whose permits count items a getter may take. `put` pushes
//!   the item under the lock *then* adds a permit; `get` takes a permit (FIFO among getters,
//!   cancel-safe) *then* pops, so a getter holding a permit always finds an item.
//! * `slots` — for bounded queues, a semaphore of free places. `put` takes a slot before
//!   pushing; `get` returns one after popping.
//! * `unfinished` — items put and not yet marked done, under the same lock as the items.
//!   `task_done` decrements it and, on reaching zero, releases every `join` waiter; `join`
//!   checks it and enqueues under that lock, so it cannot miss the last `task_done`.
//!
//! Permits are taken and then forgotten (their count travels with the item), which is why no
//! guard objects appear here. Dropping a pending `get`/`put` returns whatever permit it had
//! been handed to the next waiter, so no item and no free slot is ever stranded.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::batch::{Acquire, RawSemaphore};
use crate::loom::Mutex;
use crate::waiters::{Key, WaitList, WakeList};

#[derive(Debug)]
struct Synced<T> {
    items: VecDeque<T>,
    unfinished: usize,
    joiners: WaitList<()>,
}

/// An asyncio-style FIFO queue: [`put`](Queue::put), [`get`](Queue::get),
/// [`try_put`](Queue::try_put), [`try_get`](Queue::try_get), [`task_done`](Queue::task_done)
/// and [`join`](Queue::join). Share it by reference or through an `Arc`.
///
/// ```
/// use kiln_sync::Queue;
///
/// futures::executor::block_on(async {
///     let q = Queue::new(2);
///     q.put("a").await;
///     q.put("b").await;
///     assert!(q.is_full());
///     assert_eq!(q.get().await, "a");
///     q.task_done();
///     assert_eq!(q.get().await, "b");
///     q.task_done();
///     q.join().await; // every item put has been marked done
/// });
/// ```
pub struct Queue<T> {
    maxsize: usize,
    items: RawSemaphore,
    slots: Option<RawSemaphore>,
    synced: Mutex<Synced<T>>,
}

/// [`Queue::try_put`] found the queue full; the item is handed back.
///
/// ```
/// let q = kiln_sync::Queue::new(1);
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
/// ```
#[derive(PartialEq, Eq, Clone)]
pub struct QueueFull<T>(T);

impl<T> QueueFull<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueFull").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> std::error::Error for QueueFull<T> {}

/// [`Queue::try_get`] found no item available.
///
/// ```
/// let q = kiln_sync::Queue::<u8>::unbounded();
/// assert_eq!(q.try_get().unwrap_err().to_string(), "queue is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEmpty(());

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl std::error::Error for QueueEmpty {}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .finish()
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::unbounded()
    }
}

impl<T> Queue<T> {
    /// A queue holding at most `maxsize` items; `maxsize == 0` means unbounded, as in
    /// asyncio.
    ///
    /// ```
    /// assert_eq!(kiln_sync::Queue::<()>::new(3).maxsize(), 3);
    /// assert_eq!(kiln_sync::Queue::<()>::new(0).maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        Self {
            maxsize,
            items: RawSemaphore::new(0),
            slots: (maxsize > 0).then(|| RawSemaphore::new(maxsize)),
            synced: Mutex::new(Synced {
                items: VecDeque::new(),
                unfinished: 0,
                joiners: WaitList::new(),
            }),
        }
    }

    /// A queue without a size limit.
    ///
    /// ```
    /// let q = kiln_sync::Queue::unbounded();
    /// for i in 0..100 {
    ///     q.try_put(i).unwrap();
    /// }
    /// assert_eq!(q.qsize(), 100);
    /// ```
    pub fn unbounded() -> Self {
        Self::new(0)
    }

    /// The size limit; 0 for unbounded.
    ///
    /// ```
    /// assert_eq!(kiln_sync::Queue::<u8>::unbounded().maxsize(), 0);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// How many items are in the queue.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(0);
    /// q.try_put(()).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        self.synced.lock().items.len()
    }

    /// Same as [`qsize`](Queue::qsize).
    ///
    /// ```
    /// let q = kiln_sync::Queue::<u8>::new(0);
    /// assert_eq!(q.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.qsize()
    }

    /// Whether the queue holds no item.
    ///
    /// ```
    /// assert!(kiln_sync::Queue::<u8>::new(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue holds `maxsize` items (never true for unbounded queues).
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(1);
    /// q.try_put(()).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
    }

    fn push(&self, item: T) {
        let mut synced = self.synced.lock();
        synced.items.push_back(item);
        synced.unfinished += 1;
        drop(synced);
        self.items.release(1);
    }

    fn pop(&self) -> T {
        let item = self
            .synced
            .lock()
            .items
            .pop_front()
            .expect("an item permit guarantees an item");
        if let Some(slots) = &self.slots {
            slots.release(1);
        }
        item
    }

    /// Puts an item, waiting while a bounded queue is full. Cancel-safe: if dropped before
    /// completing, the item was not put and the free slot it may have been handed passes on.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(1);
    ///     q.put(1).await;
    ///     assert_eq!(q.get().await, 1);
    /// });
    /// ```
    pub async fn put(&self, item: T) {
        if let Some(slots) = &self.slots {
            // Slots are never closed, so acquiring cannot fail.
            let _ = slots.acquire(1).await;
        }
        self.push(item);
    }

    /// Puts an item if there is room right now.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).is_err());
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), QueueFull<T>> {
        if let Some(slots) = &self.slots {
            if slots.try_acquire(1).is_err() {
                return Err(QueueFull(item));
            }
        }
        self.push(item);
        Ok(())
    }

    /// Removes and returns the oldest item, waiting while the queue is empty. Getters are
    /// served in arrival order. Cancel-safe: an item is removed only by the poll that
    /// returns it.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(0);
    ///     q.put('z').await;
    ///     assert_eq!(q.get().await, 'z');
    /// });
    /// ```
    pub fn get(&self) -> QueueGet<'_, T> {
        QueueGet {
            queue: self,
            acquire: self.items.acquire(1),
        }
    }

    /// Removes the oldest item if one is available and no getter is waiting for it.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.try_get().unwrap(), 1);
    /// assert!(q.try_get().is_err());
    /// ```
    pub fn try_get(&self) -> Result<T, QueueEmpty> {
        match self.items.try_acquire(1) {
            Ok(()) => Ok(self.pop()),
            Err(_) => Err(QueueEmpty(())),
        }
    }

    /// Marks one previously fetched item as processed.
    ///
    /// # Panics
    ///
    /// If called more times than items were put (asyncio raises `ValueError`).
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(0);
    /// q.try_put(()).unwrap();
    /// q.try_get().unwrap();
    /// q.task_done();
    /// ```
    pub fn task_done(&self) {
        let mut wakers = WakeList::new();
        let mut synced = self.synced.lock();
        assert!(
            synced.unfinished > 0,
            "Queue::task_done() called more times than there were items put in the queue"
        );
        synced.unfinished -= 1;
        if synced.unfinished == 0 {
            synced.joiners.drain_all(&mut wakers, |_| {});
        }
        drop(synced);
        wakers.wake_all();
    }

    /// How many items were put and not yet marked done.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.unfinished_tasks(), 1);
    /// ```
    pub fn unfinished_tasks(&self) -> usize {
        self.synced.lock().unfinished
    }

    /// Waits until every item put has been marked done with [`task_done`](Queue::task_done).
    /// Returns at once if there is no unfinished item. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(0);
    ///     q.join().await; // nothing was put
    ///     q.put(1).await;
    ///     q.get().await;
    ///     q.task_done();
    ///     q.join().await;
    /// });
    /// ```
    pub fn join(&self) -> QueueJoin<'_, T> {
        QueueJoin {
            queue: self,
            key: None,
        }
    }

    /// A [`Stream`] of items, each taken as by [`get`](Queue::get). It never ends on its
    /// own.
    ///
    /// ```
    /// use futures::StreamExt;
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(0);
    ///     q.put(1).await;
    ///     q.put(2).await;
    ///     let got: Vec<_> = q.stream().take(2).collect().await;
    ///     assert_eq!(got, vec![1, 2]);
    /// });
    /// ```
    pub fn stream(&self) -> QueueStream<'_, T> {
        QueueStream {
            queue: self,
            pending: None,
        }
    }
}

/// Future returned by [`Queue::get`].
///
/// ```
/// let q = kiln_sync::Queue::new(0);
/// q.try_put(5).unwrap();
/// let get: kiln_sync::QueueGet<'_, i32> = q.get();
/// assert_eq!(futures::executor::block_on(get), 5);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct QueueGet<'a, T> {
    queue: &'a Queue<T>,
    acquire: Acquire<'a>,
}

impl<T> fmt::Debug for QueueGet<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueGet").finish_non_exhaustive()
    }
}

impl<T> Future for QueueGet<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        match Pin::new(&mut this.acquire).poll(cx) {
            // The item semaphore is never closed.
            Poll::Ready(_) => Poll::Ready(this.queue.pop()),
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
    queue: &'a Queue<T>,
    key: Option<Key>,
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
    queue: &'a Queue<T>,
    pending: Option<QueueGet<'a, T>>,
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
                Poll::Ready(Some(item))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
