//! The errors of [`Queue`](super::Queue)'s operations: `QueueFull` and `QueueEmpty` for the
//! non-waiting forms, `QueueShutDown` for everything refused after
//! [`shutdown`](super::Queue::shutdown).

use std::fmt;

/// [`Queue::try_put`](super::Queue::try_put) could not put the item: the queue is full, or
/// it has been shut down. The item is handed back.
///
/// ```
/// let q = kiln_sync::Queue::new(1);
/// q.try_put(1).unwrap();
/// let err = q.try_put(2).unwrap_err();
/// assert!(err.is_full() && !err.is_shutdown());
/// assert_eq!(err.into_inner(), 2);
///
/// q.shutdown(false);
/// assert!(q.try_put(3).unwrap_err().is_shutdown());
/// ```
#[derive(PartialEq, Eq, Clone)]
pub struct QueueFull<T> {
    pub(super) item: T,
    pub(super) shutdown: bool,
}

impl<T> QueueFull<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.item
    }

    /// Whether the queue was at its size limit (and is still open).
    pub fn is_full(&self) -> bool {
        !self.shutdown
    }

    /// Whether the queue has been shut down; no put will ever succeed again.
    pub fn is_shutdown(&self) -> bool {
        self.shutdown
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueFull")
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shutdown {
            f.write_str("queue is shut down")
        } else {
            f.write_str("queue is full")
        }
    }
}

impl<T> std::error::Error for QueueFull<T> {}

/// [`Queue::try_get`](super::Queue::try_get) found no item available: empty for now, or
/// empty for good because the queue has been shut down.
///
/// ```
/// let q = kiln_sync::Queue::<u8>::unbounded();
/// let err = q.try_get().unwrap_err();
/// assert!(!err.is_shutdown());
/// assert_eq!(err.to_string(), "queue is empty");
///
/// q.shutdown(false);
/// assert!(q.try_get().unwrap_err().is_shutdown());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEmpty {
    pub(super) shutdown: bool,
}

impl QueueEmpty {
    /// Whether the queue has been shut down, so no item will ever arrive.
    pub fn is_shutdown(&self) -> bool {
        self.shutdown
    }
}

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shutdown {
            f.write_str("queue is empty and shut down")
        } else {
            f.write_str("queue is empty")
        }
    }
}

impl std::error::Error for QueueEmpty {}

/// The queue has been shut down (asyncio's `QueueShutDown`).
///
/// [`Queue::put`](super::Queue::put) fails with it at once after
/// [`shutdown`](super::Queue::shutdown) and hands the item back (`QueueShutDown<T>`);
/// [`Queue::get`](super::Queue::get) fails with it once the shut-down queue is empty
/// (`QueueShutDown<()>`, carrying nothing).
///
/// ```
/// futures::executor::block_on(async {
///     let q = kiln_sync::Queue::new(0);
///     q.put(1).await.unwrap();
///     q.shutdown(false);
///     let err = q.put(2).await.unwrap_err();
///     assert_eq!(err.to_string(), "queue is shut down");
///     assert_eq!(err.into_inner(), 2);
///     assert_eq!(q.get().await, Ok(1)); // what was put before still comes out
///     assert!(q.get().await.is_err());
/// });
/// ```
#[derive(PartialEq, Eq, Clone)]
pub struct QueueShutDown<T = ()>(pub(super) T);

impl<T> QueueShutDown<T> {
    /// The item that was not put (`()` for a failed get).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueShutDown").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}
