//! `Runtime::metrics`: the counters move with the work, and `Builder::metrics(false)` stops them.

use std::time::Duration;

#[test]
fn counters_follow_the_work() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let hs: Vec<_> = (0..1000)
            .map(|_| kiln::spawn(async { kiln::task::yield_now().await }))
            .collect();
        for h in hs {
            h.await.unwrap();
        }
        kiln::time::sleep(Duration::from_millis(2)).await;
        kiln::spawn(async { kiln::time::sleep(Duration::from_millis(2)).await })
            .await
            .unwrap();
    });
    // Counters are published when workers park (a park publishes what the ones before it
    // counted); give them a moment to go idle.
    let m = rt.metrics();
    let (mut polls, mut fired) = (0, 0);
    for _ in 0..500 {
        polls = (0..m.num_workers())
            .map(|w| m.worker_poll_count(w))
            .sum::<u64>();
        fired = (0..m.num_workers())
            .map(|w| m.worker_timers_fired(w))
            .sum::<u64>();
        if polls >= 2000 && fired >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(polls >= 2000, "1000 tasks polled twice each, got {polls}");
    let parks: u64 = (0..m.num_workers()).map(|w| m.worker_park_count(w)).sum();
    assert!(parks > 0);
    assert!(fired >= 1, "the task's sleep fired on a worker");
    // A task leaves the owned list just after waking its JoinHandle: wait for it to settle.
    for _ in 0..500 {
        if m.num_alive_tasks() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(m.num_alive_tasks(), 0);
    assert_eq!(m.injector_depth(), 0);
}

#[test]
fn blocking_pool_figures() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async { kiln::spawn_blocking(|| ()).await.unwrap() });
    let m = rt.metrics();
    assert!(m.blocking_threads() >= 1);
    assert_eq!(m.blocking_queue_depth(), 0);
}

#[test]
fn disabled_metrics_read_zero() {
    for mut b in [
        kiln::Builder::new_multi_thread(),
        kiln::Builder::new_current_thread(),
    ] {
        let rt = b.metrics(false).build().unwrap();
        rt.block_on(async {
            for _ in 0..100 {
                kiln::spawn(async {}).await.unwrap();
            }
        });
        let m = rt.metrics();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            (0..m.num_workers())
                .map(|w| m.worker_poll_count(w))
                .sum::<u64>(),
            0
        );
    }
}

#[test]
fn alive_tasks_counts_pending_ones() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    let hs: Vec<_> = (0..3)
        .map(|_| rt.spawn(std::future::pending::<()>()))
        .collect();
    assert_eq!(rt.metrics().num_alive_tasks(), 3);
    for h in &hs {
        h.abort();
    }
    rt.block_on(async move {
        for h in hs {
            assert!(h.await.unwrap_err().is_cancelled());
        }
    });
    assert_eq!(rt.metrics().num_alive_tasks(), 0);
}
