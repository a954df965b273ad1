//! A point-in-time snapshot of pool counters.

/// Counters read from a [`Pool`](crate::Pool) by [`Pool::metrics`](crate::Pool::metrics).
///
/// Each field is read separately, so under load the snapshot is approximate (for instance
/// `idle_threads` may briefly exceed what `threads` suggests).
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::Builder::new().build().unwrap();
/// let m = pool.metrics();
/// assert_eq!(m.threads, 0); // threads start on demand
/// assert_eq!(m.jobs_completed, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Threads alive now (running a job or idle), including ones just being started.
    pub threads: usize,
    /// Threads waiting for a job.
    pub idle_threads: usize,
    /// Jobs queued and not yet started.
    pub queue_depth: usize,
    /// Threads started since the pool was built.
    pub spawned_threads_total: u64,
    /// Jobs that ran to the end, panicking ones included.
    pub jobs_completed: u64,
    /// Jobs whose closure panicked (the thread survives them).
    pub jobs_panicked: u64,
}
