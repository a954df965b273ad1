//! Loom models of the pool's races: a submitter waiting for room while a queued job retires
//! (leaves the queue) and the pool shuts down; an abort racing a job's start.

use super::gate::{Closed, Gate, WaitSlot};
use super::handle::{JoinHandle, Slot, TransitionToRunning};
use crate::loom::sync::Arc;
use loom::thread;
use std::future::poll_fn;

/// Submit / retire / shutdown: the queue (capacity 1) is full; a submitter waits for room
/// (`spawn_wait`), the queued job retires from the queue (a thread takes it), and the pool
/// shuts down. Whatever the interleaving, the submitter's wait ends (with room, or with the
/// pool closed) — no lost wake-up — and the count of queued jobs stays exact.
#[test]
fn loom_submit_races_retire_and_shutdown() {
    loom::model(|| {
        let gate = Arc::new(Gate::new(1));
        assert!(gate.try_acquire());
        let g1 = gate.clone();
        let retire = thread::spawn(move || g1.release());
        let g2 = gate.clone();
        let shutdown = thread::spawn(move || g2.close());
        let mut slot = WaitSlot::default();
        let got = loom::future::block_on(poll_fn(|cx| gate.poll_acquire(&mut slot, cx)));
        retire.join().unwrap();
        shutdown.join().unwrap();
        match got {
            Ok(()) => assert_eq!(gate.queued(), 1),
            Err(Closed) => assert_eq!(gate.queued(), 0),
        }
    });
}

/// Two submitters wait on a full queue; one queued job retires. The wake-up reaches a waiter
/// even when the notified one goes away without taking the slot (it passes the wake-up on).
#[test]
fn loom_dropped_waiter_passes_the_wake_up_on() {
    loom::model(|| {
        let gate = Arc::new(Gate::new(1));
        assert!(gate.try_acquire());
        let g1 = gate.clone();
        // A waiter that registers, then is dropped (its future cancelled).
        let quitter = thread::spawn(move || {
            let mut slot = WaitSlot::default();
            let waker = futures_noop_waker();
            let mut cx = std::task::Context::from_waker(&waker);
            if g1.poll_acquire(&mut slot, &mut cx).is_ready() {
                g1.release(); // took the room: give it back, as a dropped job would
            }
            g1.cancel(&mut slot);
        });
        let g2 = gate.clone();
        let retire = thread::spawn(move || g2.release());
        let mut slot = WaitSlot::default();
        let got = loom::future::block_on(poll_fn(|cx| gate.poll_acquire(&mut slot, cx)));
        quitter.join().unwrap();
        retire.join().unwrap();
        assert_eq!(got, Ok(()));
        assert_eq!(gate.queued(), 1);
    });
}

/// Abort / start / shutdown-drop: exactly one of them leaves the queued state; the handle
/// always resolves, with the result only if the job ran.
#[test]
fn loom_abort_races_start_and_shutdown() {
    loom::model(|| {
        let slot: std::sync::Arc<Slot<u32>> = Slot::new();
        let handle = JoinHandle::new(slot.clone());
        let s1 = slot.clone();
        let runner = thread::spawn(move || {
            if s1.transition_to_running() == TransitionToRunning::Run {
                s1.finish(Ok(7));
                true
            } else {
                false
            }
        });
        let s2 = slot.clone();
        let shutdown = thread::spawn(move || s2.cancel_unrun());
        handle.abort();
        let ran = runner.join().unwrap();
        shutdown.join().unwrap();
        let result = loom::future::block_on(handle);
        if ran {
            assert_eq!(result.unwrap(), 7);
        } else {
            assert!(result.unwrap_err().is_cancelled());
        }
    });
}

fn futures_noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}
