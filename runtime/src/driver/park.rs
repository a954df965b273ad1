//! Planning and running one wait of a driver's owner ([`Driver::park`]): how long to
//! wait (the caller's timeout, the timer deadline, a requested recheck, the spin slack),
//! what to sleep on (the condition variable, the poller, or straight to the spin), and
//! what to do after (clear the notification, harvest, dispatch, fire timers).

use super::follow::QuietWait;
use super::spin::spin_to_deadline;
use super::steal::{RECHECK_BACKOFF_MAX, RECHECK_BACKOFF_MIN};
use super::wait::WAKE_TIMER_KEY;
use super::{Driver, Recheck, IO_STEAL_AFTER, OWN_SOURCES_KEY};
use crate::loom::sync::atomic::Ordering::*;
use polling::{Event, PollMode};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// What one `park` saw, for metrics.
#[derive(Default, Clone, Copy)]
pub(crate) struct ParkStats {
    pub(crate) io_events: usize,
    pub(crate) timers_fired: usize,
}

impl Driver {
    /// Harvests the owner's own sockets without blocking (one syscall; none without sockets)
    /// and dispatches their events; returns how many were dispatched. The owner calls this
    /// when it runs out of tasks, before it steals from siblings.
    pub(crate) fn poll_own_io(&mut self) -> usize {
        let h = &*self.handle;
        let mut n = 0;
        if h.has_io_sources() && h.sources.harvest(&mut self.io_events) > 0 {
            n += h.io.dispatch(self.io_events.iter());
        }
        n + self.poll_followers()
    }

    /// Harvests the sockets of quiet siblings following this driver (`follow.rs`), if any.
    fn poll_followers(&self) -> usize {
        match &self.watch {
            Some(w) if self.handle.lead.has_followers() => w.poll_quiet(),
            _ => 0,
        }
    }

    /// Puts the source poller into the main poller before a blocking wait, and takes it out
    /// on a maintenance tick if the owner has not waited since the previous tick (it is busy
    /// running tasks): while it is in, every socket event also runs the kernel's nested
    /// wake-up through the main poller, which a busy owner does not need (it harvests the
    /// source poller directly). An owner that waited since the previous tick parks often and
    /// would put it back soon: an `epoll_ctl` pair (the add runs the kernel's loop check for
    /// nested epoll descriptors) costs more than the nested wake-ups until that wait. The
    /// registration is level-triggered, so events that arrived while it was out wake the next
    /// wait at once.
    fn arm_own_sources(&mut self, blocking: bool) {
        let h = &*self.handle;
        let waited = if blocking {
            self.waited_since_tick = true;
            true
        } else {
            std::mem::take(&mut self.waited_since_tick)
        };
        if !blocking && !waited && h.has_io_sources() {
            // Busy: this driver's disabled registrations in its siblings' pollers go too
            // (`links.rs`).
            if let Some(w) = &self.watch {
                w.unlink_idle();
            }
        }
        // Without sockets there is no nested wake-up to save: stay in.
        if blocking == self.own_armed || (!blocking && (waited || !h.has_io_sources())) {
            return;
        }
        let changed = if blocking {
            // SAFETY: the source poller's descriptor stays open while the handle lives;
            // `DriverHandle::drop` deletes it from the main poller first.
            unsafe {
                h.poller.add_with_mode(
                    h.sources.as_raw_fd(),
                    Event::readable(OWN_SOURCES_KEY),
                    PollMode::Level,
                )
            }
        } else {
            h.poller.delete(h.sources.as_fd())
        };
        // On failure the state stays as it was: still in (a busy owner pays the nested
        // wake-up), or still out (`park` then bounds its wait by `IO_STEAL_AFTER`, and the
        // next wait retries).
        if changed.is_ok() {
            self.own_armed = blocking;
        }
    }

    /// Waits up to `timeout` (`None`: until notified, an I/O event, or the next timer), then
    /// dispatches I/O events and fires due timers. `Some(ZERO)` only polls.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> ParkStats {
        let blocking = timeout != Some(Duration::ZERO);
        self.arm_own_sources(blocking);
        let plan = if blocking {
            self.plan_wait(timeout)
        } else {
            Plan {
                wait: timeout.map(|t| (t, Some(Instant::now()))),
                spin_until: None,
            }
        };
        self.waiter.clear();
        self.wait(blocking, &plan);
        if let Some(deadline) = plan.spin_until {
            if self.waiter.keys().is_empty() {
                spin_to_deadline(&self.handle, &mut self.waiter, deadline);
            }
        }
        self.after_wait(blocking)
    }

    /// How long a blocking wait may last: the caller's timeout, the timer deadline, and a
    /// requested recheck; and, when the timer deadline ends it, the deadline to spin up to
    /// (the wait then ends `slack` early). Marks the owner parked for its siblings.
    fn plan_wait(&mut self, timeout: Option<Duration>) -> Plan {
        let h = &*self.handle;
        let raw_deadline = h.timer.before_park();
        let now = Instant::now();
        let deadline = match h.timer.pausable_clock() {
            // A paused clock never ends a wait: the scheduler moves it (`crate::testing`).
            Some(c) if c.is_paused() => None,
            // A clock shifted by an earlier pause: its deadline on the system clock.
            Some(c) if c.is_shifted() => {
                raw_deadline.map(|d| now + d.saturating_duration_since(c.now()))
            }
            _ => raw_deadline,
        };
        let until_timer = deadline.map(|d| d.saturating_duration_since(now));
        let mut t = match (timeout, until_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.stay_wait = t;
        if let Some(b) = self.recheck_bound() {
            t = Some(t.map_or(b, |t| t.min(b)));
        }
        let mut spin_until = None;
        if let (true, Some(d), Some(u)) = (self.spin.enabled(), deadline, until_timer) {
            if t == Some(u) && self.spin.uncontended(now) {
                // The timer ends this wait: wake `slack` early and spin the rest.
                spin_until = Some(d);
                t = Some(u.saturating_sub(self.spin.slack()));
            }
        }
        self.handle.publish_parked(now);
        Plan {
            wait: t.map(|t| (t, now.checked_add(t))),
            spin_until,
        }
    }

    /// The bound a requested recheck puts on this wait (arming the sibling watch for
    /// [`Recheck::Soon`], following a busy sibling for [`Recheck::Follow`]), tightened to
    /// [`IO_STEAL_AFTER`] while the own sockets are not armed.
    fn recheck_bound(&mut self) -> Option<Duration> {
        let recheck = self.handle.take_recheck();
        let bound = match recheck {
            Recheck::Soon | Recheck::Follow | Recheck::Stay => {
                self.recheck_backoff = RECHECK_BACKOFF_MIN;
                // Armed just before a wait on the poller; a quiet wait does not watch.
                self.watch_wanted = true;
                self.follow_busy = recheck != Recheck::Soon;
                self.stay = recheck == Recheck::Stay;
                // A quiet wait that stays lasts `stay_wait`; this bounds any other wait.
                Some(IO_STEAL_AFTER)
            }
            Recheck::Backoff => {
                let b = self.recheck_backoff;
                self.recheck_backoff = (b * 2).min(RECHECK_BACKOFF_MAX);
                Some(b)
            }
            Recheck::No => None,
        };
        // Sockets the wait cannot see (`arm_own_sources` failed): look again soon.
        if self.own_armed {
            bound
        } else {
            Some(bound.map_or(IO_STEAL_AFTER, |b| b.min(IO_STEAL_AFTER)))
        }
    }

    /// Sleeps as `plan` says: on the condition variable when only a notification can end
    /// the wait, not at all on a maintenance tick or when the spin takes the whole wait,
    /// quietly behind a sibling where one can lead (`follow.rs`) unless the wait has zero
    /// length or a sibling runs tasks (the wait then watches it), else on the poller
    /// (sampling the oversleep of a wait that ended by its timeout).
    fn wait(&mut self, blocking: bool, plan: &Plan) {
        let watch_wanted = std::mem::take(&mut self.watch_wanted);
        let follow_busy = std::mem::take(&mut self.follow_busy);
        let stay = std::mem::take(&mut self.stay);
        self.was_quiet = false;
        let h = &*self.handle;
        if blocking
            && plan.wait.is_none()
            && !h.has_io_sources()
            && !h.lead.has_followers()
            && !h.notifier.timers_from_outside.load(Relaxed)
        {
            // Nothing but a notification can end this wait: sleep on the futex. A source
            // registered meanwhile notifies us (see `register`), and so does a new follower; a
            // timer armed from another thread unparks us, and from then on this driver waits
            // on the poller instead ("Timer wake-ups" in the module docs).
            h.notifier
                .wait_on_condvar(|| h.has_io_sources() || h.lead.sees_followers());
        } else if !blocking {
            // Maintenance tick: the sockets are harvested below; a pending notification stays
            // for the next blocking wait (the owner is awake and re-checks its queues anyway).
        } else if plan.spin_until.is_some() && plan.wait.is_some_and(|(t, _)| t.is_zero()) {
            // The deadline is within the slack: straight to the spin.
        } else if plan.spin_until.is_none()
            && h.has_io_sources()
            // A sibling runs tasks: watch its sockets from this poller instead. A quiet
            // follower watches nothing, and a leader stuck in a long task does not harvest,
            // so the sibling's events (and this driver's own) would wait for the recheck
            // bound. Unless every CPU is taken (`Recheck::Follow`): then a wake-up of this
            // worker would wait for a CPU, or take one from the sibling that would serve these
            // events anyway, so it follows that sibling (`follow.rs`).
            && (!watch_wanted || follow_busy)
            // A zero-length wait (a deadline already due) only polls: following a sibling
            // for it would cost two `epoll_ctl`s and the futex for nothing.
            && !matches!(plan.wait, Some((t, _)) if t.is_zero())
            && self.wait_quiet(if stay {
                QuietWait::Stay(self.stay_wait)
            } else {
                QuietWait::For(
                    plan.wait
                        .map_or(RECHECK_BACKOFF_MAX, |(t, _)| t.min(RECHECK_BACKOFF_MAX)),
                )
            })
        {
            // Parked quietly; the own sockets are harvested below.
            self.was_quiet = true;
        } else {
            let h = &*self.handle;
            if let (true, Some(w)) = (watch_wanted, &mut self.watch) {
                w.arm();
            }
            // An error (EINTR) is a spurious wake-up: the caller loops.
            self.waiter.wait(&h.poller, plan.wait.map(|(t, _)| t));
            if let (true, Some((t, Some(wake_at)))) = (blocking, plan.wait) {
                // A wait that ended by its timeout tells how late this thread wakes.
                // Relaxed: a hint; a missed notification only skips one sample.
                let now = Instant::now();
                if !t.is_zero()
                    && now >= wake_at
                    && self.waiter.keys().is_empty()
                    && !h.notifier.unparked.load(Relaxed)
                {
                    self.spin.observe(now - wake_at);
                }
            }
        }
    }

    /// After the wait: disarms the sibling watch, publishes the poll, consumes the
    /// notification, then harvests and dispatches I/O and fires due timers.
    fn after_wait(&mut self, blocking: bool) -> ParkStats {
        let h = &*self.handle;
        if let Some(w) = &mut self.watch {
            w.disarm(self.waiter.keys());
        }
        let now = h.now_nanos();
        h.last_poll.store(now, Relaxed);
        h.owner_poll.store(now, Relaxed);
        // Notifications (module docs): clear the flag; the caller then re-checks its queues.
        h.notifier.unparked.swap(false, SeqCst);
        if blocking {
            h.timer.after_park();
            // A wake-up timer armed for this wait ("Timer wake-ups" in the module docs): spent
            // if it ended the wait, else disarmed so that it cannot end a later one for nothing.
            if h.notifier.timer_armed.swap(false, SeqCst)
                && (self.was_quiet || !self.waiter.keys().contains(&WAKE_TIMER_KEY))
            {
                h.notifier.notify.disarm_timer();
            }
        }
        // Harvest the sockets on a maintenance tick, after a quiet wait, or when the wait saw
        // them ready.
        let own_ready = if blocking && !self.was_quiet {
            self.waiter.keys().contains(&OWN_SOURCES_KEY)
        } else {
            h.has_io_sources()
        };
        let mut io_events = 0;
        if own_ready && h.sources.harvest(&mut self.io_events) > 0 {
            io_events += h.io.dispatch(self.io_events.iter());
        }
        if let Some(w) = &self.watch {
            io_events += w.poll_fired(self.waiter.keys());
        }
        if !blocking {
            io_events += self.poll_followers();
        }
        let timers_fired = h.timer.process();
        ParkStats {
            io_events,
            timers_fired,
        }
    }
}

/// One wait as [`Driver::plan_wait`] planned it.
struct Plan {
    /// How long to wait on the poller, and when that wait should end (`None`: no bound).
    wait: Option<(Duration, Option<Instant>)>,
    /// The timer deadline to spin up to after the wait, if the timer is what ends it.
    spin_until: Option<Instant>,
}
