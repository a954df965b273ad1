//! A reusable barrier for a fixed number of tasks.
//!
//! Under one lock: how many tasks have arrived in the current generation and the wait list.
//! The `n`-th arrival resets the count, starts a new generation and releases everyone; it is
//! the leader. A waiting future that is dropped before its generation trips withdraws its
//! arrival, so a cancelled task never lets the barrier trip one task short.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::sync::Mutex;
use crate::waiters::{Key, WaitList, WakeList};

#[derive(Debug)]
struct Synced {
    arrived: usize,
    waiters: WaitList<()>,
}

/// Lets `n` tasks wait until all of them have reached the same point.
///
/// ```
/// use kiln_sync::Barrier;
///
/// futures::executor::block_on(async {
///     let barrier = Barrier::new(1);
///     assert!(barrier.wait().await.is_leader());
/// });
/// ```
pub struct Barrier {
    n: usize,
    synced: Mutex<Synced>,
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}

/// What [`Barrier::wait`] returns: exactly one task per generation is the leader.
///
/// ```
/// futures::executor::block_on(async {
///     let b = kiln_sync::Barrier::new(1);
///     let r: kiln_sync::BarrierWaitResult = b.wait().await;
///     assert!(r.is_leader());
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Whether this task's arrival tripped the barrier.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` tasks. `n == 0` behaves like `n == 1`.
    ///
    /// ```
    /// let _b = kiln_sync::Barrier::new(4);
    /// ```
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            synced: Mutex::new(Synced {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Arrives and waits until `n` tasks have arrived.
    ///
    /// Cancel-safe: dropping the future before the barrier trips withdraws the arrival.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let b = Arc::new(kiln_sync::Barrier::new(2));
    /// let b2 = b.clone();
    /// let t = std::thread::spawn(move || futures::executor::block_on(b2.wait()).is_leader());
    /// let here = futures::executor::block_on(b.wait()).is_leader();
    /// assert!(here ^ t.join().unwrap());
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            done: false,
        }
    }
}

/// Future returned by [`Barrier::wait`].
///
/// ```
/// let b = kiln_sync::Barrier::new(1);
/// let fut: kiln_sync::BarrierWait<'_> = b.wait();
/// assert!(futures::executor::block_on(fut).is_leader());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<Key>,
    done: bool,
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait").finish_non_exhaustive()
    }
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        assert!(!this.done, "BarrierWait polled after completion");
        let mut synced = this.barrier.synced.lock();
        if let Some(key) = &this.key {
            if !synced.waiters.is_notified(key) {
                synced.waiters.register(key, cx.waker());
                return Poll::Pending;
            }
            synced
                .waiters
                .remove(this.key.take().expect("checked above"));
            this.done = true;
            return Poll::Ready(BarrierWaitResult(false));
        }
        synced.arrived += 1;
        if synced.arrived < this.barrier.n {
            this.key = Some(synced.waiters.push_back((), cx.waker()));
            return Poll::Pending;
        }
        synced.arrived = 0;
        let mut wakers = WakeList::new();
        synced.waiters.drain_all(&mut wakers, |_| {});
        drop(synced);
        wakers.wake_all();
        this.done = true;
        Poll::Ready(BarrierWaitResult(true))
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut synced = self.barrier.synced.lock();
            if !synced.waiters.remove(key).notified {
                // Still in the current generation: withdraw the arrival.
                synced.arrived -= 1;
            }
        }
    }
}
