//! `kiln::time::timeout` through the facade: `Ok` when the future wins, `Err(Elapsed)` with
//! the inner future dropped when the deadline wins.

mod common;

use kiln::time::{sleep, timeout, timeout_at, Duration, Elapsed, Instant};
use std::sync::{Arc, Mutex};

#[test]
fn timeout_ok_when_future_finishes_first() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            assert_eq!(timeout(Duration::from_secs(10), async { 42 }).await, Ok(42));
            let slow_enough = async {
                sleep(Duration::from_millis(1)).await;
                "done"
            };
            assert_eq!(
                timeout(Duration::from_secs(10), slow_enough).await,
                Ok("done")
            );
        });
    }
}

#[test]
fn timeout_elapses_and_drops_the_future() {
    for (name, rt) in common::runtimes() {
        rt.block_on(async {
            let flag = Arc::new(Mutex::new(None));
            let guard = common::DropFlag { flag: flag.clone() };
            let start = Instant::now();
            let d = Duration::from_millis(5);
            let res = timeout(d, async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
            .await;
            let err: Elapsed = res.unwrap_err();
            assert_eq!(err.to_string(), "deadline has elapsed");
            assert!(start.elapsed() >= d, "{name}: timed out early");
            assert!(
                flag.lock().unwrap().is_some(),
                "{name}: inner future dropped"
            );
        });
    }
}

#[test]
fn timeout_at_past_deadline_still_polls_the_future_once() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let past = Instant::now() - Duration::from_millis(1);
            assert_eq!(timeout_at(past, async { 1 }).await, Ok(1));
            assert!(timeout_at(past, std::future::pending::<()>())
                .await
                .is_err());
        });
    }
}

#[test]
fn timeout_works_in_spawned_tasks_across_workers() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let tasks: Vec<_> = (0..200u64)
                .map(|i| {
                    kiln::spawn(async move {
                        let wait = Duration::from_micros(200 + i * 37);
                        timeout(wait, std::future::pending::<()>()).await.is_err()
                    })
                })
                .collect();
            for t in tasks {
                assert!(t.await.unwrap());
            }
        });
    }
}
