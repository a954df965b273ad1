//! A guided tour of kiln for people who know Python's asyncio.
//!
//! Run it with `cargo run --release --example tour`. Each section prints what it does and the
//! asyncio call it corresponds to.

use futures::future::join_all;
use kiln::sync::Queue;
use kiln::time::{sleep, timeout, Duration, Instant};
use std::sync::Arc;

fn section(title: &str) {
    println!("\n== {title} ==");
}

async fn fetch(id: u32, delay_ms: u64) -> String {
    sleep(Duration::from_millis(delay_ms)).await;
    format!("response #{id} after {delay_ms} ms")
}

/// A CPU-heavy job: count the primes below `n` the slow way.
fn count_primes(n: u64) -> usize {
    (2..n)
        .filter(|&k| (2..k).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count()
}

async fn tour() {
    section("spawn: asyncio.create_task");
    let handle = kiln::spawn(async { 6 * 7 });
    println!("spawned task {} -> {}", handle.id(), handle.await.unwrap());

    section("gather: asyncio.gather (futures::future::join_all over JoinHandles)");
    let start = Instant::now();
    let handles: Vec<_> = (1..=5)
        .map(|i| kiln::spawn(fetch(i, 10 * u64::from(i))))
        .collect();
    for r in join_all(handles).await {
        println!("  {}", r.unwrap());
    }
    println!(
        "  five fetches, concurrently, in {:?} (the slowest alone is 50 ms)",
        start.elapsed()
    );

    section("yield: await asyncio.sleep(0)");
    let counter = kiln::spawn(async {
        let mut n = 0;
        for _ in 0..1000 {
            n += 1;
            kiln::task::yield_now().await;
        }
        n
    });
    println!(
        "  a task that yielded 1000 times counted to {}",
        counter.await.unwrap()
    );

    section("sleep: asyncio.sleep, with microsecond precision");
    for us in [250u64, 1_000, 5_000] {
        let t = Instant::now();
        sleep(Duration::from_micros(us)).await;
        println!("  asked for {us} µs, slept {} µs", t.elapsed().as_micros());
    }

    section("timeout: asyncio.wait_for");
    match timeout(Duration::from_millis(20), fetch(99, 1_000)).await {
        Ok(r) => println!("  finished: {r}"),
        Err(e) => println!("  gave up: {e} (the inner future was dropped)"),
    }
    let quick = timeout(Duration::from_millis(200), fetch(7, 5))
        .await
        .unwrap();
    println!("  in time: {quick}");

    section("spawn_blocking: loop.run_in_executor(None, f)");
    let ticker = kiln::spawn(async {
        let mut ticks = 0;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(100) {
            sleep(Duration::from_millis(10)).await;
            ticks += 1;
        }
        ticks
    });
    let primes = kiln::spawn_blocking(|| count_primes(200_000))
        .await
        .unwrap();
    println!("  {primes} primes below 200000, computed on the blocking pool");
    println!(
        "  meanwhile the event loop kept ticking: {} ticks of 10 ms",
        ticker.await.unwrap()
    );

    section("abort: task.cancel()");
    let forever = kiln::spawn(std::future::pending::<()>());
    forever.abort();
    println!("  cancelled: {}", forever.await.unwrap_err().is_cancelled());

    section("Queue: producers, workers, queue.join(), then cancel the workers");
    let queue = Arc::new(Queue::new(8));
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let q = queue.clone();
            kiln::spawn(async move {
                let mut done = 0u32;
                loop {
                    let job: u64 = q.get().await.expect("the queue stays open");
                    sleep(Duration::from_micros(job * 100)).await;
                    done += 1;
                    q.task_done();
                    if done % 10 == 0 {
                        println!("  worker {w} finished {done} jobs");
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let q = queue.clone();
            kiln::spawn(async move {
                for job in 0..20u64 {
                    q.put(job % 7 + p).await.expect("the queue stays open");
                }
            })
        })
        .collect();
    join_all(producers).await;
    queue.join().await;
    println!("  queue.join() returned: all 40 jobs are done");
    for w in &workers {
        w.abort();
    }
    let cancelled = join_all(workers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.is_cancelled()))
        .count();
    println!("  {cancelled} idle workers cancelled");

    section("panics are caught: the worker thread lives on");
    let err = kiln::spawn(async { panic!("boom") }).await.unwrap_err();
    println!("  JoinError: {err}");
    println!(
        "  and the runtime still runs tasks: {}",
        kiln::spawn(async { "ok" }).await.unwrap()
    );
}

fn main() {
    // Quiet the default panic message for the deliberate panic above.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"boom") {
            default_hook(info);
        }
    }));
    let start = Instant::now();
    kiln::run(tour());
    println!("\ntour finished in {:?}", start.elapsed());
}
