//! The owner's wait on its main poller, and how others end it.
//!
//! `polling`'s `Poller::wait` costs five syscalls per wait on Linux (arm a timerfd, re-arm its
//! registration, `epoll_wait`, clear and re-arm the notification eventfd). Where the kernel
//! has `epoll_pwait2` (Linux 5.11+), the owner instead waits with that one syscall, whose
//! `timespec` timeout has nanosecond resolution, and notifications go through an eventfd of
//! our own, registered edge-triggered under [`NOTIFY_KEY`] (`crate::sys::park`): `notify`
//! is one `write(2)` and the woken wait needs nothing more. `polling` still manages every
//! registration (its notifier and timerfd then never fire).
//!
//! Elsewhere, or if the first `epoll_pwait2` reports `Unsupported`, the owner uses
//! `Poller::wait` and `Poller::notify` as before (sub-millisecond timeouts through
//! `polling`'s timerfd). Switching is one-way and owner-only: a notification sent to the
//! eventfd before the switch still ends the next `Poller::wait`, since the eventfd stays in
//! the epoll set and any readiness ends an epoll wait.

use crate::sys::park::{self as sys, RawEvent};
use polling::{Events, Poller};
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

/// The key of the notification eventfd: `polling`'s own notification key, which `polling`
/// filters out of the events it reports, so a fallback `Poller::wait` hides it as well.
pub(super) const NOTIFY_KEY: usize = usize::MAX;

/// The key of the wake-up timer (`crate::sys::park::Timer`), in the main poller only, far from
/// the keys counted down from `usize::MAX` (the notification, the own sources, the watch).
pub(super) const WAKE_TIMER_KEY: usize = usize::MAX / 2;

/// Main-poller events one wait takes: the own source poller, watched siblings, the
/// notification; more stay pending for the next wait.
const WAIT_MAX: usize = 64;

/// How others wake the owner's wait.
pub(super) struct Notify {
    /// The eventfd, where there is one.
    wake: Option<sys::Wake>,
    /// The wake-up timer, where there is one (only with the eventfd).
    timer: Option<sys::Timer>,
}

impl Notify {
    pub(super) fn new(poller: &Poller) -> Notify {
        let wake = if sys::precise_wait_available() {
            sys::Wake::new(poller.as_fd(), NOTIFY_KEY).ok()
        } else {
            None
        };
        let timer = wake
            .as_ref()
            .and_then(|_| sys::Timer::new(poller.as_fd(), WAKE_TIMER_KEY).ok());
        Notify { wake, timer }
    }

    /// Whether [`arm_timer`](Notify::arm_timer) can work.
    pub(super) fn has_timer(&self) -> bool {
        self.timer.is_some()
    }

    /// Ends the owner's wait on the poller `after` from now (a wait on the condition variable
    /// does not see it); returns whether the timer was armed.
    pub(super) fn arm_timer(&self, after: Duration) -> bool {
        self.timer.as_ref().is_some_and(|t| t.arm_after(after))
    }

    /// Disarms the wake-up timer (a failure only leaves one spurious wake-up).
    pub(super) fn disarm_timer(&self) {
        if let Some(t) = &self.timer {
            t.disarm();
        }
    }

    /// Ends the owner's current or next wait.
    pub(super) fn notify(&self, poller: &Poller) {
        match &self.wake {
            Some(w) => w.notify(),
            // A failed notify leaves the owner to wake at its previous deadline.
            None => drop(poller.notify()),
        }
    }

    fn has_eventfd(&self) -> bool {
        self.wake.is_some()
    }
}

/// The owner's event buffers for its main poller (owner-only).
pub(super) struct Waiter {
    /// `epoll_pwait2` is used (see the module docs).
    precise: bool,
    raw: Vec<RawEvent>,
    fallback: Events,
    /// The keys of the last wait's events, the notification excluded.
    keys: Vec<usize>,
}

impl Waiter {
    pub(super) fn new(notify: &Notify) -> Waiter {
        // Without the eventfd, notifications go through `polling`, and only its wait clears
        // them.
        let precise = notify.has_eventfd();
        Waiter {
            precise,
            raw: if precise {
                vec![sys::empty_event(); WAIT_MAX]
            } else {
                Vec::new()
            },
            fallback: Events::new(),
            keys: Vec::with_capacity(WAIT_MAX),
        }
    }

    /// Forgets the last wait's events.
    pub(super) fn clear(&mut self) {
        self.keys.clear();
    }

    /// The keys of the last wait's events (the notification excluded).
    pub(super) fn keys(&self) -> &[usize] {
        &self.keys
    }

    /// Waits up to `timeout` (`None`: without a bound) and records the ready keys. An error
    /// (`EINTR`) is a spurious wake-up: the caller loops.
    pub(super) fn wait(&mut self, poller: &Poller, timeout: Option<Duration>) {
        self.keys.clear();
        if self.precise {
            match sys::wait(poller.as_fd(), &mut self.raw, timeout) {
                Ok(n) => {
                    let keys = self.raw[..n].iter().map(sys::event_key);
                    self.keys.extend(keys.filter(|&k| k != NOTIFY_KEY));
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Unsupported => self.precise = false,
                Err(_) => return,
            }
        }
        self.fallback.clear();
        let _ = poller.wait(&mut self.fallback, timeout);
        self.keys.extend(self.fallback.iter().map(|ev| ev.key));
    }
}
