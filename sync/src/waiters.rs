//! The fair waiter core shared by every primitive in this crate.
//!
//! [`WaitList`] is a FIFO of parked waiters stored in a slab (a `Vec` of slots with a free
//! chain), linked by index into a doubly linked queue. It holds no lock of its own: each
//! primitive keeps it inside the one mutex that also guards the primitive's other state, so
//! "check the condition, then enqueue" and "change the condition, then dequeue" are atomic with
//! respect to each other and no wake-up can slip between them.
//!
//! # Protocol
//!
//! 1. A waiter that cannot proceed calls [`WaitList::push_back`] with its per-waiter data and
//!    waker and keeps the returned [`Key`]. The key is the waiter's only handle; it is never
//!    `Clone`, so exactly one owner exists.
//! 2. A notifier picks waiters from the front ([`WaitList::front_mut`] to hand over part of a
//!    resource, [`WaitList::pop_front`] to mark the front waiter *notified*), or all of them
//!    ([`WaitList::drain_all`]). Notifying unlinks the waiter from the queue but leaves its
//!    slot allocated, holding the data the notifier wrote (permits handed over, the kind of
//!    notification). Wakers are collected in a [`WakeList`] and woken after the lock is
//!    released.
//! 3. The owner eventually calls [`WaitList::remove`] (when polled after a wake, or when the
//!    waiting future is dropped). Only the owner frees a slot, so a key never dangles and never
//!    aliases a newer waiter. `remove` reports whether the waiter had been notified: a dropped
//!    waiter that was already handed something passes it on (released permits go to the next
//!    waiter, a `notify_one` goes to the next waiter), which is what makes every primitive
//!    cancel-safe.
//!
//! # Invariants
//!
//! * `len` counts queued (not yet notified) waiters; `head`/`tail` link exactly those.
//! * A slot is `Queued` iff it is linked; `Notified` slots are unlinked but still owned.

use std::mem;
use std::task::Waker;

const NIL: usize = usize::MAX;

/// The owner's handle to one slot of a [`WaitList`].
#[derive(Debug)]
pub(crate) struct Key(usize);

#[derive(Debug)]
enum State {
    /// Linked into the queue, waiting.
    Queued,
    /// Unlinked by a notifier; the owner has not removed it yet.
    Notified,
}

#[derive(Debug)]
struct Entry<W> {
    prev: usize,
    next: usize,
    state: State,
    waker: Option<Waker>,
    data: W,
}

#[derive(Debug)]
enum Slot<W> {
    Vacant { next_free: usize },
    Occupied(Entry<W>),
}

/// What [`WaitList::remove`] hands back to the owner.
#[derive(Debug)]
pub(crate) struct Removed<W> {
    /// The per-waiter data, as the last notifier left it.
    pub(crate) data: W,
    /// Whether a notifier had already picked this waiter.
    pub(crate) notified: bool,
}

/// A FIFO of waiters with per-waiter data `W`. See the module docs for the protocol.
#[derive(Debug)]
pub(crate) struct WaitList<W> {
    slots: Vec<Slot<W>>,
    free: usize,
    head: usize,
    tail: usize,
    len: usize,
}

impl<W> Default for WaitList<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W> WaitList<W> {
    /// An empty list; allocates nothing until the first waiter arrives.
    pub(crate) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Whether no waiter is queued (notified-but-unremoved waiters do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn entry(&self, idx: usize) -> &Entry<W> {
        match &self.slots[idx] {
            Slot::Occupied(e) => e,
            Slot::Vacant { .. } => unreachable!("wait list key refers to a vacant slot"),
        }
    }

    fn entry_mut(&mut self, idx: usize) -> &mut Entry<W> {
        match &mut self.slots[idx] {
            Slot::Occupied(e) => e,
            Slot::Vacant { .. } => unreachable!("wait list key refers to a vacant slot"),
        }
    }

    /// Enqueues a waiter at the back and returns its key.
    pub(crate) fn push_back(&mut self, data: W, waker: &Waker) -> Key {
        let entry = Entry {
            prev: self.tail,
            next: NIL,
            state: State::Queued,
            waker: Some(waker.clone()),
            data,
        };
        let idx = if self.free == NIL {
            self.slots.push(Slot::Occupied(entry));
            self.slots.len() - 1
        } else {
            let idx = self.free;
            match mem::replace(&mut self.slots[idx], Slot::Occupied(entry)) {
                Slot::Vacant { next_free } => self.free = next_free,
                Slot::Occupied(_) => unreachable!("free chain points at an occupied slot"),
            }
            idx
        };
        if self.tail == NIL {
            self.head = idx;
        } else {
            let tail = self.tail;
            self.entry_mut(tail).next = idx;
        }
        self.tail = idx;
        self.len += 1;
        Key(idx)
    }

    fn unlink(&mut self, idx: usize) {
        let (prev, next) = {
            let e = self.entry(idx);
            (e.prev, e.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.entry_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entry_mut(next).prev = prev;
        }
        let e = self.entry_mut(idx);
        e.prev = NIL;
        e.next = NIL;
        self.len -= 1;
    }

    /// The data of the front (longest-waiting) queued waiter.
    pub(crate) fn front_mut(&mut self) -> Option<&mut W> {
        if self.head == NIL {
            return None;
        }
        let head = self.head;
        Some(&mut self.entry_mut(head).data)
    }

    /// Marks the front waiter notified and schedules its wake-up. Returns `false` if the list
    /// was empty.
    pub(crate) fn pop_front(&mut self, wakers: &mut WakeList) -> bool {
        if self.head == NIL {
            return false;
        }
        let idx = self.head;
        self.notify(idx, wakers);
        true
    }

    fn notify(&mut self, idx: usize, wakers: &mut WakeList) {
        self.unlink(idx);
        let e = self.entry_mut(idx);
        e.state = State::Notified;
        if let Some(w) = e.waker.take() {
            wakers.push(w);
        }
    }

    /// Notifies every queued waiter, after letting `f` update each one's data.
    pub(crate) fn drain_all(&mut self, wakers: &mut WakeList, mut f: impl FnMut(&mut W)) {
        while self.head != NIL {
            let idx = self.head;
            f(&mut self.entry_mut(idx).data);
            self.notify(idx, wakers);
        }
    }

    /// Whether the waiter behind `key` has been notified.
    pub(crate) fn is_notified(&self, key: &Key) -> bool {
        matches!(self.entry(key.0).state, State::Notified)
    }

    /// Stores `waker` for a still-queued waiter, unless it would wake the same task already.
    pub(crate) fn register(&mut self, key: &Key, waker: &Waker) {
        let e = self.entry_mut(key.0);
        match &mut e.waker {
            Some(old) if old.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Frees the owner's slot, unlinking it if it is still queued.
    pub(crate) fn remove(&mut self, key: Key) -> Removed<W> {
        let idx = key.0;
        let notified = self.is_notified(&key);
        if !notified {
            self.unlink(idx);
        }
        let slot = mem::replace(
            &mut self.slots[idx],
            Slot::Vacant {
                next_free: self.free,
            },
        );
        self.free = idx;
        match slot {
            Slot::Occupied(e) => Removed {
                data: e.data,
                notified,
            },
            Slot::Vacant { .. } => unreachable!("wait list key refers to a vacant slot"),
        }
    }
}

/// Wakers collected under a lock, to be woken after it is released.
///
/// Waking never happens under a primitive's lock: a waker may run arbitrary executor code.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    one: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list; allocates only once it holds more than one waker.
    pub(crate) const fn new() -> Self {
        Self {
            one: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker.
    pub(crate) fn push(&mut self, waker: Waker) {
        if self.one.is_none() {
            self.one = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes every collected waker.
    pub(crate) fn wake_all(self) {
        if let Some(w) = self.one {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fifo_order_and_slot_reuse() {
        let (count, w) = waker();
        let mut list = WaitList::new();
        let a = list.push_back(1, &w);
        let b = list.push_back(2, &w);
        let c = list.push_back(3, &w);
        assert_eq!(list.front_mut().copied(), Some(1));
        let mut wakers = WakeList::new();
        assert!(list.pop_front(&mut wakers));
        assert!(list.is_notified(&a));
        assert!(!list.is_notified(&b));
        // Removing a middle waiter keeps the order of the rest.
        let removed = list.remove(b);
        assert_eq!((removed.data, removed.notified), (2, false));
        assert_eq!(list.front_mut().copied(), Some(3));
        let removed = list.remove(a);
        assert_eq!((removed.data, removed.notified), (1, true));
        // Freed slots are reused.
        let d = list.push_back(4, &w);
        assert!(d.0 < 3);
        list.drain_all(&mut wakers, |d| *d *= 10);
        assert!(list.is_empty());
        wakers.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        assert_eq!(list.remove(c).data, 30);
        assert_eq!(list.remove(d).data, 40);
        assert!(!list.pop_front(&mut WakeList::new()));
    }
}
