//! Unit tests of the wheel over boxed test nodes.

use super::*;
use crate::loom::cell::UnsafeCell;

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

/// A xorshift generator from `seed` (not 0): the tests' reproducible pseudo-random numbers.
fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

#[test]
fn pseudo_random_against_sorted_model() {
    let mut h = Harness::new();
    let mut model: Vec<(u64, u32)> = Vec::new();
    let mut ids = Vec::new();
    let mut rnd = xorshift(0x2545_f491_4f6c_dd1du64);
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

#[test]
fn latest_due_by_finds_the_last_entry_of_a_range_across_levels() {
    let mut h = Harness::new();
    // Nothing linked: the range's start.
    assert_eq!(h.wheel.latest_due_by(10, 5_000), 10);
    // Level 0 (this 256-tick block), level 1 (later 256-tick blocks), level 2.
    for (id, when) in [(0, 100), (1, 200), (2, 900), (3, 1_700), (4, 70_000)] {
        h.insert(when, id).unwrap();
    }
    assert_eq!(h.wheel.latest_due_by(100, 150), 100);
    assert_eq!(h.wheel.latest_due_by(100, 200), 200);
    assert_eq!(h.wheel.latest_due_by(100, 899), 200);
    assert_eq!(h.wheel.latest_due_by(100, 1_000), 900);
    assert_eq!(h.wheel.latest_due_by(100, 69_999), 1_700);
    assert_eq!(h.wheel.latest_due_by(100, 80_000), 70_000);
    // A later `from` is kept when nothing lies between it and the limit.
    assert_eq!(h.wheel.latest_due_by(1_800, 2_000), 1_800);
    // After firing up to 1,000: the wheel's `elapsed` moved, the rest is found from there.
    assert_eq!(h.fire_all(1_000).len(), 3);
    assert_eq!(h.wheel.latest_due_by(1_700, 3_000), 1_700);
    assert_eq!(h.wheel.latest_due_by(1_700, 70_000), 70_000);
}

#[test]
fn latest_due_by_against_a_model() {
    let mut h = Harness::new();
    let mut model: Vec<u64> = Vec::new();
    let mut rnd = xorshift(0x9e37_79b9_7f4a_7c15u64);
    let mut now = 0u64;
    let mut id = 0u32;
    let mut exact = 0;
    for round in 0..2_000 {
        // A few entries within the next few milliseconds, few enough per slot to be scanned.
        for _ in 0..3 {
            let when = now + 1 + rnd() % 6_000;
            h.insert(when, id).unwrap();
            model.push(when);
            id += 1;
        }
        let Some(&from) = model.iter().min() else {
            continue;
        };
        let limit = from + rnd() % 3_000;
        let expect = model.iter().copied().filter(|&w| w <= limit).max().unwrap();
        // Never past the last due tick, always one that is due (or `from`); exact unless a
        // slot holds more entries than a scan reads (a level-2 slot just before a 65,536-tick
        // block that the wheel has not reached).
        let got = h.wheel.latest_due_by(from, limit);
        assert!(
            got <= expect && (got == from || model.contains(&got)),
            "round {round}"
        );
        exact += usize::from(got == expect);
        if round % 3 == 0 {
            now += rnd() % 2_000;
            h.fire_all(now);
            model.retain(|&w| w > now);
        }
    }
    assert!(exact > 1_900, "{exact} of 2,000 exact");
}
