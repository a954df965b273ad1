//! Behaviour tests of the pool. Timing bounds are generous on purpose (loaded 2-core CI).

use crate::{Builder, Job, Pool};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pool(max: usize, keep_alive: Duration) -> Pool {
    Builder::new()
        .max_threads(max)
        .keep_alive(keep_alive)
        .build()
        .unwrap()
}

/// Sets a flag when dropped: tells apart jobs dropped unrun.
struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn grows_to_the_cap_and_queues_beyond_it() {
    let pool = pool(4, Duration::from_secs(30));
    let gate = Arc::new(Barrier::new(5));
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        let gate = gate.clone();
        let tx = tx.clone();
        pool.spawn(Box::new(move || {
            if i < 4 {
                gate.wait();
            }
            tx.send(i).unwrap();
        }))
        .unwrap();
    }
    // The first four jobs hold all four threads; the other six must be queued.
    wait_until("four busy threads", || {
        let m = pool.metrics();
        m.threads == 4 && m.queue_depth == 6
    });
    let m = pool.metrics();
    assert_eq!(m.threads, 4);
    assert_eq!(m.queue_depth, 6);
    assert_eq!(m.spawned_threads_total, 4);
    gate.wait();
    drop(tx);
    let mut got: Vec<i32> = rx.iter().collect();
    got.sort();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert!(pool.metrics().threads <= 4);
    assert!(pool.shutdown(None));
    assert_eq!(pool.metrics().jobs_completed, 10);
}

#[test]
fn idle_threads_are_reused() {
    let pool = pool(8, Duration::from_secs(30));
    for _ in 0..50 {
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
        rx.recv().unwrap();
        // Let the thread get back to waiting before the next job.
        wait_until("an idle thread", || pool.metrics().idle_threads == 1);
    }
    assert_eq!(pool.metrics().spawned_threads_total, 1);
    assert!(pool.shutdown(None));
}

#[test]
fn idle_threads_retire_after_keep_alive() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let pool = Builder::new()
        .max_threads(4)
        .keep_alive(Duration::from_millis(50))
        .on_thread_stop(Arc::new(move || {
            s.fetch_add(1, SeqCst);
        }))
        .build()
        .unwrap();
    let gate = Arc::new(Barrier::new(4));
    for _ in 0..3 {
        let gate = gate.clone();
        pool.spawn(Box::new(move || {
            gate.wait();
        }))
        .unwrap();
    }
    gate.wait();
    wait_until("retirement", || pool.metrics().threads == 0);
    wait_until("stop hooks", || stopped.load(SeqCst) == 3);
    // A retired pool starts a thread again on demand.
    let (tx, rx) = mpsc::channel();
    pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
    rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(pool.metrics().spawned_threads_total, 4);
    assert!(pool.shutdown(None));
}

#[test]
fn jobs_keep_flowing_while_threads_retire() {
    // keep_alive of zero makes every wait race a retirement; no job may be stranded.
    let pool = pool(2, Duration::ZERO);
    for round in 0..200 {
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
        }
        for _ in 0..3 {
            rx.recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("job stranded in round {round}"));
        }
    }
    assert!(pool.shutdown(None));
}

#[test]
fn single_thread_pool_never_strands_a_job_at_retirement() {
    // One thread that retires the instant it idles: every job arriving while it retires
    // exercises the queue re-check after the slot is released.
    let pool = pool(1, Duration::ZERO);
    let (tx, rx) = mpsc::channel();
    for i in 0..2_000 {
        let tx = tx.clone();
        pool.spawn(Box::new(move || tx.send(i).unwrap())).unwrap();
        if i % 7 == 0 {
            std::thread::yield_now();
        }
    }
    for _ in 0..2_000 {
        rx.recv_timeout(PATIENCE).expect("a job was stranded");
    }
    assert!(pool.metrics().threads <= 1);
    assert!(pool.shutdown(None));
}

#[test]
fn shutdown_drops_queued_jobs_unrun() {
    let pool = pool(1, Duration::from_secs(30));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    pool.spawn(Box::new(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv();
    }))
    .unwrap();
    started_rx.recv().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let flag = DropFlag(dropped.clone());
        let ran = ran.clone();
        pool.spawn(Box::new(move || {
            ran.fetch_add(1, SeqCst);
            drop(flag);
        }))
        .unwrap();
    }
    assert_eq!(pool.metrics().queue_depth, 5);
    // The running job is still blocked, so a zero timeout must report it.
    assert!(!pool.shutdown(Some(Duration::ZERO)));
    assert_eq!(
        dropped.load(SeqCst),
        5,
        "queued jobs are dropped by shutdown"
    );
    release_tx.send(()).unwrap();
    assert!(pool.shutdown(None));
    assert_eq!(ran.load(SeqCst), 0, "no queued job may run after shutdown");
    assert_eq!(pool.metrics().jobs_completed, 1);
}

#[test]
fn shutdown_timeout_does_not_wait_for_a_long_job() {
    let pool = pool(2, Duration::from_secs(30));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    pool.spawn(Box::new(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
    }))
    .unwrap();
    started_rx.recv().unwrap();
    let start = Instant::now();
    assert!(!pool.shutdown(Some(Duration::from_millis(100))));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(100));
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
    release_tx.send(()).unwrap();
    assert!(pool.shutdown(Some(PATIENCE)));
}

#[test]
fn shutdown_wakes_idle_threads_promptly() {
    // Idle threads would otherwise sit out their 60 s keep-alive.
    let pool = pool(4, Duration::from_secs(60));
    let gate = Arc::new(Barrier::new(5));
    for _ in 0..4 {
        let gate = gate.clone();
        pool.spawn(Box::new(move || {
            gate.wait();
        }))
        .unwrap();
    }
    gate.wait();
    wait_until("four idle threads", || pool.metrics().idle_threads == 4);
    let start = Instant::now();
    assert!(pool.shutdown(Some(PATIENCE)));
    assert!(start.elapsed() < PATIENCE);
    assert_eq!(pool.metrics().threads, 0);
    assert!(pool.shutdown(Some(Duration::ZERO)), "idempotent");
}

#[test]
fn spawn_after_shutdown_hands_the_job_back() {
    let pool = pool(2, Duration::from_secs(30));
    assert!(pool.shutdown(None));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let err = pool
        .spawn(Box::new(move || {
            r.fetch_add(1, SeqCst);
        }))
        .unwrap_err();
    assert!(err.is_shutdown());
    assert!(!err.is_thread_spawn_failed());
    assert!(err.to_string().contains("shut down"));
    let job: Job = err.into_job();
    assert_eq!(ran.load(SeqCst), 0);
    job();
    assert_eq!(ran.load(SeqCst), 1);
}

#[test]
fn panicking_job_does_not_kill_the_thread() {
    let pool = pool(1, Duration::from_secs(30));
    pool.spawn(Box::new(|| panic!("job panics on purpose")))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
    rx.recv_timeout(PATIENCE).unwrap();
    wait_until("accounting", || pool.metrics().jobs_completed == 2);
    let m = pool.metrics();
    assert_eq!(m.jobs_panicked, 1);
    assert_eq!(m.spawned_threads_total, 1, "the same thread ran both jobs");
    assert!(pool.shutdown(None));
}

#[test]
fn names_and_hooks_apply_to_every_thread() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (s1, s2) = (started.clone(), stopped.clone());
    let n = Arc::new(AtomicUsize::new(0));
    let pool = Builder::new()
        .max_threads(3)
        .thread_name_fn(Arc::new(move || format!("blk-{}", n.fetch_add(1, SeqCst))))
        .on_thread_start(Arc::new(move || {
            s1.fetch_add(1, SeqCst);
        }))
        .on_thread_stop(Arc::new(move || {
            s2.fetch_add(1, SeqCst);
        }))
        .build()
        .unwrap();
    let gate = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let gate = gate.clone();
        let tx = tx.clone();
        pool.spawn(Box::new(move || {
            tx.send(std::thread::current().name().unwrap().to_owned())
                .unwrap();
            gate.wait();
        }))
        .unwrap();
    }
    drop(tx);
    let mut names: Vec<String> = rx.iter().collect();
    names.sort();
    assert_eq!(names, ["blk-0", "blk-1", "blk-2"]);
    assert!(pool.shutdown(None));
    assert_eq!(started.load(SeqCst), 3);
    assert_eq!(stopped.load(SeqCst), 3);
}

#[test]
fn max_threads_zero_is_rejected_with_a_clear_error() {
    let err = Builder::new().max_threads(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_threads"), "{err}");
}

#[test]
fn shutdown_from_inside_a_job_does_not_wait_for_itself() {
    let pool = pool(2, Duration::from_secs(30));
    let (tx, rx) = mpsc::channel();
    let p = pool.clone();
    pool.spawn(Box::new(move || tx.send(p.shutdown(None)).unwrap()))
        .unwrap();
    assert!(rx.recv_timeout(PATIENCE).unwrap());
    assert!(pool.shutdown(Some(PATIENCE)));
}

#[test]
fn dropping_the_last_handle_stops_idle_threads() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let s = stopped.clone();
    let pool = Builder::new()
        .keep_alive(Duration::from_secs(60))
        .on_thread_stop(Arc::new(move || {
            s.fetch_add(1, SeqCst);
        }))
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
    rx.recv().unwrap();
    drop(pool);
    wait_until("the idle thread to stop", || stopped.load(SeqCst) == 1);
}

#[test]
fn many_concurrent_submitters_lose_nothing() {
    let pool = pool(6, Duration::from_millis(1));
    let done = Arc::new(AtomicUsize::new(0));
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    let done = done.clone();
                    pool.spawn(Box::new(move || {
                        done.fetch_add(1, SeqCst);
                    }))
                    .unwrap();
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    wait_until("all jobs", || done.load(SeqCst) == 8_000);
    assert!(pool.metrics().spawned_threads_total >= 1);
    assert!(pool.shutdown(None));
    assert_eq!(pool.metrics().jobs_completed, 8_000);
}

#[test]
fn thread_start_failure_hands_the_job_back() {
    // A stack no machine can map makes every thread start fail.
    let pool = Builder::new().stack_size(usize::MAX / 4).build().unwrap();
    let err = pool.spawn(Box::new(|| {})).unwrap_err();
    assert!(err.is_thread_spawn_failed(), "{err:?}");
    assert!(!err.is_shutdown());
    assert!(std::error::Error::source(&err).is_some());
    drop(err.into_job());
    let m = pool.metrics();
    assert_eq!(m.threads, 0);
    assert_eq!(m.queue_depth, 0);
    assert!(pool.shutdown(Some(Duration::ZERO)));
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Pool>();
    send_sync::<Builder>();
    send_sync::<crate::PoolMetrics>();
    send::<crate::SpawnError>();
}
