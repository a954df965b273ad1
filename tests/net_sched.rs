//! Networking and the scheduler: readiness across task migration, I/O of a worker stuck in a
//! long task, and the cooperative budget on an always-ready connection.

mod common;

use futures::{AsyncReadExt, AsyncWriteExt};
use kiln::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rt(workers: usize) -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// A connected pair; both ends registered on the calling thread's worker.
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

#[test]
fn readiness_follows_migrating_tasks() {
    // Streams are created on one worker and handed to tasks that hop between workers
    // (yielding puts them back in a queue siblings steal from).
    rt(3).block_on(async {
        let tasks: Vec<_> = (0..32u32)
            .map(|i| {
                kiln::spawn(async move {
                    let (mut c, s) = pair().await;
                    let server = kiln::spawn(async move {
                        let (mut r, mut w) = s.into_split();
                        futures::io::copy(&mut r, &mut w).await.unwrap();
                    });
                    let mut threads = std::collections::HashSet::new();
                    for j in 0..50u32 {
                        threads.insert(std::thread::current().id());
                        let msg = [i.to_le_bytes(), j.to_le_bytes()].concat();
                        c.write_all(&msg).await.unwrap();
                        kiln::task::yield_now().await;
                        let mut back = [0u8; 8];
                        c.read_exact(&mut back).await.unwrap();
                        assert_eq!(&back[..], &msg[..]);
                    }
                    drop(c);
                    server.await.unwrap();
                    threads.len()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap() >= 1);
        }
    });
}

#[test]
fn io_of_a_busy_worker_is_serviced_by_its_idle_sibling() {
    // A task on worker A accepts the server end (registered with A's poller), parks it in a
    // shared slot, then spins without yielding. The echo task runs on the idle worker B; only
    // B can notice the socket's readiness while A spins.
    echo_while_a_worker_spins(false);
}

#[test]
fn io_of_a_stuck_worker_is_serviced_by_a_sibling_that_never_runs_out_of_tasks() {
    // As above, but B also runs a task that yields in a loop, so B never runs out of tasks
    // and never searches: its maintenance ticks must harvest A's sockets.
    echo_while_a_worker_spins(true);
}

/// Worker A spins in one poll while its socket receives data; the echo task (on worker B)
/// must answer before A's spin ends. With `keep_sibling_busy`, B also runs a task that
/// yields until the echo is done.
fn echo_while_a_worker_spins(keep_sibling_busy: bool) {
    let rt = rt(2);
    rt.block_on(async move {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let slot: Arc<Mutex<Option<TcpStream>>> = Arc::new(Mutex::new(None));
        let done = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(AtomicBool::new(false));
        let (slot2, done2, taken3) = (slot.clone(), done.clone(), taken.clone());
        let busy = kiln::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            // `accept` registers a stream with the worker on the CPU that received it, which
            // may be B: re-register it here, on A.
            let s = TcpStream::from_std(s.into_std().unwrap()).unwrap();
            *slot2.lock().unwrap() = Some(s);
            // Spin only once the echo task waits on the socket (not sitting in this worker's
            // unstealable LIFO slot).
            while !taken3.load(SeqCst) {
                kiln::time::sleep(Duration::from_millis(1)).await;
            }
            let start = Instant::now();
            // A long CPU-bound section that never yields (bounded for safety).
            while !done2.load(SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop();
            }
            (start.elapsed(), std::thread::current().id())
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (slot3, done3, taken2) = (slot.clone(), done.clone(), taken.clone());
        let echo = kiln::spawn(async move {
            let mut s = loop {
                if let Some(s) = slot3.lock().unwrap().take() {
                    taken2.store(true, SeqCst);
                    break s;
                }
                kiln::time::sleep(Duration::from_millis(1)).await;
            };
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&buf[..n]).await.unwrap();
            done3.store(true, SeqCst);
            std::thread::current().id()
        });
        // Let the busy task take its stream and start spinning.
        while !taken.load(SeqCst) {
            kiln::time::sleep(Duration::from_millis(5)).await;
        }
        kiln::time::sleep(Duration::from_millis(20)).await;
        // Spawned once A spins, so it runs on B (bounded like the spin); the client writes
        // only once B is deep in it.
        let yielder = keep_sibling_busy.then(|| common::spawn_yielder(done.clone()));
        if let Some((_, yields)) = &yielder {
            while yields.load(SeqCst) < 10_000 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let t0 = Instant::now();
        client.write_all(b"while busy").await.unwrap();
        let mut back = [0u8; 10];
        client.read_exact(&mut back).await.unwrap();
        let echo_latency = t0.elapsed();
        assert_eq!(&back, b"while busy");
        let echo_thread = echo.await.unwrap();
        let (spin_time, spin_thread) = busy.await.unwrap();
        assert!(done.load(SeqCst));
        assert_ne!(echo_thread, spin_thread, "the echo ran on the idle worker");
        if let Some((yielder, _)) = yielder {
            yielder.await.unwrap();
        }
        // Generous: the spin would last 10 s if nobody serviced the busy worker's poller.
        assert!(
            spin_time < Duration::from_secs(5),
            "spin lasted {spin_time:?}"
        );
        eprintln!("echo latency while a worker spins: {echo_latency:?}");
    });
}

#[test]
fn an_always_ready_connection_does_not_starve_its_worker() {
    // One worker: a reader that always finds data must still let another task run.
    let rt = rt(1);
    rt.block_on(async {
        let (c, s) = pair().await;
        let std_c = c.into_std().unwrap();
        std_c.set_nonblocking(false).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let flooder = std::thread::spawn(move || {
            use std::io::Write;
            let mut c = std_c;
            let chunk = [7u8; 16 * 1024];
            while !stop2.load(SeqCst) {
                if c.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let stop3 = stop.clone();
        let reads = Arc::new(AtomicUsize::new(0));
        let r2 = reads.clone();
        let reader = kiln::spawn(async move {
            let mut s = s;
            let mut buf = [0u8; 64];
            // Never awaits anything but the socket, which always has data.
            while !stop3.load(SeqCst) {
                if s.read(&mut buf).await.unwrap() == 0 {
                    break;
                }
                r2.fetch_add(1, SeqCst);
            }
        });
        // The only other task on the reader's worker; it starts counting once the reader runs.
        let r3 = reads.clone();
        let ticker = kiln::spawn(async move {
            while r3.load(SeqCst) == 0 {
                kiln::task::yield_now().await;
            }
            for _ in 0..20 {
                kiln::task::yield_now().await;
            }
        });
        let ok = kiln::time::timeout(Duration::from_secs(20), ticker).await;
        stop.store(true, SeqCst);
        assert!(ok.is_ok(), "the ticker starved behind the reader");
        assert!(reads.load(SeqCst) > 0);
        reader.await.unwrap();
        flooder.join().unwrap();
    });
}
