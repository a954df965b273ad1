//! Paused time on the current-thread runtime: `Builder::start_paused`, `kiln::time::{pause,
//! resume, advance, now}` and auto-advance (the clock jumps to the next timer deadline when
//! every task is idle, never while a blocking job runs).

use std::sync::{Arc, Mutex};
use std::time::Duration;

fn paused_rt() -> kiln::Runtime {
    kiln::Builder::new_current_thread()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn an_hour_long_sleep_returns_at_once_and_the_clock_shows_the_hour() {
    let wall = std::time::Instant::now();
    let slept = paused_rt().block_on(async {
        let start = kiln::time::now();
        kiln::time::sleep(Duration::from_secs(3600)).await;
        kiln::time::now() - start
    });
    assert!(slept >= Duration::from_secs(3600), "{slept:?}");
    assert!(slept < Duration::from_secs(3601), "{slept:?}");
    // Generous: only checks that no real hour (or minute) passed.
    assert!(wall.elapsed() < Duration::from_secs(60));
}

#[test]
fn timeout_fires_deterministically_in_deadline_order() {
    for _ in 0..20 {
        let events = paused_rt().block_on(async {
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for (name, secs) in [("c", 30u64), ("a", 10), ("b", 20)] {
                let log = log.clone();
                tasks.push(kiln::spawn(async move {
                    kiln::time::sleep(Duration::from_secs(secs)).await;
                    log.lock().unwrap().push(name);
                }));
            }
            let slow = kiln::time::sleep(Duration::from_secs(3600));
            let out = kiln::time::timeout(Duration::from_secs(25), slow).await;
            assert!(out.is_err(), "the 25 s timeout fires before the 1 h sleep");
            log.lock().unwrap().push("timeout");
            for t in tasks {
                t.await.unwrap();
            }
            let v = log.lock().unwrap().clone();
            v
        });
        assert_eq!(events, ["a", "b", "timeout", "c"]);
    }
}

#[test]
fn timeout_of_a_ready_future_does_not_fire() {
    let out = paused_rt().block_on(async {
        kiln::time::timeout(Duration::from_secs(1), async {
            kiln::time::sleep(Duration::from_millis(999)).await;
            7
        })
        .await
    });
    assert_eq!(out, Ok(7));
}

#[test]
fn pause_advance_resume_move_the_clock_as_told() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        kiln::time::pause();
        let t0 = kiln::time::now();
        let sleeper = kiln::spawn(kiln::time::sleep(Duration::from_secs(10)));
        kiln::task::yield_now().await; // the sleeper registers its timer
        kiln::time::advance(Duration::from_secs(9)).await;
        assert_eq!(kiln::time::now() - t0, Duration::from_secs(9));
        assert!(!sleeper.is_finished());
        kiln::time::advance(Duration::from_secs(1)).await;
        assert!(sleeper.is_finished());
        kiln::time::resume();
        let t1 = kiln::time::now();
        assert!(t1 >= t0 + Duration::from_secs(10));
        // Running again: a short real sleep takes real time and the clock follows it.
        kiln::time::sleep(Duration::from_millis(5)).await;
        assert!(kiln::time::now() >= t1 + Duration::from_millis(5));
    });
}

#[test]
fn the_clock_waits_for_a_running_blocking_job() {
    let got = paused_rt().block_on(async {
        let start = kiln::time::now();
        let job = kiln::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)));
        // Both wait: the timeout may fire only if the clock jumps while the job runs.
        let out = kiln::time::timeout(Duration::from_secs(1), job).await;
        (out.is_ok(), kiln::time::now() - start)
    });
    assert!(got.0, "the clock jumped while a blocking job ran");
    assert!(got.1 < Duration::from_secs(1), "{:?}", got.1);
}

#[test]
fn the_clock_waits_for_a_running_compute_job() {
    let got = paused_rt().block_on(async {
        let start = kiln::time::now();
        let job = kiln::spawn_compute(|| std::thread::sleep(Duration::from_millis(50)));
        // The timeout may fire only if the clock jumps while the job is queued or runs.
        let out = kiln::time::timeout(Duration::from_secs(1), job).await;
        (out.is_ok(), kiln::time::now() - start)
    });
    assert!(got.0, "the clock jumped while a compute job ran");
    assert!(got.1 < Duration::from_secs(1), "{:?}", got.1);
}

#[test]
fn interval_ticks_on_the_paused_grid() {
    let ticks = paused_rt().block_on(async {
        let start = kiln::time::now();
        let mut interval = kiln::time::interval(Duration::from_secs(60));
        let mut at = Vec::new();
        for _ in 0..4 {
            interval.tick().await;
            at.push((kiln::time::now() - start).as_secs());
        }
        at
    });
    assert_eq!(ticks, [0, 60, 120, 180]);
}

#[test]
#[should_panic(expected = "needs the current-thread flavor")]
fn start_paused_on_multi_thread_panics_with_a_clear_message() {
    kiln::Builder::new_multi_thread().start_paused(true);
}

#[test]
#[should_panic(expected = "paused time is supported only on the current-thread runtime")]
fn pause_on_a_multi_thread_runtime_panics_with_a_clear_message() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async { kiln::time::pause() });
}

#[test]
#[should_panic(expected = "the clock is not paused")]
fn advance_without_pause_panics_with_a_clear_message() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    rt.block_on(async { kiln::time::advance(Duration::from_secs(1)).await });
}

#[test]
fn io_is_polled_before_the_clock_jumps() {
    use futures::{AsyncReadExt, AsyncWriteExt};
    let got = paused_rt().block_on(async {
        let (mut a, mut b) = kiln::net::UnixStream::pair().unwrap();
        let writer = kiln::spawn(async move {
            kiln::time::sleep(Duration::from_secs(10)).await;
            a.write_all(b"ping").await.unwrap();
            a
        });
        let start = kiln::time::now();
        let mut buf = [0u8; 4];
        // The clock jumps to 10 s (the writer's sleep); the write's readiness is seen by the
        // non-blocking poll before the next jump, so the 20 s timeout does not fire.
        let read = kiln::time::timeout(Duration::from_secs(20), b.read_exact(&mut buf)).await;
        let _a = writer.await.unwrap();
        (read.is_ok(), buf, kiln::time::now() - start)
    });
    assert!(got.0, "the clock jumped past a ready read");
    assert_eq!(&got.1, b"ping");
    assert_eq!(got.2, Duration::from_secs(10));
}

#[test]
fn io_that_needs_real_time_does_not_hold_the_clock() {
    use futures::AsyncReadExt;
    use std::io::Write;
    let (mut theirs, ours) = std::os::unix::net::UnixStream::pair().unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    // A peer outside the runtime that answers only when told to.
    let peer = std::thread::spawn(move || {
        wait.recv().unwrap();
        theirs.write_all(b"late").unwrap();
    });
    let (timed_out, buf) = paused_rt().block_on(async {
        let mut ours = kiln::net::UnixStream::from_std(ours).unwrap();
        let mut buf = [0u8; 4];
        let first = kiln::time::timeout(Duration::from_secs(5), ours.read_exact(&mut buf)).await;
        go.send(()).unwrap();
        ours.read_exact(&mut buf).await.unwrap();
        (first.is_err(), buf)
    });
    assert!(
        timed_out,
        "a paused clock waits for no I/O: the 5 s timeout fires at once"
    );
    assert_eq!(&buf, b"late");
    peer.join().unwrap();
}
