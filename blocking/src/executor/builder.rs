//! Configuration of a [`ThreadPool`].

use super::ThreadPool;
use crate::{ThreadHook, ThreadNameFn};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Default time an idle [`ThreadPool`] thread waits for a job before it exits.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Builds a [`ThreadPool`]: threads, queue capacity, thread name, stack size and scheduling
/// hints.
///
/// Defaults: one thread per CPU (`std::thread::available_parallelism`), an unbounded queue,
/// threads named `kiln-pool`, the standard library's stack size, idle threads exit after 10 s,
/// and no scheduling hint (threads compete for the CPU like any other thread of the process).
///
/// # Examples
///
/// ```
/// use kiln_blocking::executor::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .threads(4)
///     .queue_capacity(128)
///     .thread_name("images")
///     .stack_size(4 << 20)
///     .build()?;
/// let name = pool.spawn(|| std::thread::current().name().map(str::to_owned));
/// assert_eq!(name.join().unwrap().as_deref(), Some("images"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Builder {
    threads: Option<usize>,
    queue_capacity: usize,
    keep_alive: Duration,
    stack_size: Option<usize>,
    name: ThreadNameFn,
    nice: u8,
    on_start: Option<ThreadHook>,
    on_stop: Option<ThreadHook>,
}

impl Builder {
    /// A builder with the defaults (see [`Builder`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::Builder::new().build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            threads: None,
            queue_capacity: usize::MAX,
            keep_alive: DEFAULT_KEEP_ALIVE,
            stack_size: None,
            name: Arc::new(|| "kiln-pool".to_owned()),
            nice: 0,
            on_start: None,
            on_stop: None,
        }
    }

    /// The most threads the pool runs (default: the number of CPUs). Threads start as jobs
    /// arrive, up to this many; jobs beyond them wait in the queue. Zero is an `InvalidInput`
    /// error from [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().threads(2).build()?;
    /// assert_eq!(pool.threads(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn threads(&mut self, n: usize) -> &mut Builder {
        self.threads = Some(n);
        self
    }

    /// How many jobs may wait unstarted before [`try_spawn`](ThreadPool::try_spawn) refuses
    /// and [`spawn_wait`](ThreadPool::spawn_wait) waits (default: unbounded). Zero is an
    /// `InvalidInput` error from [`build`](Self::build).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().queue_capacity(16).build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn queue_capacity(&mut self, n: usize) -> &mut Builder {
        self.queue_capacity = n;
        self
    }

    /// How long an idle thread waits for a job before it exits (default 10 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = kiln_blocking::executor::ThreadPool::builder()
    ///     .keep_alive(Duration::from_secs(60))
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn keep_alive(&mut self, d: Duration) -> &mut Builder {
        self.keep_alive = d;
        self
    }

    /// Names every pool thread `name` (default `kiln-pool`).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().thread_name("crunch").build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
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
    /// let n = AtomicUsize::new(0);
    /// let pool = kiln_blocking::executor::ThreadPool::builder()
    ///     .thread_name_fn(Arc::new(move || format!("crunch-{}", n.fetch_add(1, Ordering::Relaxed))))
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn thread_name_fn(&mut self, f: ThreadNameFn) -> &mut Builder {
        self.name = f;
        self
    }

    /// Stack size in bytes of each pool thread (default: the standard library's).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().stack_size(8 << 20).build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stack_size(&mut self, bytes: usize) -> &mut Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Scheduling hint: raise each pool thread's nice value by `nice` above the value of the
    /// thread that calls [`build`](Self::build) (default 0, no change; capped at 19). Linux
    /// only; elsewhere, or if the OS refuses, nothing changes.
    ///
    /// Cost, and why it is off by default: a niced thread gets a smaller share of a busy CPU
    /// (at +5 about a third of a normal thread's). That keeps the pool from crowding out the
    /// program's own latency-sensitive threads, but it also lets *any* busy process at normal
    /// priority on the machine take most of the CPU from the pool's jobs. Use it for
    /// background work whose throughput does not matter while the machine is busy.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().nice(5).build()?;
    /// assert_eq!(pool.spawn(|| 1 + 1).join().unwrap(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nice(&mut self, nice: u8) -> &mut Builder {
        self.nice = nice;
        self
    }

    /// Runs `f` on each pool thread as it starts, before its first job. A panic in `f` is
    /// caught; the thread goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let pool = kiln_blocking::executor::ThreadPool::builder()
    ///     .on_thread_start(Arc::new(|| println!("pool thread up")))
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_thread_start(&mut self, f: ThreadHook) -> &mut Builder {
        self.on_start = Some(f);
        self
    }

    /// Runs `f` on each pool thread just before it exits. A panic in `f` is caught.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let pool = kiln_blocking::executor::ThreadPool::builder()
    ///     .on_thread_stop(Arc::new(|| println!("pool thread down")))
    ///     .build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_thread_stop(&mut self, f: ThreadHook) -> &mut Builder {
        self.on_stop = Some(f);
        self
    }

    /// Builds the pool. No thread starts until the first job arrives.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `threads(0)` or `queue_capacity(0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kiln_blocking::executor::ThreadPool;
    /// use std::io::ErrorKind;
    ///
    /// let err = ThreadPool::builder().threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// let err = ThreadPool::builder().queue_capacity(0).build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn build(&self) -> io::Result<ThreadPool> {
        let threads = match self.threads {
            Some(0) => return Err(invalid("threads must be at least 1, got 0")),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        if self.queue_capacity == 0 {
            return Err(invalid(
                "queue_capacity must be at least 1, got 0 (the default is unbounded)",
            ));
        }
        let mut b = crate::Builder::new();
        b.max_threads(threads)
            .keep_alive(self.keep_alive)
            .thread_name_fn(self.name.clone());
        if let Some(size) = self.stack_size {
            b.stack_size(size);
        }
        let start = self.on_start.clone();
        if self.nice > 0 {
            // Threads may be started by other pool threads (inheriting their value): the
            // target is relative to the building thread's value.
            let target = crate::sys::current_nice().saturating_add(i32::from(self.nice));
            b.on_thread_start(Arc::new(move || {
                crate::sys::set_nice(target);
                if let Some(f) = &start {
                    f();
                }
            }));
        } else if let Some(f) = start {
            b.on_thread_start(f);
        }
        if let Some(f) = &self.on_stop {
            b.on_thread_stop(f.clone());
        }
        Ok(ThreadPool::from_parts(
            b.build()?,
            self.queue_capacity,
            threads,
        ))
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("kiln::executor::ThreadPool builder: {msg}"),
    )
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("threads", &self.threads)
            .field("queue_capacity", &self.queue_capacity)
            .field("keep_alive", &self.keep_alive)
            .field("stack_size", &self.stack_size)
            .field("nice", &self.nice)
            .finish_non_exhaustive()
    }
}
