//! A worker's event loop: its own `polling::Poller` and timer wheel.
//!
//! Each worker (and each current-thread runtime) owns one [`Driver`]. Other threads reach it
//! through its [`DriverHandle`]: `unpark` (a sticky `Poller::notify`, so a notification sent
//! before the owner waits is not lost), I/O registration with that worker's poller, and the
//! timer wheel (any thread may insert, cancel, or process due timers of a busy worker).
//!
//! [`Driver::park`] waits for the earliest of: a notification, an I/O event, the nearest timer
//! deadline, or the caller's timeout; then it dispatches I/O readiness and fires due timers.
//! `polling`'s epoll backend arms a timerfd for the wait, so sub-millisecond deadlines are
//! honoured (see the kiln-timer crate docs).

use polling::{Events, Poller};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shared, thread-safe part of a driver.
pub(crate) struct DriverHandle {
    pub(crate) poller: Arc<Poller>,
    pub(crate) timer: Arc<kiln_timer::Driver>,
    pub(crate) io: crate::io::Dispatch,
}

struct NotifyPoller(Arc<Poller>);

impl kiln_timer::Unpark for NotifyPoller {
    fn unpark(&self) {
        // A failed notify leaves the owner to wake at its previous deadline; nothing to report.
        let _ = self.0.notify();
    }
}

impl DriverHandle {
    pub(crate) fn new() -> io::Result<Arc<DriverHandle>> {
        let poller = Arc::new(Poller::new()?);
        let timer = Arc::new(kiln_timer::Driver::new(std::sync::Arc::new(NotifyPoller(
            poller.clone(),
        ))));
        Ok(Arc::new(DriverHandle {
            poller,
            timer,
            io: crate::io::Dispatch::new(),
        }))
    }

    /// Wakes the owner if it waits (or makes its next wait return at once).
    pub(crate) fn unpark(&self) {
        let _ = self.poller.notify();
    }

    /// Fires this driver's due timers from any thread; returns how many fired. Used by idle
    /// siblings so a worker stuck in a long poll does not make its timers late.
    pub(crate) fn process_due_timers(&self, now: Instant) -> usize {
        match self.timer.next_deadline() {
            Some(at) if at <= now => self.timer.process(),
            _ => 0,
        }
    }
}

/// The owner's side: the event buffer.
pub(crate) struct Driver {
    pub(crate) handle: Arc<DriverHandle>,
    events: Events,
}

/// What one `park` saw, for metrics.
#[derive(Default, Clone, Copy)]
pub(crate) struct ParkStats {
    pub(crate) io_events: usize,
    pub(crate) timers_fired: usize,
}

impl Driver {
    pub(crate) fn new(handle: Arc<DriverHandle>) -> Driver {
        Driver {
            handle,
            events: Events::new(),
        }
    }

    /// Waits up to `timeout` (`None`: until notified, an I/O event, or the next timer), then
    /// dispatches I/O events and fires due timers. `Some(ZERO)` only polls.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> ParkStats {
        let h = &*self.handle;
        let timeout = if timeout == Some(Duration::ZERO) {
            timeout
        } else {
            let deadline = h.timer.before_park();
            let until_timer = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            match (timeout, until_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        self.events.clear();
        // An error (EINTR) is a spurious wake-up: the caller loops.
        let _ = h.poller.wait(&mut self.events, timeout);
        if timeout != Some(Duration::ZERO) {
            h.timer.after_park();
        }
        let io_events = h.io.dispatch(&self.events);
        let timers_fired = h.timer.process();
        ParkStats {
            io_events,
            timers_fired,
        }
    }
}
