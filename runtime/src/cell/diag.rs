//! What a task records about itself for dumps, stall reports and `JoinError`s.
//!
//! The header pays for this with one word, [`TaskDiag`], plus the poll count that shares a
//! word with the owned-list slot (see `raw.rs`), so a task cell is no larger than it would be
//! without diagnostics. `TaskDiag` is a tagged pointer, set when the cell is created and never
//! changed afterwards:
//! - low bit 0: the `&'static Location` the task was spawned at. An unnamed task on a runtime
//!   that does not observe polls records nothing else, and allocates nothing.
//! - low bit 1: a [`DiagExt`] owned by the task (freed with it), holding the spawn location,
//!   the name (inline up to 22 bytes, so a named spawn allocates once more, not twice) and the
//!   fields of an observed runtime. Allocated only for a named task or on a
//!   runtime with `Builder::stall_threshold` or `Builder::poll_histograms`.
//!
//! `DiagExt` field access:
//! - `spawned_at`, `name`, `spawned`: written at creation, read-only afterwards.
//! - `last_poll`, `poll_ns`: written only by the thread holding the task's `RUNNING` flag
//!   (Relaxed load + store, no read-modify-write), read by dumps at any time.
//! - `woke`: stamped by whoever queues the task for a sampled poll (the poll before it set the
//!   state's `SAMPLE_NEXT`, see `observe`), or by the spawn for a sampled first poll; cleared
//!   by that poll.
//!
//! All of these are diagnostics: they never order other memory, so every access is Relaxed.
//! The pointer itself is published with the task (the owned list's lock, the run queues).
//!
//! A record is one cache line, aligned to it: the field every observed poll writes
//! (`last_poll`) shares its line with no other memory (a neighbour polled on another worker
//! would make that line travel between the workers' caches on every poll of either task), and
//! a task's spawn, polls and completion touch one line of it, not two.
//!
//! Records are recycled (`diag_pool.rs`): a thread keeps the memory of the records it frees
//! for the next ones it creates, so an observed or named spawn does not go through
//! `malloc`/`free` in steady state (nor the allocator's slower path for aligned blocks).

use super::{Id, TaskMeta};
use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::mem::MaybeUninit;
use std::panic::Location;
use std::ptr::{self, addr_of_mut, NonNull};

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
// `&'static Location` (Sync) or to a `DiagExt` owned by this value whose shared parts are
// immutable or atomics, so sharing and sending it across threads is sound.
unsafe impl Send for TaskDiag {}
// SAFETY: as above.
unsafe impl Sync for TaskDiag {}

/// The optional part of a [`TaskDiag`]: one cache line, aligned to it, so that the field
/// every observed poll writes (`last_poll`) shares its line with nothing but this record's
/// other fields, and a spawn, a poll and the completion of a task touch one line of it.
#[repr(C, align(64))]
struct DiagExt {
    // Written at creation, read by dumps, reports and the drop.
    spawned_at: &'static Location<'static>,
    name: Option<TaskName>,
    /// Coarse clock at spawn; 0 = not recorded.
    spawned: u64,
    /// Coarse clock at the start of the last poll; 0 = not recorded. Every observed poll.
    last_poll: AtomicU64,
    /// The fine clock's stamp (`observe::clock`) when the task was queued for a sampled
    /// poll; 0 = none.
    woke: AtomicU64,
    /// Estimated total poll time in ns (sampled polls × the sampling interval).
    poll_ns: AtomicU64,
}

// One line exactly, where it was measured: 64-bit targets (loom's atomics are larger).
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () =
    assert!(std::mem::size_of::<DiagExt>() == 64 && std::mem::size_of::<Option<TaskName>>() == 24);

/// The fine clock's stamp, out of line: a spawn takes it for one first poll in the sampling
/// interval, and inlined it would weigh on every named or observed spawn.
#[cold]
#[inline(never)]
fn stamp_cold() -> u64 {
    crate::observe::clock::stamp()
}

/// Names up to this many bytes live in the [`DiagExt`] itself.
const INLINE_NAME: usize = 22;

/// A task's name: a short one is kept in the task's record (so a named spawn allocates once),
/// a longer one in a box of its own.
enum TaskName {
    /// The first `len` bytes of `bytes` are the name; the rest are never read (and never
    /// written: a spawn stores only the name's own bytes).
    Inline {
        len: u8,
        bytes: [MaybeUninit<u8>; INLINE_NAME],
    },
    Boxed(Box<str>),
}

impl TaskName {
    /// Writes the name `name` into `slot`, in place: a short name's bytes are copied straight
    /// into the record (building the value first and moving it costs a copy through the stack
    /// on every named spawn), a long one is boxed.
    ///
    /// # Safety
    /// `slot` is valid for writes and holds nothing live.
    #[inline]
    unsafe fn write_to(slot: *mut Option<TaskName>, name: &str) {
        let n = name.len();
        if n > INLINE_NAME {
            // SAFETY: the caller's contract.
            unsafe { slot.write(Some(TaskName::boxed(name))) };
            return;
        }
        // SAFETY: the caller's contract; `MaybeUninit` bytes need no initialization.
        unsafe {
            slot.write(Some(TaskName::Inline {
                len: n as u8,
                bytes: [MaybeUninit::uninit(); INLINE_NAME],
            }))
        };
        // SAFETY: written just above; nothing else refers to it yet.
        if let Some(TaskName::Inline { bytes, .. }) = unsafe { &mut *slot } {
            copy_short(&mut bytes[..n], name.as_bytes());
        }
    }

    #[cold]
    #[inline(never)]
    fn boxed(name: &str) -> TaskName {
        TaskName::Boxed(Box::from(name))
    }

    fn as_str(&self) -> &str {
        match self {
            TaskName::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: the first `len` bytes were copied from a `&str` by `write_to`.
                let bytes = unsafe { &*(bytes as *const [MaybeUninit<u8>] as *const [u8]) };
                std::str::from_utf8(bytes).expect("an inline name is a copy of a whole str")
            }
            TaskName::Boxed(name) => name,
        }
    }
}

/// Copies `src` into `dst` (of the same length, at most [`INLINE_NAME`]) with at most two
/// overlapping fixed-size moves instead of a call to `memcpy`: a named spawn copies its name
/// once, and the call and its length dispatch cost more than the copy of a short name.
#[inline]
fn copy_short(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    let n = src.len();
    assert!(
        dst.len() >= n,
        "a name is copied into a slot large enough for it"
    );
    let (d, s) = (dst[..n].as_mut_ptr().cast::<u8>(), src.as_ptr());
    // SAFETY: `d` and `s` are valid for `n` bytes each and do not overlap (`dst` is a
    // `&mut`); every copy below stays within the first `n` bytes, with a constant length, so
    // each is a single move rather than a call.
    unsafe {
        if n >= 16 {
            ptr::copy_nonoverlapping(s, d, 16);
            ptr::copy_nonoverlapping(s.add(n - 16), d.add(n - 16), 16);
        } else if n >= 8 {
            ptr::copy_nonoverlapping(s, d, 8);
            ptr::copy_nonoverlapping(s.add(n - 8), d.add(n - 8), 8);
        } else if n >= 4 {
            ptr::copy_nonoverlapping(s, d, 4);
            ptr::copy_nonoverlapping(s.add(n - 4), d.add(n - 4), 4);
        } else {
            for i in 0..n {
                *d.add(i) = *s.add(i);
            }
        }
    }
}

impl Drop for TaskDiag {
    #[inline]
    fn drop(&mut self) {
        if let Some(ext) = self.ext_ptr() {
            // SAFETY: a tagged pointer came from `pool::alloc` in `TaskDiag::with_ext` and is
            // owned by this value alone; `&mut self` means nobody else reads it now.
            unsafe { pool::destroy(ext) };
        }
    }
}

impl TaskDiag {
    /// The record of task `id` spawned as `meta` describes, on a runtime observed by
    /// `observer` (`None` for tasks outside a runtime's owned list, such as blocking jobs).
    #[inline]
    pub(crate) fn new(
        meta: TaskMeta<'_>,
        observer: Option<&crate::observe::Observer>,
        id: Id,
    ) -> TaskDiag {
        let observer = observer.filter(|o| o.is_active());
        if meta.name.is_none() && observer.is_none() {
            return TaskDiag {
                tagged: NonNull::from(meta.at).cast(),
            };
        }
        TaskDiag::with_ext(meta, observer, id)
    }

    #[inline(never)]
    fn with_ext(
        meta: TaskMeta<'_>,
        observer: Option<&crate::observe::Observer>,
        id: Id,
    ) -> TaskDiag {
        let ext = pool::alloc();
        let (spawned, woke) = match observer {
            // The spawn queues the first poll: stamped here if that poll is timed.
            Some(o) => (
                o.coarse_now(),
                if Self::sample_rest(0, id, o.sample_mask) == 0 {
                    stamp_cold()
                } else {
                    0
                },
            ),
            None => (0, 0),
        };
        // SAFETY: `ext` is an unused block of `DiagExt`'s layout, ours alone until this
        // function returns it; each field is written once, in place (no temporary record is
        // built and moved), which makes the record live.
        unsafe {
            addr_of_mut!((*ext).spawned_at).write(meta.at);
            addr_of_mut!((*ext).poll_ns).write(AtomicU64::new(0));
            addr_of_mut!((*ext).last_poll).write(AtomicU64::new(0));
            addr_of_mut!((*ext).spawned).write(spawned);
            addr_of_mut!((*ext).woke).write(AtomicU64::new(woke));
            let name = addr_of_mut!((*ext).name);
            match meta.name {
                Some(n) => TaskName::write_to(name, n),
                None => name.write(None),
            }
        }
        let tagged = ext.cast::<u8>().wrapping_add(EXT);
        TaskDiag {
            // SAFETY: `ext` is a non-null, 2-aligned heap pointer, so adding 1 stays non-null.
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
        // SAFETY: a tagged pointer is a live `DiagExt` owned by `self`, freed only in `Drop`.
        self.ext_ptr().map(|p| unsafe { &*p })
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
        self.ext()
            .and_then(|e| e.name.as_ref())
            .map(TaskName::as_str)
    }

    #[inline]
    pub(crate) fn set_last_poll(&self, coarse: u64) {
        if let Some(e) = self.ext() {
            e.last_poll.store(coarse, Relaxed);
        }
    }

    /// The coarse clock at the start of the last poll; 0 if not recorded.
    pub(crate) fn last_poll(&self) -> u64 {
        self.ext().map_or(0, |e| e.last_poll.load(Relaxed))
    }

    pub(crate) fn add_poll_time(&self, ns: u64) {
        if let Some(e) = self.ext() {
            e.poll_ns
                .store(e.poll_ns.load(Relaxed).saturating_add(ns), Relaxed);
        }
    }

    /// Where the poll that follows `polls` earlier polls falls in the sampling interval of a
    /// runtime whose [`Observer::sample_mask`](crate::observe::Observer::sample_mask) is
    /// `mask`: it is timed when this is 0 (one poll in `mask + 1`, spread over tasks by id so
    /// that one-poll tasks are sampled too), and the poll before a timed one has `mask`. With
    /// histograms off the mask is all ones and neither happens, without a separate test:
    /// `polls + id` is never 0 nor all ones, as an id is at least 1 and the id counter never
    /// gets within 2^32 of wrapping.
    #[inline]
    pub(crate) fn sample_rest(polls: u32, id: Id, mask: u64) -> u64 {
        u64::from(polls).wrapping_add(id.as_u64()) & mask
    }

    /// Stamps the wake time for a timed poll (the caller saw the state's `SAMPLE_NEXT`).
    #[cold]
    pub(crate) fn stamp_woke(&self) {
        if let Some(e) = self.ext() {
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
            last_poll: ext.map_or(0, |e| e.last_poll.load(Relaxed)),
            spawned: ext.map_or(0, |e| e.spawned),
        }
    }
}

#[path = "diag_pool.rs"]
mod pool;

/// See [`TaskDiag::read`].
pub(crate) struct DiagReading {
    pub(crate) poll_ns: u64,
    pub(crate) last_poll: u64,
    pub(crate) spawned: u64,
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{copy_short, TaskName, INLINE_NAME};
    use std::mem::MaybeUninit;

    #[test]
    fn short_copies_are_exact_at_every_length() {
        let src: Vec<u8> = (1..=INLINE_NAME as u8).collect();
        for n in 0..=INLINE_NAME {
            let mut dst = [MaybeUninit::new(0u8); INLINE_NAME];
            copy_short(&mut dst[..n], &src[..n]);
            // SAFETY: every byte was initialized above.
            let dst: [u8; INLINE_NAME] = unsafe { std::mem::transmute(dst) };
            assert_eq!(&dst[..n], &src[..n], "length {n}");
            assert!(
                dst[n..].iter().all(|&b| b == 0),
                "length {n} wrote past the end"
            );
        }
    }

    fn make(name: &str) -> TaskName {
        let mut slot = MaybeUninit::<Option<TaskName>>::uninit();
        // SAFETY: a fresh slot, written once and then read.
        unsafe {
            TaskName::write_to(slot.as_mut_ptr(), name);
            slot.assume_init().expect("write_to writes a name")
        }
    }

    #[test]
    fn names_round_trip_inline_and_boxed() {
        for name in [
            "",
            "a",
            "conn 42",
            "bench task",
            "exactly sixteen!",
            &"x".repeat(22),
        ] {
            let n = make(name);
            assert!(
                matches!(n, TaskName::Inline { .. }),
                "{name:?} is kept inline"
            );
            assert_eq!(n.as_str(), name);
        }
        let long = "y".repeat(23);
        let n = make(&long);
        assert!(matches!(n, TaskName::Boxed(_)));
        assert_eq!(n.as_str(), long);
    }
}
