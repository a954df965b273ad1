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
        let mut cur = self.levels[level].heads[slot];
        let mut earliest = u64::MAX;
        for _ in 0..SCAN_LIMIT {
            let Some(node) = cur else {
                return Some(earliest);
            };
            // SAFETY: a node in a slot list is linked here; `&self` excludes `&mut` users.
            let (when, next) = unsafe { T::with_links(node, |l| (l.when, l.next)) };
            earliest = earliest.min(when);
            cur = next;
        }
        Some(if cur.is_none() { earliest } else { at })
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
mod tests {
    use super::*;
    use crate::loom::UnsafeCell;

    struct TestNode {
        id: u32,
        links: UnsafeCell<Links<TestNode>>,
    }

    // SAFETY: each node's links are its own field.
    unsafe impl Node for TestNode {
        unsafe fn with_links<R>(ptr: NonNull<Self>, f: impl FnOnce(&mut Links<Self>) -> R) -> R {
            // SAFETY: the caller's guarantee (live node, exclusive access to its links).
            unsafe { ptr.as_ref().links.with_mut(|l| f(&mut *l)) }
        }
    }

    /// A wheel over boxed nodes (stable addresses) named by id, with the linked set tracked.
    struct Harness {
        wheel: Wheel<TestNode>,
        #[allow(
            clippy::vec_box,
            reason = "linked nodes must keep their address while the Vec grows"
        )]
        nodes: Vec<Box<TestNode>>,
        linked: Vec<bool>,
    }

    impl Harness {
        fn new() -> Harness {
            Harness {
                wheel: Wheel::new(),
                nodes: Vec::new(),
                linked: Vec::new(),
            }
        }

        fn node(&mut self, id: u32) -> NonNull<TestNode> {
            while self.nodes.len() <= id as usize {
                self.nodes.push(Box::new(TestNode {
                    id: self.nodes.len() as u32,
                    links: UnsafeCell::new(Links::new()),
                }));
                self.linked.push(false);
            }
            NonNull::from(&*self.nodes[id as usize])
        }

        fn insert(&mut self, when: u64, id: u32) -> Result<(), u32> {
            let node = self.node(id);
            assert!(!self.linked[id as usize]);
            // SAFETY: the node is boxed, unlinked, and outlives the wheel's use of it.
            if unsafe { self.wheel.insert(node, when) } {
                self.linked[id as usize] = true;
                Ok(())
            } else {
                Err(id)
            }
        }

        fn remove(&mut self, id: u32) -> bool {
            if !self.linked.get(id as usize).copied().unwrap_or(false) {
                return false;
            }
            let node = self.node(id);
            // SAFETY: linked, as tracked.
            unsafe { self.wheel.remove(node) };
            self.linked[id as usize] = false;
            true
        }

        fn reschedule(&mut self, id: u32, when: u64) -> Result<(), u32> {
            assert!(self.linked[id as usize]);
            let node = self.node(id);
            // SAFETY: linked, as tracked.
            if unsafe { self.wheel.reschedule(node, when) } {
                Ok(())
            } else {
                self.linked[id as usize] = false;
                Err(id)
            }
        }

        fn fire_all(&mut self, now: u64) -> Vec<u32> {
            let mut out = Vec::new();
            while let Some(node) = self.wheel.poll(now) {
                // SAFETY: the node is one of ours, boxed and alive.
                let id = unsafe { node.as_ref() }.id;
                assert!(std::mem::replace(&mut self.linked[id as usize], false));
                out.push(id);
            }
            out
        }
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let mut h = Harness::new();
        let whens = [5u64, 1, 64, 63, 4096, 4095, 300_000, 70, 1_000_000_007];
        for (i, when) in whens.iter().enumerate() {
            h.insert(*when, i as u32).unwrap();
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while let Some(next) = h.wheel.next_expiration() {
            // Advancing to just before the next expiration fires nothing.
            assert!(h.fire_all(next - 1).is_empty());
            now = next;
            for v in h.fire_all(now) {
                assert_eq!(whens[v as usize], now, "fired at its own tick");
                fired.push(whens[v as usize]);
            }
        }
        let mut sorted = whens.to_vec();
        sorted.sort_unstable();
        assert_eq!(fired, sorted);
        assert_eq!(h.wheel.len(), 0);
        assert!(now >= 1_000_000_007);
    }

    #[test]
    fn due_insert_is_refused() {
        let mut h = Harness::new();
        assert_eq!(h.insert(0, 1), Err(1));
        assert!(h.fire_all(100).is_empty());
        assert_eq!(h.insert(100, 2), Err(2));
        assert!(h.insert(101, 3).is_ok());
    }

    #[test]
    fn remove_and_reschedule() {
        let mut h = Harness::new();
        h.insert(10, 1).unwrap();
        h.insert(10, 2).unwrap();
        h.insert(5000, 3).unwrap();
        assert!(h.remove(1));
        assert!(!h.remove(1));
        h.reschedule(3, 7).unwrap();
        h.reschedule(2, 9_000_000).unwrap();
        assert_eq!(h.wheel.next_expiration(), Some(7));
        assert_eq!(h.fire_all(7), vec![3]);
        assert_eq!(h.fire_all(8_999_999), Vec::<u32>::new());
        assert_eq!(h.fire_all(9_000_000), vec![2]);
        h.insert(9_000_050, 4).unwrap();
        assert_eq!(h.reschedule(4, 3), Err(4));
        assert_eq!(h.wheel.len(), 0);
    }

    #[test]
    fn pending_entries_can_be_removed_and_rescheduled_between_polls() {
        let mut h = Harness::new();
        for id in 0..6 {
            h.insert(500, id).unwrap();
        }
        // Take one; the other five are pending (due, still linked).
        let first = h.wheel.poll(500).unwrap();
        // SAFETY: one of the harness's nodes.
        let first = unsafe { first.as_ref() }.id;
        h.linked[first as usize] = false;
        assert_eq!(h.wheel.len(), 5);
        assert_eq!(h.wheel.next_expiration(), Some(500));
        let mut rest: Vec<u32> = (0..6).filter(|id| *id != first).collect();
        let (gone, later, due) = (
            rest.pop().unwrap(),
            rest.pop().unwrap(),
            rest.pop().unwrap(),
        );
        assert!(h.remove(gone));
        h.reschedule(later, 800).unwrap();
        assert_eq!(h.reschedule(due, 400), Err(due));
        let mut fired = h.fire_all(500);
        fired.sort_unstable();
        assert_eq!(fired, rest);
        assert_eq!(h.wheel.next_expiration(), Some(800));
        assert_eq!(h.fire_all(800), vec![later]);
        assert_eq!(h.wheel.len(), 0);
    }

    #[test]
    fn huge_deadlines_and_firing_everything() {
        let mut h = Harness::new();
        h.insert(u64::MAX, 1).unwrap();
        h.insert(u64::MAX / 3, 2).unwrap();
        assert_eq!(h.fire_all(u64::MAX / 3), vec![2]);
        assert_eq!(h.fire_all(u64::MAX - 1), Vec::<u32>::new());
        assert_eq!(h.fire_all(u64::MAX), vec![1]);
        for i in 0..1000 {
            assert_eq!(h.insert(u64::MAX - i, i as u32), Err(i as u32));
        }
        let mut h = Harness::new();
        for i in 1..1000u64 {
            h.insert(i * 7919, i as u32).unwrap();
        }
        assert_eq!(h.fire_all(u64::MAX).len(), 999);
        assert_eq!((h.wheel.len(), h.wheel.next_expiration()), (0, None));
    }

    #[test]
    fn nodes_stay_linked_across_cascades() {
        let mut h = Harness::new();
        h.insert(1_000_000, 1).unwrap();
        assert!(h.fire_all(999_990).is_empty());
        // The entry has cascaded to level 0 and is still linked.
        assert_eq!(h.wheel.next_expiration(), Some(1_000_000));
        assert!(h.remove(1));
        assert_eq!(h.wheel.next_expiration(), None);
        h.insert(2_000_000, 1).unwrap();
        assert_eq!(h.fire_all(2_000_000), vec![1]);
    }

    #[test]
    fn pseudo_random_against_sorted_model() {
        let mut h = Harness::new();
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut ids = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut now = 0u64;
        for id in 0..5000u32 {
            let when = now + 1 + rnd() % (1 << (rnd() % 34));
            h.insert(when, id).unwrap();
            model.push((when, id));
            ids.push(id);
            if rnd() % 4 == 0 {
                let id = ids.swap_remove((rnd() % ids.len() as u64) as usize);
                if h.remove(id) {
                    model.retain(|&(_, m)| m != id);
                }
            }
            if rnd() % 8 == 0 {
                now += rnd() % (1 << (rnd() % 30));
                let mut fired = h.fire_all(now);
                let mut expect: Vec<u32> = model
                    .iter()
                    .filter(|(t, _)| *t <= now)
                    .map(|(_, i)| *i)
                    .collect();
                model.retain(|(t, _)| *t > now);
                fired.sort_unstable();
                expect.sort_unstable();
                assert_eq!(fired, expect);
                assert_eq!(h.wheel.len(), model.len());
                let earliest = model.iter().map(|(t, _)| *t).min();
                if let (Some(e), Some(n)) = (earliest, h.wheel.next_expiration()) {
                    assert!(n <= e && n > now);
                }
            }
        }
    }

    #[test]
    fn dense_fill_small_steps_fires_everything_once() {
        let mut h = Harness::new();
        let base = 123_456u64;
        assert!(h.fire_all(base).is_empty());
        for i in 0..100_000u64 {
            h.insert(base + 1000 + (i * 7919) % 49_000, i as u32)
                .unwrap();
        }
        let mut seen = vec![false; 100_000];
        let mut now = base;
        while h.wheel.len() > 0 {
            now += 3;
            for v in h.fire_all(now) {
                assert!(!std::mem::replace(&mut seen[v as usize], true));
                assert!(base + 1000 + (u64::from(v) * 7919) % 49_000 <= now);
            }
            assert!(now < base + 60_000, "stuck with {} pending", h.wheel.len());
        }
        assert!(seen.iter().all(|s| *s));
    }
}
