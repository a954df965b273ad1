//! Helpers shared by the kiln-sync integration tests: a waker that counts its wakes, and a
//! single manual poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Counts how often it was woken.
pub struct Count(pub AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker and the counter of its wakes.
pub fn counting_waker() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// Polls `fut` once with `w`.
pub fn poll<F: Future>(fut: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(w))
}
