//! The examples of `docs/asyncio.md`, one test per row of its table, and of `docs/tuning.md`.
//! Each test body is the code block shown in the guide, byte for byte (indented by four
//! spaces here); `guide_blocks_match_these_tests` fails if the two drift apart.

use std::time::Duration;

#[test]
fn run() {
    async fn main() -> u32 {
        kiln::time::sleep(Duration::from_millis(1)).await;
        42
    }

    // Builds a multi-thread runtime, runs `main` to completion, shuts the runtime down.
    let answer = kiln::run(main());
    assert_eq!(answer, 42);
}

#[test]
fn create_task() {
    kiln::run(async {
        let task = kiln::spawn(async { "hello from a task" });
        // The task already runs, on any worker; await its JoinHandle for the result.
        assert_eq!(task.await.unwrap(), "hello from a task");
    });
}

#[test]
fn task_cancel() {
    kiln::run(async {
        let task = kiln::spawn(std::future::pending::<()>());
        task.abort(); // task.cancel()
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled()); // asyncio.CancelledError
    });
}

#[test]
fn gather() {
    use futures::future::join_all;

    kiln::run(async {
        let tasks = (1..=3u64).map(|i| kiln::spawn(async move { i * 10 }));
        // Results in argument order, like gather. A panicked task is an Err in its place
        // (gather(..., return_exceptions=True)).
        let results: Vec<u64> = join_all(tasks)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(results, vec![10, 20, 30]);

        // Plain futures need no spawn: they run concurrently inside this task.
        let (a, b) = futures::join!(async { 1 }, async { 2 });
        assert_eq!(a + b, 3);
    });
}

#[test]
fn wait_first_completed() {
    use futures::future::select_all;

    kiln::run(async {
        let slow = kiln::spawn(async {
            kiln::time::sleep(Duration::from_secs(3600)).await;
            "slow"
        });
        let fast = kiln::spawn(async { "fast" });
        // asyncio.wait([slow, fast], return_when=FIRST_COMPLETED)
        let (first, index, pending) = select_all([slow, fast]).await;
        assert_eq!((first.unwrap(), index), ("fast", 1));
        // Like asyncio, the others keep running; cancel them if they are not wanted.
        for task in pending {
            task.abort();
        }
    });
}

#[test]
fn as_completed() {
    use futures::stream::{FuturesUnordered, StreamExt};

    kiln::run(async {
        let mut tasks: FuturesUnordered<_> = [500u64, 0]
            .into_iter()
            .map(|ms| {
                kiln::spawn(async move {
                    kiln::time::sleep(Duration::from_millis(ms)).await;
                    ms
                })
            })
            .collect();
        // for fut in asyncio.as_completed(tasks): results in completion order.
        let mut order = Vec::new();
        while let Some(res) = tasks.next().await {
            order.push(res.unwrap());
        }
        assert_eq!(order, vec![0, 500]);
    });
}

#[test]
fn join_set() {
    use kiln::task::JoinSet;

    kiln::run(async {
        // A set of tasks that owns them: completion-order joins, abort on drop.
        let mut set = JoinSet::new();
        for i in 0..5u64 {
            set.spawn(async move { i * i });
        }
        let mut sum = 0;
        while let Some(res) = set.join_next().await {
            sum += res.unwrap();
        }
        assert_eq!(sum, 30);
    });
}

#[test]
fn wait_for() {
    kiln::run(async {
        let slow = kiln::time::sleep(Duration::from_secs(3600));
        // asyncio.wait_for(slow, timeout=0.01): the inner future is dropped (cancelled).
        let res = kiln::time::timeout(Duration::from_millis(10), slow).await;
        assert!(res.is_err()); // kiln::time::Elapsed, asyncio.TimeoutError

        let quick = kiln::time::timeout(Duration::from_secs(5), async { 7 }).await;
        assert_eq!(quick.unwrap(), 7);
    });
}

#[test]
fn sleep() {
    kiln::run(async {
        let start = std::time::Instant::now();
        kiln::time::sleep(Duration::from_millis(20)).await; // asyncio.sleep(0.02)
        assert!(start.elapsed() >= Duration::from_millis(20)); // never early

        kiln::task::yield_now().await; // asyncio.sleep(0): let other tasks run
    });
}

#[test]
fn call_soon_and_call_later() {
    use std::time::Instant;

    kiln::run(async {
        // loop.call_soon(callback): a task runs it as soon as a worker is free.
        let soon = kiln::spawn(async { "called soon" });
        assert_eq!(soon.await.unwrap(), "called soon");

        // loop.call_later(0.02, callback): a task that sleeps first.
        let start = Instant::now();
        let later = kiln::spawn(async move {
            kiln::time::sleep(Duration::from_millis(20)).await;
            start.elapsed()
        });
        assert!(later.await.unwrap() >= Duration::from_millis(20));

        // TimerHandle.cancel(): abort the task before it fires.
        let cancelled = kiln::spawn(async {
            kiln::time::sleep(Duration::from_secs(3600)).await;
            unreachable!("aborted before the timer fired");
        });
        cancelled.abort();
        assert!(cancelled.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn queue() {
    use kiln::sync::Queue;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    kiln::run(async {
        let queue = Arc::new(Queue::new(4)); // asyncio.Queue(maxsize=4)
        let total = Arc::new(AtomicU32::new(0));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (queue, total) = (queue.clone(), total.clone());
                kiln::spawn(async move {
                    // get() fails with QueueShutDown once the queue is shut down and empty
                    while let Ok(item) = queue.get().await {
                        total.fetch_add(item, Ordering::Relaxed);
                        queue.task_done();
                    }
                })
            })
            .collect();
        for i in 1..=10 {
            queue.put(i).await.unwrap(); // waits while the queue is full
        }
        queue.join().await; // every item was taken and marked done
        queue.shutdown(false); // Python 3.13: queue.shutdown(); the workers' get() now fails
        assert!(queue.put(11).await.is_err()); // put after shutdown hands the item back
        for worker in workers {
            worker.await.unwrap();
        }
        assert_eq!(total.load(Ordering::Relaxed), 55);
    });
}

#[test]
fn lock() {
    use futures::future::join_all;
    use kiln::sync::Mutex;
    use std::sync::Arc;

    kiln::run(async {
        let counter = Arc::new(Mutex::new(0)); // asyncio.Lock, guarding its data
        let tasks = (0..10).map(|_| {
            let counter = counter.clone();
            kiln::spawn(async move {
                let mut guard = counter.lock().await; // async with lock:
                *guard += 1;
                kiln::task::yield_now().await; // still held across the await
            }) // released when the guard drops
        });
        join_all(tasks).await;
        assert_eq!(*counter.lock().await, 10);
    });
}

#[test]
fn semaphore() {
    use futures::future::join_all;
    use kiln::sync::Semaphore;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    kiln::run(async {
        let sem = Arc::new(Semaphore::new(2)); // asyncio.Semaphore(2)
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks = (0..8).map(|_| {
            let (sem, inside) = (sem.clone(), inside.clone());
            kiln::spawn(async move {
                let _permit = sem.acquire().await.unwrap(); // async with sem:
                assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
                kiln::task::yield_now().await;
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for res in join_all(tasks).await {
            res.unwrap();
        }
    });
}

#[test]
fn event() {
    use kiln::sync::Event;
    use std::sync::Arc;

    kiln::run(async {
        let ready = Arc::new(Event::new()); // asyncio.Event()
        let waiter = {
            let ready = ready.clone();
            kiln::spawn(async move {
                ready.wait().await; // await event.wait()
                "released"
            })
        };
        ready.set(); // event.set()
        assert_eq!(waiter.await.unwrap(), "released");
        assert!(ready.is_set());
    });
}

#[test]
fn condition() {
    use kiln::sync::{Mutex, Notify};
    use std::sync::Arc;

    // asyncio.Condition = a lock + a notifier.
    struct Condition {
        items: Mutex<Vec<u32>>,
        changed: Notify,
    }

    kiln::run(async {
        let cond = Arc::new(Condition {
            items: Mutex::new(Vec::new()),
            changed: Notify::new(),
        });
        let consumer = {
            let cond = cond.clone();
            kiln::spawn(async move {
                // async with cond: await cond.wait_for(lambda: len(items) >= 3)
                loop {
                    let items = cond.items.lock().await;
                    if items.len() >= 3 {
                        return items.iter().sum::<u32>();
                    }
                    // Created before the lock is released, so no notification is missed.
                    let changed = cond.changed.notified();
                    drop(items);
                    changed.await;
                }
            })
        };
        for i in 1..=3 {
            cond.items.lock().await.push(i);
            cond.changed.notify_waiters(); // cond.notify_all()
        }
        assert_eq!(consumer.await.unwrap(), 6);
    });
}

#[test]
fn run_in_executor() {
    kiln::run(async {
        // loop.run_in_executor(None, blocking_fn) / asyncio.to_thread(blocking_fn)
        let digest = kiln::spawn_blocking(|| {
            std::thread::sleep(Duration::from_millis(5)); // blocking is fine here
            (1..=20u64).product::<u64>()
        })
        .await
        .unwrap();
        assert_eq!(digest, 2_432_902_008_176_640_000);
    });
}

#[test]
fn run_in_executor_with_an_executor() {
    use kiln::executor::ThreadPool;

    // executor = ThreadPoolExecutor(max_workers=2)
    let pool = ThreadPool::builder()
        .threads(2)
        .queue_capacity(16)
        .build()
        .unwrap();
    kiln::run(async {
        // await loop.run_in_executor(executor, checksum, data)
        let data = vec![7u8; 1 << 16];
        let sum = pool.spawn(move || data.iter().map(|&b| u64::from(b)).sum::<u64>());
        assert_eq!(sum.await.unwrap(), 7 << 16);

        // executor.map(fn, items): parallel, results in input order.
        let mut lengths = pool.map(["a", "bb", "ccc"], |s: &str| s.len());
        let mut out = Vec::new();
        while let Some(len) = lengths.next().await {
            out.push(len.unwrap());
        }
        assert_eq!(out, vec![1, 2, 3]);

        // Backpressure: waits while 16 jobs are queued, then queues this one.
        let job = pool.spawn_wait(|| "queued when there was room").await;
        assert_eq!(job.await.unwrap(), "queued when there was room");
    });
}

#[test]
fn process_pool_executor() {
    fn count_primes(range: std::ops::Range<u32>) -> usize {
        range
            .filter(|&n| n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
            .count()
    }

    kiln::run(async {
        // with ProcessPoolExecutor() as pool: await loop.run_in_executor(pool, count_primes, ...)
        let chunks: Vec<_> = (0..4u32)
            .map(|i| kiln::spawn_compute(move || count_primes(i * 25_000..(i + 1) * 25_000)))
            .collect();
        let mut primes = 0;
        for chunk in chunks {
            primes += chunk.await.unwrap();
        }
        assert_eq!(primes, 9592); // primes below 100 000
    });
}

#[test]
fn shield() {
    use kiln::sync::oneshot;

    kiln::run(async {
        let (resume, resumed) = oneshot::channel::<()>();
        let (saved_tx, saved) = oneshot::channel::<&str>();
        // await asyncio.wait_for(asyncio.shield(save()), timeout=0.01)
        let save = kiln::spawn(async move {
            resumed.await.unwrap(); // still busy when the wait below gives up
            saved_tx.send("saved").unwrap();
        });
        let waited = kiln::time::timeout(Duration::from_millis(10), save).await;
        assert!(waited.is_err()); // the wait was cancelled and the handle dropped ...
        resume.send(()).unwrap();
        assert_eq!(saved.await.unwrap(), "saved"); // ... but the shielded task ran to the end
    });
}

#[test]
fn future_and_ensure_future() {
    use kiln::sync::oneshot;

    kiln::run(async {
        // fut = loop.create_future(); later: fut.set_result(42)
        let (tx, fut) = oneshot::channel::<u32>();
        kiln::spawn(async move {
            kiln::time::sleep(Duration::from_millis(1)).await;
            tx.send(42).unwrap();
        });
        assert_eq!(fut.await.unwrap(), 42);

        // A future whose setter went away without a result: the await fails, like cancel().
        let (tx, fut) = oneshot::channel::<u32>();
        drop(tx);
        assert!(fut.await.is_err());

        // task = asyncio.ensure_future(coro()): scheduled now, awaited later.
        let task = kiln::spawn(async { "scheduled at once" });
        assert_eq!(task.await.unwrap(), "scheduled at once");
    });
}

#[test]
fn task_group() {
    use kiln::task::TaskGroup;

    kiln::run(async {
        // async with asyncio.TaskGroup() as tg: tg.create_task(...)
        let results = kiln::task::group(|tg| async move {
            for i in 1..=3u32 {
                tg.spawn(async move { Ok::<_, std::io::Error>(i * 2) });
            }
        })
        .await
        .unwrap();
        assert_eq!(results, vec![2, 4, 6]); // spawn order

        // The first failure cancels the siblings and is returned once they are all done.
        let tg = TaskGroup::<(), String>::new();
        tg.spawn(async {
            kiln::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        tg.spawn(async { Err("boom".to_string()) });
        let err = tg.join().await.unwrap_err();
        assert!(err.is_failed());
        assert_eq!(err.into_error(), "boom");
    });
}

#[test]
fn tuning_builder() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(4) // default: one per CPU
        .max_blocking_threads(64) // default: 512
        .blocking_keep_alive(Duration::from_secs(30)) // default: 10 s
        .thread_name("api-worker") // default: "kiln-worker"
        .event_interval(31) // default: 61 ticks
        .global_queue_interval(61) // default: 61 ticks
        .slow_poll_threshold(Duration::from_millis(50)) // default: off
        .build()
        .unwrap();
    let m = rt.metrics();
    assert_eq!(m.num_workers(), 4);
    rt.block_on(async {
        kiln::spawn(async {}).await.unwrap();
    });
    rt.shutdown_timeout(Duration::from_secs(5));
}

#[test]
fn add_signal_handler() {
    use kiln::signal::unix::{signal, SignalKind};

    kiln::run(async {
        // loop.add_signal_handler(signal.SIGUSR1, on_usr1)
        let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
        let handler = kiln::spawn(async move {
            usr1.recv().await; // the callback's body runs here, in a task
            "got SIGUSR1"
        });
        // Another process would send it; here we send it to ourselves with kill(1).
        while !handler.is_finished() {
            let me = std::process::id().to_string();
            let kill = kiln::process::Command::new("kill")
                .args(["-USR1", &me])
                .status()
                .await;
            assert!(kill.unwrap().success());
            kiln::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(handler.await.unwrap(), "got SIGUSR1");
    });
}

#[test]
fn create_subprocess_exec() {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use kiln::process::Command;
    use std::process::Stdio;

    kiln::run(async {
        // proc = await asyncio.create_subprocess_exec("tr", "a-z", "A-Z", stdin=PIPE, stdout=PIPE)
        let mut child = Command::new("tr")
            .args(["a-z", "A-Z"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello").await.unwrap();
        drop(stdin); // proc.stdin.close()
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        assert_eq!(out, "HELLO");
        assert!(child.wait().await.unwrap().success()); // await proc.wait()

        // stdout, stderr = await proc.communicate()
        let out = Command::new("sh")
            .args(["-c", "echo hi; exit 3"])
            .output()
            .await
            .unwrap();
        assert_eq!((out.stdout, out.status.code()), (b"hi\n".to_vec(), Some(3)));
    });
}

/// Checks that each ```rust block of `guide` is the body of a test in this file; returns how
/// many blocks it found.
fn check_blocks(name: &str, guide: &str) -> usize {
    let tests = include_str!("docs_asyncio.rs");
    let mut blocks = 0;
    let mut rest = guide;
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body
            .find("```\n")
            .unwrap_or_else(|| panic!("unterminated code block in {name}"));
        let block = &body[..end];
        let indented: String = block
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_string()
                } else {
                    format!("    {l}\n")
                }
            })
            .collect();
        assert!(
            tests.contains(&indented),
            "this block of {name} is not the body of a test in tests/docs_asyncio.rs:\n{block}"
        );
        blocks += 1;
        rest = &body[end..];
    }
    blocks
}

/// Every ```rust block of the guides is the body of one test above.
#[test]
fn guide_blocks_match_these_tests() {
    let asyncio = check_blocks("docs/asyncio.md", include_str!("../docs/asyncio.md"));
    assert!(asyncio >= 23, "expected one block per row, found {asyncio}");
    let tuning = check_blocks("docs/tuning.md", include_str!("../docs/tuning.md"));
    assert_eq!(tuning, 1, "docs/tuning.md");
}
