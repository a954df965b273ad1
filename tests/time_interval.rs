//! `kiln::time::interval` through the facade: tick spacing and missed-tick behaviors.

mod common;

use kiln::time::{interval, interval_at, Duration, Instant, MissedTickBehavior};

#[test]
fn ticks_are_spaced_by_the_period() {
    for (name, rt) in common::runtimes() {
        rt.block_on(async {
            let period = Duration::from_millis(2);
            let mut iv = interval(period);
            let first = iv.tick().await;
            let mut prev = first;
            for _ in 0..10 {
                let t = iv.tick().await;
                assert_eq!(
                    t - prev,
                    period,
                    "{name}: scheduled instants step by the period"
                );
                assert!(Instant::now() >= t, "{name}: tick completed early");
                prev = t;
            }
            assert!(Instant::now() >= first + 10 * period);
        });
    }
}

#[test]
fn missed_ticks_follow_the_chosen_behavior() {
    for (name, rt) in common::runtimes() {
        rt.block_on(async {
            let period = Duration::from_millis(5);
            for behavior in [
                MissedTickBehavior::Burst,
                MissedTickBehavior::Delay,
                MissedTickBehavior::Skip,
            ] {
                let start = Instant::now() + period;
                let mut iv = interval_at(start, period);
                iv.set_missed_tick_behavior(behavior);
                assert_eq!(iv.tick().await, start);
                // Stall for more than three periods: the next tick (scheduled at most one
                // period after the first completed) is missed.
                std::thread::sleep(period * 3 + period / 2);
                let late = iv.tick().await;
                let next = iv.tick().await;
                match behavior {
                    MissedTickBehavior::Burst => {
                        assert_eq!(next, late + period, "{name}: burst catches up")
                    }
                    MissedTickBehavior::Delay => {
                        assert!(next >= late + 3 * period, "{name}: delay restarts from now")
                    }
                    MissedTickBehavior::Skip => {
                        let k = (next - late).as_nanos() % period.as_nanos();
                        assert_eq!(k, 0, "{name}: skip stays on the grid");
                        assert!(next >= late + 3 * period, "{name}: skip drops missed ticks");
                    }
                }
            }
        });
    }
}

#[test]
fn reset_restarts_the_schedule() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let mut iv = interval(Duration::from_millis(3));
            iv.tick().await;
            let before = Instant::now();
            iv.reset();
            let t = iv.tick().await;
            assert!(t >= before + Duration::from_millis(3));
        });
    }
}
