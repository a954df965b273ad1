//! Loom models of the intrusive entry's life cycle (see the `entry` module), each raced by a
//! driver firing it: insert, cancel (drop) on the thread that fires and on a third thread,
//! drop while queued between two wake-up batches, reset, and a poll that swaps the waker
//! (the lost wake-up check). `WAKE_BATCH` is 2 under loom so that batches end mid-slot.

use crate::{Driver, ManualClock, Sleep, Unpark};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

struct Nop;

impl Unpark for Nop {
    fn unpark(&self) {}
}

struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (std::sync::Arc<CountWake>, Waker) {
    let c = std::sync::Arc::new(CountWake(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn poll(s: &mut Pin<Box<Sleep>>, w: &Waker) -> Poll<()> {
    s.as_mut().poll(&mut Context::from_waker(w))
}

const MS: Duration = Duration::from_millis(1);

fn setup() -> (Arc<Driver>, Instant) {
    let clock = ManualClock::new(Instant::now());
    let t0 = clock.now();
    (
        Arc::new(Driver::with_manual_clock(std::sync::Arc::new(Nop), clock)),
        t0,
    )
}

#[test]
fn loom_fire_vs_cancel() {
    loom::model(|| {
        let (driver, t0) = setup();
        let (count, w) = waker();
        let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
        assert!(poll(&mut s, &w).is_pending());
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        drop(s);
        let fired = th.join().unwrap();
        assert!(fired <= 1);
        assert_eq!(count.0.load(Ordering::SeqCst), fired);
        assert_eq!(driver.pending(), 0);
    });
}

#[test]
fn loom_fire_vs_reset() {
    loom::model(|| {
        let (driver, t0) = setup();
        let (count, w) = waker();
        let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
        assert!(poll(&mut s, &w).is_pending());
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        s.as_mut().reset(t0 + 2 * MS);
        let after_reset = poll(&mut s, &w);
        th.join().unwrap();
        let woken_before = count.0.load(Ordering::SeqCst);
        // The reset moved the deadline, wherever the race fell: it completes at the new one.
        driver.process_at(t0 + 2 * MS);
        assert!(s.is_elapsed());
        assert_eq!(driver.pending(), 0);
        if after_reset.is_pending() {
            assert!(
                count.0.load(Ordering::SeqCst) > woken_before,
                "waiting task woken"
            );
        }
    });
}

#[test]
fn loom_fire_vs_poll_with_new_waker() {
    loom::model(|| {
        let (driver, t0) = setup();
        let (a, wa) = waker();
        let (b, wb) = waker();
        let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
        assert!(poll(&mut s, &wa).is_pending());
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        let second = poll(&mut s, &wb);
        assert_eq!(th.join().unwrap(), 1);
        let (a, b) = (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst));
        assert!(a + b <= 1, "at most one wake");
        if second.is_pending() {
            assert_eq!(
                (a, b),
                (0, 1),
                "the waker of the last poll is the one woken"
            );
        } else {
            // Fired before the second poll (waking the first waker), or while it stored its
            // waker: then that poll saw `FIRED` itself and nobody needs waking.
            assert!(b == 0);
        }
        assert!(s.is_elapsed());
    });
}

#[test]
fn loom_insert_vs_fire() {
    loom::model(|| {
        let (driver, t0) = setup();
        let (count, w) = waker();
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
        // The manual clock stands before the deadline: the first poll registers.
        assert!(poll(&mut s, &w).is_pending());
        if th.join().unwrap() == 0 {
            // The driver ran over an empty wheel first; its next pass fires the sleep.
            assert_eq!(count.0.load(Ordering::SeqCst), 0);
            assert_eq!(driver.process_at(t0 + MS), 1);
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken exactly once");
        assert!(s.is_elapsed());
        assert_eq!(poll(&mut s, &w), Poll::Ready(()));
        assert_eq!(driver.pending(), 0);
    });
}

#[test]
fn loom_cancel_on_another_thread_vs_fire() {
    loom::model(|| {
        let (driver, t0) = setup();
        let (count, w) = waker();
        let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
        assert!(poll(&mut s, &w).is_pending());
        let canceller = loom::thread::spawn(move || drop(s));
        let fired = driver.process_at(t0 + MS);
        canceller.join().unwrap();
        assert!(fired <= 1);
        assert_eq!(count.0.load(Ordering::SeqCst), fired);
        assert_eq!(driver.pending(), 0);
    });
}

#[test]
fn loom_drop_while_queued() {
    loom::model(|| {
        let (driver, t0) = setup();
        let counts: Vec<_> = (0..3).map(|_| waker()).collect();
        // Three sleeps due together: the driver wakes two, releases its lock, then the third.
        let mut sleeps: Vec<_> = counts
            .iter()
            .map(|(_, w)| {
                let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
                assert!(poll(&mut s, w).is_pending());
                s
            })
            .collect();
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        // Dropped while it may sit queued between the two batches.
        drop(sleeps.remove(1));
        let fired = th.join().unwrap();
        let woken: Vec<usize> = counts
            .iter()
            .map(|(c, _)| c.0.load(Ordering::SeqCst))
            .collect();
        assert!(fired == 2 || fired == 3, "fired {fired}");
        assert_eq!((woken[0], woken[2]), (1, 1));
        assert_eq!(woken[1], fired - 2);
        assert!(sleeps.iter().all(|s| s.is_elapsed()));
        assert_eq!(driver.pending(), 0);
    });
}

#[test]
fn loom_fire_vs_shutdown_and_cancel() {
    loom::model(|| {
        let (driver, t0) = setup();
        let (count, w) = waker();
        let mut s = Box::pin(driver.handle().sleep_until(t0 + MS));
        assert!(poll(&mut s, &w).is_pending());
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        driver.shutdown();
        assert!(s.is_elapsed());
        drop(s);
        th.join().unwrap();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "woken once, by one of them"
        );
        assert_eq!(driver.pending(), 0);
    });
}

struct CountUnpark(AtomicUsize);

impl Unpark for CountUnpark {
    fn unpark(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A thread waiting for its own timers (`WaitHere`) arms one while the owner parks: the timer
/// is covered by the owner's wait, or the owner is unparked, or the waiting thread sees it
/// (`next_wake`); and dropping the guard hands an uncovered one back to the owner.
#[test]
fn loom_wait_here_arming_vs_park() {
    loom::model(|| {
        let unparks = std::sync::Arc::new(CountUnpark(AtomicUsize::new(0)));
        // The system clock: only its timers are skipped.
        let driver = Arc::new(Driver::new(unparks.clone()));
        let d = driver.clone();
        let owner = loom::thread::spawn(move || d.before_park());
        let here = driver.handle().wait_here();
        let (_count, w) = waker();
        let mut s = Box::pin(driver.handle().sleep(Duration::from_secs(10)));
        assert!(poll(&mut s, &w).is_pending());
        let owner_deadline = owner.join().unwrap();
        let seen = here.next_wake();
        let unparked = unparks.0.load(Ordering::SeqCst);
        assert!(
            owner_deadline.is_some() || unparked > 0 || seen.is_some(),
            "a timer nobody waits for"
        );
        drop(here);
        if seen.is_some() {
            assert_eq!(
                unparks.0.load(Ordering::SeqCst),
                unparked + 1,
                "handed back"
            );
        }
    });
}
