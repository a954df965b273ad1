//! Readiness dispatch from a worker's poller to the tasks waiting on its I/O sources.
//!
//! Every I/O source registers with the poller of the worker it was created on and gets a
//! [`ScheduledIo`] (readiness bits and one waker per direction) stored under its key in that
//! worker's [`Dispatch`]. When `Driver::park` sees an event for the key, it sets the readiness
//! bits and wakes the waiting tasks, wherever they now run: the waker schedules the task on
//! its current worker, so readiness is not lost when a task migrates.
//!
//! Readiness protocol: a reader clears `READABLE` only after an operation returned
//! `WouldBlock`, then re-arms the source's interest in the poller and registers its waker;
//! an event that arrives between those steps sets the bit again and wakes the new waker.

use crate::loom::{AtomicUsize, Mutex, Ordering::*};
use polling::Events;
use slab::Slab;
use std::sync::Arc;
use std::task::Waker;

pub(crate) const READABLE: usize = 0b01;
pub(crate) const WRITABLE: usize = 0b10;

/// Per-source readiness state shared by the driver and the source's futures.
pub(crate) struct ScheduledIo {
    pub(crate) readiness: AtomicUsize,
    pub(crate) reader: Mutex<Option<Waker>>,
    pub(crate) writer: Mutex<Option<Waker>>,
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
        }
    }

    /// Records readiness and wakes the matching waiters.
    pub(crate) fn set_ready(&self, bits: usize) {
        // Release: pairs with the Acquire load in the source's poll after it registered its waker.
        self.readiness.fetch_or(bits, AcqRel);
        if bits & READABLE != 0 {
            if let Some(w) = self.reader.lock().take() {
                w.wake();
            }
        }
        if bits & WRITABLE != 0 {
            if let Some(w) = self.writer.lock().take() {
                w.wake();
            }
        }
    }
}

/// The sources registered with one poller.
pub(crate) struct Dispatch {
    sources: Mutex<Slab<Arc<ScheduledIo>>>,
}

impl Dispatch {
    pub(crate) fn new() -> Dispatch {
        Dispatch {
            sources: Mutex::new(Slab::new()),
        }
    }

    /// Allocates a key and state for a new source.
    pub(crate) fn allocate(&self) -> (usize, Arc<ScheduledIo>) {
        let io = Arc::new(ScheduledIo::new());
        let key = self.sources.lock().insert(io.clone());
        (key, io)
    }

    /// Frees a key after the source was deleted from the poller.
    pub(crate) fn release(&self, key: usize) {
        let mut sources = self.sources.lock();
        if sources.contains(key) {
            sources.remove(key);
        }
    }

    /// Sets readiness for every event; returns how many events were dispatched.
    pub(crate) fn dispatch(&self, events: &Events) -> usize {
        let mut n = 0;
        for ev in events.iter() {
            let io = self.sources.lock().get(ev.key).cloned();
            if let Some(io) = io {
                let mut bits = 0;
                if ev.readable {
                    bits |= READABLE;
                }
                if ev.writable {
                    bits |= WRITABLE;
                }
                io.set_ready(bits);
                n += 1;
            }
        }
        n
    }
}
