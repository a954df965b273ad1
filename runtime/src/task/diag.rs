//! What a task records about itself for dumps, stall reports and `JoinError`s.
//!
//! [`TaskDiag`] lives in every task header. Field access:
//! - `name` (in the optional `DiagExt`): written once at creation, read-only afterwards.
//! - `polls`, `worker`, `last_poll`, `poll_ns`: written only by the thread holding the task's
//!   `RUNNING` flag (Relaxed load + store, no read-modify-write), read by dumps at any time.
//! - `spawned`, `sample`: written before the task is published to its owned list.
//! - `woke`: stamped by whoever queues the task for a sampled poll, cleared by that poll.
//!
//! All of these are diagnostics: they never order other memory, so every access is Relaxed.
//!
//! A name travels from [`Builder`](super::Builder) to the cell through a thread-local set
//! around the spawn call ([`with_pending_name`]), so the spawn paths need no extra parameter.

use super::Id;
use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering::Relaxed};

thread_local! {
    static PENDING_NAME: Cell<Option<Box<str>>> = const { Cell::new(None) };
}

/// Runs `spawn` with `name` waiting for the next task cell created on this thread.
pub(crate) fn with_pending_name<R>(name: Option<Box<str>>, spawn: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            let _ = PENDING_NAME.try_with(Cell::take);
        }
    }
    let _clear = Clear;
    PENDING_NAME.with(|n| n.set(name));
    spawn()
}

/// See the module documentation. Kept small (16 bytes) so a task cell stays in the
/// allocator's fast size classes: the rarely used parts live in a [`DiagExt`] allocated only
/// for a named task or on an observed runtime.
pub(crate) struct TaskDiag {
    /// Started polls (wrapping).
    polls: AtomicU32,
    /// Worker index + 1 of the last poll on a worker; 0 = never polled on one.
    worker: AtomicU32,
    /// Null, or a `DiagExt` owned by this struct: set before the task is published (in `new`
    /// or `on_spawn`), so every later reader sees it through the publication (the owned
    /// list's lock, the run queue); freed in `Drop`.
    ext: AtomicPtr<DiagExt>,
}

/// The optional part of a [`TaskDiag`].
struct DiagExt {
    name: Option<Box<str>>,
    /// Estimated total poll time in ns (sampled polls × the sampling interval).
    poll_ns: AtomicU64,
    /// Coarse clock at the start of the last poll; 0 = not recorded.
    last_poll: AtomicU64,
    /// Coarse clock at spawn; 0 = not recorded.
    spawned: AtomicU64,
    /// `now_ns()` when the task was queued for a sampled poll; 0 = none.
    woke: AtomicU64,
    /// The runtime's sampling interval (a power of two), 0 = histograms off.
    sample: AtomicU32,
}

impl DiagExt {
    fn new(name: Option<Box<str>>) -> *mut DiagExt {
        Box::into_raw(Box::new(DiagExt {
            name,
            poll_ns: AtomicU64::new(0),
            last_poll: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            woke: AtomicU64::new(0),
            sample: AtomicU32::new(0),
        }))
    }
}

impl Drop for TaskDiag {
    fn drop(&mut self) {
        let ext = *self.ext.get_mut();
        if !ext.is_null() {
            // SAFETY: `ext` came from `Box::into_raw` in `DiagExt::new` and is owned by this
            // struct alone; `&mut self` means nobody else reads it now.
            drop(unsafe { Box::from_raw(ext) });
        }
    }
}

impl TaskDiag {
    /// Takes the pending name set by [`with_pending_name`], if any.
    pub(crate) fn new() -> TaskDiag {
        let name = PENDING_NAME.try_with(Cell::take).ok().flatten();
        TaskDiag {
            polls: AtomicU32::new(0),
            worker: AtomicU32::new(0),
            ext: AtomicPtr::new(match name {
                Some(name) => DiagExt::new(Some(name)),
                None => std::ptr::null_mut(),
            }),
        }
    }

    fn ext(&self) -> Option<&DiagExt> {
        // Relaxed: the pointer was set before the task was published (see the field docs).
        let p = self.ext.load(Relaxed);
        // SAFETY: non-null means a live `DiagExt` owned by `self`, freed only in `Drop`.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The task's name, if it was spawned with one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.ext().and_then(|e| e.name.as_deref())
    }

    /// Called once, before the task is published: records the spawn time and sampling.
    pub(crate) fn on_spawn(&self, observer: &crate::observe::Observer, id: Id) {
        if !observer.is_active() {
            return;
        }
        if self.ext.load(Relaxed).is_null() {
            // Not yet published: no other thread can see this pointer before the publication.
            self.ext.store(DiagExt::new(None), Relaxed);
        }
        let Some(ext) = self.ext() else { return };
        ext.spawned.store(observer.coarse_now(), Relaxed);
        ext.sample.store(observer.settings.sample_every, Relaxed);
        // The spawn queues the first poll.
        self.stamp_woke_if_sampled(id);
    }

    /// Starts a poll: bumps the count, returns the count before.
    pub(crate) fn begin_poll(&self) -> u64 {
        let n = self.polls.load(Relaxed);
        self.polls.store(n.wrapping_add(1), Relaxed);
        u64::from(n)
    }

    pub(crate) fn set_worker(&self, index: u32) {
        self.worker.store(index + 1, Relaxed);
    }

    pub(crate) fn set_last_poll(&self, coarse: u64) {
        if let Some(e) = self.ext() {
            e.last_poll.store(coarse, Relaxed);
        }
    }

    pub(crate) fn add_poll_time(&self, ns: u64) {
        if let Some(e) = self.ext() {
            e.poll_ns
                .store(e.poll_ns.load(Relaxed).saturating_add(ns), Relaxed);
        }
    }

    /// Whether the poll that follows `polls` earlier polls is timed (one in `every`, spread
    /// over tasks by id so that one-poll tasks are sampled too).
    pub(crate) fn is_sampled(&self, polls: u64, id: Id, every: u32) -> bool {
        polls.wrapping_add(id.as_u64()) & u64::from(every - 1) == 0
    }

    pub(crate) fn stamp_woke_if_sampled(&self, id: Id) {
        let Some(e) = self.ext() else { return };
        let every = e.sample.load(Relaxed);
        if every != 0 && self.is_sampled(u64::from(self.polls.load(Relaxed)), id, every) {
            e.woke.store(crate::observe::now_ns(), Relaxed);
        }
    }

    pub(crate) fn take_woke(&self) -> u64 {
        let Some(e) = self.ext() else { return 0 };
        let w = e.woke.load(Relaxed);
        if w != 0 {
            e.woke.store(0, Relaxed);
        }
        w
    }

    /// A consistent-enough reading for a dump.
    pub(crate) fn read(&self) -> DiagReading {
        let ext = self.ext();
        let get = |f: fn(&DiagExt) -> u64| ext.map_or(0, f);
        DiagReading {
            polls: u64::from(self.polls.load(Relaxed)),
            poll_ns: get(|e| e.poll_ns.load(Relaxed)),
            timed: get(|e| u64::from(e.sample.load(Relaxed))) != 0,
            last_poll: get(|e| e.last_poll.load(Relaxed)),
            spawned: get(|e| e.spawned.load(Relaxed)),
            worker: self.worker.load(Relaxed).checked_sub(1),
        }
    }
}

/// See [`TaskDiag::read`].
pub(crate) struct DiagReading {
    pub(crate) polls: u64,
    pub(crate) poll_ns: u64,
    pub(crate) timed: bool,
    pub(crate) last_poll: u64,
    pub(crate) spawned: u64,
    pub(crate) worker: Option<u32>,
}
