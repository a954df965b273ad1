//! `Builder::stall_threshold`: the watchdog reports a poll that is still running.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Captures every log record of this test binary.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn logs() -> &'static Capture {
    static LOGGER: OnceLock<&'static Capture> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        log::set_logger(c).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

fn lines_with(needle: &str) -> Vec<String> {
    logs()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .cloned()
        .collect()
}

/// A multi-thread runtime of `workers` workers with a stall threshold.
fn watched(workers: usize, threshold: Duration) -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(workers)
        .stall_threshold(threshold)
        .build()
        .unwrap()
}

/// The lines about task `name` that contain `what`.
fn lines_about(name: &str, what: &str) -> Vec<String> {
    lines_with(&format!("'{name}'"))
        .into_iter()
        .filter(|l| l.contains(what))
        .collect()
}

/// [`lines_about`], once some appear or after 10 s (then empty).
fn wait_for(name: &str, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = lines_about(name, what);
        if !found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_poll_sleeping_500ms_is_reported_before_it_returns() {
    for flavor in ["multi", "current"] {
        logs();
        let mut b = if flavor == "multi" {
            kiln::Builder::new_multi_thread()
        } else {
            kiln::Builder::new_current_thread()
        };
        let rt = b
            .stall_threshold(Duration::from_millis(100))
            .build()
            .unwrap();
        let name = format!("sleepy {flavor}");
        let line = line!() + 3;
        let h = kiln::task::Builder::new()
            .name(&name)
            .spawn_on(
                {
                    let name = name.clone();
                    async move {
                        std::thread::sleep(Duration::from_millis(500));
                        // Still inside the poll: the warning must already be there.
                        lines_with(&format!("'{name}'"))
                    }
                },
                rt.handle(),
            )
            .unwrap();
        let id = h.id();
        let during = rt.block_on(h).unwrap();
        let stall = during
            .iter()
            .find(|l| l.contains("has been running for"))
            .unwrap_or_else(|| panic!("no stall warning before the poll returned: {during:?}"));
        assert!(stall.starts_with("WARN "), "{stall}");
        assert!(stall.contains(&format!("task {id} '{name}'")), "{stall}");
        assert!(stall.contains(&format!("{}:{line}", file!())), "{stall}");
        assert!(
            stall.contains("on worker 0") || flavor == "multi",
            "{stall}"
        );
        assert!(stall.contains("on worker "), "{stall}");
        // And again once the poll returned, with the total.
        let over = wait_for(&name, "returned from its poll");
        assert_eq!(over.len(), 1, "{over:?}");
        assert!(over[0].contains("in total"), "{}", over[0]);
        // The total counts from the poll's start (a clock that never runs ahead), so it covers
        // at least the 500 ms sleep.
        let total = total_of(&over[0]);
        assert!(total >= Duration::from_millis(500), "{}", over[0]);
    }
}

/// The duration of a "stall over" line: the `Debug` form between "after " and " in total".
fn total_of(line: &str) -> Duration {
    let text = line
        .split("after ")
        .last()
        .and_then(|t| t.split(" in total").next())
        .unwrap_or_else(|| panic!("no total in {line}"));
    let (number, scale) = [("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9), ("s", 1.0)]
        .iter()
        .find_map(|(unit, scale)| text.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or_else(|| panic!("no unit in {text:?}"));
    let number: f64 = number
        .parse()
        .unwrap_or_else(|e| panic!("{number:?} in {line}: {e}"));
    Duration::from_secs_f64(number * scale)
}

#[test]
fn a_worker_whose_loop_does_not_turn_is_reported() {
    logs();
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("loop-probe")
        .stall_threshold(Duration::from_millis(50))
        .build()
        .unwrap();
    let h = rt.spawn(async {
        std::thread::sleep(Duration::from_millis(400));
    });
    rt.block_on(h).unwrap();
    let found = lines_with("event loop has not turned");
    assert!(!found.is_empty(), "no loop report");
    assert!(found.iter().all(|l| l.starts_with("WARN ")));
}

#[test]
fn a_stalled_poll_still_running_at_shutdown_is_reported_once_more() {
    logs();
    let rt = watched(1, Duration::from_millis(40));
    let name = "held past shutdown";
    kiln::task::Builder::new()
        .name(name)
        .spawn_on(
            async { std::thread::sleep(Duration::from_secs(2)) },
            rt.handle(),
        )
        .unwrap();
    assert_eq!(wait_for(name, "has been running for").len(), 1);
    // The poll still sleeps (for seconds, against a watchdog tick of 10 ms): the watchdog sees
    // the shutdown before the poll returns.
    rt.shutdown_background();
    let at_shutdown = wait_for(name, "the runtime shut down before task");
    assert_eq!(at_shutdown.len(), 1, "{at_shutdown:?}");
    assert!(
        at_shutdown[0].contains("was seen to return from the poll it began on worker 0"),
        "{}",
        at_shutdown[0]
    );
    // The watchdog has exited: it reports no return.
    let returned = lines_about(name, "returned from its poll");
    assert!(returned.is_empty(), "{returned:?}");
}

#[test]
fn short_polls_are_not_reported() {
    logs();
    let rt = watched(2, Duration::from_secs(30));
    rt.block_on(async {
        let name = "quick one";
        for _ in 0..100 {
            kiln::task::Builder::new()
                .name(name)
                .spawn(async { kiln::task::yield_now().await })
                .unwrap()
                .await
                .unwrap();
        }
    });
    assert!(lines_with("'quick one'").is_empty());
}

#[test]
#[should_panic(expected = "stall_threshold must be greater than zero")]
fn zero_threshold_is_refused() {
    kiln::Builder::new_multi_thread().stall_threshold(Duration::ZERO);
}
