//! Histograms in [`RuntimeMetrics`] and its Prometheus text exposition.
//!
//! The exposition follows the Prometheus text format 0.0.4: one `# HELP` and `# TYPE` line
//! per metric family, per-worker series labelled `worker="N"`, histograms as cumulative
//! `_bucket{le=...}` series ending in `le="+Inf"`, then `_sum` (seconds) and `_count`.

use super::histogram::{upper_bound, HistogramSnapshot, BUCKETS};
use crate::RuntimeMetrics;
use std::fmt::Write;
use std::time::Duration;

/// One bucket of a duration histogram: how many sampled polls took less than `upper_bound`
/// (and at least the previous bucket's bound). Counts are per bucket, not cumulative.
///
/// ```
/// let rt = kiln::Builder::new_current_thread().poll_histograms(1).build().unwrap();
/// rt.block_on(async { kiln::spawn(async {}).await.unwrap() });
/// let buckets = rt.metrics().worker_poll_time_histogram(0);
/// assert!(buckets.last().unwrap().upper_bound.is_none()); // the "longer" bucket
/// assert!(buckets.iter().map(|b| b.count).sum::<u64>() >= 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramBucket {
    /// Exclusive upper bound; `None` for the last bucket (everything longer).
    pub upper_bound: Option<Duration>,
    /// Sampled polls in this bucket.
    pub count: u64,
}

fn buckets(s: &HistogramSnapshot) -> Vec<HistogramBucket> {
    (0..BUCKETS)
        .map(|i| HistogramBucket {
            upper_bound: upper_bound(i),
            count: s.counts[i],
        })
        .collect()
}

impl RuntimeMetrics {
    fn probe(&self, worker: usize) -> &super::WorkerProbe {
        let workers = &self.handle().scheduler().observer().workers;
        assert!(
            worker < workers.len(),
            "kiln: worker index {worker} out of range: the runtime has {} workers",
            workers.len()
        );
        &workers[worker]
    }

    /// How long `worker`'s sampled polls took: log-scaled buckets from 1 µs to about 1 s in
    /// powers of two, then "longer". Empty counts unless
    /// [`Builder::poll_histograms`](crate::Builder::poll_histograms) is on.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().poll_histograms(1).build().unwrap();
    /// let h = rt.metrics().worker_poll_time_histogram(0);
    /// assert_eq!(h[0].upper_bound, Some(std::time::Duration::from_nanos(1024)));
    /// ```
    pub fn worker_poll_time_histogram(&self, worker: usize) -> Vec<HistogramBucket> {
        buckets(&self.probe(worker).poll_time.snapshot())
    }

    /// How long `worker`'s sampled polls waited in a queue, from the wake (or spawn) that
    /// queued the task to the start of the poll. Same buckets as
    /// [`RuntimeMetrics::worker_poll_time_histogram`].
    ///
    /// ```
    /// let rt = kiln::Builder::new_current_thread().poll_histograms(1).build().unwrap();
    /// rt.block_on(async { kiln::spawn(async {}).await.unwrap() });
    /// let h = rt.metrics().worker_schedule_latency_histogram(0);
    /// assert!(h.iter().map(|b| b.count).sum::<u64>() >= 1);
    /// ```
    pub fn worker_schedule_latency_histogram(&self, worker: usize) -> Vec<HistogramBucket> {
        buckets(&self.probe(worker).schedule_latency.snapshot())
    }

    /// Every counter, gauge and histogram of this runtime in the Prometheus text exposition
    /// format (version 0.0.4), metric names prefixed `kiln_`. Serve it at `/metrics`; the
    /// `http_server` example does.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let text = rt.metrics().to_prometheus();
    /// assert!(text.contains("# TYPE kiln_worker_polls_total counter"));
    /// assert!(text.contains("kiln_alive_tasks 0"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.prometheus_gauges(&mut out);
        self.prometheus_counters(&mut out);
        self.prometheus_histograms(&mut out);
        out
    }

    /// The runtime-wide gauges and each worker's local queue depth.
    fn prometheus_gauges(&self, out: &mut String) {
        let workers = self.num_workers();
        let gauges: [(&str, &str, usize); 5] = [
            ("workers", "Worker threads.", workers),
            (
                "alive_tasks",
                "Tasks spawned and not yet complete.",
                self.num_alive_tasks(),
            ),
            (
                "injector_depth",
                "Tasks waiting in the shared injector.",
                self.injector_depth(),
            ),
            (
                "blocking_threads",
                "Blocking-pool threads alive.",
                self.blocking_threads(),
            ),
            (
                "blocking_queue_depth",
                "Blocking jobs queued, not started.",
                self.blocking_queue_depth(),
            ),
        ];
        for (name, help, v) in gauges {
            family(out, name, help, "gauge");
            let _ = writeln!(out, "kiln_{name} {v}");
        }
        family(
            out,
            "blocking_idle_threads",
            "Blocking-pool threads idle.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "kiln_blocking_idle_threads {}",
            self.blocking_idle_threads()
        );
        family(
            out,
            "poll_histogram_sample_every",
            "One poll in this many is timed for the histograms (0: off).",
            "gauge",
        );
        let sample = self.handle().scheduler().observer().settings.sample_every;
        let _ = writeln!(out, "kiln_poll_histogram_sample_every {sample}");
        family(
            out,
            "worker_local_queue_depth",
            "Tasks in the worker's local queue.",
            "gauge",
        );
        for w in 0..workers {
            let _ = writeln!(
                out,
                "kiln_worker_local_queue_depth{{worker=\"{w}\"}} {}",
                self.worker_local_queue_depth(w)
            );
        }
    }

    /// Each worker's counters.
    fn prometheus_counters(&self, out: &mut String) {
        let workers = self.num_workers();
        type Counter = fn(&RuntimeMetrics, usize) -> u64;
        let counters: [(&str, &str, Counter); 7] = [
            ("polls", "Task polls.", RuntimeMetrics::worker_poll_count),
            (
                "steals",
                "Successful steal operations.",
                RuntimeMetrics::worker_steal_count,
            ),
            (
                "stolen_tasks",
                "Tasks moved by steals.",
                RuntimeMetrics::worker_stolen_tasks,
            ),
            (
                "parks",
                "Times the worker parked.",
                RuntimeMetrics::worker_park_count,
            ),
            (
                "io_events",
                "I/O events delivered.",
                RuntimeMetrics::worker_io_event_count,
            ),
            (
                "timers_fired",
                "Timers fired.",
                RuntimeMetrics::worker_timers_fired,
            ),
            (
                "lifo_polls",
                "Polls straight from the LIFO slot.",
                RuntimeMetrics::worker_lifo_count,
            ),
        ];
        for (name, help, get) in counters {
            let full = format!("worker_{name}_total");
            family(out, &full, help, "counter");
            for w in 0..workers {
                let _ = writeln!(out, "kiln_{full}{{worker=\"{w}\"}} {}", get(self, w));
            }
        }
    }

    /// Each worker's poll-time and schedule-latency histograms.
    fn prometheus_histograms(&self, out: &mut String) {
        let observer = self.handle().scheduler().observer();
        type Read = fn(&super::WorkerProbe) -> HistogramSnapshot;
        let histograms: [(&str, &str, Read); 2] = [
            (
                "worker_poll_time_seconds",
                "Duration of sampled polls.",
                |p| p.poll_time.snapshot(),
            ),
            (
                "worker_schedule_latency_seconds",
                "Wake-to-poll delay of sampled polls.",
                |p| p.schedule_latency.snapshot(),
            ),
        ];
        for (name, help, get) in histograms {
            family(out, name, help, "histogram");
            for (w, probe) in observer.workers.iter().enumerate() {
                let snap = get(probe);
                let mut cumulative = 0;
                for (i, count) in snap.counts.iter().enumerate() {
                    cumulative += count;
                    let le = match upper_bound(i) {
                        Some(b) => format!("{:e}", b.as_secs_f64()),
                        None => "+Inf".to_string(),
                    };
                    let _ = writeln!(
                        out,
                        "kiln_{name}_bucket{{worker=\"{w}\",le=\"{le}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "kiln_{name}_sum{{worker=\"{w}\"}} {}",
                    snap.sum.as_secs_f64()
                );
                let _ = writeln!(out, "kiln_{name}_count{{worker=\"{w}\"}} {cumulative}");
            }
        }
    }
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP kiln_{name} {help}");
    let _ = writeln!(out, "# TYPE kiln_{name} {kind}");
}
