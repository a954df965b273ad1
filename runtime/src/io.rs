//! Readiness dispatch from a worker's poller to the tasks waiting on its I/O sources.
//!
//! Every I/O source registers with the poller of the worker it was created on and gets a
//! [`ScheduledIo`] (a readiness word and one waker per direction) stored under its key in that
//! worker's [`Dispatch`]. When a poll of that poller (by its owner, or by an idle sibling
//! stealing I/O, see `crate::driver`) sees an event for the key, it sets the readiness bits and
//! wakes the waiting tasks, wherever they now run: the waker schedules the task on its current
//! worker, so readiness is not lost when a task migrates.
//!
//! # The readiness word
//!
//! `readiness` packs the direction bits ([`READABLE`], [`WRITABLE`]) in its low bits and a
//! wrapping *tick* above [`TICK_SHIFT`]. Every dispatch sets bits and bumps the tick in one
//! compare-and-swap, so the tick names the last event the word has seen.
//!
//! # Protocol (no event is lost)
//!
//! Sources are registered edge-triggered: the poller reports a direction again only after the
//! socket's state changed. Hence the bits are cleared only by an operation that returned
//! `WouldBlock` (or otherwise proved the direction exhausted, see `crate::net`), and only if
//! no event arrived since the bits were read:
//! 1. The task reads the word ([`ScheduledIo::poll_ready`]). If its direction is set it
//!    returns a [`ReadyEvent`] carrying the tick it saw.
//! 2. Otherwise it stores its waker in the direction's slot (under the slot's lock), then
//!    reads the word again; set now → ready (an event landed between the two reads).
//! 3. The task runs the syscall. On `WouldBlock` it calls [`ScheduledIo::clear_readiness`]
//!    with the event of step 1: a CAS clears the direction only if the tick is unchanged. An
//!    event that arrived after the syscall bumped the tick, so its bit survives.
//! 4. A dispatch updates the word first (AcqRel CAS), then takes the slot's waker under the
//!    lock and wakes it. A task that stored its waker before that lock is woken; one that
//!    stored it after sees the new bits in its re-read of step 2 (the lock orders the two).
//!
//! # After shutdown
//!
//! Once its runtime has shut down, nobody polls a driver again, so a source waiting for an
//! event would wait forever. [`Dispatch::shutdown`] therefore sets [`SHUTDOWN`] on every
//! source's word (a dispatch, as in step 4, so waiting tasks wake) and refuses new sources
//! under the same lock as `insert`: every source either is marked or is never registered.
//! `SHUTDOWN` is never cleared, and a source whose word has it reports [`shutdown_error`]
//! from every `poll_ready`, ahead of any readiness bit, so every operation fails the same way.
//!
//! # Read closed
//!
//! A TCP read that returns fewer bytes than it asked for emptied the receive queue (as does
//! one whose `TCP_INQ` count says so: `crate::net`'s `drain.rs`), so it may clear the
//! readable bit as `WouldBlock` would ([`ScheduledIo::clear_exhausted`]), saving the failing
//! read the next operation would make. That would hide the end of the stream when
//! the peer's FIN arrived in the same edge as the data: no later event would set the bit again.
//! So a dispatch whose event says the peer closed its side (`EPOLLRDHUP` or `EPOLLHUP` on
//! Linux, where `crate::sys` registers sockets for it) also sets [`READ_CLOSED`], and while
//! it is set `clear_exhausted` leaves the readable bit alone: the next read returns 0 (end of
//! stream) without waiting. Only a read that returned `WouldBlock` clears `READ_CLOSED`
//! (with the readable bit, under the tick check): after a real close, TCP reads never do, and
//! a stale event for a reused key (see [`Dispatch::release`]) so loses its effect at the first
//! failing read. `READ_CLOSED` alone never makes a source readable.

use crate::loom::sync::{
    atomic::{AtomicUsize, Ordering::*},
    Mutex,
};
use slab::Slab;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The source can be read (or has hung up / failed: a read reports which).
pub(crate) const READABLE: usize = 0b01;
/// The source can be written (or has failed: a write reports it).
pub(crate) const WRITABLE: usize = 0b10;
/// The source's runtime has shut down (see "After shutdown"); never cleared.
const SHUTDOWN: usize = 0b100;
/// The peer closed its side (see "Read closed"): set with [`READABLE`] by a dispatch, cleared
/// only by a read that returned `WouldBlock`.
pub(crate) const READ_CLOSED: usize = 0b1000;
const BITS: usize = READABLE | WRITABLE | SHUTDOWN | READ_CLOSED;

/// The error every operation on a source of a runtime that has shut down returns.
pub(crate) fn shutdown_error() -> std::io::Error {
    std::io::Error::other("the kiln runtime this I/O resource belongs to has shut down")
}
/// The tick lives above this bit.
const TICK_SHIFT: u32 = 8;

/// A direction's readiness as a task saw it, for [`ScheduledIo::clear_readiness`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    tick: usize,
}

/// Per-source readiness state shared by the driver and the source's futures.
pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl Default for ScheduledIo {
    fn default() -> ScheduledIo {
        ScheduledIo::new()
    }
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
        }
    }

    fn slot(&self, dir: usize) -> &Mutex<Option<Waker>> {
        if dir == READABLE {
            &self.reader
        } else {
            &self.writer
        }
    }

    /// Step 4: records readiness (bumping the tick) and wakes the matching waiters.
    pub(crate) fn set_ready(&self, bits: usize) {
        let mut cur = self.readiness.load(Relaxed);
        loop {
            let tick = (cur >> TICK_SHIFT).wrapping_add(1);
            let new = (tick << TICK_SHIFT) | (cur & BITS) | (bits & BITS);
            // AcqRel: the Release half pairs with the Acquire loads of `poll_ready` (steps 1-2);
            // the Acquire half orders this update after any earlier clear.
            match self
                .readiness
                .compare_exchange_weak(cur, new, AcqRel, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        for dir in [READABLE, WRITABLE] {
            if bits & dir != 0 {
                let waker = self.slot(dir).lock().take();
                if let Some(w) = waker {
                    // A panicking waker must not unwind out of the event loop dispatching
                    // this event (see `crate::cell::contain_panic`).
                    crate::cell::contain_panic(|| w.wake());
                }
            }
        }
    }

    /// Steps 1-2: `Ready` with the current event if `dir` is ready, else registers the waker.
    /// An error once the runtime has shut down.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: usize,
    ) -> Poll<std::io::Result<ReadyEvent>> {
        // Acquire: pairs with the AcqRel CAS of `set_ready`.
        let cur = self.readiness.load(Acquire);
        if let Some(ready) = ready_in(cur, dir) {
            return Poll::Ready(ready);
        }
        {
            let mut slot = self.slot(dir).lock();
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        // Acquire: an event dispatched before we locked the slot is visible here (step 4).
        let cur = self.readiness.load(Acquire);
        match ready_in(cur, dir) {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    /// Step 3: clears the event's direction bits (and [`READ_CLOSED`] with [`READABLE`])
    /// unless a newer event arrived. For an operation that returned `WouldBlock`.
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent, dir: usize) {
        let dir = if dir & READABLE != 0 {
            dir | READ_CLOSED
        } else {
            dir
        };
        self.clear_if(ev, |cur| cur & !(dir & BITS));
    }

    /// As [`ScheduledIo::clear_readiness`], for an operation that succeeded and proved its
    /// direction exhausted (a short read, a partial write): the readable bit stays while
    /// [`READ_CLOSED`] is set, so the end of the stream is read (see "Read closed").
    pub(crate) fn clear_exhausted(&self, ev: ReadyEvent, dir: usize) {
        self.clear_if(ev, |cur| {
            if cur & READ_CLOSED != 0 {
                cur & !(dir & WRITABLE)
            } else {
                cur & !(dir & (READABLE | WRITABLE))
            }
        });
    }

    /// Replaces the word with `clear(word)` while its tick is still the event's.
    fn clear_if(&self, ev: ReadyEvent, clear: impl Fn(usize) -> usize) {
        let mut cur = self.readiness.load(Acquire);
        while cur >> TICK_SHIFT == ev.tick {
            let new = clear(cur);
            if new == cur {
                return;
            }
            // Acquire on failure, as the first load: the loop re-checks the tick it read.
            match self
                .readiness
                .compare_exchange_weak(cur, new, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Drops any stored waker (the source is going away).
    pub(crate) fn clear_wakers(&self) {
        let r = self.reader.lock().take();
        let w = self.writer.lock().take();
        drop((r, w));
    }
}

/// What a readiness word means for `dir`: shut down, ready, or (`None`) not yet.
fn ready_in(word: usize, dir: usize) -> Option<std::io::Result<ReadyEvent>> {
    if word & SHUTDOWN != 0 {
        Some(Err(shutdown_error()))
    } else if word & dir != 0 {
        Some(Ok(event(word)))
    } else {
        None
    }
}

fn event(word: usize) -> ReadyEvent {
    ReadyEvent {
        tick: word >> TICK_SHIFT,
    }
}

/// The sources registered with one poller.
pub(crate) struct Dispatch {
    sources: Mutex<Sources>,
}

/// What `Dispatch`'s lock guards.
struct Sources {
    slab: Slab<Arc<ScheduledIo>>,
    /// Set once by [`Dispatch::shutdown`]; `insert` fails from then on.
    shutdown: bool,
}

impl Dispatch {
    pub(crate) fn new() -> Dispatch {
        Dispatch {
            sources: Mutex::new(Sources {
                slab: Slab::new(),
                shutdown: false,
            }),
        }
    }

    /// Stores a source's state under a new key (a new source, or one moving here from
    /// another poller with the readiness and wakers it has).
    ///
    /// # Errors
    /// [`shutdown_error`] once the runtime has shut down.
    pub(crate) fn insert(&self, io: Arc<ScheduledIo>) -> std::io::Result<usize> {
        let mut sources = self.sources.lock();
        if sources.shutdown {
            return Err(shutdown_error());
        }
        Ok(sources.slab.insert(io))
    }

    /// The runtime shut down: marks every source [`SHUTDOWN`] (waking its waiting tasks) and
    /// refuses new ones (see "After shutdown"). Idempotent.
    pub(crate) fn shutdown(&self) {
        let all: Vec<Arc<ScheduledIo>> = {
            let mut sources = self.sources.lock();
            sources.shutdown = true;
            sources.slab.iter().map(|(_, io)| io.clone()).collect()
        };
        for io in all {
            io.set_ready(SHUTDOWN | READABLE | WRITABLE);
        }
    }

    /// Frees a key after the source was deleted from the poller. A stale event for a reused
    /// key only sets readiness spuriously; the next operation's `WouldBlock` clears it.
    pub(crate) fn release(&self, key: usize) {
        let mut sources = self.sources.lock();
        if sources.slab.contains(key) {
            sources.slab.remove(key);
        }
    }

    /// Sets readiness for every event; returns how many events were dispatched. Wakers run
    /// outside the slab lock (a woken task may drop a source, which releases its key). Keys
    /// this dispatch does not hold are ignored.
    pub(crate) fn dispatch(&self, events: impl Iterator<Item = crate::sys::IoEvent>) -> usize {
        let mut n = 0;
        for ev in events {
            let io = self.sources.lock().slab.get(ev.key).cloned();
            if let Some(io) = io {
                let mut bits = 0;
                if ev.readable {
                    bits |= READABLE;
                }
                if ev.writable {
                    bits |= WRITABLE;
                }
                if ev.read_closed {
                    bits |= READABLE | READ_CLOSED;
                }
                io.set_ready(bits);
                n += 1;
            }
        }
        n
    }

    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        self.sources.lock().slab.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    #[test]
    fn event_after_wouldblock_survives_clear() {
        let io = ScheduledIo::new();
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(io.poll_ready(&mut cx, READABLE).is_pending());
        io.set_ready(READABLE);
        assert!(flag.0.load(SeqCst), "the registered waker is woken");
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, READABLE) else {
            panic!("readable after an event")
        };
        // A new event lands between the syscall's WouldBlock and the clear.
        io.set_ready(READABLE);
        io.clear_readiness(ev, READABLE);
        assert!(io.poll_ready(&mut cx, READABLE).is_ready());
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, READABLE) else {
            unreachable!()
        };
        io.clear_readiness(ev, READABLE);
        assert!(io.poll_ready(&mut cx, READABLE).is_pending());
    }

    fn ready_event(io: &ScheduledIo) -> ReadyEvent {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        match io.poll_ready(&mut cx, READABLE) {
            Poll::Ready(Ok(ev)) => ev,
            _ => panic!("expected the source to be readable"),
        }
    }

    fn is_readable(io: &ScheduledIo) -> bool {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        io.poll_ready(&mut cx, READABLE).is_ready()
    }

    #[test]
    fn a_short_read_clears_readable_unless_the_peer_closed() {
        let io = ScheduledIo::new();
        io.set_ready(READABLE);
        io.clear_exhausted(ready_event(&io), READABLE);
        assert!(
            !is_readable(&io),
            "a drained socket waits for its next edge"
        );

        // Data and the FIN in one edge: the short read must not hide the end of the stream.
        io.set_ready(READABLE | READ_CLOSED);
        io.clear_exhausted(ready_event(&io), READABLE);
        assert!(is_readable(&io), "the end of the stream stays readable");
        io.clear_exhausted(ready_event(&io), READABLE);
        assert!(is_readable(&io));

        // Only a failing read clears it (a stale event for a reused key).
        io.clear_readiness(ready_event(&io), READABLE);
        assert!(!is_readable(&io));
        io.set_ready(READABLE);
        io.clear_exhausted(ready_event(&io), READABLE);
        assert!(!is_readable(&io), "read-closed went with the failing read");
    }

    #[test]
    fn read_closed_alone_is_not_readable_and_keeps_writes_clearable() {
        let io = ScheduledIo::new();
        io.set_ready(READ_CLOSED | WRITABLE);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        // `set_ready` takes the bits as given; `dispatch` always pairs it with READABLE.
        assert!(io.poll_ready(&mut cx, READABLE).is_pending());
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, WRITABLE) else {
            panic!("writable")
        };
        io.clear_exhausted(ev, WRITABLE);
        assert!(io.poll_ready(&mut cx, WRITABLE).is_pending());
    }

    #[test]
    fn clear_of_one_direction_keeps_the_other() {
        let io = ScheduledIo::new();
        io.set_ready(READABLE | WRITABLE);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let Poll::Ready(Ok(ev)) = io.poll_ready(&mut cx, READABLE) else {
            panic!("readable")
        };
        io.clear_readiness(ev, READABLE);
        assert!(io.poll_ready(&mut cx, READABLE).is_pending());
        assert!(io.poll_ready(&mut cx, WRITABLE).is_ready());
    }
}
