//! Poll histograms and `RuntimeMetrics::to_prometheus`, read back by an independent parser.

use prometheus_parse::{Scrape, Value};
use std::time::Duration;

fn busy_runtime(sample_every: u32) -> kiln::Runtime {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .poll_histograms(sample_every)
        .build()
        .unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                kiln::spawn(async move {
                    for _ in 0..8 {
                        kiln::task::yield_now().await;
                    }
                    if i % 16 == 0 {
                        kiln::time::sleep(Duration::from_millis(2)).await;
                        std::thread::sleep(Duration::from_millis(3));
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    rt
}

#[test]
fn every_poll_is_timed_with_sampling_one() {
    let rt = busy_runtime(1);
    let m = rt.metrics();
    let sum = |f: &dyn Fn(usize) -> Vec<kiln::HistogramBucket>| -> u64 {
        (0..m.num_workers())
            .map(|w| f(w).iter().map(|b| b.count).sum::<u64>())
            .sum()
    };
    let polls = sum(&|w| m.worker_poll_time_histogram(w));
    // 64 tasks × 9 polls at least, some of them 10 (after the sleep).
    assert!(polls >= 64 * 9, "{polls}");
    // Every poll but the first of each task follows a wake or a yield; the first follows
    // the spawn, which also stamps.
    let latencies = sum(&|w| m.worker_schedule_latency_histogram(w));
    assert!(latencies >= 64 * 9, "{latencies}");
    // The four 3 ms polls land in a bucket at or above 2 ms.
    let slow: u64 = (0..m.num_workers())
        .flat_map(|w| m.worker_poll_time_histogram(w))
        .filter(|b| b.upper_bound.map_or(true, |u| u > Duration::from_millis(2)))
        .map(|b| b.count)
        .sum();
    assert!(slow >= 4, "{slow}");
}

#[test]
fn histograms_are_empty_when_off() {
    let rt = busy_runtime(0);
    let m = rt.metrics();
    for w in 0..m.num_workers() {
        assert!(m.worker_poll_time_histogram(w).iter().all(|b| b.count == 0));
        assert!(m
            .worker_schedule_latency_histogram(w)
            .iter()
            .all(|b| b.count == 0));
    }
}

#[test]
fn sampling_times_a_fraction_of_polls() {
    let rt = busy_runtime(8);
    let m = rt.metrics();
    let timed: u64 = (0..m.num_workers())
        .flat_map(|w| m.worker_poll_time_histogram(w))
        .map(|b| b.count)
        .sum();
    let polls: u64 = (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum();
    assert!(timed > 0 && timed < polls, "timed {timed} of {polls}");
    // Every poll here follows a spawn, a yield or a wake, and the one before a timed poll
    // makes whatever queues it stamp the time: each timed poll has its schedule latency.
    let latencies: u64 = (0..m.num_workers())
        .flat_map(|w| m.worker_schedule_latency_histogram(w))
        .map(|b| b.count)
        .sum();
    assert_eq!(
        latencies, timed,
        "schedule latencies of {timed} timed polls"
    );
}

#[test]
#[should_panic(expected = "worker index 5 out of range")]
fn histogram_of_a_missing_worker_panics_clearly() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.metrics().worker_poll_time_histogram(5);
}

#[test]
fn prometheus_text_parses_and_matches_the_metrics() {
    let rt = busy_runtime(1);
    let m = rt.metrics();
    let text = m.to_prometheus();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = Scrape::parse(lines).expect("the exposition parses");

    let find = |name: &str, worker: Option<&str>| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name && worker.map_or(true, |w| s.labels.get("worker") == Some(w))
            })
            .unwrap_or_else(|| panic!("no sample {name} {worker:?}\n{text}"))
    };
    match find("kiln_workers", None).value {
        Value::Gauge(v) => assert_eq!(v, 2.0),
        ref v => panic!("kiln_workers is {v:?}"),
    }
    for w in ["0", "1"] {
        match find("kiln_worker_polls_total", Some(w)).value {
            Value::Counter(v) => assert!(v >= 0.0),
            ref v => panic!("polls is {v:?}"),
        }
    }
    let mut timed = 0.0;
    for w in ["0", "1"] {
        let s = find("kiln_worker_poll_time_seconds", Some(w));
        let Value::Histogram(ref buckets) = s.value else {
            panic!("poll time is {:?}", s.value)
        };
        assert_eq!(buckets.len(), 22);
        // Cumulative and ending at +Inf.
        assert!(buckets.windows(2).all(|p| p[0].count <= p[1].count));
        assert!(buckets.last().unwrap().less_than.is_infinite());
        assert!((buckets[0].less_than - 1.024e-6).abs() < 1e-12);
        timed += buckets.last().unwrap().count;
        let Value::Histogram(ref lat) = find("kiln_worker_schedule_latency_seconds", Some(w)).value
        else {
            panic!("latency is not a histogram")
        };
        assert_eq!(lat.len(), 22);
    }
    assert!(timed >= 64.0 * 9.0, "{timed}");
    // HELP lines reach the parser as docs.
    assert!(scrape.docs.contains_key("kiln_worker_poll_time_seconds"));
    assert!(scrape.docs.contains_key("kiln_alive_tasks"));
}
