//! The hierarchical timing wheel: a single-threaded data structure.
//!
//! Time is counted in *ticks* of `TICK_NANOS` (1 µs) since the driver's origin. The wheel has
//! [`LEVELS`] levels of [`SLOTS`] slots; a slot at level `l` spans `256^l` ticks, so level 0 has
//! 1 µs resolution over 256 µs, level 1 covers 65 ms (where most sleeps of a few to tens of
//! milliseconds land, one cascade from firing), and level 7 covers the whole `u64` tick range
//! (no deadline is ever clamped).
//!
//! # Invariants
//! - `elapsed` is the last tick processed: every entry with `when <= elapsed` has fired.
//! - An entry lives at the level of the highest 8-bit group in which `when` differs from
//!   `elapsed`, in the slot given by that group of `when`. Hence every occupied slot of a level
//!   lies strictly after `elapsed`'s own slot of that level, the lowest non-empty level holds the
//!   earliest expiration, and no level ever wraps around.
//! - Entries are nodes of an arena (`nodes`) linked into per-slot doubly linked lists by index;
//!   a [`Key`] names a node and stays valid from insertion until the entry fires or is removed,
//!   across cascades (a cascade relinks the same node). Free nodes are kept on a stack of
//!   keys (not threaded through the nodes, so taking one touches no cold node). Insert,
//!   remove and reschedule are O(1).
//! - `occupied[l]` has bit `s` set exactly when slot `s` of level `l` is non-empty.
//!
//! # Firing
//! [`Wheel::advance`] repeatedly takes the earliest expiring slot not after `now`, sets
//! `elapsed` to that slot's first tick and either fires each of its entries (`when <= elapsed`)
//! or relinks it one or more levels lower. Deadlines are converted to ticks rounding *up*, and
//! `now` rounding *down*, so an entry never fires before its deadline.

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
const NIL: u32 = u32::MAX;

/// Names an entry inside the wheel from insertion until it fires or is removed.
pub(crate) type Key = u32;

struct Node<T> {
    /// `Some` while the node is linked into a slot; `None` while its key is on the free stack.
    value: Option<T>,
    when: u64,
    prev: u32,
    /// Next node of the slot list.
    next: u32,
    level: u8,
    slot: u8,
}

struct Level {
    occupied: [u64; WORDS],
    heads: [u32; SLOTS],
}

impl Level {
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

/// A hierarchical timing wheel holding values of type `T`.
pub(crate) struct Wheel<T> {
    elapsed: u64,
    levels: Vec<Level>,
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Wheel<T> {
    pub(crate) fn new() -> Wheel<T> {
        Wheel {
            elapsed: 0,
            levels: (0..LEVELS)
                .map(|_| Level {
                    occupied: [0; WORDS],
                    heads: [NIL; SLOTS],
                })
                .collect(),
            nodes: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Number of pending entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The value stored under `key`, if that key currently names a pending entry.
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        self.nodes.get(key as usize).and_then(|n| n.value.as_ref())
    }

    /// Inserts `value` to fire at tick `when`. Returns the value back if it is already due
    /// (`when <= elapsed`): the caller completes it without going through the wheel.
    pub(crate) fn insert(&mut self, when: u64, value: T) -> Result<Key, T> {
        if when <= self.elapsed {
            return Err(value);
        }
        let key = self.alloc(when, value);
        self.link(key);
        self.len += 1;
        Ok(key)
    }

    /// Removes the pending entry `key` and returns its value.
    ///
    /// # Panics
    /// If `key` does not name a pending entry (callers check with [`Wheel::get`]).
    pub(crate) fn remove(&mut self, key: Key) -> T {
        self.unlink(key);
        self.len -= 1;
        self.release(key)
    }

    /// Moves pending entry `key` to tick `when`. If `when` is already due the entry is
    /// removed and its value returned.
    pub(crate) fn reschedule(&mut self, key: Key, when: u64) -> Result<(), T> {
        self.unlink(key);
        if when <= self.elapsed {
            self.len -= 1;
            return Err(self.release(key));
        }
        self.nodes[key as usize].when = when;
        self.link(key);
        Ok(())
    }

    /// The earliest pending deadline when it can be found cheaply, else a lower bound on it.
    ///
    /// For a level-0 slot the slot's tick is exact. For a higher-level slot with at most
    /// [`SCAN_LIMIT`] entries the list is scanned for its earliest `when` (so a sparse wheel,
    /// such as one periodic timer, parks once per deadline instead of once per level);
    /// a longer list yields the slot's start, and the owner wakes there to cascade it.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        let (level, slot, at) = self.next_slot()?;
        if level == 0 {
            return Some(at);
        }
        let mut cur = self.levels[level].heads[slot];
        let mut earliest = u64::MAX;
        for _ in 0..SCAN_LIMIT {
            if cur == NIL {
                return Some(earliest);
            }
            let node = &self.nodes[cur as usize];
            earliest = earliest.min(node.when);
            cur = node.next;
        }
        Some(if cur == NIL { earliest } else { at })
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

    /// Processes every tick up to and including `now`, calling `fire` for each due value.
    /// Returns the number fired.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(T)) -> usize {
        let mut fired = 0;
        while let Some((level, slot, at)) = self.next_slot() {
            if at > now {
                break;
            }
            debug_assert!(at >= self.elapsed);
            self.elapsed = at;
            let lv = &mut self.levels[level];
            let mut cur = std::mem::replace(&mut lv.heads[slot], NIL);
            lv.clear(slot);
            while cur != NIL {
                let node = &self.nodes[cur as usize];
                let next = node.next;
                if node.when <= self.elapsed {
                    self.len -= 1;
                    fire(self.release(cur));
                    fired += 1;
                } else {
                    self.link(cur);
                }
                cur = next;
            }
        }
        if now > self.elapsed {
            self.elapsed = now;
        }
        fired
    }

    /// Removes every pending entry, calling `f` on each.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(T)) {
        for level in 0..LEVELS {
            for slot in 0..SLOTS {
                let mut cur = std::mem::replace(&mut self.levels[level].heads[slot], NIL);
                while cur != NIL {
                    let next = self.nodes[cur as usize].next;
                    self.len -= 1;
                    f(self.release(cur));
                    cur = next;
                }
            }
            self.levels[level].occupied = [0; WORDS];
        }
    }

    fn alloc(&mut self, when: u64, value: T) -> Key {
        let node = Node {
            value: Some(value),
            when,
            prev: NIL,
            next: NIL,
            level: 0,
            slot: 0,
        };
        if let Some(key) = self.free.pop() {
            // A free node holds no value; `forget` lets the compiler skip reading the cold
            // node just to drop that `None`.
            std::mem::forget(std::mem::replace(&mut self.nodes[key as usize], node));
            key
        } else {
            let key = u32::try_from(self.nodes.len())
                .ok()
                .filter(|k| *k != NIL)
                .expect("kiln-timer: more than 2^32 - 1 timers pending on one driver");
            self.nodes.push(node);
            key
        }
    }

    fn release(&mut self, key: Key) -> T {
        let node = &mut self.nodes[key as usize];
        let value = node.value.take().expect("wheel key names a pending entry");
        self.free.push(key);
        value
    }

    fn link(&mut self, key: Key) {
        let when = self.nodes[key as usize].when;
        debug_assert!(when > self.elapsed);
        let masked = (self.elapsed ^ when) | (SLOTS as u64 - 1);
        let level = ((63 - masked.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((when >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
        let lv = &mut self.levels[level];
        let head = lv.heads[slot];
        lv.heads[slot] = key;
        lv.occupied[slot / 64] |= 1u64 << (slot % 64);
        if head != NIL {
            self.nodes[head as usize].prev = key;
        }
        let node = &mut self.nodes[key as usize];
        node.prev = NIL;
        node.next = head;
        node.level = level as u8;
        node.slot = slot as u8;
    }

    fn unlink(&mut self, key: Key) {
        let node = &self.nodes[key as usize];
        assert!(node.value.is_some(), "wheel key names a pending entry");
        let (prev, next, level, slot) = (
            node.prev,
            node.next,
            node.level as usize,
            node.slot as usize,
        );
        if prev == NIL {
            let lv = &mut self.levels[level];
            lv.heads[slot] = next;
            if next == NIL {
                lv.clear(slot);
            }
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
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

    fn fire_all(w: &mut Wheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, |v| out.push(v));
        out
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let mut w = Wheel::new();
        let whens = [5u64, 1, 64, 63, 4096, 4095, 300_000, 70, 1_000_000_007];
        for (i, when) in whens.iter().enumerate() {
            w.insert(*when, i as u32).unwrap();
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while let Some(next) = w.next_expiration() {
            // Advancing to just before the next expiration fires nothing.
            assert!(fire_all(&mut w, next - 1).is_empty());
            now = next;
            for v in fire_all(&mut w, now) {
                assert_eq!(whens[v as usize], now, "fired at its own tick");
                fired.push(whens[v as usize]);
            }
        }
        let mut sorted = whens.to_vec();
        sorted.sort_unstable();
        assert_eq!(fired, sorted);
        assert_eq!(w.len(), 0);
        assert!(now >= 1_000_000_007);
    }

    #[test]
    fn due_insert_is_refused() {
        let mut w = Wheel::new();
        assert_eq!(w.insert(0, 1), Err(1));
        w.advance(100, |_: u32| {});
        assert_eq!(w.insert(100, 2), Err(2));
        assert!(w.insert(101, 3).is_ok());
    }

    #[test]
    fn remove_and_reschedule() {
        let mut w = Wheel::new();
        let a = w.insert(10, 1u32).unwrap();
        let b = w.insert(10, 2).unwrap();
        let c = w.insert(5000, 3).unwrap();
        assert_eq!(w.remove(a), 1);
        assert!(w.get(a).is_none());
        w.reschedule(c, 7).unwrap();
        w.reschedule(b, 9_000_000).unwrap();
        assert_eq!(w.next_expiration(), Some(7));
        assert_eq!(fire_all(&mut w, 7), vec![3]);
        assert_eq!(fire_all(&mut w, 8_999_999), Vec::<u32>::new());
        assert_eq!(fire_all(&mut w, 9_000_000), vec![2]);
        let d = w.insert(9_000_050, 4).unwrap();
        assert_eq!(w.reschedule(d, 3), Err(4));
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn huge_deadlines_and_drain() {
        let mut w = Wheel::new();
        w.insert(u64::MAX, 1u32).unwrap();
        w.insert(u64::MAX / 3, 2).unwrap();
        assert_eq!(fire_all(&mut w, u64::MAX / 3), vec![2]);
        assert_eq!(fire_all(&mut w, u64::MAX - 1), Vec::<u32>::new());
        assert_eq!(fire_all(&mut w, u64::MAX), vec![1]);
        for i in 0..1000 {
            w.insert(u64::MAX - i, i as u32).ok();
        }
        let mut n = 0;
        w.drain(|_| n += 1);
        assert_eq!(n, 0, "nothing after u64::MAX is pending");
        let mut w = Wheel::new();
        for i in 1..1000u64 {
            w.insert(i * 7919, i as u32).unwrap();
        }
        w.drain(|_| n += 1);
        assert_eq!((n, w.len(), w.next_expiration()), (999, 0, None));
    }

    #[test]
    fn keys_are_reused_and_stable_across_cascades() {
        let mut w = Wheel::new();
        let k = w.insert(1_000_000, 1u32).unwrap();
        w.advance(999_990, |_| {});
        // The entry has cascaded to level 0 but keeps its key.
        assert_eq!(w.get(k), Some(&1));
        assert_eq!(w.remove(k), 1);
        let k2 = w.insert(2_000_000, 2).unwrap();
        assert_eq!(k, k2);
    }

    #[test]
    fn pseudo_random_against_sorted_model() {
        let mut w = Wheel::new();
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut keys = Vec::new();
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
            let key = w.insert(when, id).unwrap();
            model.push((when, id));
            keys.push((key, id));
            if rnd() % 4 == 0 {
                let (key, id) = keys.swap_remove((rnd() % keys.len() as u64) as usize);
                if w.get(key) == Some(&id) {
                    w.remove(key);
                    model.retain(|&(_, m)| m != id);
                }
            }
            if rnd() % 8 == 0 {
                now += rnd() % (1 << (rnd() % 30));
                let mut fired = fire_all(&mut w, now);
                let mut expect: Vec<u32> = model
                    .iter()
                    .filter(|(t, _)| *t <= now)
                    .map(|(_, i)| *i)
                    .collect();
                model.retain(|(t, _)| *t > now);
                fired.sort_unstable();
                expect.sort_unstable();
                assert_eq!(fired, expect);
                assert_eq!(w.len(), model.len());
                let earliest = model.iter().map(|(t, _)| *t).min();
                if let (Some(e), Some(n)) = (earliest, w.next_expiration()) {
                    assert!(n <= e && n > now);
                }
            }
        }
    }

    #[test]
    fn dense_fill_small_steps_fires_everything_once() {
        let mut w = Wheel::new();
        let base = 123_456u64;
        w.advance(base, |_: u32| {});
        for i in 0..100_000u64 {
            w.insert(base + 1000 + (i * 7919) % 49_000, i as u32)
                .unwrap();
        }
        let mut seen = vec![false; 100_000];
        let mut now = base;
        while w.len() > 0 {
            now += 3;
            w.advance(now, |v| {
                assert!(!std::mem::replace(&mut seen[v as usize], true));
                assert!(base + 1000 + (u64::from(v) * 7919) % 49_000 <= now);
            });
            assert!(now < base + 60_000, "stuck with {} pending", w.len());
        }
        assert!(seen.iter().all(|s| *s));
    }
}
