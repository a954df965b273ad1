//! Spinning up to a timer deadline (opt-in).
//!
//! A parked thread wakes some time after its timer expires: the kernel's wake-up latency (on a
//! virtual machine also the host's), tens to a hundred microseconds. By default that is all
//! the lateness a timer has (the precise wait of `wait.rs`). With `Builder::timer_spin_limit` above
//! zero, when a timer deadline is what ends a wait, the owner waits on its poller until
//! `deadline - slack` and then spins (`std::hint::spin_loop`, reading the clock) until the
//! deadline itself, so the timer fires on time. While spinning it still notices everything a
//! wait would: a notification (`unparked`, set before the poller is notified) ends the spin at
//! once, and the poller is checked for I/O readiness every [`SPIN_IO_CHECK`] iterations. The
//! spin never yields the CPU (`thread::yield_now` would hand it to any runnable thread and
//! make the wake-up as late as the wait it replaces).
//!
//! `slack` is learned per driver (`Spin`): after each timed wait that ended by its timeout,
//! the oversleep (actual wake minus requested wake) feeds a decaying maximum (each sample
//! lowers the previous estimate by 1/[`SLACK_DECAY`] and raises it to the sample), a cheap
//! estimate of a high quantile of the wake-up latency. It is capped by the runtime's
//! `timer_spin_limit` (`Builder::timer_spin_limit`; zero turns spinning off). Where
//! wake-ups are precise the slack, and so the spin, shrinks to almost nothing; where they are
//! not, each timer-ended park costs up to `slack` of CPU time. Waits with no timer deadline,
//! or bounded by something else (a sibling's timer, a requested recheck), never spin.
//!
//! Nor does the owner spin while the machine is oversubscribed: every [`CONTENTION_CHECK`]
//! it reads how many threads are runnable (Linux: `/proc/loadavg`), and while that exceeds
//! twice the CPU count it stops spinning for [`SPIN_BACKOFF`]. Spinning would take CPU time
//! from waiting threads, and on Linux's EEVDF scheduler the time spent makes the owner owe
//! CPU time to its competitors ("negative lag"): its next wake-up then waits behind them,
//! often for a whole scheduler tick, far longer than the spin saves.
//!
//! Nor while the runtime's own CPU-bound jobs keep every CPU busy (`Driver::set_cpus_busy`;
//! the multi-thread runtime asks whether its compute pool runs at least as many jobs as there
//! are CPUs): each microsecond spun is then a microsecond taken from those jobs, with no idle
//! CPU to spare; the waiting worker still wakes at the deadline, its slack late at worst.

use super::{wait, DriverHandle};
use crate::loom::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Says whether the runtime's own CPU-bound jobs keep every CPU busy (no spinning then).
pub(crate) type CpusBusy = Arc<dyn Fn() -> bool + Send + Sync>;

/// Spin iterations between checks of the poller for I/O readiness while spinning up to a timer
/// deadline (one `poll(2)` per check; an iteration is a clock read, tens of nanoseconds).
const SPIN_IO_CHECK: u32 = 256;

/// Each oversleep sample lowers the slack estimate by `1 / SLACK_DECAY` of itself before
/// raising it to the sample (see the module docs).
const SLACK_DECAY: u64 = 128;

/// The slack a new driver starts with, before it has seen a timed wait.
const INITIAL_SLACK: Duration = Duration::from_micros(50);

/// How often the owner checks whether the CPUs are contended (one read of the system's count
/// of runnable threads; see `Spin::uncontended`).
const CONTENTION_CHECK: Duration = Duration::from_millis(4);

/// How long the owner does not spin after it finds its CPU contended, re-armed by every check
/// that finds it so again.
const SPIN_BACKOFF: Duration = Duration::from_millis(20);

/// How early the owner stops waiting before a timer deadline (see the module
/// docs). Owner-only.
pub(super) struct Spin {
    /// The most the owner may spin; zero turns spinning off.
    limit_ns: u64,
    /// Decaying maximum of recent oversleeps, at most `limit_ns`.
    slack_ns: u64,
    /// When contention was last checked.
    checked: Option<Instant>,
    /// CPUs the system has (threads that may run at once); zero until the first contention
    /// check reads it, so that an owner that never spins never asks (a `block_on` thread
    /// builds one per call).
    cpus: usize,
    /// No spinning before this instant (the CPUs were oversubscribed).
    quiet_until: Option<Instant>,
    /// No spinning while this says the runtime's own jobs keep every CPU busy.
    pub(super) cpus_busy: Option<CpusBusy>,
}

impl Spin {
    /// Spins at most `limit` before a timer deadline; zero (the default) never spins. No loom
    /// model builds an owner: spinning is a wall-clock technique, and models explore
    /// interleavings, not time.
    pub(super) fn new(limit: Duration) -> Spin {
        let limit_ns = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        Spin {
            limit_ns,
            slack_ns: (INITIAL_SLACK.as_nanos() as u64).min(limit_ns),
            checked: None,
            cpus: 0,
            quiet_until: None,
            cpus_busy: None,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.limit_ns > 0
    }

    /// Whether spinning may help now: not while more than twice as many threads are runnable
    /// as there are CPUs (a lower bar would stop the spin at every passing kernel thread).
    /// Spinning would then take a CPU from a thread waiting for one; and on Linux's
    /// EEVDF scheduler the CPU time spent puts the owner behind the threads it competes
    /// with ("negative lag"), so its next wake-up would wait for them, often a whole
    /// scheduler tick (milliseconds), far longer than the spin saves.
    /// Nor while the runtime's own jobs keep every CPU busy (`cpus_busy`).
    pub(super) fn uncontended(&mut self, now: Instant) -> bool {
        if self.cpus_busy.as_ref().is_some_and(|busy| busy()) {
            return false;
        }
        let due = match self.checked {
            None => true,
            Some(at) => now.saturating_duration_since(at) >= CONTENTION_CHECK,
        };
        if due {
            self.checked = Some(now);
            if self.cpus == 0 {
                self.cpus = num_cpus::get().max(1);
            }
            if crate::sys::runnable_threads().is_some_and(|n| n > 2 * self.cpus) {
                self.quiet_until = Some(now + SPIN_BACKOFF);
            }
        }
        self.quiet_until.map_or(true, |q| now >= q)
    }

    pub(super) fn slack(&self) -> Duration {
        Duration::from_nanos(self.slack_ns)
    }

    /// Feeds one oversleep of a wait that ended by its timeout.
    pub(super) fn observe(&mut self, oversleep: Duration) {
        let sample = u64::try_from(oversleep.as_nanos()).unwrap_or(u64::MAX);
        let decayed = self.slack_ns - self.slack_ns / SLACK_DECAY;
        self.slack_ns = sample.max(decayed).min(self.limit_ns);
    }
}

/// Spins until `deadline`, a notification, or I/O readiness (whose events it collects).
pub(super) fn spin_to_deadline(h: &DriverHandle, waiter: &mut wait::Waiter, deadline: Instant) {
    let mut n: u32 = 0;
    loop {
        // Relaxed: only ends the spin early; the owner's SeqCst swap of `unparked` after this
        // returns is what orders its re-check of its queues.
        if h.notifier.unparked.load(Relaxed) || Instant::now() >= deadline {
            return;
        }
        n = n.wrapping_add(1);
        if n % SPIN_IO_CHECK == 0 && h.poller_has_events() {
            waiter.wait(&h.poller, Some(Duration::ZERO));
            return;
        }
        std::hint::spin_loop();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::{Driver, DriverHandle};
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Context;

    #[test]
    fn no_spin_while_the_runtimes_own_jobs_fill_the_cpus() {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        let busy = Arc::new(AtomicBool::new(false));
        let mut spin = Spin::new(Duration::from_micros(250));
        let b = busy.clone();
        spin.cpus_busy = Some(Arc::new(move || b.load(SeqCst)));
        // The load check is not due, and found no contention last time.
        let now = Instant::now();
        spin.checked = Some(now);
        assert!(spin.uncontended(now));
        busy.store(true, SeqCst);
        assert!(!spin.uncontended(now));
        busy.store(false, SeqCst);
        assert!(
            spin.uncontended(now),
            "the pause lasts only while the CPUs are busy"
        );
    }

    #[test]
    fn slack_is_a_decaying_maximum_under_the_limit() {
        let mut spin = Spin::new(Duration::from_micros(250));
        assert!(spin.enabled());
        spin.observe(Duration::from_micros(100));
        assert_eq!(spin.slack(), Duration::from_micros(100));
        spin.observe(Duration::ZERO);
        let once = spin.slack();
        assert!(once < Duration::from_micros(100) && once > Duration::from_micros(90));
        for _ in 0..10_000 {
            spin.observe(Duration::ZERO);
        }
        assert!(spin.slack() < Duration::from_micros(1));
        spin.observe(Duration::from_secs(1));
        assert_eq!(
            spin.slack(),
            Duration::from_micros(250),
            "capped by the limit"
        );

        let mut off = Spin::new(Duration::ZERO);
        off.observe(Duration::from_micros(100));
        assert!(!off.enabled());
        assert_eq!(off.slack(), Duration::ZERO);
    }

    fn driver(spin_limit: Duration) -> Driver {
        Driver::new(DriverHandle::new().unwrap(), spin_limit)
    }

    /// Parks until `sleep` fires; returns when it fired.
    fn park_until_fired(driver: &mut Driver, mut sleep: Pin<&mut kiln_timer::Sleep>) -> Instant {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if sleep.as_mut().poll(&mut cx).is_ready() {
                return Instant::now();
            }
            driver.park(None);
        }
    }

    #[test]
    fn timers_fire_never_early_with_and_without_spinning() {
        for limit in [
            Duration::ZERO,
            Duration::from_micros(250),
            Duration::from_secs(1),
        ] {
            let mut driver = driver(limit);
            // A slack as large as the limit: the whole wait may be a spin.
            driver.spin.slack_ns = driver.spin.limit_ns;
            let handle = driver.handle.timer.handle();
            for _ in 0..5 {
                let mut sleep = Box::pin(handle.sleep(Duration::from_millis(2)));
                let deadline = sleep.deadline();
                let fired = park_until_fired(&mut driver, sleep.as_mut());
                assert!(fired >= deadline, "limit {limit:?}: fired early");
            }
        }
    }

    #[test]
    fn a_notification_ends_a_spin() {
        let mut driver = driver(Duration::from_secs(60));
        // Spin for the whole wait (unless the machine is busy: then it waits on the poller,
        // which the notification ends as well).
        driver.spin.slack_ns = driver.spin.limit_ns;
        let handle = driver.handle.timer.handle();
        let sleep = handle.sleep(Duration::from_secs(30));
        let waker = futures::task::noop_waker();
        let mut sleep = Box::pin(sleep);
        assert!(sleep
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let remote = driver.handle.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            remote.unpark();
        });
        let stats = driver.park(None);
        let took = start.elapsed();
        t.join().unwrap();
        assert_eq!(stats.timers_fired, 0);
        assert!(
            took < Duration::from_secs(20),
            "park ran on to the deadline: {took:?}"
        );
    }

    /// A wait on the poller (a source is registered, so not the condition variable) with no
    /// deadline ends at an `unpark`, also when several come at once.
    #[test]
    fn unpark_ends_a_wait_on_the_poller() {
        use std::os::fd::AsFd;
        use std::os::unix::net::UnixStream;
        let mut driver = driver(Duration::ZERO);
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (key, _io) = driver.handle.register(a.as_fd()).unwrap();
        while driver.park(Some(Duration::ZERO)).io_events > 0 {}
        for round in 0..3 {
            let remote = driver.handle.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                for _ in 0..=round {
                    remote.unpark();
                }
            });
            let start = Instant::now();
            let stats = driver.park(None);
            t.join().unwrap();
            assert_eq!(stats.timers_fired, 0);
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "round {round}: the wait outlived its notification"
            );
        }
        driver.handle.deregister(a.as_fd(), key);
    }

    #[test]
    fn io_readiness_ends_a_spin() {
        use std::io::Write;
        use std::os::fd::AsFd;
        use std::os::unix::net::UnixStream;
        let mut driver = driver(Duration::from_secs(60));
        driver.spin.slack_ns = driver.spin.limit_ns;
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (key, _io) = driver.handle.register(a.as_fd()).unwrap();
        // Consume the initial writability event.
        while driver.park(Some(Duration::ZERO)).io_events > 0 {}
        let handle = driver.handle.timer.handle();
        let mut sleep = Box::pin(handle.sleep(Duration::from_secs(30)));
        let waker = futures::task::noop_waker();
        assert!(sleep
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
            b
        });
        let mut events = 0;
        while events == 0 && start.elapsed() < Duration::from_secs(20) {
            events = driver.park(None).io_events;
        }
        let _b = t.join().unwrap();
        assert!(
            events > 0,
            "the readable event was seen before the deadline"
        );
        driver.handle.deregister(a.as_fd(), key);
    }
}
