//! Configuration of a [`Pool`].

use crate::pool::{Config, Pool};
use crate::{DEFAULT_KEEP_ALIVE, DEFAULT_MAX_THREADS};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A hook run on every pool thread (see [`Builder::on_thread_start`]).
pub type ThreadHook = Arc<dyn Fn() + Send + Sync + 'static>;

/// Produces the name of each new pool thread (see [`Builder::thread_name_fn`]).
pub type ThreadNameFn = Arc<dyn Fn() -> String + Send + Sync + 'static>;

/// Builds a [`Pool`].
///
/// Threads are started on demand, never ahead of time: a freshly built pool owns no thread.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let pool = kiln_blocking::Builder::new()
///     .max_threads(4)
///     .keep_alive(Duration::from_secs(1))
///     .thread_name("my-blocking")
///     .build()
///     .unwrap();
/// let (tx, rx) = std::sync::mpsc::channel();
/// pool.spawn(Box::new(move || {
///     tx.send(std::thread::current().name().map(str::to_owned)).unwrap();
/// }))
/// .unwrap();
/// assert_eq!(rx.recv().unwrap().as_deref(), Some("my-blocking"));
/// pool.shutdown(None);
/// ```
#[derive(Clone)]
pub struct Builder {
    max_threads: usize,
    keep_alive: Duration,
    stack_size: Option<usize>,
    name: ThreadNameFn,
    on_start: Option<ThreadHook>,
    on_stop: Option<ThreadHook>,
}

impl Builder {
    /// A builder with the defaults: [`DEFAULT_MAX_THREADS`] threads at most, idle threads retire
    /// after [`DEFAULT_KEEP_ALIVE`], threads named `kiln-blocking`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// assert_eq!(pool.max_threads(), kiln_blocking::DEFAULT_MAX_THREADS);
    /// ```
    pub fn new() -> Self {
        Builder {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            stack_size: None,
            name: Arc::new(|| "kiln-blocking".to_owned()),
            on_start: None,
            on_stop: None,
        }
    }

    /// The most threads the pool runs at once; jobs beyond it wait in the queue. Must be at
    /// least 1 ([`build`](Self::build) rejects 0).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().max_threads(2).build().unwrap();
    /// assert_eq!(pool.max_threads(), 2);
    /// assert!(kiln_blocking::Builder::new().max_threads(0).build().is_err());
    /// ```
    pub fn max_threads(&mut self, n: usize) -> &mut Self {
        self.max_threads = n;
        self
    }

    /// How long a thread with nothing to do waits for a job before it exits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = kiln_blocking::Builder::new()
    ///     .keep_alive(Duration::from_millis(50))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.keep_alive = keep_alive;
        self
    }

    /// Stack size in bytes of each pool thread (default: the standard library's).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().stack_size(4 << 20).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn stack_size(&mut self, bytes: usize) -> &mut Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Names every pool thread `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().thread_name("io").build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        let name = name.into();
        self.name = Arc::new(move || name.clone());
        self
    }

    /// Calls `f` for the name of each new pool thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let next = AtomicUsize::new(0);
    /// let pool = kiln_blocking::Builder::new()
    ///     .thread_name_fn(Arc::new(move || {
    ///         format!("io-{}", next.fetch_add(1, Ordering::Relaxed))
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn thread_name_fn(&mut self, f: ThreadNameFn) -> &mut Self {
        self.name = f;
        self
    }

    /// Runs `f` on each pool thread when it starts, before its first job. A panic in `f` is
    /// caught (and reported by the panic hook); the thread goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let pool = kiln_blocking::Builder::new()
    ///     .on_thread_start(Arc::new(move || {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
    /// rx.recv().unwrap();
    /// assert_eq!(started.load(Ordering::SeqCst), 1);
    /// pool.shutdown(None);
    /// ```
    pub fn on_thread_start(&mut self, f: ThreadHook) -> &mut Self {
        self.on_start = Some(f);
        self
    }

    /// Runs `f` on each pool thread just before it exits (retired or shut down). A panic in
    /// `f` is caught (and reported by the panic hook).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let s = stopped.clone();
    /// let pool = kiln_blocking::Builder::new()
    ///     .on_thread_stop(Arc::new(move || {
    ///         s.fetch_add(1, Ordering::SeqCst);
    ///     }))
    ///     .build()
    ///     .unwrap();
    /// pool.spawn(Box::new(|| {})).unwrap();
    /// assert!(pool.shutdown(None));
    /// assert_eq!(stopped.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_thread_stop(&mut self, f: ThreadHook) -> &mut Self {
        self.on_stop = Some(f);
        self
    }

    /// Builds the pool. No thread starts until the first job arrives.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `max_threads` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = kiln_blocking::Builder::new().max_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(&self) -> io::Result<Pool> {
        if self.max_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "blocking pool: max_threads must be at least 1, got 0",
            ));
        }
        Ok(Pool::from_config(Config {
            max_threads: self.max_threads,
            keep_alive: self.keep_alive,
            stack_size: self.stack_size,
            name: self.name.clone(),
            on_start: self.on_start.clone(),
            on_stop: self.on_stop.clone(),
        }))
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_start.is_some())
            .field("on_thread_stop", &self.on_stop.is_some())
            .finish_non_exhaustive()
    }
}
