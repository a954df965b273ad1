//! [`TaskDump`]: every live task of a runtime, read without stopping it.
//!
//! [`Handle::dump`] walks the runtime's owned list one shard at a time: under the shard's lock
//! it copies each task's header fields (state word, name, spawn location, poll count, the
//! fields of `diag.rs`); the list's reference keeps each task alive while it is read. A
//! running task's worker is the one whose probe shows its id. Workers never wait for a dump
//! except to bind or release a task in the shard being read, so a dump costs a brief pause
//! per shard, not a stop-the-world. A dump is a moment's reading per task, not an atomic
//! snapshot: a task may change state between two tasks' readings.
//!
//! `spawn_blocking` tasks are read from the blocking-pool threads' slots (`crate::blocking`):
//! a dump lists each one while a pool thread runs it; one still queued for a thread (the
//! pool at its thread cap) is not listed.
//!
//! Times (since spawn, since the last poll) come from the watchdog's coarse clock and poll
//! times from sampled polls, so they are shown only when the runtime observes polls
//! ([`Builder::stall_threshold`](crate::Builder::stall_threshold) or
//! [`Builder::poll_histograms`](crate::Builder::poll_histograms)).

use crate::cell::{Id, RawTask};
use crate::Handle;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

/// What a task was doing when the dump read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting to be woken.
    Idle,
    /// Woken, waiting in a run queue.
    Scheduled,
    /// Being polled, on this worker (`None` if it was not polled on a worker thread).
    Running {
        /// The worker's index.
        worker: Option<usize>,
    },
    /// A `spawn_blocking` closure running on a blocking-pool thread (a blocking task is listed
    /// only while it runs, not while it waits in the pool's queue).
    Blocking,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Idle => f.pad("idle"),
            TaskState::Scheduled => f.pad("scheduled"),
            TaskState::Running { worker: Some(w) } => f.pad(&format!("running on {w}")),
            TaskState::Running { worker: None } => f.pad("running"),
            TaskState::Blocking => f.pad("blocking"),
        }
    }
}

/// One task in a [`TaskDump`].
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// The task's id.
    pub id: Id,
    /// Its name (see [`task::Builder`](super::Builder)).
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawned_at: &'static Location<'static>,
    /// What it was doing.
    pub state: TaskState,
    /// Times it was polled (started polls, including one in progress).
    pub polls: u64,
    /// Total time spent in its polls, estimated from sampled polls (`None` unless
    /// [`Builder::poll_histograms`](crate::Builder::poll_histograms) is on).
    pub poll_time: Option<Duration>,
    /// Time since its last poll started (`None` if never polled or times are off).
    pub since_last_poll: Option<Duration>,
    /// Time since it was spawned (`None` if times are off).
    pub since_spawn: Option<Duration>,
}

impl TaskInfo {
    /// How long the task has waited: since its last poll, or since its spawn if it was never
    /// polled (`None` if times are off).
    pub fn idle_for(&self) -> Option<Duration> {
        self.since_last_poll.or(self.since_spawn)
    }
}

/// Every live task of a runtime; `Display` renders a table, the longest idle first.
///
/// ```
/// let rt = kiln::Builder::new_multi_thread()
///     .worker_threads(1)
///     .stall_threshold(std::time::Duration::from_secs(1))
///     .build()
///     .unwrap();
/// let _h = kiln::task::Builder::new()
///     .name("forever")
///     .spawn_on(std::future::pending::<()>(), rt.handle())
///     .unwrap();
/// let dump = rt.handle().dump();
/// assert!(dump.tasks().iter().any(|t| t.name.as_deref() == Some("forever")));
/// println!("{dump}");
/// ```
#[derive(Clone, Debug)]
pub struct TaskDump {
    tasks: Vec<TaskInfo>,
}

impl TaskDump {
    /// The tasks, sorted by [`TaskInfo::idle_for`], longest first (then by id).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert!(rt.handle().dump().tasks().is_empty());
    /// ```
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
}

impl Handle {
    /// Reads every live task of this runtime: id, name, spawn location, state, polls and
    /// times (see [`TaskDump`]). Safe and cheap on a live server: it pauses no worker, only
    /// holds each shard of the task list briefly.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = rt.spawn(std::future::pending::<()>());
    /// let dump = rt.handle().dump();
    /// assert_eq!(dump.tasks().len(), 1);
    /// assert_eq!(dump.tasks()[0].id, h.id());
    /// ```
    pub fn dump(&self) -> TaskDump {
        let sched = self.scheduler();
        let observer = sched.observer();
        let now = observer.coarse_now();
        let mut tasks = Vec::with_capacity(sched.owned().len());
        let on = |t: RawTask| on_worker(observer, t);
        sched.owned().for_each(|t| {
            tasks.extend(read(t, false, now, observer.settings.sample_every, on));
        });
        observer
            .blocking
            .for_each(|t| tasks.extend(read(t, true, now, 0, on)));
        tasks.sort_by(|a, b| b.idle_for().cmp(&a.idle_for()).then(a.id.cmp(&b.id)));
        TaskDump { tasks }
    }
}

/// The worker whose probe shows `task` in a poll (`None` between the probe's stores).
fn on_worker(observer: &crate::observe::Observer, task: RawTask) -> Option<usize> {
    let id = task.header().id.as_u64();
    observer
        .workers
        .iter()
        .position(|p| p.task.load(crate::loom::sync::atomic::Ordering::Relaxed) == id)
}

/// One task's reading; `None` if it already completed (it is leaving the list).
fn read(
    task: RawTask,
    blocking: bool,
    now: u64,
    sampling: u32,
    on_worker: impl Fn(RawTask) -> Option<usize>,
) -> Option<TaskInfo> {
    let header = task.header();
    let snapshot = header.state.load();
    if snapshot.is_complete() {
        return None;
    }
    let d = header.diag.read();
    let state = match (blocking, snapshot.is_running(), snapshot.is_notified()) {
        (true, true, _) => TaskState::Blocking,
        (false, true, _) => TaskState::Running {
            worker: on_worker(task),
        },
        (_, false, true) => TaskState::Scheduled,
        (_, false, false) => TaskState::Idle,
    };
    let since = |t: u64| (now != 0 && t != 0).then(|| Duration::from_nanos(now.saturating_sub(t)));
    Some(TaskInfo {
        id: header.id,
        name: header.diag.name().map(str::to_owned),
        spawned_at: header.spawned_at(),
        state,
        polls: u64::from(header.polls()),
        // Every task of a runtime that times polls has a record (`cell::diag`).
        poll_time: (sampling != 0).then(|| Duration::from_nanos(d.poll_ns)),
        since_last_poll: since(d.last_poll),
        since_spawn: since(d.spawned),
    })
}

/// A duration in a fixed-width human form (`-` when unknown).
struct Short(Option<Duration>);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(d) = self.0 else { return f.pad("-") };
        let s = if d >= Duration::from_secs(100) {
            format!("{}s", d.as_secs())
        } else if d >= Duration::from_secs(1) {
            format!("{:.2}s", d.as_secs_f64())
        } else if d >= Duration::from_millis(1) {
            format!("{:.1}ms", d.as_secs_f64() * 1e3)
        } else {
            format!("{}µs", d.as_micros())
        };
        f.pad(&s)
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |p: fn(&TaskState) -> bool| self.tasks.iter().filter(|t| p(&t.state)).count();
        writeln!(
            f,
            "{} tasks: {} idle, {} scheduled, {} running, {} blocking",
            self.tasks.len(),
            count(|s| *s == TaskState::Idle),
            count(|s| *s == TaskState::Scheduled),
            count(|s| matches!(s, TaskState::Running { .. })),
            count(|s| *s == TaskState::Blocking),
        )?;
        writeln!(
            f,
            "{:>8}  {:<13} {:>8} {:>9} {:>9} {:>9}  {:<16} SPAWNED AT",
            "ID", "STATE", "POLLS", "POLL TIME", "IDLE", "AGE", "NAME"
        )?;
        for t in &self.tasks {
            writeln!(
                f,
                "{:>8}  {:<13} {:>8} {:>9} {:>9} {:>9}  {:<16} {}",
                t.id,
                t.state,
                t.polls,
                Short(t.poll_time),
                Short(t.idle_for()),
                Short(t.since_spawn),
                t.name.as_deref().unwrap_or("-"),
                t.spawned_at,
            )?;
        }
        Ok(())
    }
}
