//! A worker fed one socket event at a time still takes a blocked sibling's queued tasks.
//!
//! Two tasks on worker X ping-pong one byte over a loopback connection whose both ends are
//! registered with X's poller: each time X runs out of tasks, its own sockets hold exactly
//! one new event, so X never runs dry. Worker Y queues tasks and then blocks its thread.
//! Those tasks can only run if X steals them before harvesting its own next event.
//!
//! Getting a task onto Y: a task spawned from outside the runtime usually lands on X, which
//! looks at the injection queue whenever its own queue is empty, before the sleeping Y has
//! woken. So a task that finds itself on X hands over: it queues a few candidates behind
//! itself and blocks X for a moment, and Y, woken for that surplus, takes them.

use futures::{AsyncReadExt, AsyncWriteExt};
use kiln::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Echoes single bytes on `s` until `stop`, noting the thread it runs on.
async fn ping_pong(
    mut s: TcpStream,
    first: bool,
    stop: Arc<AtomicBool>,
    on: Arc<Mutex<Option<ThreadId>>>,
) {
    let mut b = [0u8; 1];
    if first {
        s.write_all(b"x").await.unwrap();
    }
    while !stop.load(SeqCst) {
        // The peer may stop first and close its end.
        if s.read_exact(&mut b).await.is_err() {
            return;
        }
        *on.lock().unwrap() = Some(std::thread::current().id());
        if s.write_all(&b).await.is_err() {
            return;
        }
    }
}

type Ping = Arc<Mutex<Option<ThreadId>>>;

/// On the worker not running the ping-pong: queues five tasks there, then blocks this thread
/// (bounded) until the busy sibling has run two of them. Returns how many ran and how long
/// it blocked; `None` on the ping-pong's worker.
async fn block_beside(on: Ping) -> Option<(usize, Duration)> {
    if *on.lock().unwrap() == Some(std::thread::current().id()) {
        return None;
    }
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let ran = ran.clone();
        kiln::spawn(async move {
            ran.fetch_add(1, SeqCst);
        });
    }
    let start = Instant::now();
    while ran.load(SeqCst) < 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    Some((ran.load(SeqCst), start.elapsed()))
}

/// [`block_beside`], handed over to the other worker when this task runs on the ping-pong's
/// (module docs).
async fn block_beside_or_hand_over(on: Ping) -> Option<(usize, Duration)> {
    if let Some(outcome) = block_beside(on.clone()).await {
        return Some(outcome);
    }
    let candidates: Vec<_> = (0..4)
        .map(|_| kiln::spawn(block_beside(on.clone())))
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    let mut outcome = None;
    for c in candidates {
        outcome = outcome.or(c.await.unwrap());
    }
    outcome
}

#[test]
fn a_worker_busy_with_one_event_at_a_time_takes_a_blocked_siblings_backlog() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let on = Arc::new(Mutex::new(None));
        let (stop2, on2) = (stop.clone(), on.clone());
        // Both ends are created on one worker, X, so their events reach X's poller and wake
        // the ping-pong tasks there.
        let pinger = kiln::spawn(async move {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            let s = TcpStream::from_std(s.into_std().unwrap()).unwrap();
            let a = kiln::spawn(ping_pong(c, true, stop2.clone(), on2.clone()));
            let b = kiln::spawn(ping_pong(s, false, stop2, on2));
            a.await.unwrap();
            b.await.unwrap();
        });
        while on.lock().unwrap().is_none() {
            kiln::time::sleep(Duration::from_millis(5)).await;
        }
        kiln::time::sleep(Duration::from_millis(50)).await;
        let mut outcome = None;
        for _ in 0..50 {
            // From outside the workers; whichever worker takes it, the test reaches Y (or,
            // should the ping-pong have moved meanwhile, tries again).
            let blocker = kiln::spawn(block_beside_or_hand_over(on.clone()));
            if let Some(r) = blocker.await.unwrap() {
                outcome = Some(r);
                break;
            }
            kiln::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, SeqCst);
        let (ran, waited) = outcome.expect("the blocking task never ran beside the ping-pong");
        assert!(
            ran >= 2,
            "the busy worker left its blocked sibling's queue alone for {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
        // The ping-pong ends with the runtime.
        drop(pinger);
    });
}
