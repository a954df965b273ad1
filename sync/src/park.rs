//! Driving one future to completion on the calling thread: the engine under every
//! `blocking_*` method.
//!
//! The waker handed to the future unparks the calling thread. Thread parking keeps one token
//! per thread: an `unpark` that lands before `park` makes that `park` return at once, so a
//! wake-up between "poll returned `Pending`" and "park" is never lost. `park` may also return
//! spuriously; the loop then simply polls again, which every future here tolerates.
//!
//! Parking goes through `crate::loom::thread` (loom's threads in a model), so the loom models
//! can drive the blocking forms exactly as they ship.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::loom::thread::{current as current_thread, park, Thread};

/// Unparks the thread blocked in [`block_on`].
struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on the calling thread, parking between polls, until it completes.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(Unparker(current_thread())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        park();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;

    #[test]
    fn wakes_from_another_thread() {
        let flag = Arc::new(AtomicBool::new(false));
        let waker_slot = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let (f, slot) = (flag.clone(), waker_slot.clone());
        let setter = thread::spawn(move || loop {
            if let Some(w) = slot.lock().unwrap().take() {
                f.store(true, Ordering::SeqCst);
                w.wake();
                return;
            }
            thread::yield_now();
        });
        block_on(std::future::poll_fn(|cx| {
            if flag.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                *waker_slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
        }));
        setter.join().unwrap();
    }
}
