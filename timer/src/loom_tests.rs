//! Loom models of one entry raced by the driver and its `Sleep`: fire vs cancel, fire vs
//! reset, and fire vs a poll that swaps the waker (the lost wake-up check).

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

fn poll(s: &mut Sleep, w: &Waker) -> Poll<()> {
    Pin::new(s).poll(&mut Context::from_waker(w))
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
        let mut s = driver.handle().sleep_until(t0 + MS);
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
        let mut s = driver.handle().sleep_until(t0 + MS);
        assert!(poll(&mut s, &w).is_pending());
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        Pin::new(&mut s).reset(t0 + 2 * MS);
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
        let mut s = driver.handle().sleep_until(t0 + MS);
        assert!(poll(&mut s, &wa).is_pending());
        let d = driver.clone();
        let th = loom::thread::spawn(move || d.process_at(t0 + MS));
        let second = poll(&mut s, &wb);
        assert_eq!(th.join().unwrap(), 1);
        let (a, b) = (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst));
        assert_eq!(a + b, 1, "exactly one wake");
        if second.is_pending() {
            assert_eq!(b, 1, "the waker of the last poll is the one woken");
        }
        assert!(s.is_elapsed());
    });
}
