//! Unit tests of the driver and the futures, on a manual clock (the threaded harness that
//! drives real sleeps the way a worker loop does is in `harness_tests.rs`).

use crate::{context, Driver, Elapsed, ManualClock, MissedTickBehavior, Sleep, Unpark};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

#[derive(Default)]
struct CountUnpark(AtomicUsize);

impl Unpark for CountUnpark {
    fn unpark(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
pub(crate) struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub(crate) fn counting_waker() -> (Arc<CountWake>, Waker) {
    let c = Arc::new(CountWake::default());
    (c.clone(), Waker::from(c))
}

fn manual() -> (Driver, ManualClock, Arc<CountUnpark>) {
    let clock = ManualClock::new(Instant::now());
    let unpark = Arc::new(CountUnpark::default());
    (
        Driver::with_manual_clock(unpark.clone(), clock.clone()),
        clock,
        unpark,
    )
}

pub(crate) fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

pub(crate) const MS: Duration = Duration::from_millis(1);
const US: Duration = Duration::from_micros(1);

#[test]
fn fires_in_deadline_order_never_early() {
    let (driver, clock, _) = manual();
    let t0 = clock.now();
    let offsets = [
        7 * MS,
        US,
        3 * MS,
        250 * US,
        2 * MS + 3 * US,
        64 * US,
        65 * US,
        1000 * MS,
    ];
    let mut sleeps: Vec<(Pin<Box<Sleep>>, Arc<CountWake>, Waker)> = offsets
        .iter()
        .map(|d| {
            let (c, w) = counting_waker();
            (Box::pin(driver.handle().sleep_until(t0 + *d)), c, w)
        })
        .collect();
    for (s, _, w) in &mut sleeps {
        assert!(poll(s, w).is_pending());
    }
    assert_eq!(driver.pending(), offsets.len());
    let mut order = Vec::new();
    while let Some(next) = driver.next_deadline() {
        // One nanosecond before the reported deadline nothing fires …
        assert_eq!(driver.process_at(next - Duration::from_nanos(1)), 0);
        let fired = driver.process_at(next);
        for (i, (s, c, _)) in sleeps.iter().enumerate() {
            if c.0.load(Ordering::SeqCst) == 1 && !order.contains(&i) {
                assert!(next >= s.deadline(), "fired early");
                assert!(next - s.deadline() < US, "fired more than a tick late");
                assert!(s.is_elapsed());
                order.push(i);
            }
        }
        // … and levels above 0 cascade without firing.
        assert!(fired <= 1);
    }
    let mut expected: Vec<usize> = (0..offsets.len()).collect();
    expected.sort_by_key(|i| offsets[*i]);
    assert_eq!(order, expected);
    for (s, _, w) in &mut sleeps {
        assert_eq!(poll(s, w), Poll::Ready(()));
    }
}

#[test]
fn cancel_by_drop_removes_and_never_wakes() {
    let (driver, clock, _) = manual();
    let (c, w) = counting_waker();
    let mut s = Box::pin(driver.handle().sleep(MS));
    assert!(poll(&mut s, &w).is_pending());
    assert_eq!(driver.pending(), 1);
    drop(s);
    assert_eq!(driver.pending(), 0);
    assert_eq!(driver.next_deadline(), None);
    clock.advance(10 * MS);
    assert_eq!(driver.process(), 0);
    assert_eq!(c.0.load(Ordering::SeqCst), 0);
}

#[test]
fn reset_earlier_and_later() {
    let (driver, clock, _) = manual();
    let t0 = clock.now();
    let (c, w) = counting_waker();
    let mut s = Box::pin(driver.handle().sleep_until(t0 + 10 * MS));
    assert!(poll(&mut s, &w).is_pending());
    s.as_mut().reset(t0 + 2 * MS);
    assert_eq!(driver.process_at(t0 + 2 * MS - US), 0);
    assert_eq!(driver.process_at(t0 + 2 * MS), 1);
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert!(poll(&mut s, &w).is_ready());
    // Reset after completion re-arms it.
    s.as_mut().reset(t0 + 30 * MS);
    assert!(!s.is_elapsed());
    assert!(poll(&mut s, &w).is_pending());
    s.as_mut().reset(t0 + 50 * MS);
    assert_eq!(driver.process_at(t0 + 30 * MS), 0);
    assert_eq!(driver.process_at(t0 + 50 * MS), 1);
    assert_eq!(c.0.load(Ordering::SeqCst), 2);
    // Reset into the past fires at once and wakes the stored waker.
    assert!(poll(&mut s, &w).is_ready());
    s.as_mut().reset(t0 + 60 * MS);
    assert!(poll(&mut s, &w).is_pending());
    s.as_mut().reset(t0);
    assert!(s.is_elapsed());
    assert_eq!(c.0.load(Ordering::SeqCst), 3);
    assert_eq!(driver.pending(), 0);
}

#[test]
fn due_at_registration_skips_the_wheel() {
    let (driver, clock, unpark) = manual();
    let (c, w) = counting_waker();
    let mut past = Box::pin(driver.handle().sleep_until(clock.now() - MS));
    assert_eq!(poll(&mut past, &w), Poll::Ready(()));
    let mut now = Box::pin(driver.handle().sleep(Duration::ZERO));
    assert_eq!(poll(&mut now, &w), Poll::Ready(()));
    assert!(past.is_elapsed() && now.is_elapsed());
    assert_eq!(driver.pending(), 0);
    assert_eq!(
        (c.0.load(Ordering::SeqCst), unpark.0.load(Ordering::SeqCst)),
        (0, 0)
    );
}

#[test]
fn sleep_whose_deadline_passed_before_its_first_poll() {
    let (driver, clock, _) = manual();
    let (c, w) = counting_waker();
    // Not yet processed past: it goes through the wheel and fires at the next `process`.
    let mut s = Box::pin(driver.handle().sleep(MS));
    clock.advance(2 * MS);
    assert!(poll(&mut s, &w).is_pending());
    assert_eq!(driver.next_deadline(), Some(s.deadline()));
    assert_eq!(driver.process(), 1);
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert!(poll(&mut s, &w).is_ready());
    // Processed past (the driver fired another timer at a later instant): due at
    // registration, the wheel is not touched.
    let mut s = Box::pin(driver.handle().sleep(MS));
    let mut other = Box::pin(driver.handle().sleep(2 * MS));
    assert!(poll(&mut other, &w).is_pending());
    clock.advance(2 * MS);
    assert_eq!(driver.process(), 1);
    assert!(poll(&mut s, &w).is_ready());
    assert_eq!(driver.pending(), 0);
}

#[test]
fn idle_wheel_parks_until_the_deadline_not_a_stale_slot_start() {
    let (driver, clock, _) = manual();
    let (c, w) = counting_waker();
    // Nothing pending: processing is skipped, so the wheel's notion of "now" stays behind.
    clock.advance(Duration::from_secs(10));
    assert_eq!(driver.process(), 0);
    let mut s = Box::pin(driver.handle().sleep(30 * MS));
    assert!(poll(&mut s, &w).is_pending());
    // The coarse slot holding it may start in the past; the park deadline must not.
    assert_eq!(driver.next_deadline(), Some(s.deadline()));
    assert_eq!(driver.before_park(), Some(s.deadline()));
    driver.after_park();
    assert_eq!(driver.process_at(s.deadline() - US), 0);
    assert_eq!(driver.process_at(s.deadline()), 1);
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
}

#[test]
fn cancelled_earliest_timer_leaves_a_harmless_stale_bound() {
    let (driver, clock, _) = manual();
    let t0 = clock.now();
    let (c, w) = counting_waker();
    let mut a = Box::pin(driver.handle().sleep_until(t0 + MS));
    let mut b = Box::pin(driver.handle().sleep_until(t0 + 5 * MS));
    assert!(poll(&mut a, &w).is_pending());
    assert!(poll(&mut b, &w).is_pending());
    drop(a);
    let next = driver.next_deadline().unwrap();
    assert!(next <= b.deadline());
    // Processing at the stale bound fires nothing and tightens it.
    assert_eq!(driver.process_at(t0 + MS), 0);
    assert_eq!(driver.next_deadline(), Some(b.deadline()));
    assert_eq!(driver.process_at(t0 + 5 * MS), 1);
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert_eq!(driver.next_deadline(), None);
}

#[test]
fn long_spans_cascade_through_levels() {
    let (driver, clock, _) = manual();
    let t0 = clock.now();
    let day = Duration::from_secs(86_400);
    let offsets = [
        US,
        MS,
        Duration::from_secs(1),
        3600 * Duration::from_secs(1),
        day,
        400 * day,
    ];
    let mut sleeps: Vec<(Pin<Box<Sleep>>, Arc<CountWake>, Waker)> = offsets
        .iter()
        .map(|d| {
            let (c, w) = counting_waker();
            (Box::pin(driver.handle().sleep_until(t0 + *d)), c, w)
        })
        .collect();
    for (s, _, w) in &mut sleeps {
        assert!(poll(s, w).is_pending());
    }
    // Step the clock in uneven strides that straddle every deadline.
    let mut now = t0;
    let stride = [
        Duration::from_nanos(700),
        13 * US,
        7 * MS,
        Duration::from_secs(97),
    ];
    let mut i = 0;
    while driver.pending() > 0 {
        now += stride[i % stride.len()] * (1 + (i as u32 % 5));
        if let Some(next) = driver.next_deadline() {
            if next > now + Duration::from_secs(3600) {
                now = next;
            }
        }
        driver.process_at(now);
        for (s, c, _) in &sleeps {
            let fired = c.0.load(Ordering::SeqCst) == 1;
            assert_eq!(fired, s.deadline() <= now, "fires exactly when due");
        }
        i += 1;
    }
    assert!(i < 100_000);
}

#[test]
fn huge_durations_do_not_overflow() {
    let (driver, _, _) = manual();
    let (_, w) = counting_waker();
    let mut s = Box::pin(driver.handle().sleep(Duration::MAX));
    assert!(poll(&mut s, &w).is_pending());
    assert!(driver.next_deadline().is_some());
    drop(s);
    assert_eq!(driver.pending(), 0);
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn timeout_elapses_and_drops_inner_future() {
    let (driver, clock, _) = manual();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let inner = async move {
        let _flag = flag;
        std::future::pending::<u32>().await
    };
    let (_, w) = counting_waker();
    let mut t = Box::pin(driver.handle().timeout(5 * MS, inner));
    assert!(t.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
    clock.advance(5 * MS);
    assert_eq!(driver.process(), 1);
    let out = t.as_mut().poll(&mut Context::from_waker(&w));
    assert!(matches!(out, Poll::Ready(Err(Elapsed { .. }))));
    assert!(
        dropped.load(Ordering::SeqCst),
        "inner future dropped on elapse"
    );
    assert!(t.get_ref().is_none());
    let ok = driver.handle().timeout(MS, async { 5 });
    assert_eq!(futures::executor::block_on(ok), Ok(5));
    assert_eq!(driver.pending(), 0);
}

/// Polls `iv` once and returns the tick if ready.
fn try_tick(iv: &mut crate::Interval, w: &Waker) -> Option<Instant> {
    match iv.poll_tick(&mut Context::from_waker(w)) {
        Poll::Ready(t) => Some(t),
        Poll::Pending => None,
    }
}

fn interval_after_stall(behavior: MissedTickBehavior) -> Vec<Duration> {
    let (driver, clock, _) = manual();
    let t0 = clock.now();
    let p = 10 * MS;
    let mut iv = driver.handle().interval_at(t0, p);
    iv.set_missed_tick_behavior(behavior);
    let (_, w) = counting_waker();
    let mut ticks = Vec::new();
    assert_eq!(try_tick(&mut iv, &w), Some(t0));
    assert_eq!(try_tick(&mut iv, &w), None);
    clock.set(t0 + p);
    driver.process();
    ticks.push(try_tick(&mut iv, &w).unwrap() - t0);
    // The task stalls: the tick due at 20 ms completes at 45 ms; those at 30 and 40 are missed.
    clock.set(t0 + 45 * MS);
    driver.process();
    while let Some(t) = try_tick(&mut iv, &w) {
        ticks.push(t - t0);
    }
    // Then runs on time until 80 ms.
    while clock.now() < t0 + 80 * MS {
        clock.advance(MS);
        driver.process();
        while let Some(t) = try_tick(&mut iv, &w) {
            ticks.push(t - t0);
        }
    }
    ticks
}

#[test]
fn interval_burst_delay_skip() {
    let ms = |v: &[u64]| {
        v.iter()
            .map(|m| Duration::from_millis(*m))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        interval_after_stall(MissedTickBehavior::Burst),
        ms(&[10, 20, 30, 40, 50, 60, 70, 80])
    );
    assert_eq!(
        interval_after_stall(MissedTickBehavior::Delay),
        ms(&[10, 20, 55, 65, 75])
    );
    assert_eq!(
        interval_after_stall(MissedTickBehavior::Skip),
        ms(&[10, 20, 50, 60, 70, 80])
    );
}

#[test]
fn interval_reset_and_zero_period() {
    let (driver, clock, _) = manual();
    let t0 = clock.now();
    let mut iv = driver.handle().interval_at(t0, 10 * MS);
    let (_, w) = counting_waker();
    assert_eq!(try_tick(&mut iv, &w), Some(t0));
    clock.advance(3 * MS);
    iv.reset();
    clock.advance(10 * MS);
    driver.process();
    assert_eq!(try_tick(&mut iv, &w), Some(t0 + 13 * MS));
    iv.reset_immediately();
    assert_eq!(try_tick(&mut iv, &w), Some(t0 + 13 * MS));
    let handle = std::panic::AssertUnwindSafe(driver.handle());
    let zero = std::panic::catch_unwind(|| handle.interval_at(t0, Duration::ZERO));
    assert!(zero.is_err());
}

#[test]
fn insert_earlier_than_parked_deadline_unparks() {
    let (driver, clock, unpark) = manual();
    let handle = driver.handle();
    let (_, w) = counting_waker();
    let mut far = Box::pin(handle.sleep(100 * MS));
    assert!(poll(&mut far, &w).is_pending());
    let parked = driver.before_park().unwrap();
    assert!(parked <= far.deadline());
    let t0 = clock.now();
    // A later timer from another thread does not unpark.
    let h = handle.clone();
    let w2 = w.clone();
    let later = std::thread::spawn(move || {
        let mut s = Box::pin(h.sleep_until(t0 + 200 * MS));
        assert!(poll(&mut s, &w2).is_pending());
        s
    })
    .join()
    .unwrap();
    assert_eq!(unpark.0.load(Ordering::SeqCst), 0);
    // An earlier one does, once.
    let h = handle.clone();
    let w2 = w.clone();
    let (early, early2) = std::thread::spawn(move || {
        let mut a = Box::pin(h.sleep_until(t0 + 5 * MS));
        let mut b = Box::pin(h.sleep_until(t0 + 4 * MS));
        assert!(poll(&mut a, &w2).is_pending());
        assert!(poll(&mut b, &w2).is_pending());
        (a, b)
    })
    .join()
    .unwrap();
    assert_eq!(unpark.0.load(Ordering::SeqCst), 1);
    driver.after_park();
    assert_eq!(driver.next_deadline(), Some(early2.deadline()));
    // Parked with nothing earlier pending: a reset earlier unparks too.
    driver.before_park();
    let mut far = far;
    far.as_mut().reset(t0 + MS);
    assert_eq!(unpark.0.load(Ordering::SeqCst), 2);
    driver.after_park();
    let mut extra = Box::pin(handle.sleep(US));
    assert!(poll(&mut extra, &w).is_pending());
    assert_eq!(unpark.0.load(Ordering::SeqCst), 2, "not parked: no unpark");
    drop((later, early));
}

#[test]
fn waker_is_updated_on_every_poll() {
    let (driver, clock, _) = manual();
    let (a, wa) = counting_waker();
    let (b, wb) = counting_waker();
    let mut s = Box::pin(driver.handle().sleep(MS));
    assert!(poll(&mut s, &wa).is_pending());
    assert!(poll(&mut s, &wb).is_pending());
    clock.advance(MS);
    driver.process();
    assert_eq!(
        (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
        (0, 1)
    );
}

#[test]
fn shutdown_completes_everything() {
    let (driver, _, _) = manual();
    let (c, w) = counting_waker();
    let mut s = Box::pin(driver.handle().sleep(Duration::from_secs(60)));
    assert!(poll(&mut s, &w).is_pending());
    let mut t = Box::pin(
        driver
            .handle()
            .timeout(Duration::from_secs(60), std::future::pending::<()>()),
    );
    driver.shutdown();
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert!(poll(&mut s, &w).is_ready());
    assert!(driver.handle().is_shutdown());
    let mut later = Box::pin(driver.handle().sleep(Duration::from_secs(60)));
    assert!(poll(&mut later, &w).is_ready());
    assert!(matches!(poll(&mut t, &w), Poll::Ready(Err(_))));
    assert_eq!(driver.process(), 0);
    let handle = driver.handle();
    drop(driver);
    let mut after_drop = Box::pin(handle.sleep(MS));
    assert!(poll(&mut after_drop, &w).is_ready());
}

#[test]
#[should_panic(expected = "kiln::time::sleep must be called from inside a kiln runtime")]
fn sleep_outside_runtime_panics() {
    drop(crate::sleep(MS));
}

#[test]
fn context_nests_and_restores() {
    let (a, _, _) = manual();
    let (b, _, _) = manual();
    assert!(context::try_current().is_none());
    let ga = context::enter(a.handle());
    {
        let _gb = context::enter(b.handle());
        assert!(context::try_current().unwrap().same_driver(&b.handle()));
        let s = crate::sleep(MS);
        assert!(s.handle().same_driver(&b.handle()));
    }
    assert!(context::try_current().unwrap().same_driver(&a.handle()));
    drop(ga);
    assert!(context::try_current().is_none());
}

#[test]
fn the_deadline_hint_is_a_lower_bound_read_without_the_lock() {
    let (driver, clock, _) = manual();
    let (_, w) = counting_waker();
    assert_eq!(driver.deadline_hint(), None);
    let mut s = Box::pin(driver.handle().sleep(30 * MS));
    assert!(poll(&mut s, &w).is_pending());
    let hint = driver
        .deadline_hint()
        .expect("a pending timer gives a hint");
    assert!(hint <= driver.next_deadline().unwrap() && hint <= s.deadline());
    // A cancelled timer is forgotten by the hint only at the next processing: still a lower
    // bound (nothing pending is earlier), never later than a pending deadline.
    drop(s);
    assert_eq!(driver.next_deadline(), None);
    assert!(driver.deadline_hint().is_some());
    clock.advance(31 * MS);
    assert_eq!(driver.process(), 0);
    assert_eq!(driver.deadline_hint(), None);
}

/// The instant `before_park` returns for sleeps of `lengths` armed at once, on a driver that
/// fired `per_window` timers in the last 4,096 µs window (0: none), and the sleeps' deadlines.
/// `None` if the thread was held up so long that a sleep was due when first polled.
fn park_for(
    per_window: u64,
    precise: bool,
    lengths: &[Duration],
) -> Option<(Instant, Vec<Instant>)> {
    let driver = Driver::new(Arc::new(CountUnpark::default()));
    driver.set_precise(precise);
    driver.handle().inner.seed_fire_rate(per_window);
    let (_, w) = counting_waker();
    let mut sleeps: Vec<Pin<Box<Sleep>>> = lengths
        .iter()
        .map(|&d| Box::pin(driver.handle().sleep(d)))
        .collect();
    for s in &mut sleeps {
        if s.as_mut().poll(&mut Context::from_waker(&w)).is_ready() {
            return None;
        }
    }
    let until = driver.before_park().unwrap();
    Some((until, sleeps.iter().map(|s| s.deadline()).collect()))
}

/// `park_for`, again until no sleep was due at its first poll (a thread held up for 2 ms).
fn park_for_armed(per_window: u64, precise: bool, lengths: &[Duration]) -> (Instant, Vec<Instant>) {
    (0..1_000)
        .find_map(|_| park_for(per_window, precise, lengths))
        .expect("the test thread never got 2 ms without being held up")
}

#[test]
fn a_busy_driver_parks_to_fire_timers_a_few_hundred_us_apart_together() {
    let pair = [2 * MS, 2 * MS + 600 * US];
    // Not busy: the earliest timer's grid tick (at most 128 µs late for 2 ms).
    let (until, d) = park_for_armed(0, false, &pair);
    assert!(until >= d[0] && until < d[1], "{until:?} {d:?}");
    // 16 fires per window: a 256 µs floor and 1,792 µs of slack, so one wake-up at the
    // second timer's grid tick fires both.
    let (until, d) = park_for_armed(16, false, &pair);
    assert!(until >= d[1] && until <= d[1] + 256 * US, "{until:?} {d:?}");
    // Nothing due within the slack after the earliest: no delay.
    let (until, d) = park_for_armed(16, false, &[2 * MS, 7 * MS]);
    assert!(until >= d[0] && until <= d[0] + 256 * US, "{until:?} {d:?}");
    // Precise mode has no slack.
    let (until, d) = park_for_armed(16, true, &pair);
    assert!(until >= d[0] && until < d[1], "{until:?} {d:?}");
}
