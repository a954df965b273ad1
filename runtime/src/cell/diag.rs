//! What a task records about itself for dumps, stall reports and `JoinError`s.
//!
//! The header pays for this with one word, [`TaskDiag`], plus the poll count that shares a
//! word with the owned-list slot (see `raw.rs`), so a task cell is no larger than it would be
//! without diagnostics. `TaskDiag` is a tagged pointer, set when the cell is created and never
//! changed afterwards:
//! - low bit 0: the `&'static Location` the task was spawned at. An unnamed task on a runtime
//!   that does not observe polls records nothing else.
//! - low bit 1: a [`DiagExt`] in the task's own allocation, right after the cell (`raw.rs`'s
//!   `ExtCell`, written in place), holding the spawn location, the name (inline up to 30
//!   bytes) and the fields of an observed runtime. Present only for a named task or on a runtime with
//!   `Builder::stall_threshold` or `Builder::poll_histograms`; such a spawn still makes one
//!   allocation (a record of its own cost a second `malloc`/`free` pair per task, often on
//!   two threads), and it is freed with the cell. `TaskDiag` itself owns nothing.
//!
//! `DiagExt` field access:
//! - `spawned_at`, `name`, `spawned`, `sample`: written at creation, read-only afterwards.
//! - `last_poll`, `poll_ns`: written only by the thread holding the task's `RUNNING` flag
//!   (Relaxed load + store, no read-modify-write), read by dumps at any time.
//! - `woke`: stamped by whoever queues the task for a sampled poll, cleared by that poll.
//!
//! All of these are diagnostics: they never order other memory, so every access is Relaxed.
//! The pointer itself is published with the task (the owned list's lock, the run queues).

use super::{Id, TaskMeta};
use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::Location;
use std::ptr::{addr_of_mut, NonNull};

/// The tag bit of a [`TaskDiag`] that points to a [`DiagExt`].
const EXT: usize = 1;

// Both pointees are at least 2-aligned, so the low bit is free for the tag.
const _: () = assert!(std::mem::align_of::<Location<'static>>() >= 2);
const _: () = assert!(std::mem::align_of::<DiagExt>() >= 2);

/// See the module documentation.
pub(crate) struct TaskDiag {
    tagged: NonNull<u8>,
}

// SAFETY: the pointer is set at creation and never changed; it points either to a
// `&'static Location` (Sync) or to a `DiagExt` in the same allocation as the header that holds
// this value, whose shared parts are immutable or atomics, so sharing and sending it across
// threads is sound.
unsafe impl Send for TaskDiag {}
// SAFETY: as above.
unsafe impl Sync for TaskDiag {}

/// The optional part of a [`TaskDiag`], stored after the task's cell (see the module docs).
pub(crate) struct DiagExt {
    spawned_at: &'static Location<'static>,
    name: TaskName,
    /// Estimated total poll time in ns (sampled polls × the sampling interval).
    poll_ns: AtomicU64,
    /// Coarse clock at the start of the last poll; 0 = not recorded.
    last_poll: AtomicU64,
    /// Coarse clock at spawn; 0 = not recorded.
    spawned: u64,
    /// The fine clock's stamp (`observe::clock`) when the task was queued for a sampled
    /// poll; 0 = none.
    woke: AtomicU64,
    /// The runtime's sampling interval (a power of two), 0 = histograms off.
    sample: u32,
}

/// Names up to this many bytes live in the [`DiagExt`] itself.
const INLINE_NAME: usize = 30;
/// [`TaskName::len`] of an unnamed task.
const NO_NAME: u8 = u8::MAX;
/// [`TaskName::len`] of a name longer than [`INLINE_NAME`], boxed in [`NameBytes::long`].
const LONG_NAME: u8 = u8::MAX - 1;
const _: () = assert!(INLINE_NAME < LONG_NAME as usize);

/// A task's name, if any: a short one is kept in the task's record (so a named spawn
/// allocates nothing for it), a longer one in a box of its own. Written in place by
/// [`ExtPlan::write`], so a short name's bytes are copied once, straight into the cell.
struct TaskName {
    /// [`NO_NAME`], [`LONG_NAME`], or the length of an inline name (which selects the field
    /// of `bytes` that is initialized).
    len: u8,
    bytes: NameBytes,
}

union NameBytes {
    /// The first `len` bytes are a copy of a whole `str` (so valid UTF-8); the rest is unset.
    inline: [MaybeUninit<u8>; INLINE_NAME],
    long: ManuallyDrop<Box<str>>,
}

impl TaskName {
    fn as_str(&self) -> Option<&str> {
        match self.len {
            NO_NAME => None,
            // SAFETY: `LONG_NAME` means `long` was written (`ExtPlan::write`).
            LONG_NAME => Some(unsafe { &self.bytes.long }),
            len => {
                // SAFETY: any other `len` is an inline name whose first `len` bytes were
                // written (`ExtPlan::write`).
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        self.bytes.inline.as_ptr().cast::<u8>(),
                        usize::from(len),
                    )
                };
                Some(std::str::from_utf8(bytes).expect("an inline name is a copy of a whole str"))
            }
        }
    }
}

impl Drop for TaskName {
    fn drop(&mut self) {
        if self.len == LONG_NAME {
            // SAFETY: `LONG_NAME` means `long` holds a box, dropped only here.
            unsafe { ManuallyDrop::drop(&mut self.bytes.long) }
        }
    }
}

impl TaskDiag {
    /// The record of a task without a [`DiagExt`]: its spawn location alone.
    #[inline]
    pub(crate) fn plain(at: &'static Location<'static>) -> TaskDiag {
        TaskDiag {
            tagged: NonNull::from(at).cast(),
        }
    }

    /// The record of a task whose [`DiagExt`] is `ext`.
    ///
    /// `ext` must live exactly as long as the header that stores the returned value (the
    /// task cell's allocation holds both; see `raw.rs`), and must not move.
    #[inline]
    pub(crate) fn with_ext(ext: NonNull<DiagExt>) -> TaskDiag {
        let tagged = ext.as_ptr().cast::<u8>().wrapping_add(EXT);
        TaskDiag {
            // SAFETY: `ext` is non-null and 2-aligned, so adding 1 stays non-null.
            tagged: unsafe { NonNull::new_unchecked(tagged) },
        }
    }

    #[inline]
    fn ext_ptr(&self) -> Option<*mut DiagExt> {
        let p = self.tagged.as_ptr();
        (p as usize & EXT != 0).then(|| p.wrapping_sub(EXT).cast::<DiagExt>())
    }

    #[inline]
    fn ext(&self) -> Option<&DiagExt> {
        // SAFETY: a tagged pointer is a live `DiagExt` in the same allocation as the header
        // holding `self` (see `with_ext`), so it lives at least as long as `&self`.
        self.ext_ptr().map(|p| unsafe { &*p })
    }

    /// Whether the task records only its spawn location (nothing to update per poll).
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.ext_ptr().is_none()
    }

    /// Where the task was spawned.
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        match self.ext() {
            Some(e) => e.spawned_at,
            // SAFETY: an untagged pointer is the `&'static Location` stored by `new`.
            None => unsafe { self.tagged.cast::<Location<'static>>().as_ref() },
        }
    }

    /// The task's name, if it was spawned with one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.ext().and_then(|e| e.name.as_str())
    }

    #[inline]
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
    #[inline]
    pub(crate) fn is_sampled(polls: u64, id: Id, every: u32) -> bool {
        polls.wrapping_add(id.as_u64()) & u64::from(every - 1) == 0
    }

    /// Stamps the wake time if the task's next poll (after `polls` polls) is sampled.
    /// Inlined into every wake of an observed task: a few loads and a compare, plus one read
    /// of the fine clock for a sampled poll.
    #[inline]
    pub(crate) fn stamp_woke_if_sampled(&self, polls: u32, id: Id) {
        let Some(e) = self.ext() else { return };
        let every = e.sample;
        if every != 0 && Self::is_sampled(u64::from(polls), id, every) {
            e.woke.store(crate::observe::clock::stamp(), Relaxed);
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
        DiagReading {
            poll_ns: ext.map_or(0, |e| e.poll_ns.load(Relaxed)),
            timed: ext.is_some_and(|e| e.sample != 0),
            last_poll: ext.map_or(0, |e| e.last_poll.load(Relaxed)),
            spawned: ext.map_or(0, |e| e.spawned),
        }
    }
}

impl DiagExt {
    /// What a task spawned as `meta` describes, on a runtime observed by `observer` (`None`
    /// for tasks outside a runtime's owned list, such as blocking jobs), records beyond its
    /// spawn location; `None` when nothing (unnamed, and the runtime observes nothing).
    #[inline]
    pub(crate) fn plan<'a>(
        meta: TaskMeta<'a>,
        observer: Option<&'a crate::observe::Observer>,
    ) -> Option<ExtPlan<'a>> {
        let observer = observer.filter(|o| o.is_active());
        if meta.name.is_none() && observer.is_none() {
            return None;
        }
        Some(ExtPlan { meta, observer })
    }
}

/// A [`DiagExt`] to be written in place (see [`DiagExt::plan`]).
pub(crate) struct ExtPlan<'a> {
    meta: TaskMeta<'a>,
    observer: Option<&'a crate::observe::Observer>,
}

impl ExtPlan<'_> {
    /// Initializes the record at `dst` field by field, so that nothing (a short name's bytes
    /// in particular) passes through a copy on the stack first.
    ///
    /// # Safety
    /// `dst` must be valid for writes and aligned; whatever it held is overwritten, not
    /// dropped.
    #[inline]
    pub(crate) unsafe fn write(self, dst: *mut DiagExt) {
        let ExtPlan { meta, observer } = self;
        // SAFETY: `dst` is valid for writes (the caller's contract); every field is written
        // once, through a place derived from `dst`, and the union field written is the one
        // `len` selects.
        unsafe {
            addr_of_mut!((*dst).spawned_at).write(meta.at);
            addr_of_mut!((*dst).poll_ns).write(AtomicU64::new(0));
            addr_of_mut!((*dst).last_poll).write(AtomicU64::new(0));
            addr_of_mut!((*dst).spawned).write(observer.map_or(0, |o| o.coarse_now()));
            addr_of_mut!((*dst).woke).write(AtomicU64::new(0));
            addr_of_mut!((*dst).sample).write(observer.map_or(0, |o| o.settings.sample_every));
            let name = addr_of_mut!((*dst).name);
            let len = match meta.name {
                None => NO_NAME,
                Some(n) if n.len() > INLINE_NAME => {
                    addr_of_mut!((*name).bytes.long).write(ManuallyDrop::new(Box::from(n)));
                    LONG_NAME
                }
                Some(n) => {
                    let to = addr_of_mut!((*name).bytes.inline).cast::<u8>();
                    std::ptr::copy_nonoverlapping(n.as_ptr(), to, n.len());
                    n.len() as u8
                }
            };
            addr_of_mut!((*name).len).write(len);
        }
    }
}

/// See [`TaskDiag::read`].
pub(crate) struct DiagReading {
    pub(crate) poll_ns: u64,
    pub(crate) timed: bool,
    pub(crate) last_poll: u64,
    pub(crate) spawned: u64,
}
