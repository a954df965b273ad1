//! A small threaded harness that drives real sleeps the way a worker loop does (park until
//! the driver's next deadline, process, repeat), and the tests that run sleeps through it
//! from many threads.

use crate::tests::{counting_waker, poll, MS};
use crate::{Driver, Unpark};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A stand-in for a worker: parks on a condvar until the driver's next deadline.
struct Parker {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Unpark for Parker {
    fn unpark(&self) {
        *self.notified.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

struct Harness {
    driver: Arc<Driver>,
    parker: Arc<Parker>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Harness {
    fn start() -> Harness {
        let parker = Arc::new(Parker {
            notified: Mutex::new(false),
            cv: Condvar::new(),
        });
        let driver = Arc::new(Driver::new(parker.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, p, s) = (driver.clone(), parker.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let deadline = d.before_park();
                let mut notified = p.notified.lock().unwrap();
                while !*notified {
                    match deadline {
                        Some(at) => {
                            let now = Instant::now();
                            if now >= at {
                                break;
                            }
                            notified = p.cv.wait_timeout(notified, at - now).unwrap().0;
                        }
                        None => notified = p.cv.wait(notified).unwrap(),
                    }
                }
                *notified = false;
                drop(notified);
                d.after_park();
                d.process();
            }
        });
        Harness {
            driver,
            parker,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.parker.unpark();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

#[test]
fn harness_drives_real_sleeps_from_many_threads() {
    let h = Harness::start();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let handle = h.driver.handle();
            std::thread::spawn(move || {
                for j in 0..20u32 {
                    let d = Duration::from_micros(50 + 137 * u64::from(i * 20 + j) % 3000);
                    let start = Instant::now();
                    let s = handle.sleep(d);
                    let deadline = s.deadline();
                    futures::executor::block_on(s);
                    assert!(Instant::now() >= deadline, "never early");
                    assert!(start.elapsed() >= d);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(h.driver.pending(), 0);
}

#[test]
fn harness_sleep_moves_between_threads_and_cancels_anywhere() {
    let h = Harness::start();
    let handle = h.driver.handle();
    let (_, w) = counting_waker();
    // Polled (registered) here, completed on another thread.
    let mut s = Box::pin(handle.sleep(2 * MS));
    assert!(poll(&mut s, &w).is_pending());
    std::thread::spawn(move || futures::executor::block_on(s))
        .join()
        .unwrap();
    // Registered here, dropped (cancelled) on another thread.
    let mut s = Box::pin(handle.sleep(Duration::from_secs(3600)));
    assert!(poll(&mut s, &w).is_pending());
    assert_eq!(h.driver.pending(), 1);
    std::thread::spawn(move || drop(s)).join().unwrap();
    assert_eq!(h.driver.pending(), 0);
    // Timeout through the harness.
    let t = handle.timeout(MS, std::future::pending::<()>());
    assert!(futures::executor::block_on(t).is_err());
}
