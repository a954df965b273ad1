//! `kiln::executor::ThreadPool` and `kiln::spawn_compute` through the facade: backpressure,
//! panics, cancellation, shutdown, ordered `map`, bad input, and the compute pool's bounds.

use kiln::executor::{is_cancelled, ThreadPool};
use std::collections::HashSet;
use std::future::Future;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// A one-thread pool whose thread is held by a job until the returned sender sends.
fn held_pool(capacity: usize) -> (ThreadPool, mpsc::Sender<()>, kiln::executor::JoinHandle<()>) {
    let pool = ThreadPool::builder()
        .threads(1)
        .queue_capacity(capacity)
        .build()
        .unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let busy = pool.spawn(move || {
        started_tx.send(()).unwrap();
        gate.recv_timeout(PATIENCE).unwrap();
    });
    started.recv_timeout(PATIENCE).unwrap();
    (pool, release, busy)
}

#[test]
fn full_queue_try_spawn_returns_the_job_and_spawn_wait_waits_then_proceeds() {
    let (pool, release, busy) = held_pool(2);
    let first = pool.try_spawn(|| 1).ok().expect("room for the first");
    let second = pool.try_spawn(|| 2).ok().expect("room for the second");
    let Err(refused) = pool.try_spawn(|| 3) else {
        panic!("a full queue must hand the closure back")
    };
    assert_eq!(refused(), 3, "the very closure comes back, unrun");
    assert_eq!(pool.metrics().queued, 2);

    kiln::run(async move {
        let waiting = pool.spawn_wait(|| 4);
        let mut waiting = std::pin::pin!(waiting);
        // Still full: the future stays pending.
        let polled = std::future::poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx))).await;
        assert!(
            polled.is_pending(),
            "spawn_wait must wait while the queue is full"
        );
        release.send(()).unwrap();
        // The held job ends, the queue drains, and the waiter gets its place.
        let fourth = kiln::time::timeout(PATIENCE, waiting)
            .await
            .expect("spawn_wait proceeds");
        assert_eq!(fourth.await.unwrap(), 4);
        busy.await.unwrap();
        assert_eq!(first.await.unwrap() + second.await.unwrap(), 3);
    });
}

#[test]
fn spawn_wait_backpressure_keeps_the_queue_bounded() {
    let pool = ThreadPool::builder()
        .threads(2)
        .queue_capacity(3)
        .build()
        .unwrap();
    let max_seen = Arc::new(AtomicUsize::new(0));
    let sum = kiln::run(async {
        let mut handles = Vec::new();
        for i in 0..200u64 {
            let h = pool.spawn_wait(move || i).await;
            max_seen.fetch_max(pool.metrics().queued, SeqCst);
            handles.push(h);
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 199 * 200 / 2);
    assert!(
        max_seen.load(SeqCst) <= 3,
        "queued {}",
        max_seen.load(SeqCst)
    );
}

#[test]
fn a_panic_in_a_job_becomes_a_join_error_and_the_pool_lives_on() {
    let pool = ThreadPool::builder().threads(1).build().unwrap();
    let err = pool.spawn(|| panic!("job failed")).join().unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "job failed");
    assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
    assert_eq!(pool.metrics().completed, 2);
}

/// Records whether the closure holding it was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn shutdown_drops_queued_jobs_and_their_handles_report_cancelled() {
    let (pool, release, busy) = held_pool(usize::MAX);
    let ran = Arc::new(AtomicUsize::new(0));
    let mut queued = Vec::new();
    let mut dropped = Vec::new();
    for _ in 0..5 {
        let (r, flag) = (ran.clone(), Arc::new(AtomicBool::new(false)));
        let guard = DropFlag(flag.clone());
        dropped.push(flag);
        queued.push(pool.spawn(move || {
            let _keep = &guard;
            r.fetch_add(1, SeqCst);
        }));
    }
    // Shut down while the only thread is busy; let the busy job go once the queue is dropped.
    let p = pool.clone();
    let shut = std::thread::spawn(move || p.shutdown_timeout(PATIENCE));
    while !pool.is_shutdown() {
        std::thread::yield_now();
    }
    release.send(()).unwrap();
    assert!(
        shut.join().unwrap(),
        "every thread exits once the busy job ends"
    );
    busy.join().unwrap();
    for h in queued {
        assert!(h.join().unwrap_err().is_cancelled());
    }
    assert_eq!(ran.load(SeqCst), 0);
    assert!(
        dropped.iter().all(|f| f.load(SeqCst)),
        "queued closures are dropped"
    );
    assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    assert!(pool
        .try_spawn(|| ())
        .ok()
        .unwrap()
        .join()
        .unwrap_err()
        .is_cancelled());
    let late = kiln::executor::block_on(pool.spawn_wait(|| ()));
    assert!(late.join().unwrap_err().is_cancelled());
}

#[test]
fn shutdown_releases_spawn_wait_waiters() {
    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let (pool, release, busy) = held_pool(1);
    let _fill = pool.try_spawn(|| ()).ok().unwrap();
    let woken = Arc::new(Count(AtomicUsize::new(0)));
    let waker = std::task::Waker::from(woken.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut waiting = Box::pin(pool.spawn_wait(|| 1));
    assert!(
        waiting.as_mut().poll(&mut cx).is_pending(),
        "the queue is full"
    );
    let p = pool.clone();
    let shut = std::thread::spawn(move || p.shutdown_timeout(PATIENCE));
    let deadline = std::time::Instant::now() + PATIENCE;
    while woken.0.load(SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "shutdown never woke the waiter"
        );
        std::thread::yield_now();
    }
    let Poll::Ready(handle) = waiting.as_mut().poll(&mut cx) else {
        panic!("a woken waiter on a shut-down pool resolves")
    };
    assert!(handle.join().unwrap_err().is_cancelled());
    release.send(()).unwrap();
    busy.join().unwrap();
    assert!(shut.join().unwrap());
}

#[test]
fn a_kept_handle_does_not_keep_a_dropped_pool_alive() {
    let (stopped_tx, stopped) = mpsc::channel();
    let stopped_tx = Mutex::new(stopped_tx);
    let pool = ThreadPool::builder()
        .threads(1)
        // Idle threads would otherwise outlive the test: only the pool's end stops them.
        .keep_alive(Duration::from_secs(3600))
        .on_thread_stop(Arc::new(move || {
            let _ = stopped_tx.lock().unwrap().send(());
        }))
        .build()
        .unwrap();
    let handle = pool.spawn(|| 5);
    while !handle.is_finished() {
        std::thread::yield_now();
    }
    drop(pool);
    stopped
        .recv_timeout(PATIENCE)
        .expect("the pool's thread exits once the pool is dropped, though a handle lives");
    assert_eq!(handle.join().unwrap(), 5);
}

#[test]
fn abort_before_start_cancels_the_job() {
    let (pool, release, busy) = held_pool(usize::MAX);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let queued = pool.spawn(move || r.store(true, SeqCst));
    queued.abort();
    assert!(queued.is_finished());
    release.send(()).unwrap();
    busy.join().unwrap();
    // The pool ran its queue: the aborted job was taken off it and skipped.
    assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    assert!(!ran.load(SeqCst));
}

#[test]
fn is_cancelled_turns_true_after_abort() {
    let pool = ThreadPool::builder().threads(1).build().unwrap();
    let (started_tx, started) = mpsc::channel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let job = pool.spawn(move || {
        s.lock().unwrap().push(is_cancelled());
        started_tx.send(()).unwrap();
        let deadline = std::time::Instant::now() + PATIENCE;
        while !is_cancelled() {
            assert!(std::time::Instant::now() < deadline, "abort never seen");
            std::thread::sleep(Duration::from_millis(1));
        }
        s.lock().unwrap().push(is_cancelled());
        "stopped"
    });
    started.recv_timeout(PATIENCE).unwrap();
    job.abort();
    // A started job is not interrupted: it returns its own value once it sees the flag.
    assert_eq!(job.join().unwrap(), "stopped");
    assert_eq!(*seen.lock().unwrap(), [false, true]);
    assert!(!is_cancelled(), "false outside a pool job");
    // The flag belongs to that job only.
    assert!(!pool.spawn(is_cancelled).join().unwrap());
}

#[test]
fn map_yields_results_in_input_order() {
    let pool = ThreadPool::builder().threads(4).build().unwrap();
    let out = kiln::run(async {
        // Later items finish first; results still come in input order.
        let mut map = pool.map(0..16u64, |i| {
            std::thread::sleep(Duration::from_millis(16 - i));
            i * 3
        });
        assert_eq!(map.remaining(), 16);
        let mut out = Vec::new();
        while let Some(r) = map.next().await {
            out.push(r.unwrap());
        }
        out
    });
    assert_eq!(out, (0..16).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn zero_threads_or_zero_capacity_is_invalid_input() {
    let err = ThreadPool::builder().threads(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("threads"), "{err}");
    let err = ThreadPool::builder().queue_capacity(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("queue_capacity"), "{err}");
    let err = kiln::Builder::new_multi_thread()
        .compute_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("compute_threads"), "{err}");
}

#[test]
fn works_with_no_runtime_and_under_tokio() {
    let pool = ThreadPool::builder().threads(2).build().unwrap();
    assert_eq!(pool.spawn(|| "plain").join().unwrap(), "plain");
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let v = tokio_rt.block_on(async { pool.spawn(|| 40 + 2).await.unwrap() });
    assert_eq!(v, 42);
    assert!(pool.shutdown_timeout(PATIENCE));
}

#[test]
fn compute_jobs_queue_on_the_compute_threads_never_a_thread_each() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .compute_threads(2)
        .build()
        .unwrap();
    let threads = rt.block_on(async {
        let jobs: Vec<_> = (0..64)
            .map(|_| {
                kiln::spawn_compute(|| {
                    std::thread::sleep(Duration::from_millis(1));
                    std::thread::current().id()
                })
            })
            .collect();
        let mut ids = HashSet::new();
        for j in jobs {
            ids.insert(j.await.unwrap());
        }
        ids
    });
    assert!(threads.len() <= 2, "{} threads ran 64 jobs", threads.len());
    let m = rt.handle().compute_pool().metrics();
    assert!(m.threads <= 2);
    assert_eq!(m.completed, 64);
}

/// The name a compute job's thread has on a runtime built by `b`.
fn compute_thread_name(b: &mut kiln::Builder) -> Option<String> {
    let rt = b.worker_threads(1).compute_threads(1).build().unwrap();
    rt.block_on(async {
        kiln::spawn_compute(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap()
    })
}

#[test]
fn compute_threads_are_named_kiln_compute_unless_the_user_names_threads() {
    let default = compute_thread_name(&mut kiln::Builder::new_multi_thread());
    assert_eq!(default.as_deref(), Some("kiln-compute"));
    let current = compute_thread_name(&mut kiln::Builder::new_current_thread());
    assert_eq!(current.as_deref(), Some("kiln-compute"));
    // Workers keep their own default.
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let worker = rt.block_on(async {
        kiln::spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap()
    });
    assert_eq!(worker.as_deref(), Some("kiln-worker"));
    // A name the user sets names compute threads too.
    let named = compute_thread_name(kiln::Builder::new_multi_thread().thread_name("svc"));
    assert_eq!(named.as_deref(), Some("svc"));
    let by_fn = compute_thread_name(
        kiln::Builder::new_multi_thread().thread_name_fn(|| "svc-fn".to_string()),
    );
    assert_eq!(by_fn.as_deref(), Some("svc-fn"));
}

#[test]
fn blocking_io_is_not_stuck_behind_a_saturated_compute_pool() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .compute_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let (release, gate) = mpsc::channel::<()>();
        let held = kiln::spawn_compute(move || gate.recv_timeout(PATIENCE).unwrap());
        let queued = kiln::spawn_compute(|| 2);
        // The compute pool's one thread is held; blocking work still runs.
        let io = kiln::time::timeout(PATIENCE, kiln::spawn_blocking(|| 1)).await;
        assert_eq!(io.expect("spawn_blocking ran").unwrap(), 1);
        assert!(!queued.is_finished());
        release.send(()).unwrap();
        held.await.unwrap();
        assert_eq!(queued.await.unwrap(), 2);
    });
}

#[test]
fn compute_jobs_run_with_the_runtime_entered() {
    let v = kiln::run(async {
        kiln::spawn_compute(|| {
            // `kiln::spawn` works inside a compute job.
            let h = kiln::spawn(async { 21 });
            kiln::Handle::current().block_on(h).unwrap() * 2
        })
        .await
        .unwrap()
    });
    assert_eq!(v, 42);
}

#[test]
fn runtime_shutdown_cancels_queued_compute_jobs() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .compute_threads(1)
        .build()
        .unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let held = rt.handle().spawn_compute(move || {
        started_tx.send(()).unwrap();
        gate.recv_timeout(PATIENCE).unwrap();
    });
    started.recv_timeout(PATIENCE).unwrap();
    let queued = rt.handle().spawn_compute(|| 1);
    let pool = rt.handle().compute_pool().clone();
    // Lets the held job go only once the runtime's shutdown has reached the compute pool.
    let releaser = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        while !pool.is_shutdown() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        release.send(()).unwrap();
    });
    drop(rt);
    releaser.join().unwrap();
    held.join().unwrap();
    assert!(queued.join().unwrap_err().is_cancelled());
}

#[test]
#[should_panic(expected = "kiln::spawn_compute must be called from inside a kiln runtime")]
fn spawn_compute_outside_a_runtime_panics() {
    drop(kiln::spawn_compute(|| ()));
}
