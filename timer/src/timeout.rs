//! [`Timeout`]: a future with a deadline, and its [`Elapsed`] error.
//!
//! The inner future is polled first, so one that is ready at the deadline still wins. When
//! the deadline wins, the inner future is dropped right there (not when the `Timeout` is).

use crate::sleep::{deadline_after, Sleep};
use crate::TimerHandle;
use pin_project_lite::pin_project;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The error of a [`Timeout`] whose deadline passed first.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use std::time::{Duration, Instant};
///
/// let driver = Driver::new(Arc::new(Nop));
/// let past = Instant::now() - Duration::from_millis(1);
/// let never = std::future::pending::<()>();
/// let err = futures::executor::block_on(driver.handle().timeout_at(past, never)).unwrap_err();
/// assert_eq!(err.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed {
    _private: (),
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::ErrorKind::TimedOut.into()
    }
}

pin_project! {
    /// Runs a future until a deadline: `Ok(output)` if it finishes first, else
    /// `Err(Elapsed)`. Created by [`timeout`](crate::timeout), [`timeout_at`](crate::timeout_at)
    /// or [`TimerHandle::timeout`].
    ///
    /// ```
    /// # use kiln_timer::{Driver, Unpark};
    /// # use std::sync::Arc;
    /// # struct Nop;
    /// # impl Unpark for Nop { fn unpark(&self) {} }
    /// use std::time::Duration;
    ///
    /// let driver = Driver::new(Arc::new(Nop));
    /// let _enter = kiln_timer::context::enter(driver.handle());
    /// let fast = kiln_timer::timeout(Duration::from_secs(5), async { 7 });
    /// assert_eq!(futures::executor::block_on(fast), Ok(7));
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        future: Option<F>,
        #[pin]
        delay: Sleep,
    }
}

impl<F> Timeout<F> {
    pub(crate) fn new(future: F, delay: Sleep) -> Timeout<F> {
        Timeout {
            future: Some(future),
            delay,
        }
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.delay.deadline()
    }

    /// The inner future, unless the `Timeout` has completed (which drops it).
    pub fn get_ref(&self) -> Option<&F> {
        self.future.as_ref()
    }
}

impl TimerHandle {
    /// A [`Timeout`] on this driver, `d` after the driver's now.
    pub fn timeout<F: IntoFuture>(&self, d: Duration, f: F) -> Timeout<F::IntoFuture> {
        self.timeout_at(deadline_after(self.now(), d), f)
    }

    /// A [`Timeout`] on this driver, at `deadline`.
    pub fn timeout_at<F: IntoFuture>(&self, deadline: Instant, f: F) -> Timeout<F::IntoFuture> {
        Timeout::new(f.into_future(), self.sleep_until(deadline))
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let future = this
            .future
            .as_mut()
            .as_pin_mut()
            .expect("kiln::time::Timeout polled after it completed");
        if let Poll::Ready(v) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(v));
        }
        match this.delay.poll(cx) {
            Poll::Ready(()) => {
                this.future.set(None);
                Poll::Ready(Err(Elapsed { _private: () }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("deadline", &self.delay.deadline())
            .field("completed", &self.future.is_none())
            .finish_non_exhaustive()
    }
}
