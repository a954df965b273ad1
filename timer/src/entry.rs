//! The timer entry: the node a [`Sleep`](crate::Sleep) links into its driver's wheel, and the
//! one state machine every timer goes through. The entry lives inside the pinned `Sleep`, so a
//! timer costs no allocation of its own.
//!
//! # Who may touch what
//! A [`TimerEntry`] is owned by its `Sleep` (the *owner*, always through `Pin<&mut _>`); its
//! [`Shared`] part is also reached by the *driver* (whichever thread holds the driver's lock:
//! the worker firing timers, an idle sibling, [`Driver::shutdown`](crate::Driver::shutdown)).
//! - `links` (the wheel's list pointers and tick): only with the driver's lock held.
//! - `waker`: by the owner while it holds `REGISTERING`; by the driver while it holds `WAKING`;
//!   by the owner alone while the entry is neither `LINKED` nor `WAKING` (then the driver has
//!   no pointer to it and takes none without the lock, which the owner holds or is not racing).
//! - `state`: atomically, as below.
//!
//! # State flags
//! - `LINKED`: the entry is in the wheel (a slot or the wheel's due list). Set by the owner when
//!   it links the entry, cleared by whoever unlinks it (the driver firing it, the owner
//!   cancelling or finding it due); both only with the lock held. While it is set the owner must
//!   take the lock before its memory may go.
//! - `FIRED`: the current registration completed (its deadline passed, or the driver shut down).
//!   Set with the lock held when the entry leaves the wheel to be woken; cleared by the owner
//!   (holding the lock and `&mut`) when it links the entry again.
//! - `WAKING`: the driver is taking the waker out. Set together with `FIRED` and cleared by the
//!   same thread before it releases the lock; its final store (`FIRED`, Release) is the
//!   driver's last access to the entry.
//! - `REGISTERING`: the owner's `poll` is storing its waker. Set and cleared within one poll;
//!   it excludes `WAKING` (the driver that fires meanwhile leaves the waker alone, and the
//!   owner sees `FIRED` when it clears the flag).
//!
//! # Life cycle
//! 1. **Insert** (first poll): the owner stores its waker (nobody else can see the entry yet),
//!    then under the lock links it and sets `LINKED`. A due deadline, or a shut-down driver,
//!    completes the sleep without linking.
//! 2. **Poll** while linked: `LINKED` → `LINKED|REGISTERING` (CAS), store the waker unless the
//!    stored one wakes the same task, clear `REGISTERING`; `FIRED` seen at either step means
//!    `Ready`. No lost wake-up: either the driver's CAS sees `REGISTERING` (and the owner then
//!    sees `FIRED`), or the owner's CAS fails on `FIRED`, or the driver's Acquire CAS comes after
//!    the owner's Release clear and takes the new waker.
//! 3. **Fire** (driver, lock held, entry just unlinked): CAS to `FIRED|WAKING` (or, if the owner
//!    is `REGISTERING`, to `FIRED|REGISTERING` and stop), take the waker, store `FIRED`. The
//!    waker is woken after the lock is released; the driver keeps no pointer to the entry.
//! 4. **Cancel** (drop, any thread): an Acquire load that sees neither `LINKED` nor `WAKING`
//!    proves the driver is done with the entry, so dropping a fired sleep takes no lock;
//!    otherwise the owner takes the lock (which waits out a `WAKING` driver) and unlinks the
//!    entry if it is still `LINKED`.
//! 5. **Reset**: under the lock, a `LINKED` entry is moved in the wheel and a fired one is
//!    linked again (clearing `FIRED`). A due deadline completes it on the spot and wakes the
//!    stored waker. Reset and fire both need the lock, so they are ordered: a fire that wins
//!    wakes the task once more, and the reset then re-arms the entry.

use crate::handle::TimerHandle;
use crate::loom::{
    cell::UnsafeCell,
    sync::atomic::{AtomicUsize, Ordering},
};
use crate::wake::wake_contained;
use crate::wheel::{Links, Node, Wheel};
use pin_project_lite::pin_project;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Poll, Waker};
use std::time::Instant;

/// See the module docs.
const LINKED: usize = 1;
/// See the module docs.
const FIRED: usize = 2;
/// See the module docs.
const WAKING: usize = 4;
/// See the module docs.
const REGISTERING: usize = 8;

/// The part of an entry the driver reaches through the wheel.
pub(crate) struct Shared {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
    links: UnsafeCell<Links<Shared>>,
    /// The wheel holds raw pointers to the entry while it is linked.
    _pinned: PhantomPinned,
}

// SAFETY: every field is reached from other threads only as the module docs allow: `links`
// under the driver's lock, `waker` under the `REGISTERING`/`WAKING` hand-off (a `Waker` is
// `Send + Sync`), `state` atomically.
unsafe impl Send for Shared {}
// SAFETY: as for `Send`; `&Shared` alone gives access to nothing but the atomic `state`
// outside those rules.
unsafe impl Sync for Shared {}

// SAFETY: `with_links` touches only this entry's own `links`.
unsafe impl Node for Shared {
    unsafe fn with_links<R>(ptr: NonNull<Self>, f: impl FnOnce(&mut Links<Self>) -> R) -> R {
        // SAFETY: the caller guarantees the entry is live and that it has exclusive access to
        // the links (it holds the driver's lock; see the module docs).
        unsafe { ptr.as_ref().links.with_mut(|l| f(&mut *l)) }
    }
}

impl Shared {
    fn new() -> Shared {
        Shared {
            state: AtomicUsize::new(0),
            waker: UnsafeCell::new(None),
            links: UnsafeCell::new(Links::new()),
            _pinned: PhantomPinned,
        }
    }

    /// Step 3: `LINKED` → `FIRED`, taking the waker unless the owner is registering one.
    /// Called with the lock held, on an entry that is `LINKED` and just left the wheel.
    fn fire(&self) -> Option<Waker> {
        let mut cur = self.state.load(Ordering::Relaxed);
        let next = loop {
            debug_assert_eq!(cur & (LINKED | FIRED | WAKING), LINKED);
            let next = if cur & REGISTERING != 0 {
                FIRED | REGISTERING
            } else {
                FIRED | WAKING
            };
            // Acquire pairs with the Release `fetch_and` in `poll_fired` (the waker it stored);
            // Release pairs with that `fetch_and`'s Acquire when it finds `FIRED` here.
            match self
                .state
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(actual) => cur = actual,
            }
        };
        if next & WAKING == 0 {
            // The owner is mid-poll and will see `FIRED`; the entry is not ours to touch.
            return None;
        }
        // SAFETY: `WAKING` gives this thread the waker cell: the owner's `REGISTERING` CAS
        // fails from now on, and it does not drop the entry while `WAKING` is set without
        // taking the lock that this thread holds.
        let waker = self.waker.with_mut(|w| unsafe { (*w).take() });
        // Release pairs with the Acquire loads in `poll_fired`, `is_fired` and `cancel`: after
        // this store the driver never touches the entry again.
        self.state.store(FIRED, Ordering::Release);
        waker
    }
}

/// Takes the next entry due at tick `now` out of `wheel` and fires it (step 3): `None` when
/// nothing more is due, else the waker to wake once the lock is released (none when the owner
/// is mid-poll and will see `FIRED` itself).
pub(crate) fn fire_next(wheel: &mut Wheel<Shared>, now: u64) -> Option<Option<Waker>> {
    let node = wheel.poll(now)?;
    // SAFETY: `&mut` access to the wheel means the driver's lock is held (the wheel lives
    // behind it); the entry was `LINKED` until this moment, so it is live: its owner must take
    // this lock to drop it.
    Some(unsafe { node.as_ref() }.fire())
}

pin_project! {
    /// One timer's registration with one driver; see the module docs.
    pub(crate) struct TimerEntry {
        handle: TimerHandle,
        #[pin]
        shared: Shared,
    }

    impl PinnedDrop for TimerEntry {
        fn drop(this: Pin<&mut Self>) {
            this.cancel();
        }
    }
}

impl TimerEntry {
    pub(crate) fn new(handle: TimerHandle) -> TimerEntry {
        TimerEntry {
            handle,
            shared: Shared::new(),
        }
    }

    pub(crate) fn handle(&self) -> &TimerHandle {
        &self.handle
    }

    /// Whether [`register`](TimerEntry::register) has linked the entry (at least once): its
    /// `state` is 0 until then and never 0 again before `cancel` (the driver only ever moves a
    /// linked entry to a `FIRED` state), so no flag of its own is stored.
    pub(crate) fn is_registered(&self) -> bool {
        // Relaxed: only this owner moves `state` away from 0 (in `register`), so its own view
        // is exact.
        self.shared.state.load(Ordering::Relaxed) != 0
    }

    /// Whether the current registration has fired.
    pub(crate) fn is_fired(&self) -> bool {
        // Acquire pairs with the Release store in `Shared::fire`.
        // Never registered, `state` is 0.
        self.shared.state.load(Ordering::Acquire) & FIRED != 0
    }

    /// Step 1: links a never-registered entry to fire at `deadline`, with `waker` to wake.
    /// `created_left` is the timer's length in ticks when it was created, if known (else 0):
    /// coalescing then reads no clock (see `Inner::fire_tick_after`). Returns `false`, leaving
    /// it unlinked, when the deadline is already due or the driver is shut down: the caller
    /// completes at once.
    pub(crate) fn register(
        self: Pin<&mut Self>,
        deadline: Instant,
        created_left: u64,
        waker: &Waker,
    ) -> bool {
        debug_assert!(!self.is_registered());
        let this = self.project();
        let shared: &Shared = this.shared.into_ref().get_ref();
        let inner = &this.handle.inner;
        let when = inner.fire_tick_after(deadline, created_left);
        // SAFETY: never linked, so no other thread holds a pointer to the entry.
        shared
            .waker
            .with_mut(|w| unsafe { *w = Some(waker.clone()) });
        let mut synced = inner.synced.lock();
        if synced.shutdown {
            return false;
        }
        // SAFETY: the entry is pinned (its address holds until it is dropped), not linked, and
        // `cancel`, run by its drop, unlinks it under this lock before its memory can go.
        if !unsafe { synced.wheel.insert(NonNull::from(shared), when) } {
            return false;
        }
        // Relaxed: the driver reads `state` only under this lock, and this owner is the thread
        // that wrote it.
        shared.state.store(LINKED, Ordering::Relaxed);
        let unpark = inner.armed(&mut synced, when);
        drop(synced);
        if unpark {
            inner.unpark();
        }
        true
    }

    /// Step 2: `Ready` once the registration has fired; otherwise stores `waker` to be woken
    /// when it does. The entry must be registered.
    pub(crate) fn poll_fired(self: Pin<&mut Self>, waker: &Waker) -> Poll<()> {
        debug_assert!(self.is_registered());
        let shared = &self.shared;
        // Acquire pairs with the Release store (or Release CAS) in `Shared::fire`.
        if shared.state.load(Ordering::Acquire) & FIRED != 0 {
            return Poll::Ready(());
        }
        // Not fired, so exactly `LINKED` (`REGISTERING` is only ever this owner's).
        if shared
            .state
            .compare_exchange(
                LINKED,
                LINKED | REGISTERING,
                Ordering::Acquire,
                Ordering::Acquire,
            )
            .is_err()
        {
            // Only the driver changes the state meanwhile, and only by firing.
            return Poll::Ready(());
        }
        // SAFETY: `REGISTERING` gives the owner the waker cell: `Shared::fire` takes the waker
        // only after setting `WAKING`, which it does not while `REGISTERING` is set.
        shared.waker.with_mut(|w| unsafe {
            match &*w {
                Some(old) if old.will_wake(waker) => {}
                _ => *w = Some(waker.clone()),
            }
        });
        // Release publishes the waker to the driver's Acquire CAS in `Shared::fire`; Acquire
        // pairs with that CAS's Release when it fired meanwhile (and left the waker to us).
        if shared.state.fetch_and(!REGISTERING, Ordering::AcqRel) & FIRED != 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Step 5: moves a registered entry to `deadline`, linking it again if it has fired. A due
    /// deadline completes it here and wakes the stored waker.
    pub(crate) fn reset(self: Pin<&mut Self>, deadline: Instant) {
        debug_assert!(self.is_registered());
        let shared = &self.shared;
        let inner = &self.handle.inner;
        let when = inner.fire_tick(deadline);
        let node = NonNull::from(shared);
        let mut synced = inner.synced.lock();
        // Relaxed: under the lock `LINKED` and `FIRED` are exact (their writers hold it, and
        // `WAKING` never outlives a hold); `REGISTERING` is this owner's and clear.
        let linked = shared.state.load(Ordering::Relaxed) & LINKED != 0;
        let pending = match (linked, synced.shutdown) {
            // SAFETY: `LINKED` under the lock: the entry is in this wheel.
            (true, false) => unsafe { synced.wheel.reschedule(node, when) },
            (true, true) => {
                // Shutdown is draining the wheel between batches; complete it here instead.
                // SAFETY: as above.
                unsafe { synced.wheel.remove(node) };
                false
            }
            // SAFETY: fired, so not linked; pinned, and unlinked by `cancel` before it goes.
            (false, false) => unsafe { synced.wheel.insert(node, when) },
            (false, true) => false,
        };
        if pending {
            if !linked {
                // Relaxed: as in `register`.
                shared.state.store(LINKED, Ordering::Relaxed);
            }
            let unpark = inner.armed(&mut synced, when);
            drop(synced);
            if unpark {
                inner.unpark();
            }
            return;
        }
        let waker = if linked {
            shared.fire()
        } else {
            // SAFETY: neither `LINKED` nor `WAKING` (the lock is held): the owner's alone.
            shared.waker.with_mut(|w| unsafe { (*w).take() })
        };
        drop(synced);
        if let Some(waker) = waker {
            wake_contained(waker);
        }
    }

    /// Step 4: unlinks the entry if it is still in the wheel; waits out a driver that is
    /// taking its waker. Run by drop.
    fn cancel(self: Pin<&mut Self>) {
        let shared = &self.shared;
        // Acquire pairs with the Release store (or Release CAS) in `Shared::fire`: seeing
        // neither flag (always so for an entry never registered), the driver is done with the entry and holds no pointer to it.
        if shared.state.load(Ordering::Acquire) & (LINKED | WAKING) != 0 {
            let mut synced = self.handle.inner.synced.lock();
            // Relaxed: exact under the lock (see `reset`).
            if shared.state.load(Ordering::Relaxed) & LINKED != 0 {
                // SAFETY: `LINKED` under the lock: the entry is in this wheel.
                unsafe { synced.wheel.remove(NonNull::from(shared)) };
                // Relaxed: nobody reads it after this; the lock orders it anyway.
                shared.state.store(0, Ordering::Relaxed);
            }
        }
        // SAFETY: neither `LINKED` nor `WAKING` (seen above, or made so under the lock): the
        // driver holds no pointer to the entry and takes none, so the cell is the owner's.
        // (Taken explicitly, not left to the field's drop, so loom checks this access.)
        let waker = shared.waker.with_mut(|w| unsafe { (*w).take() });
        drop(waker);
    }
}
