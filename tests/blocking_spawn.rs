//! `kiln::spawn_blocking` through the facade: results, panics, abort, elasticity, shutdown.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

fn runtime(max_blocking: usize) -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(max_blocking)
        .build()
        .unwrap()
}

#[test]
fn returns_the_closure_result() {
    let rt = runtime(8);
    let v = rt.block_on(async { kiln::spawn_blocking(|| 6 * 7).await.unwrap() });
    assert_eq!(v, 42);
}

#[test]
fn runs_off_the_worker_threads() {
    let rt = runtime(8);
    let (caller, pool) = rt.block_on(async {
        let caller = std::thread::current().id();
        let pool = kiln::spawn_blocking(|| std::thread::current().id())
            .await
            .unwrap();
        (caller, pool)
    });
    assert_ne!(caller, pool);
}

#[test]
fn many_jobs_all_complete() {
    let rt = runtime(16);
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..1_000u64)
            .map(|i| kiln::spawn_blocking(move || i))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 999 * 1_000 / 2);
}

#[test]
fn panic_becomes_join_error() {
    let rt = runtime(2);
    rt.block_on(async {
        let err = kiln::spawn_blocking(|| -> u32 { panic!("blocking job panics on purpose") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        let payload = err.into_panic();
        assert_eq!(
            payload.downcast_ref::<&str>().copied(),
            Some("blocking job panics on purpose")
        );
        // The pool thread survived: the next job still runs.
        assert_eq!(kiln::spawn_blocking(|| 1).await.unwrap(), 1);
    });
}

#[test]
fn abort_cancels_a_job_that_has_not_started() {
    let rt = runtime(1);
    rt.block_on(async {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        // Occupies the only pool thread.
        let busy = kiln::spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        started_rx.recv().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let queued = kiln::spawn_blocking(move || {
            r.fetch_add(1, SeqCst);
        });
        queued.abort();
        release_tx.send(()).unwrap();
        busy.await.unwrap();
        let err = queued.await.unwrap_err();
        assert!(err.is_cancelled());
        // Let the pool drain whatever is left, then check the closure never ran.
        kiln::spawn_blocking(|| ()).await.unwrap();
        assert_eq!(ran.load(SeqCst), 0);
    });
}

#[test]
fn grows_up_to_max_blocking_threads() {
    let rt = runtime(4);
    rt.block_on(async {
        let gate = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let gate = gate.clone();
                // All four must run at once or the barrier never opens.
                kiln::spawn_blocking(move || {
                    gate.wait();
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let m = rt.metrics();
    assert!(m.blocking_threads() <= 4, "{}", m.blocking_threads());
}

#[test]
fn jobs_beyond_the_cap_wait_their_turn() {
    let rt = runtime(2);
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (active, peak) = (active.clone(), peak.clone());
                kiln::spawn_blocking(move || {
                    let now = active.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    active.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(peak.load(SeqCst) <= 2, "peak {}", peak.load(SeqCst));
}

#[test]
fn idle_blocking_threads_retire() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .blocking_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    rt.block_on(async {
        kiln::spawn_blocking(|| ()).await.unwrap();
    });
    let start = Instant::now();
    while rt.metrics().blocking_threads() > 0 {
        assert!(start.elapsed() < PATIENCE, "blocking thread never retired");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn shutdown_timeout_does_not_wait_for_a_long_job() {
    let rt = runtime(2);
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let _long = rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
    });
    started_rx.recv().unwrap();
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_millis(100));
    let waited = start.elapsed();
    release_tx.send(()).unwrap();
    assert!(
        waited < Duration::from_secs(30),
        "shutdown waited {waited:?}"
    );
}

#[test]
fn handle_spawn_blocking_from_outside_the_runtime() {
    let rt = runtime(2);
    let handle = rt.handle().clone();
    let join = handle.spawn_blocking(|| "from a handle");
    assert_eq!(rt.block_on(join).unwrap(), "from a handle");
}

#[test]
#[should_panic(expected = "runtime")]
fn spawn_blocking_outside_a_runtime_panics() {
    drop(kiln::spawn_blocking(|| ()));
}

/// A pool thread is inside its runtime while it runs jobs and leaves it before the runtime's
/// stop hook runs on it, so the hook sees no runtime there.
#[test]
fn a_pool_thread_leaves_the_runtime_before_the_stop_hook() {
    let stopped = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rt = {
        let stopped = stopped.clone();
        kiln::Builder::new_multi_thread()
            .worker_threads(1)
            .blocking_keep_alive(Duration::from_millis(10))
            .on_thread_stop(move || {
                let inside = kiln::Handle::try_current().is_some();
                stopped
                    .lock()
                    .unwrap()
                    .push((std::thread::current().id(), inside));
            })
            .build()
            .unwrap()
    };
    let job = || {
        (
            std::thread::current().id(),
            kiln::Handle::try_current().is_some(),
        )
    };
    let (first, inside) = rt.block_on(rt.spawn_blocking(job)).unwrap();
    assert!(inside, "a blocking job runs inside its runtime");
    let (again, inside) = rt.block_on(rt.spawn_blocking(job)).unwrap();
    assert!(inside, "and so does the next one");
    let deadline = Instant::now() + PATIENCE;
    for id in [first, again] {
        let seen = loop {
            let found = stopped.lock().unwrap().iter().find(|s| s.0 == id).copied();
            if let Some(s) = found {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the idle pool thread never retired"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            !seen.1,
            "the stop hook of a retiring pool thread saw a runtime"
        );
    }
    drop(rt);
}
