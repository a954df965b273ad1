//! Keeping a TCP connection on the worker whose CPU receives its packets.
//!
//! A task runs on the worker that harvests its socket's events (the waker schedules it there),
//! so a socket's registration decides where its task runs. The kernel processes a socket's
//! incoming packets on some CPU and records it (`SO_INCOMING_CPU` on Linux): the CPU of the
//! NIC queue that received them, or, over loopback, the CPU of the thread that sent them.
//! Running the reading task on that same CPU keeps the socket and its buffers in that CPU's
//! cache; a request/response exchange between two tasks of one runtime over loopback then
//! stays on one worker instead of crossing between two CPUs on every message.
//!
//! # Protocol
//!
//! - Each worker publishes the CPU it runs on (`crate::driver::Peers::note_cpu`), when it
//!   starts, after each park and at each maintenance tick. Threads move between CPUs, so this is a hint: a stale value
//!   only places a socket less well.
//! - An accepted stream registers with the worker running on its incoming CPU (else, as every
//!   other socket, with the worker that creates it).
//! - Every [`FOLLOW_EVERY`]th read of a stream asks the kernel again and, if another worker of
//!   the runtime runs on the incoming CPU now, moves the registration there
//!   ([`super::evented::Evented::follow_cpu`]; the move keeps the readiness state and wakers,
//!   and loses no event).
//! - The two ends of a loopback connection each see the other's CPU until they meet. If both
//!   checked in the same round trip, each would move to the other's worker and they would swap
//!   places forever; so each stream starts its read counter at a different phase
//!   ([`Follow::new`]), and the first to check moves while the other then finds its packets
//!   already arriving at home.
//! - A worker takes a socket only while it holds at most a quarter more than an even share of
//!   the runtime's sockets (`crate::driver::Peers::on_cpu`): where one CPU receives every packet (a
//!   NIC with a single queue), connections stay spread over the workers.
//!
//! Only Linux reports the incoming CPU (`crate::sys::incoming_cpu`); elsewhere sockets stay
//! where they were created.

use super::evented::Evented;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::os::fd::AsFd;

/// Reads between two checks of where a stream's packets arrive (one `getsockopt` each).
const FOLLOW_EVERY: usize = 64;

/// A stream's read counter for [`FOLLOW_EVERY`].
#[derive(Debug)]
pub(crate) struct Follow {
    reads: AtomicUsize,
}

impl Follow {
    /// A counter starting at a phase that differs between consecutive streams.
    pub(crate) fn new() -> Follow {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        // Relaxed: any spread will do. 23 is coprime with 64: consecutive streams differ.
        let phase = NEXT.fetch_add(23, std::sync::atomic::Ordering::Relaxed) % FOLLOW_EVERY;
        Follow {
            reads: AtomicUsize::new(phase),
        }
    }

    /// Counts one completed read of `io`; every [`FOLLOW_EVERY`]th moves it to the worker on
    /// its incoming CPU (see the module docs).
    pub(crate) fn after_read<S: AsFd>(&self, io: &Evented<S>) {
        // Relaxed: a counter that only spaces out the checks.
        if self.reads.fetch_add(1, Relaxed) % FOLLOW_EVERY != FOLLOW_EVERY - 1 {
            return;
        }
        if let Some(cpu) = crate::sys::incoming_cpu(io.get_ref().as_fd()) {
            io.follow_cpu(cpu);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn consecutive_streams_check_at_different_reads() {
        // The two ends of a connection are created one after the other (with fewer than
        // `FOLLOW_EVERY` other streams in between) and must not share a phase.
        let phases: Vec<usize> = (0..FOLLOW_EVERY)
            .map(|_| Follow::new().reads.load(Relaxed))
            .collect();
        for pair in phases.windows(2) {
            assert_ne!(pair[0], pair[1]);
        }
    }
}
