//! asyncio's `Queue`: a FIFO shared by any number of producers and consumers, with
//! `task_done`/`join` tracking of unfinished work and Python 3.13's `shutdown`.
//!
//! # Protocol
//!
//! * `items` — a [`RawSemaphore`] whose permits count items a getter may take. `put` pushes
//!   the item under the lock *then* adds a permit; `get` takes a permit (FIFO among getters,
//!   cancel-safe) *then* pops, so while the queue is open a getter holding a permit always
//!   finds an item.
//! * `slots` — for bounded queues, a semaphore of free places. `put` takes a slot before
//!   pushing; `get` returns one after popping.
//! * `unfinished` — items put and not yet marked done, under the same lock as the items.
//!   `task_done` decrements it and, on reaching zero, releases every `join` waiter; `join`
//!   checks it and enqueues under that lock, so it cannot miss the last `task_done`.
//!
//! Permits are taken and then forgotten (their count travels with the item), which is why no
//! guard objects appear here. Dropping a pending `get`/`put` returns whatever permit it had
//! been handed to the next waiter, so no item and no free slot is ever stranded.
//!
//! # Shutdown
//!
//! `shutdown` is a one-way switch, `Synced::shutdown`, set under the items lock:
//!
//! 1. Set the flag. A push checks it under the same lock, so every item either landed before
//!    the shutdown (and stays gettable) or is refused and handed back.
//! 2. If `immediate`, take every item out under the lock and count each as done (asyncio's
//!    `task_done` per item); if that brings `unfinished` to zero, release the `join` waiters.
//!    The drained items are dropped after the lock is released.
//! 3. On the first shutdown, close both semaphores: waiting putters fail and hand their item
//!    back, waiting getters wake. From then on a getter does not wait: with or without a
//!    permit it pops under the lock and reports the shutdown only if the deque is empty. An
//!    empty pop is therefore legal only once the flag is set (a drain may have taken an item
//!    whose permit a getter already held).
//!
//! After a shutdown the remaining items go to whichever getter reaches the lock first; FIFO
//! order among getters holds only while the queue is open.

use std::collections::VecDeque;
use std::fmt;

use crate::batch::{RawSemaphore, TryAcquire, MAX_PERMITS};
use crate::loom::sync::Mutex;
use crate::waiters::{WaitList, WakeList};

mod error;
mod futures;

pub use self::error::{QueueEmpty, QueueFull, QueueShutDown};
pub use self::futures::{QueueGet, QueueJoin, QueueStream};

#[derive(Debug)]
struct Synced<T> {
    items: VecDeque<T>,
    unfinished: usize,
    joiners: WaitList<()>,
    /// Set once by `shutdown`, never cleared; see "Shutdown".
    shutdown: bool,
}

/// An asyncio-style FIFO queue: [`put`](Queue::put), [`get`](Queue::get),
/// [`try_put`](Queue::try_put), [`try_get`](Queue::try_get), [`task_done`](Queue::task_done),
/// [`join`](Queue::join) and [`shutdown`](Queue::shutdown), plus `blocking_*` forms for
/// synchronous threads. Share it by reference or through an `Arc`.
///
/// ```
/// use kiln_sync::Queue;
///
/// futures::executor::block_on(async {
///     let q = Queue::new(2);
///     q.put("a").await.unwrap();
///     q.put("b").await.unwrap();
///     assert!(q.is_full());
///     assert_eq!(q.get().await, Ok("a"));
///     q.task_done();
///     assert_eq!(q.get().await, Ok("b"));
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
    /// # Panics
    ///
    /// If `maxsize` exceeds [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS)
    /// (`usize::MAX >> 3`): use 0 for no limit.
    ///
    /// ```
    /// assert_eq!(kiln_sync::Queue::<()>::new(3).maxsize(), 3);
    /// assert_eq!(kiln_sync::Queue::<()>::new(0).maxsize(), 0);
    /// ```
    #[track_caller]
    pub fn new(maxsize: usize) -> Self {
        assert!(
            maxsize <= MAX_PERMITS,
            "Queue::new maxsize must be at most Semaphore::MAX_PERMITS ({MAX_PERMITS}), got \
             {maxsize}; use 0 (or Queue::unbounded()) for no limit"
        );
        Self {
            maxsize,
            items: RawSemaphore::new(0),
            slots: (maxsize > 0).then(|| RawSemaphore::new(maxsize)),
            synced: Mutex::new(Synced {
                items: VecDeque::new(),
                unfinished: 0,
                joiners: WaitList::new(),
                shutdown: false,
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

    /// How many items are in the queue and not yet handed to a waiting getter: the items
    /// [`try_get`](Queue::try_get) could take now.
    ///
    /// kiln hands a new item straight to the getter that has waited longest (see
    /// [`get`](Queue::get)); from then on the item is that getter's, even before it runs, so
    /// it no longer counts here. Hence `try_get` succeeds exactly when
    /// [`is_empty`](Queue::is_empty) is false, as `get_nowait` and `empty()` in asyncio.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(0);
    /// q.try_put(()).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        let synced = self.synced.lock();
        if synced.shutdown {
            // Getters pop without a permit now (see "Shutdown" in the module docs).
            return synced.items.len();
        }
        // While open every item carries one permit, added after the push and taken before
        // the pop, so the free permits never exceed the items; a permit handed to a waiting
        // getter is not free.
        self.items.available_permits().min(synced.items.len())
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

    /// Whether the queue holds no item that [`try_get`](Queue::try_get) could take (see
    /// [`qsize`](Queue::qsize)).
    ///
    /// ```
    /// assert!(kiln_sync::Queue::<u8>::new(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue has no free place (never true for unbounded queues): while
    /// the queue is open, [`try_put`](Queue::try_put) fails with "full" exactly when this is
    /// true, as `put_nowait` and `full()` in asyncio. A place freed by a get and handed
    /// straight to a waiting putter is not free.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(1);
    /// q.try_put(()).unwrap();
    /// assert!(q.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        let Some(slots) = &self.slots else {
            return false;
        };
        let synced = self.synced.lock();
        if synced.shutdown {
            return synced.items.len() >= self.maxsize;
        }
        slots.available_permits() == 0
    }

    /// Appends an item whose slot (if bounded) the caller holds; hands it back, returning
    /// the slot, if the queue has been shut down.
    fn push(&self, item: T) -> Result<(), T> {
        let mut synced = self.synced.lock();
        if synced.shutdown {
            drop(synced);
            if let Some(slots) = &self.slots {
                slots.release(1);
            }
            return Err(item);
        }
        synced.items.push_back(item);
        synced.unfinished += 1;
        drop(synced);
        self.items.release(1);
        Ok(())
    }

    /// Takes the front item for a getter that holds an item permit or found `items` closed.
    fn pop(&self) -> Option<T> {
        let mut synced = self.synced.lock();
        let Some(item) = synced.items.pop_front() else {
            assert!(
                synced.shutdown,
                "an item permit guarantees an item while the queue is open"
            );
            return None;
        };
        drop(synced);
        if let Some(slots) = &self.slots {
            slots.release(1);
        }
        Some(item)
    }

    /// Puts an item, waiting while a bounded queue is full. Fails at once, handing the item
    /// back, once the queue is [shut down](Queue::shutdown) (also while waiting).
    ///
    /// Cancel-safe: if dropped before completing, the item was not put and the free slot it
    /// may have been handed passes on.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(1);
    ///     q.put(1).await.unwrap();
    ///     assert_eq!(q.get().await, Ok(1));
    /// });
    /// ```
    pub async fn put(&self, item: T) -> Result<(), QueueShutDown<T>> {
        if let Some(slots) = &self.slots {
            // Slots are closed only by `shutdown`.
            if slots.acquire(1).await.is_err() {
                return Err(QueueShutDown(item));
            }
        }
        self.push(item).map_err(QueueShutDown)
    }

    /// Puts an item if there is room right now (asyncio's `put_nowait`). The error says
    /// whether the queue was full or shut down, and hands the item back.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(1);
    /// assert!(q.try_put(1).is_ok());
    /// assert!(q.try_put(2).unwrap_err().is_full());
    /// ```
    pub fn try_put(&self, item: T) -> Result<(), QueueFull<T>> {
        if let Some(slots) = &self.slots {
            match slots.try_acquire(1) {
                Ok(()) => {}
                Err(TryAcquire::NoPermits) => {
                    return Err(QueueFull {
                        item,
                        shutdown: false,
                    })
                }
                Err(TryAcquire::Closed) => {
                    return Err(QueueFull {
                        item,
                        shutdown: true,
                    })
                }
            }
        }
        self.push(item).map_err(|item| QueueFull {
            item,
            shutdown: true,
        })
    }

    /// Removes and returns the oldest item, waiting while the queue is empty. Getters are
    /// served in arrival order: a new item is handed to the getter that has waited longest,
    /// and is its own from then on (unlike asyncio, where a later `get` may take it first).
    /// Once the queue is [shut down](Queue::shutdown), the items still in it keep coming out
    /// and then `get` fails (at once, waiting getters included).
    ///
    /// Cancel-safe: an item is removed only by the poll that returns it.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(0);
    ///     q.put('z').await.unwrap();
    ///     assert_eq!(q.get().await, Ok('z'));
    /// });
    /// ```
    pub fn get(&self) -> QueueGet<'_, T> {
        QueueGet {
            queue: self,
            acquire: self.items.acquire(1),
        }
    }

    /// Removes the oldest item if one is available and no getter is waiting for it
    /// (asyncio's `get_nowait`). After a shutdown it keeps returning the remaining items.
    ///
    /// ```
    /// let q = kiln_sync::Queue::new(0);
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.try_get().unwrap(), 1);
    /// assert!(q.try_get().is_err());
    /// ```
    pub fn try_get(&self) -> Result<T, QueueEmpty> {
        match self.items.try_acquire(1) {
            Ok(()) | Err(TryAcquire::Closed) => self.pop().ok_or(QueueEmpty { shutdown: true }),
            Err(TryAcquire::NoPermits) => Err(QueueEmpty { shutdown: false }),
        }
    }

    /// Shuts the queue down, as Python 3.13's `Queue.shutdown`. Afterwards `put` and
    /// `try_put` fail and hand the item back; `get` and `try_get` return the items still in
    /// the queue and then fail. Blocked putters fail and blocked getters wake at once.
    ///
    /// With `immediate`, the queue is also emptied now: the items are dropped (after the
    /// queue's lock is released), gets fail at once, and each dropped item counts as done for
    /// [`join`](Queue::join), which returns if that leaves nothing unfinished. Items already
    /// taken by a getter still need their [`task_done`](Queue::task_done).
    ///
    /// Calling it again is allowed: `shutdown(true)` after `shutdown(false)` drains what is
    /// left.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(0);
    ///     q.put(1).await.unwrap();
    ///     q.put(2).await.unwrap();
    ///     assert_eq!(q.get().await, Ok(1));
    ///     q.task_done();
    ///     q.shutdown(true); // drops item 2 and marks it done
    ///     assert!(q.is_shutdown());
    ///     assert!(q.get().await.is_err());
    ///     assert!(q.put(3).await.is_err());
    ///     assert_eq!(q.unfinished_tasks(), 0);
    ///     q.join().await;
    /// });
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut wakers = WakeList::new();
        let mut synced = self.synced.lock();
        let first = !synced.shutdown;
        synced.shutdown = true;
        let drained = if immediate {
            std::mem::take(&mut synced.items)
        } else {
            VecDeque::new()
        };
        if !drained.is_empty() {
            // As asyncio: one `task_done` per drained item, never below zero (an item may
            // have been marked done before it was fetched).
            synced.unfinished = synced.unfinished.saturating_sub(drained.len());
            if synced.unfinished == 0 {
                synced.joiners.drain_all(&mut wakers, |_| {});
            }
        }
        drop(synced);
        wakers.wake_all();
        if let Some(slots) = &self.slots {
            slots.release(drained.len());
        }
        if first {
            self.items.close();
            if let Some(slots) = &self.slots {
                slots.close();
            }
        }
        drop(drained);
    }

    /// Whether [`shutdown`](Queue::shutdown) has been called.
    ///
    /// ```
    /// let q = kiln_sync::Queue::<u8>::new(0);
    /// assert!(!q.is_shutdown());
    /// q.shutdown(false);
    /// assert!(q.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.synced.lock().shutdown
    }

    /// [`put`](Queue::put) from synchronous code: parks the calling thread while a bounded
    /// queue is full. Fails, handing the item back, once the queue is shut down.
    ///
    /// Meant for threads outside any async runtime (Python's thread-safe `queue.Queue.put`).
    /// Called from inside an async task it blocks that task's worker thread, stalling every
    /// other task scheduled there (and deadlocking if the consumer runs on that thread); use
    /// `put().await` there instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let q = Arc::new(kiln_sync::Queue::new(1));
    /// let q2 = q.clone();
    /// let producer = thread::spawn(move || {
    ///     for i in 0..3 {
    ///         q2.blocking_put(i).unwrap();
    ///     }
    /// });
    /// let got: Vec<_> = (0..3).map(|_| q.blocking_get().unwrap()).collect();
    /// producer.join().unwrap();
    /// assert_eq!(got, vec![0, 1, 2]);
    /// ```
    pub fn blocking_put(&self, item: T) -> Result<(), QueueShutDown<T>> {
        crate::park::block_on(self.put(item))
    }

    /// [`get`](Queue::get) from synchronous code: parks the calling thread while the queue is
    /// empty. Fails once the queue is shut down and empty.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it
    /// blocks that task's worker thread, stalling every other task scheduled there (and
    /// deadlocking if the producer runs on that thread); use `get().await` there instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let q = Arc::new(kiln_sync::Queue::new(0));
    /// let q2 = q.clone();
    /// let consumer = thread::spawn(move || {
    ///     let mut sum = 0;
    ///     while let Ok(v) = q2.blocking_get() {
    ///         sum += v;
    ///     }
    ///     sum
    /// });
    /// for i in 1..=4 {
    ///     q.try_put(i).unwrap();
    /// }
    /// q.shutdown(false); // the consumer drains the rest, then its get fails
    /// assert_eq!(consumer.join().unwrap(), 10);
    /// ```
    pub fn blocking_get(&self) -> Result<T, QueueShutDown> {
        crate::park::block_on(self.get())
    }

    /// [`join`](Queue::join) from synchronous code: parks the calling thread until every item
    /// put has been marked done.
    ///
    /// Meant for threads outside any async runtime. Called from inside an async task it
    /// blocks that task's worker thread, stalling every other task scheduled there (and
    /// deadlocking if a consumer runs on that thread); use `join().await` there instead.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::thread;
    ///
    /// let q = Arc::new(kiln_sync::Queue::new(0));
    /// q.try_put("job").unwrap();
    /// let q2 = q.clone();
    /// let worker = thread::spawn(move || {
    ///     let _job = q2.blocking_get().unwrap();
    ///     q2.task_done();
    /// });
    /// q.blocking_join();
    /// assert_eq!(q.unfinished_tasks(), 0);
    /// worker.join().unwrap();
    /// ```
    pub fn blocking_join(&self) {
        crate::park::block_on(self.join());
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
    ///     q.put(1).await.unwrap();
    ///     q.get().await.unwrap();
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

    /// A [`Stream`](futures_core::Stream) of items, each taken as by [`get`](Queue::get). It ends once the queue
    /// is [shut down](Queue::shutdown) and empty.
    ///
    /// ```
    /// use futures::StreamExt;
    /// futures::executor::block_on(async {
    ///     let q = kiln_sync::Queue::new(0);
    ///     q.put(1).await.unwrap();
    ///     q.put(2).await.unwrap();
    ///     q.shutdown(false);
    ///     let got: Vec<_> = q.stream().collect().await;
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
