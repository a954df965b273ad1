//! The process-wide signal registry: one socket pair, one slot per signal number.
//!
//! Delivery protocol:
//! 1. The first listener for a signal installs the handler action (`crate::sys`); it is never
//!    uninstalled, so from then on the signal's default action (for SIGINT: exit) no longer
//!    runs.
//! 2. The action, in the signal handler, sets the slot's `pending` (SeqCst) and then writes one
//!    byte to the pair's non-blocking write end (a full buffer loses nothing: unread bytes
//!    already guarantee a dispatch).
//! 3. Every listener ([`Listener`]) registers its own duplicate of the read end with the
//!    event loop of the worker that created it, so every runtime with a listener is woken by
//!    the byte, and no thread waits for signals.
//! 4. Whichever listener is polled first drains the read end and dispatches: for each slot
//!    whose `pending` it swaps to false, it bumps the slot's `version` (Release) and wakes
//!    every listener of that slot, wherever it runs. Reading the bytes before swapping the
//!    flags ensures a signal whose byte was read is seen.
//! 5. A listener returns once per change of its slot's `version` since it last looked, so
//!    signals that arrive close together may be delivered as one.
//!
//! Listeners outlive any runtime: the registry is global and a listener's registration
//! belongs to the runtime it was created on, so dropping one runtime and building another
//! keeps signals flowing to the new runtime's listeners.

use crate::net::evented::Evented;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

/// Signal numbers `0..SLOTS` have a slot (Linux's real-time signals end at 64).
pub(crate) const SLOTS: usize = 65;

struct Globals {
    sender: UnixStream,
    receiver: UnixStream,
    slots: Box<[Slot]>,
}

struct Slot {
    /// Set by the handler action, swapped to false by the dispatcher (protocol step 2, 4).
    pending: AtomicBool,
    /// Bumped once per dispatch of this signal.
    version: AtomicU64,
    /// Whether the handler action was installed, or why not.
    installed: OnceLock<Result<(), String>>,
    /// The wakers of this signal's listeners, by listener key.
    listeners: Mutex<slab::Slab<Option<Waker>>>,
}

static GLOBALS: OnceLock<Globals> = OnceLock::new();

fn globals() -> io::Result<&'static Globals> {
    if let Some(g) = GLOBALS.get() {
        return Ok(g);
    }
    let (sender, receiver) = UnixStream::pair()?;
    sender.set_nonblocking(true)?;
    receiver.set_nonblocking(true)?;
    let slots = (0..SLOTS)
        .map(|_| Slot {
            pending: AtomicBool::new(false),
            version: AtomicU64::new(0),
            installed: OnceLock::new(),
            listeners: Mutex::new(slab::Slab::new()),
        })
        .collect();
    // A racing initializer may win: its pair is used and ours is closed.
    Ok(GLOBALS.get_or_init(|| Globals {
        sender,
        receiver,
        slots,
    }))
}

/// The action run inside the signal handler (protocol step 2): an atomic store and one
/// `write(2)`, both async-signal-safe.
fn on_signal(signum: usize) {
    if let Some(g) = GLOBALS.get() {
        g.slots[signum].pending.store(true, SeqCst);
        let _ = (&g.sender).write(&[signum as u8]);
    }
}

/// One listener of one signal.
pub(crate) struct Listener {
    signum: usize,
    key: usize,
    /// The slot version this listener last returned for.
    seen: u64,
    io: Evented<UnixStream>,
}

impl Listener {
    /// Installs the handler for `signum` if needed and registers a new listener on the
    /// current runtime's event loop.
    ///
    /// # Errors
    /// If the handler cannot be installed or the socket cannot be registered.
    #[track_caller]
    pub(crate) fn new(signum: usize, what: &str) -> io::Result<Listener> {
        let g = globals()?;
        let slot = &g.slots[signum];
        let installed = slot.installed.get_or_init(|| {
            crate::sys::install_signal_action(signum as i32, move || on_signal(signum))
                .map_err(|e| format!("cannot install a handler for signal {signum}: {e}"))
        });
        if let Err(msg) = installed {
            return Err(io::Error::other(msg.clone()));
        }
        let dup = g.receiver.try_clone()?;
        let io = Evented::new(dup, what)?;
        let seen = slot.version.load(Acquire);
        let key = lock(&slot.listeners).insert(None);
        Ok(Listener {
            signum,
            key,
            seen,
            io,
        })
    }

    /// `Ready` once the signal was dispatched since this listener last returned (protocol
    /// step 5).
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let g = GLOBALS
            .get()
            .expect("a listener exists, so the registry does");
        let slot = &g.slots[self.signum];
        if self.take_new(slot) {
            return Poll::Ready(());
        }
        // Register first, so a dispatch by another listener after the check below wakes us.
        lock(&slot.listeners)[self.key] = Some(cx.waker().clone());
        self.drain(g, cx);
        if self.take_new(slot) {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn take_new(&mut self, slot: &Slot) -> bool {
        // Acquire: pairs with the dispatcher's Release bump.
        let v = slot.version.load(Acquire);
        if v != self.seen {
            self.seen = v;
            return true;
        }
        false
    }

    /// Reads every byte the handlers wrote and dispatches (protocol step 4). Leaves the
    /// socket's readiness registered for the next byte.
    fn drain(&self, g: &Globals, cx: &mut Context<'_>) {
        loop {
            let read = self.io.poll_read_io(cx, |mut s| {
                let mut buf = [0u8; 128];
                s.read(&mut buf)
            });
            match read {
                Poll::Ready(Ok(n)) if n > 0 => dispatch(g),
                // End of stream cannot happen (the registry keeps the write end); a read error
                // leaves dispatch to the next byte.
                Poll::Ready(_) | Poll::Pending => return,
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(g) = GLOBALS.get() {
            lock(&g.slots[self.signum].listeners).remove(self.key);
        }
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("signum", &self.signum)
            .finish_non_exhaustive()
    }
}

fn dispatch(g: &Globals) {
    for slot in g.slots.iter() {
        if slot.pending.swap(false, SeqCst) {
            // Release: pairs with the listeners' Acquire load in `take_new`.
            slot.version.fetch_add(1, Release);
            let wakers: Vec<Waker> = lock(&slot.listeners)
                .iter_mut()
                .filter_map(|(_, w)| w.take())
                .collect();
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
