//! The error a refused [`Pool::spawn`](crate::Pool::spawn) returns, holding the refused job.

use crate::Job;
use std::fmt;
use std::io;

/// A job the pool refused, handed back so the caller can cancel or run it elsewhere.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::Builder::new().build().unwrap();
/// assert!(pool.shutdown(None));
/// let err = pool.spawn(Box::new(|| {})).unwrap_err();
/// assert!(err.is_shutdown());
/// let job = err.into_job(); // the caller still owns it
/// drop(job);
/// ```
pub struct SpawnError {
    job: Job,
    kind: Kind,
}

enum Kind {
    Shutdown,
    ThreadSpawn(io::Error),
}

impl SpawnError {
    pub(crate) fn shutdown(job: Job) -> Self {
        SpawnError {
            job,
            kind: Kind::Shutdown,
        }
    }

    pub(crate) fn thread_spawn(job: Job, err: io::Error) -> Self {
        SpawnError {
            job,
            kind: Kind::ThreadSpawn(err),
        }
    }

    /// `true` if the pool had been shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// pool.shutdown(None);
    /// assert!(pool.spawn(Box::new(|| {})).unwrap_err().is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.kind, Kind::Shutdown)
    }

    /// `true` if the pool had no thread to run the job and the OS refused to start one.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// pool.shutdown(None);
    /// assert!(!pool.spawn(Box::new(|| {})).unwrap_err().is_thread_spawn_failed());
    /// ```
    pub fn is_thread_spawn_failed(&self) -> bool {
        matches!(self.kind, Kind::ThreadSpawn(_))
    }

    /// Takes the refused job back.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// pool.shutdown(None);
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let r = ran.clone();
    /// let job = pool
    ///     .spawn(Box::new(move || r.store(true, Ordering::SeqCst)))
    ///     .unwrap_err()
    ///     .into_job();
    /// job();
    /// assert!(ran.load(Ordering::SeqCst));
    /// ```
    pub fn into_job(self) -> Job {
        self.job
    }
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SpawnError");
        match &self.kind {
            Kind::Shutdown => d.field("kind", &"shutdown"),
            Kind::ThreadSpawn(e) => d.field("kind", &"thread_spawn").field("source", e),
        };
        d.finish_non_exhaustive()
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Shutdown => f.write_str("blocking pool is shut down; job not accepted"),
            Kind::ThreadSpawn(e) => {
                write!(f, "blocking pool could not start a thread for the job: {e}")
            }
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Shutdown => None,
            Kind::ThreadSpawn(e) => Some(e),
        }
    }
}
