//! A log-scaled histogram of durations with one writer and any number of readers.
//!
//! Bucket `0` counts durations under [`FIRST_BUCKET_NS`]; bucket `i` (1 ≤ i < [`BUCKETS`] − 1)
//! counts `[FIRST_BUCKET_NS · 2^(i−1), FIRST_BUCKET_NS · 2^i)`; the last bucket counts everything
//! longer. Only the owning worker thread records, with a Relaxed load and store per field (no
//! read-modify-write), so recording costs two plain stores; readers may see a count and a sum
//! from slightly different moments, which a monitoring scrape tolerates.

use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bound of the first bucket: 1.024 µs (2^10 ns).
pub(crate) const FIRST_BUCKET_NS: u64 = 1 << 10;
/// Number of buckets: 1 µs … ~1 s in powers of two, plus "longer".
pub(crate) const BUCKETS: usize = 22;

/// See the module documentation.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The bucket a duration of `ns` nanoseconds falls into.
pub(crate) fn bucket_of(ns: u64) -> usize {
    if ns < FIRST_BUCKET_NS {
        return 0;
    }
    // ns in [2^k, 2^(k+1)) with k >= 10 goes to bucket k - 9.
    let k = 63 - ns.leading_zeros() as usize;
    (k - 9).min(BUCKETS - 1)
}

/// Upper bound (exclusive) of bucket `i`; `None` for the last, unbounded one.
pub(crate) fn upper_bound(i: usize) -> Option<Duration> {
    (i < BUCKETS - 1).then(|| Duration::from_nanos(FIRST_BUCKET_NS << i))
}

impl Histogram {
    /// Records one duration. Only the owning thread may call this.
    pub(crate) fn record(&self, ns: u64) {
        let b = &self.buckets[bucket_of(ns)];
        // Relaxed load + store: this thread is the only writer (see the module docs).
        b.store(b.load(Relaxed) + 1, Relaxed);
        self.sum_ns
            .store(self.sum_ns.load(Relaxed).wrapping_add(ns), Relaxed);
    }

    /// A copy of the counts, per bucket.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            sum: Duration::from_nanos(self.sum_ns.load(Relaxed)),
        }
    }
}

/// A reading of one histogram: per-bucket counts (not cumulative) and the sum of durations.
#[derive(Clone, Debug)]
pub(crate) struct HistogramSnapshot {
    pub(crate) counts: [u64; BUCKETS],
    pub(crate) sum: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_from_one_microsecond() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1023), 0);
        assert_eq!(bucket_of(1024), 1);
        assert_eq!(bucket_of(2047), 1);
        assert_eq!(bucket_of(2048), 2);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(upper_bound(0), Some(Duration::from_nanos(1024)));
        assert_eq!(upper_bound(1), Some(Duration::from_nanos(2048)));
        assert_eq!(upper_bound(BUCKETS - 1), None);
        // Every bounded bucket's upper bound lands in the next bucket.
        for i in 0..BUCKETS - 1 {
            let ub = upper_bound(i).unwrap().as_nanos() as u64;
            assert_eq!(bucket_of(ub - 1), i);
            assert_eq!(bucket_of(ub), i + 1);
        }
    }

    #[test]
    fn record_counts_and_sums() {
        let h = Histogram::default();
        h.record(500);
        h.record(1500);
        h.record(1500);
        let s = h.snapshot();
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.counts[1], 2);
        assert_eq!(s.sum, Duration::from_nanos(3500));
    }
}
