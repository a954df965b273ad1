//! Tests of the Linux side of `sys`: the scheduling hints reach the runtime's threads, the
//! socket probes answer, and a raw harvest reads `polling`'s key encoding.

use super::super::{current_nice, request_time_slice, runnable_threads, set_nice_above};
use std::time::Duration;

#[test]
fn slice_request_keeps_policy_and_nice() {
    std::thread::spawn(|| {
        let before = linux_attr();
        request_time_slice(Duration::from_micros(100));
        let after = linux_attr();
        if let (Some(before), Some(after)) = (before, after) {
            assert_eq!(before.0, after.0, "policy unchanged");
            assert_eq!(before.1, after.1, "nice unchanged");
        }
    })
    .join()
    .unwrap();
}

#[test]
fn nice_is_raised_once_for_this_thread_only() {
    let outside = current_nice();
    std::thread::spawn(move || {
        let base = current_nice().unwrap();
        set_nice_above(base, 3);
        assert_eq!(current_nice(), Some((base + 3).min(19)));
        // A thread started from this one inherits the value; the target is absolute.
        std::thread::spawn(move || {
            set_nice_above(base, 3);
            assert_eq!(current_nice(), Some((base + 3).min(19)));
        })
        .join()
        .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(
        current_nice(),
        outside,
        "other threads keep their nice value"
    );
}

#[test]
fn a_loadavg_text_parses_only_in_its_own_format() {
    use super::parse_loadavg as p;
    assert_eq!(p("0.52 0.58 0.59 3/1234 56789\n"), Some(3));
    assert_eq!(p("12.00 7.50 3.25 17/402 1"), Some(17));
    // Other files a reused descriptor could read.
    assert_eq!(p(""), None);
    assert_eq!(p("hello world\n"), None);
    assert_eq!(
        p("1234 (sh) S 1 1234 1234 0 -1 4194560 153 0 0 0 0 0 0 0 20 0 1"),
        None
    );
    assert_eq!(p("0.52 0.58 0.59 3/1234 56789 extra"), None);
    assert_eq!(p("0.52 0.58 0.59 3 56789"), None);
    assert_eq!(p("0.52 0.58 x 3/1234 56789"), None);
}

#[test]
fn a_kept_descriptor_that_reads_as_another_file_is_replaced_without_closing_it() {
    use super::read_kept;
    use std::sync::Mutex;
    let dir = std::env::temp_dir().join(format!("kiln-loadavg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let loadavg = dir.join("loadavg");
    let other = dir.join("other");
    std::fs::write(&loadavg, "0.10 0.20 0.30 4/99 1000\n").unwrap();
    std::fs::write(&other, "not a load average\n").unwrap();

    // First use: opened and kept.
    let slot = Mutex::new(None);
    assert_eq!(read_kept(&slot, &loadavg), Some(4));
    assert!(slot.lock().unwrap().is_some(), "the file is kept open");
    // Kept: read again from the start, with the text as it is now.
    std::fs::write(&loadavg, "0.10 0.20 0.30 7/99 1000\n").unwrap();
    assert_eq!(read_kept(&slot, &loadavg), Some(7));

    // The kept number now reads as another file (the program closed it and the number was
    // reused): the path is opened again, and the other file stays open for its owner.
    let owner = std::fs::File::open(&other).unwrap();
    // SAFETY: a second `File` on the owner's descriptor stands for the kept number that now
    // belongs to someone else. `read_kept` must forget it, never close it: if it closed it,
    // the owner's read below fails and the test with it (and the owner's own close then
    // aborts the test binary: std checks for closing a closed descriptor in debug builds).
    let hijacked = Mutex::new(Some(unsafe {
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::AsRawFd::as_raw_fd(
            &owner,
        ))
    }));
    assert_eq!(read_kept(&hijacked, &loadavg), Some(7));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &owner, &mut text).unwrap();
    assert_eq!(
        text, "not a load average\n",
        "the owner's descriptor still reads"
    );

    // A path whose text never parses: nothing is kept.
    let slot = Mutex::new(None);
    assert_eq!(read_kept(&slot, &other), None);
    assert!(slot.lock().unwrap().is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runnable_threads_counts_the_caller_at_every_read() {
    // The file stays open between reads: each must start again at its beginning (a plain
    // read of the kept file would find the end and give nothing the second time).
    for _ in 0..3 {
        let n = runnable_threads().expect("/proc/loadavg gives a runnable count");
        assert!(n >= 1, "the calling thread is runnable");
    }
}

/// The calling thread's time slice as the kernel reports it.
fn time_slice() -> Option<Duration> {
    let sched = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
    let line = sched.lines().find(|l| l.starts_with("se.slice"))?;
    let ns = line.rsplit(':').next()?.trim().parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Whether this kernel honours slice requests (a plain thread tries one).
fn slices_supported() -> bool {
    std::thread::spawn(|| {
        request_time_slice(Duration::from_micros(300));
        time_slice() == Some(Duration::from_micros(300))
    })
    .join()
    .unwrap()
}

/// A thread's `(nice, time slice)`.
type Settings = (Option<i32>, Option<Duration>);

/// The settings seen on a worker and on a blocking-pool thread of `rt`.
fn worker_and_pool_settings(rt: &crate::Runtime) -> (Settings, Settings) {
    rt.block_on(async {
        let worker = crate::spawn(async { (current_nice(), time_slice()) })
            .await
            .unwrap();
        let pool = crate::spawn_blocking(|| (current_nice(), time_slice()))
            .await
            .unwrap();
        (worker, pool)
    })
}

#[test]
fn runtime_threads_get_their_scheduling_settings() {
    let base = current_nice().unwrap();
    let rt = crate::Builder::new_multi_thread()
        .worker_threads(1)
        .worker_time_slice(Duration::from_micros(200))
        .blocking_time_slice(Duration::from_millis(50))
        .blocking_nice(4)
        .build()
        .unwrap();
    let default_slice = std::thread::spawn(time_slice).join().unwrap();
    let (worker, pool) = worker_and_pool_settings(&rt);
    // A thread a task starts does not inherit the worker's slice.
    let child = rt
        .block_on(rt.spawn(async { std::thread::spawn(time_slice).join().unwrap() }))
        .unwrap();
    assert_eq!(worker.0, Some(base), "workers keep their nice value");
    assert_eq!(child, default_slice);
    assert_eq!(pool.0, Some((base + 4).min(19)), "pool threads are nicer");
    if slices_supported() {
        assert_eq!(worker.1, Some(Duration::from_micros(200)));
        assert_eq!(pool.1, Some(Duration::from_millis(50)));
    }
    assert_eq!(
        current_nice(),
        Some(base),
        "the caller's thread is left alone"
    );
}

#[test]
fn zero_settings_leave_threads_alone() {
    let base = current_nice().unwrap();
    let default_slice = std::thread::spawn(time_slice).join().unwrap();
    let rt = crate::Builder::new_multi_thread()
        .worker_threads(1)
        .worker_time_slice(Duration::ZERO)
        .blocking_time_slice(Duration::ZERO)
        .blocking_nice(0)
        .build()
        .unwrap();
    let (worker, pool) = worker_and_pool_settings(&rt);
    assert_eq!(worker, (Some(base), default_slice));
    assert_eq!(pool, (Some(base), default_slice));
}

/// Spins until the calling thread has used `d` more CPU time.
fn burn_cpu(d: Duration) {
    let start = super::super::thread_cpu_time().expect("a thread CPU clock on Linux");
    while super::super::thread_cpu_time().unwrap() - start < d {
        std::hint::spin_loop();
    }
}

#[test]
fn a_pool_thread_holds_the_long_slice_only_after_a_job_shown_cpu_bound() {
    let long = Duration::from_millis(50);
    let rt = crate::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .blocking_cpu_slice(long)
        .build()
        .unwrap();
    let default_slice = std::thread::spawn(time_slice).join().unwrap();
    let supported = slices_supported();
    // Each job returns what its thread held when it started: the state and the slice.
    let job = |burn: Duration, sleep: Duration| {
        rt.block_on(rt.handle().spawn_blocking(move || {
            let held = (crate::blocking::holds_long(), time_slice());
            burn_cpu(burn);
            std::thread::sleep(sleep);
            held
        }))
        .unwrap()
    };
    let (zero, cpu_bound, wait) = (
        Duration::ZERO,
        Duration::from_millis(3),
        Duration::from_millis(5),
    );
    let short = (false, default_slice);
    let holding = (true, if supported { Some(long) } else { default_slice });
    // A fresh thread times its first job, which is judged by the wall clock alone: long, but
    // not shown CPU-bound, so the thread measures the next ones without the long slice.
    assert_eq!(job(cpu_bound, zero), short, "first job");
    assert_eq!(
        job(zero, wait),
        short,
        "after a CPU-bound job judged by the wall clock"
    );
    // Jobs that wait long but use little CPU never earn the long slice.
    assert_eq!(job(zero, wait), short, "after a measured waiting job");
    assert_eq!(job(cpu_bound, zero), short, "after two waiting jobs");
    assert_eq!(job(zero, zero), holding, "after a job shown CPU-bound");
    assert_eq!(job(zero, zero), short, "after a short job");
}

/// The calling thread's `(time slice, timer slack)`.
fn slice_and_slack() -> (Option<Duration>, Option<u64>) {
    (time_slice(), super::super::park::timer_slack())
}

/// The thread's settings as `rt.block_on` of a future sees them after one wait: for a 1 ms
/// timer it armed itself (`timed`: a timed wait, which the thread ends by firing it), or for a
/// wake-up from another thread 10 ms later. (A thread descheduled long enough before it
/// parks does not wait at all; callers retry until the settings show a wait.)
fn settings_after_a_wait(rt: &crate::Runtime, timed: bool) -> (Option<Duration>, Option<u64>) {
    use std::future::Future;
    let mut waited = false;
    let mut timer = None;
    rt.block_on(std::future::poll_fn(move |cx| {
        if waited {
            return std::task::Poll::Ready(slice_and_slack());
        }
        waited = true;
        if timed {
            let sleep = timer.insert(Box::pin(kiln_timer::sleep(Duration::from_millis(1))));
            if sleep.as_mut().poll(cx).is_pending() {
                return std::task::Poll::Pending;
            }
            // Already due (the thread was descheduled): an untimed wait, which the caller
            // tells by the slack.
        }
        let waker = cx.waker().clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            waker.wake();
        });
        std::task::Poll::Pending
    }))
}

#[test]
fn block_on_borrows_the_workers_settings_only_while_it_waits() {
    std::thread::spawn(|| {
        let slice = Duration::from_micros(200);
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(1)
            .worker_time_slice(slice)
            .build()
            .unwrap();
        let before = slice_and_slack();
        assert_ne!(
            before.1,
            Some(1),
            "a plain thread has the default timer slack"
        );
        let ready = rt.block_on(async { slice_and_slack() });
        assert_eq!(ready, before, "a future ready at once changes nothing");
        let timed = (0..100)
            .map(|_| settings_after_a_wait(&rt, true))
            .find(|s| s.1 == Some(1))
            .expect("a timed wait has a 1 ns timer slack");
        assert_eq!(slice_and_slack(), before, "both are given back after");
        if slices_supported() {
            assert_eq!(timed.0, Some(slice));
            let untimed = (0..100)
                .map(|_| settings_after_a_wait(&rt, false))
                .find(|s| s.0 == Some(slice))
                .expect("an untimed wait has the workers' time slice");
            assert_eq!(
                untimed.1, before.1,
                "the slack matters only to a timed wait"
            );
            assert_eq!(slice_and_slack(), before);
        }
    })
    .join()
    .unwrap();
}

fn linux_attr() -> Option<(u32, i32)> {
    super::policy_and_nice()
}

#[test]
fn a_loopback_stream_reports_the_cpu_that_sent_to_it() {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert!(super::incoming_cpu(s.as_fd()).is_some());
}

#[test]
fn a_raw_harvest_reads_the_keys_polling_registered() {
    use std::io::Write;
    let poller = polling::Poller::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    // SAFETY: `s` stays open until it is deleted below.
    unsafe { poller.add(&s, polling::Event::readable(7)) }.unwrap();
    c.write_all(b"x").unwrap();
    let mut events = super::IoEvents::with_capacity(4);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while events.fill(&poller) == 0 {
        assert!(std::time::Instant::now() < deadline, "no event within 10 s");
        std::thread::yield_now();
    }
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.key, e.readable, e.writable, e.read_closed))
        .collect();
    assert_eq!(got, [(7, true, false, false)]);
    poller.delete(&s).unwrap();
}

/// Harvests `poller` until it reports something (10 s at most).
fn harvest(poller: &polling::Poller) -> Vec<super::super::IoEvent> {
    let mut events = super::IoEvents::with_capacity(4);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while events.fill(poller) == 0 {
        assert!(std::time::Instant::now() < deadline, "no event within 10 s");
        std::thread::yield_now();
    }
    events.iter().collect()
}

#[test]
fn a_source_reports_the_peers_close() {
    use std::io::Write;
    use std::os::fd::AsFd;
    let poller = polling::Poller::new().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    // SAFETY: `s` stays open until it is deleted below.
    unsafe { super::add_source(&poller, s.as_fd(), 3) }.unwrap();
    // Registering reports the current state: writable, nothing to read.
    let first = harvest(&poller);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].key, 3);
    assert!(first[0].writable && !first[0].readable && !first[0].read_closed);
    c.write_all(b"x").unwrap();
    let data = harvest(&poller);
    assert!(data[0].readable && !data[0].read_closed, "data, no FIN yet");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let fin = harvest(&poller);
    assert!(fin[0].readable && fin[0].read_closed, "the FIN is reported");
    poller.delete(&s).unwrap();
}

#[test]
fn the_running_cpu_is_known() {
    assert_ne!(super::current_cpu(), usize::MAX);
}
