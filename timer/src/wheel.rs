//! The hierarchical timing wheel: an intrusive, single-threaded data structure.
//!
//! Time is counted in *ticks* of `TICK_NANOS` (1 µs) since the driver's origin. The wheel has
//! [`LEVELS`] levels of [`SLOTS`] slots; a slot at level `l` spans `256^l` ticks, so level 0 has
//! 1 µs resolution over 256 µs, level 1 covers 65 ms (where most sleeps of a few to tens of
//! milliseconds land, one cascade from firing), and level 7 covers the whole `u64` tick range
//! (no deadline is ever clamped).
//!
//! # Intrusive nodes
//! The wheel allocates nothing per entry: each entry carries its own [`Links`] (its tick and
//! the two list pointers) and the wheel links entries into per-slot doubly linked lists by raw
//! pointer. A type opts in by implementing [`Node`]. The wheel's contract with its caller is:
//! - a node is *linked* from a successful [`Wheel::insert`] until [`Wheel::remove`], a
//!   [`Wheel::reschedule`] that finds it due, or [`Wheel::poll`] returns it;
//! - while linked, the node stays at its address and alive, and nothing but this wheel touches
//!   its `Links` (the driver guarantees both: entries are pinned, unlinked before they are
//!   dropped, and every call into the wheel holds the driver's lock).
//!
//! # Invariants
//! - `elapsed` is the last tick processed: every entry with `when <= elapsed` has been handed
//!   out by `poll` or sits on the `pending` list, about to be.
//! - An entry in a slot lives at the level of the highest 8-bit group in which `when` differs
//!   from `elapsed`, in the slot given by that group of `when`. Hence every occupied slot of a
//!   level lies strictly after `elapsed`'s own slot of that level, the lowest non-empty level
//!   holds the earliest expiration, and no level ever wraps around. A cascade relinks the same
//!   node one or more levels lower.
//! - `occupied[l]` has bit `s` set exactly when slot `s` of level `l` is non-empty.
//! - `pending` holds due entries (`when <= elapsed`) taken out of their slot but not yet
//!   returned by `poll`: the driver may release its lock between batches of wake-ups, and a
//!   pending entry can still be removed or rescheduled meanwhile. Its nodes carry
//!   `level == PENDING`.
//!
//! # Firing
//! [`Wheel::poll`] returns the pending entries one by one; when there are none it takes the
//! earliest expiring slot not after `now`, sets `elapsed` to that slot's first tick and moves
//! each of its entries either to `pending` (`when <= elapsed`) or one or more levels lower.
//! Deadlines are converted to ticks rounding *up*, and `now` rounding *down*, so an entry never
//! fires before its deadline.

use std::ptr::NonNull;

/// Duration of one wheel tick in nanoseconds.
pub(crate) const TICK_NANOS: u64 = 1_000;

/// Number of slots per level (one 8-bit group of a tick).
pub(crate) const SLOTS: usize = 256;

/// Number of levels: `256^8 = 2^64`, so every `u64` tick has a level.
pub(crate) const LEVELS: usize = 8;

/// Longest higher-level slot list [`Wheel::next_expiration`] scans for an exact answer.
const SCAN_LIMIT: usize = 32;

const SLOT_BITS: u32 = 8;
const WORDS: usize = SLOTS / 64;
/// The `level` of a node on the `pending` list.
const PENDING: u8 = LEVELS as u8;

/// The part of a node that the wheel owns while the node is linked.
pub(crate) struct Links<T> {
    /// The tick at which the node is due.
    when: u64,
    prev: Option<NonNull<T>>,
    next: Option<NonNull<T>>,
    level: u8,
    slot: u8,
}

impl<T> Links<T> {
    /// Links of a node that is not in any wheel.
    pub(crate) const fn new() -> Links<T> {
        Links {
            when: 0,
            prev: None,
            next: None,
            level: 0,
            slot: 0,
        }
    }
}

/// A type whose values can be linked into a [`Wheel`].
///
/// # Safety
/// `with_links` must run `f` on links that belong to the node at `ptr` alone (no two nodes
/// share links), and must not touch the links otherwise.
pub(crate) unsafe trait Node: Sized {
    /// Runs `f` on the links of the node at `ptr`.
    ///
    /// # Safety
    /// `ptr` points to a live node, and the caller has exclusive access to its links: the node
    /// is linked into the caller's wheel (see the module's contract), or not linked at all and
    /// the caller is the only one holding a pointer to it.
    unsafe fn with_links<R>(ptr: NonNull<Self>, f: impl FnOnce(&mut Links<Self>) -> R) -> R;
}

struct Level<T> {
    occupied: [u64; WORDS],
    heads: [Option<NonNull<T>>; SLOTS],
}

impl<T> Level<T> {
    fn first_occupied(&self) -> Option<usize> {
        self.occupied
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// The highest occupied slot at or below `slot`.
    fn last_occupied_upto(&self, slot: usize) -> Option<usize> {
        let mut word = slot / 64;
        // Bits 0..=slot % 64 of the first word looked at.
        let mut mask = u64::MAX >> (63 - slot % 64);
        loop {
            let bits = self.occupied[word] & mask;
            if bits != 0 {
                return Some(word * 64 + 63 - bits.leading_zeros() as usize);
            }
            if word == 0 {
                return None;
            }
            word -= 1;
            mask = u64::MAX;
        }
    }

    fn clear(&mut self, slot: usize) {
        self.occupied[slot / 64] &= !(1u64 << (slot % 64));
    }
}

/// A hierarchical timing wheel of intrusive nodes of type `T`.
pub(crate) struct Wheel<T> {
    elapsed: u64,
    levels: Box<[Level<T>]>,
    pending: Option<NonNull<T>>,
    len: usize,
}

// SAFETY: the wheel only holds pointers to linked nodes, whose links it alone may touch (the
// module's contract), and hands them out only to its owner; moving the wheel to another thread
// moves that exclusive access with it. `T: Sync` because the owner may use the nodes it gets
// back from any thread.
unsafe impl<T: Node + Sync> Send for Wheel<T> {}

impl<T: Node> Wheel<T> {
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            levels: (0..LEVELS)
                .map(|_| Level {
                    occupied: [0; WORDS],
                    heads: [None; SLOTS],
                })
                .collect(),
            pending: None,
            len: 0,
        }
    }

    /// Number of linked entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `node` to fire at tick `when`. Returns `false`, leaving it unlinked, if it is
    /// already due (`when <= elapsed`): the caller completes it without going through the wheel.
    ///
    /// # Safety
    /// `node` is live, not linked into any wheel, and keeps the module's contract while linked.
    pub(crate) unsafe fn insert(&mut self, node: NonNull<T>, when: u64) -> bool {
        if when <= self.elapsed {
            return false;
        }
        // SAFETY: the caller hands the node over unlinked; from here it is linked here.
        unsafe { T::with_links(node, |l| l.when = when) };
        // SAFETY: as above.
        unsafe { self.link(node) };
        self.len += 1;
        true
    }

    /// Unlinks `node`.
    ///
    /// # Safety
    /// `node` is linked into this wheel.
    pub(crate) unsafe fn remove(&mut self, node: NonNull<T>) {
        // SAFETY: the caller's guarantee.
        unsafe { self.unlink(node) };
        self.len -= 1;
    }

    /// Moves `node` to tick `when`. If `when` is already due the node is unlinked and `false`
    /// returned.
    ///
    /// # Safety
    /// `node` is linked into this wheel.
    pub(crate) unsafe fn reschedule(&mut self, node: NonNull<T>, when: u64) -> bool {
        // SAFETY: the caller's guarantee.
        unsafe { self.unlink(node) };
        if when <= self.elapsed {
            self.len -= 1;
            return false;
        }
        // SAFETY: still ours: it was linked here and is relinked at once.
        unsafe {
            T::with_links(node, |l| l.when = when);
            self.link(node);
        }
        true
    }

    /// The earliest pending deadline when it can be found cheaply, else a lower bound on it.
    ///
    /// For a level-0 slot the slot's tick is exact. For a higher-level slot with at most
    /// [`SCAN_LIMIT`] entries the list is scanned for its earliest `when` (so a sparse wheel,
    /// such as one periodic timer, parks once per deadline instead of once per level);
    /// a longer list yields the slot's start, and the owner wakes there to cascade it.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.pending.is_some() {
            return Some(self.elapsed);
        }
        let (level, slot, at) = self.next_slot()?;
        if level == 0 {
            return Some(at);
        }
        Some(
            self.fold_slot(level, slot, u64::MAX, u64::min)
                .unwrap_or(at),
        )
    }

    /// `f` folded over the `when`s of slot `slot` of level `level`, from `init`; `None` if
    /// its list holds more than [`SCAN_LIMIT`] entries.
    fn fold_slot(
        &self,
        level: usize,
        slot: usize,
        init: u64,
        f: impl Fn(u64, u64) -> u64,
    ) -> Option<u64> {
        let mut cur = self.levels[level].heads[slot];
        let mut acc = init;
        for _ in 0..SCAN_LIMIT {
            let Some(node) = cur else {
                return Some(acc);
            };
            // SAFETY: a node in a slot list is linked here; `&self` excludes `&mut` users.
            let (when, next) = unsafe { T::with_links(node, |l| (l.when, l.next)) };
            acc = f(acc, when);
            cur = next;
        }
        cur.is_none().then_some(acc)
    }

    /// The latest tick in `from..=limit` at which an entry is due, as far as it is found
    /// cheaply, else `from`: a level-0 slot is one tick, and a higher-level slot's list is
    /// scanned when it holds at most [`SCAN_LIMIT`] entries (a longer one is passed over).
    /// The owner parks until then to fire, in one wake-up, the entries due between its
    /// earliest deadline `from` and `limit` (the driver's busy slack).
    pub(crate) fn latest_due_by(&self, from: u64, limit: u64) -> u64 {
        let mut best = from;
        // Every entry of a level is due after every entry of the levels below it (see the
        // invariants), so each level can only move `best` later.
        for (level, lv) in self.levels.iter().enumerate() {
            let shift = SLOT_BITS * level as u32;
            let block = self.elapsed & !span_mask(level);
            if block > limit {
                // `elapsed` is past `limit`: nothing is due in the range.
                break;
            }
            let mut slot = ((limit - block) >> shift).min(SLOTS as u64 - 1) as usize;
            while let Some(s) = lv.last_occupied_upto(slot) {
                let start = block + ((s as u64) << shift);
                if start.saturating_add((1u64 << shift) - 1) <= best {
                    // This slot and every slot below it end at or before `best`.
                    break;
                }
                // A level-0 slot is one tick (at most `limit`: `slot` starts there at most);
                // a higher one's latest `when` up to `limit`, if its list is short enough (0:
                // none; every `when` is after `elapsed`, so above 0).
                let latest = if level == 0 {
                    Some(start)
                } else {
                    self.fold_slot(level, s, 0, |m, w| if w <= limit { m.max(w) } else { m })
                        .filter(|&m| m != 0)
                };
                if let Some(when) = latest {
                    best = best.max(when);
                    break;
                }
                if s == 0 {
                    break;
                }
                slot = s - 1;
            }
        }
        best
    }

    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, lv) in self.levels.iter().enumerate() {
            if let Some(slot) = lv.first_occupied() {
                let shift = SLOT_BITS * level as u32;
                let block = self.elapsed & !span_mask(level);
                return Some((level, slot, block + ((slot as u64) << shift)));
            }
        }
        None
    }

    /// Unlinks and returns the next entry due at or before tick `now`, or `None` when nothing
    /// more is due (the wheel has then processed every tick up to `now`).
    pub(crate) fn poll(&mut self, now: u64) -> Option<NonNull<T>> {
        loop {
            if let Some(node) = self.pending {
                // SAFETY: a pending node is linked here.
                unsafe { self.remove(node) };
                return Some(node);
            }
            match self.next_slot() {
                Some((level, slot, at)) if at <= now => self.expire(level, slot, at),
                _ => {
                    self.elapsed = self.elapsed.max(now);
                    return None;
                }
            }
        }
    }

    /// Empties slot `slot` of level `level`, which starts at tick `at` (`elapsed` moves there):
    /// due entries go to `pending`, the others one or more levels down.
    fn expire(&mut self, level: usize, slot: usize, at: u64) {
        debug_assert!(at >= self.elapsed);
        self.elapsed = at;
        let lv = &mut self.levels[level];
        let mut cur = lv.heads[slot].take();
        lv.clear(slot);
        while let Some(node) = cur {
            // SAFETY: every node of the detached list is still linked here (by the contract
            // nobody else touches it); it is relinked below before anyone can look.
            unsafe {
                let (when, next) = T::with_links(node, |l| (l.when, l.next));
                if when <= self.elapsed {
                    self.push_pending(node);
                } else {
                    self.link(node);
                }
                cur = next;
            }
        }
    }

    /// # Safety
    /// `node` is ours (linked here, or being linked) and is in no list.
    unsafe fn push_pending(&mut self, node: NonNull<T>) {
        let head = self.pending.replace(node);
        // SAFETY: the caller's guarantee; `head` is a pending node, linked here.
        unsafe {
            if let Some(head) = head {
                T::with_links(head, |l| l.prev = Some(node));
            }
            T::with_links(node, |l| {
                l.prev = None;
                l.next = head;
                l.level = PENDING;
            });
        }
    }

    /// Pushes `node` onto the front of the slot its `when` belongs in.
    ///
    /// # Safety
    /// `node` is ours (linked here, or being linked) and is in no list; `when > elapsed`.
    unsafe fn link(&mut self, node: NonNull<T>) {
        // SAFETY: the caller's guarantee.
        let when = unsafe { T::with_links(node, |l| l.when) };
        debug_assert!(when > self.elapsed);
        let masked = (self.elapsed ^ when) | (SLOTS as u64 - 1);
        let level = ((63 - masked.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((when >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
        let lv = &mut self.levels[level];
        let head = lv.heads[slot].replace(node);
        lv.occupied[slot / 64] |= 1u64 << (slot % 64);
        // SAFETY: `head` is linked here; `node` by the caller's guarantee.
        unsafe {
            if let Some(head) = head {
                T::with_links(head, |l| l.prev = Some(node));
            }
            T::with_links(node, |l| {
                l.prev = None;
                l.next = head;
                l.level = level as u8;
                l.slot = slot as u8;
            });
        }
    }

    /// Takes `node` out of its list (slot or pending).
    ///
    /// # Safety
    /// `node` is linked here.
    unsafe fn unlink(&mut self, node: NonNull<T>) {
        // SAFETY: the caller's guarantee.
        let (prev, next, level, slot) =
            unsafe { T::with_links(node, |l| (l.prev, l.next, l.level, l.slot as usize)) };
        match prev {
            // SAFETY: a list neighbour of a linked node is linked here.
            Some(prev) => unsafe { T::with_links(prev, |l| l.next = next) },
            None if level == PENDING => self.pending = next,
            None => {
                let lv = &mut self.levels[level as usize];
                lv.heads[slot] = next;
                if next.is_none() {
                    lv.clear(slot);
                }
            }
        }
        if let Some(next) = next {
            // SAFETY: as for `prev`.
            unsafe { T::with_links(next, |l| l.prev = prev) };
        }
    }
}

/// Mask of the tick bits below level `level`'s parent slot (the bits a level-`level` slot
/// block varies in).
fn span_mask(level: usize) -> u64 {
    let bits = SLOT_BITS * (level as u32 + 1);
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[cfg(all(test, not(loom)))]
#[path = "wheel_tests.rs"]
mod tests;
