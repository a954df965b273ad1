//! [`Interval`]: ticks at a fixed period, with a choice of what to do about missed ticks.
//!
//! A tick is *missed* when it completes a whole period or more after its scheduled instant
//! (the next scheduled instant has already passed). The tick's scheduled instant is what
//! [`Interval::tick`] returns; the next one is chosen by [`MissedTickBehavior`].

use crate::sleep::{deadline_after, Sleep};
use crate::TimerHandle;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What an [`Interval`] does after ticks were missed (the task was late by a period or more).
///
/// With period `P`, a tick scheduled at `T` and completed at `now >= T + P`:
///
/// ```text
/// Burst: next = T + P          (missed ticks fire back to back until caught up)
/// Delay: next = now + P        (the schedule shifts; no catching up)
/// Skip:  next = T + k·P, the first such instant after now (stays on the original grid)
/// ```
///
/// ```
/// use kiln_timer::MissedTickBehavior;
/// assert_eq!(MissedTickBehavior::default(), MissedTickBehavior::Burst);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire missed ticks immediately, one after another, until back on schedule.
    #[default]
    Burst,
    /// Restart the period from the late tick.
    Delay,
    /// Drop missed ticks; the next tick lands on the original grid.
    Skip,
}

impl MissedTickBehavior {
    fn next(self, scheduled: Instant, now: Instant, period: Duration) -> Instant {
        let on_time = deadline_after(scheduled, period);
        if now < on_time {
            return on_time;
        }
        match self {
            MissedTickBehavior::Burst => on_time,
            MissedTickBehavior::Delay => deadline_after(now, period),
            MissedTickBehavior::Skip => {
                let late = now.duration_since(scheduled).as_nanos();
                let periods = late / period.as_nanos() + 1;
                let offset = period.as_nanos().saturating_mul(periods);
                match u64::try_from(offset) {
                    Ok(nanos) => deadline_after(scheduled, Duration::from_nanos(nanos)),
                    Err(_) => deadline_after(now, period),
                }
            }
        }
    }
}

/// Yields at `start`, `start + period`, `start + 2·period`, … Created by
/// [`interval`](crate::interval()), [`interval_at`](crate::interval_at) or
/// [`TimerHandle::interval_at`].
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
/// let mut ticks = kiln_timer::interval(Duration::from_millis(10));
/// // The first tick completes at once.
/// let first = futures::executor::block_on(ticks.tick());
/// assert_eq!(ticks.period(), Duration::from_millis(10));
/// # let _ = first;
/// ```
pub struct Interval {
    /// Boxed once per interval (a `Sleep` is `!Unpin`), so ticks reuse one entry.
    delay: Pin<Box<Sleep>>,
    period: Duration,
    missed: MissedTickBehavior,
}

impl TimerHandle {
    /// An [`Interval`] on this driver whose first tick is at `start`.
    ///
    /// # Panics
    /// If `period` is zero.
    #[track_caller]
    pub fn interval_at(&self, start: Instant, period: Duration) -> Interval {
        assert!(
            !period.is_zero(),
            "kiln::time::interval: the period must be non-zero"
        );
        Interval {
            delay: Box::pin(self.sleep_until(start)),
            period,
            missed: MissedTickBehavior::default(),
        }
    }
}

impl Interval {
    /// Completes at the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; `Ready(scheduled instant)` when it is due.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.delay.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.delay.deadline();
        let now = self.delay.handle().now();
        let next = self.missed.next(scheduled, now, self.period);
        self.delay.as_mut().reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        let next = deadline_after(self.delay.handle().now(), self.period);
        self.delay.as_mut().reset(next);
    }

    /// Restarts the schedule with the next tick at once.
    pub fn reset_immediately(&mut self) {
        let now = self.delay.handle().now();
        self.delay.as_mut().reset(now);
    }

    /// Restarts the schedule with the next tick at `deadline`.
    pub fn reset_at(&mut self, deadline: Instant) {
        self.delay.as_mut().reset(deadline);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The current missed-tick behavior (default [`MissedTickBehavior::Burst`]).
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Chooses what happens after missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

/// An `Interval` is an endless stream of tick instants.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use futures::StreamExt;
/// use std::time::{Duration, Instant};
///
/// let driver = Driver::new(Arc::new(Nop));
/// let start = Instant::now() - Duration::from_millis(10);
/// let ticks = driver.handle().interval_at(start, Duration::from_millis(1));
/// // Missed ticks burst by default, so these three are ready at once.
/// let first: Vec<Instant> = futures::executor::block_on(ticks.take(3).collect());
/// assert_eq!(first[2] - first[0], Duration::from_millis(2));
/// ```
impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.delay.deadline())
            .field("period", &self.period)
            .field("missed_tick_behavior", &self.missed)
            .finish()
    }
}
