//! The task state word: every flag of a task's life in one atomic `usize`.
//!
//! Layout (low bits are flags, the rest is the reference count):
//!
//! | flag            | set when                                   | cleared by / excludes                        |
//! |-----------------|--------------------------------------------|----------------------------------------------|
//! | `RUNNING`       | a thread takes the task to poll or cancel it | that same thread, on idle or complete; while set, no other thread touches the future |
//! | `COMPLETE`      | the stage holds the final output            | never; once set the future is gone for good  |
//! | `NOTIFIED`      | a `Notified` reference to the task exists in (or on its way to) a run queue | the thread that pops it (`transition_to_running`) |
//! | `CANCELLED`     | `abort()` or runtime shutdown asked for it   | never; the next runner cancels instead of polling |
//! | `JOIN_INTEREST` | the `JoinHandle` is alive                   | the `JoinHandle` on drop; without it the runtime drops the output itself |
//! | `JOIN_WAKER`    | the `JoinHandle` stored a waker the runtime may read | the `JoinHandle`, before replacing the waker; never once `COMPLETE` |
//! | `SAMPLE_NEXT`   | the runner, during a poll, when the task's next poll is timed (poll histograms) | `transition_to_running`; a diagnostic: no transition decides on it |
//!
//! Reference counting: every `Task`, `Notified`, `JoinHandle` and `Waker` owns one reference. The
//! reference that is dropped last frees the allocation. A new task starts with three: the owned
//! list's, the first `Notified`'s and the `JoinHandle`'s.
//!
//! Protocol of the output: the runner writes the output, then sets `COMPLETE` (AcqRel). If it sees
//! `JOIN_INTEREST` unset in that same transition, it drops the output; otherwise the `JoinHandle`
//! owns it (reads it after an Acquire load that sees `COMPLETE`, or drops it when it unsets
//! `JOIN_INTEREST` after `COMPLETE`). Exactly one side wins because both decide on one RMW each.
//!
//! Protocol of the join waker: while `JOIN_WAKER` is unset and the task is not complete, only the
//! `JoinHandle` touches the waker slot; it writes it, then sets `JOIN_WAKER` with a CAS that fails
//! if `COMPLETE` got in first. While `JOIN_WAKER` is set, only the runner (after setting
//! `COMPLETE`) may read it. The slot itself is dropped with the allocation.
//!
//! The transitions and the `Snapshot` tests are `#[inline]`: their callers (the task harness in
//! `raw.rs`, the wakers) are generic over the future, so they are compiled in the crate that
//! spawns, where a non-generic function of this crate would otherwise stay a call.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};

const RUNNING: usize = 0b00_0001;
const COMPLETE: usize = 0b00_0010;
const NOTIFIED: usize = 0b00_0100;
const CANCELLED: usize = 0b00_1000;
const JOIN_INTEREST: usize = 0b01_0000;
const JOIN_WAKER: usize = 0b10_0000;
const SAMPLE_NEXT: usize = 0b100_0000;
const REF_SHIFT: usize = 7;
const REF_ONE: usize = 1 << REF_SHIFT;

/// The state word.
pub(crate) struct State {
    val: AtomicUsize,
}

/// A copy of the word, with predicates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.has_join_interest())
            .field("join_waker", &self.has_join_waker())
            .field("refs", &self.ref_count())
            .finish()
    }
}

impl Snapshot {
    #[inline]
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    #[inline]
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    #[inline]
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    #[inline]
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    #[inline]
    pub(crate) fn has_join_interest(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    #[inline]
    pub(crate) fn has_join_waker(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    #[inline]
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
    #[inline]
    fn is_idle(self) -> bool {
        self.0 & (RUNNING | COMPLETE) == 0
    }
}

/// What `transition_to_running` decided.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the caller must act on the decision (poll, reschedule, submit or free the task)"]
pub(crate) enum ToRunning {
    /// The caller holds `RUNNING` and polls the future.
    Poll,
    /// The caller holds `RUNNING` and must cancel the task instead of polling it.
    Cancel,
    /// Someone else runs it or it is done: drop the caller's reference, nothing to deallocate.
    Skip,
    /// As `Skip`, and the caller's reference was the last: free the task.
    Dealloc,
}

/// What `transition_to_idle` decided.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the caller must act on the decision (poll, reschedule, submit or free the task)"]
pub(crate) enum ToIdle {
    /// Parked until a waker fires; the runner's reference was dropped.
    Idle,
    /// As `Idle`, and that reference was the last.
    IdleDealloc,
    /// Woken while it ran: the runner's reference becomes a new `Notified`; reschedule it.
    Notified,
    /// Cancelled while it ran: the runner keeps `RUNNING` and must cancel it now.
    Cancel,
}

/// What a wake decided.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the caller must act on the decision (poll, reschedule, submit or free the task)"]
pub(crate) enum ToNotified {
    /// Nothing to do (already queued, running or complete).
    Nothing,
    /// Hand the new `Notified` reference to the scheduler.
    Submit,
    /// Nothing to do, and the reference consumed by the wake was the last: free the task.
    Dealloc,
}

impl State {
    /// A new task: `NOTIFIED | JOIN_INTEREST`, three references.
    pub(crate) fn new() -> State {
        State {
            val: AtomicUsize::new(NOTIFIED | JOIN_INTEREST | (3 * REF_ONE)),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        // Acquire: pairs with the AcqRel of the transition that published the output.
        Snapshot(self.val.load(Acquire))
    }

    /// Applies `f` in a CAS loop; `f` returns the new value and a result, or `None` to stop.
    #[inline]
    fn fetch_update<T>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, T)) -> T {
        let mut curr = self.val.load(Acquire);
        loop {
            let (next, res) = f(Snapshot(curr));
            let Some(next) = next else { return res };
            // AcqRel: the RUNNING hand-over and COMPLETE publication pair through this word.
            match self
                .val
                .compare_exchange_weak(curr, next.0, AcqRel, Acquire)
            {
                Ok(_) => return res,
                Err(actual) => curr = actual,
            }
        }
    }

    /// Called with a `Notified` reference popped from a run queue.
    #[inline]
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.fetch_update(|s| {
            debug_assert!(s.is_notified(), "a queued task must be NOTIFIED: {s:?}");
            if !s.is_idle() {
                // Complete (the wake raced with completion) or polled elsewhere: drop our ref.
                let next = Snapshot(s.0 - REF_ONE);
                let action = if next.ref_count() == 0 {
                    ToRunning::Dealloc
                } else {
                    ToRunning::Skip
                };
                return (Some(next), action);
            }
            let next = Snapshot((s.0 & !(NOTIFIED | SAMPLE_NEXT)) | RUNNING);
            let action = if s.is_cancelled() {
                ToRunning::Cancel
            } else {
                ToRunning::Poll
            };
            (Some(next), action)
        })
    }

    /// Called by the runner after `poll` returned `Pending`.
    #[inline]
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.fetch_update(|s| {
            debug_assert!(s.is_running());
            if s.is_cancelled() {
                return (None, ToIdle::Cancel);
            }
            let mut next = s.0 & !RUNNING;
            let action = if s.is_notified() {
                // Keep our reference as the new `Notified`.
                ToIdle::Notified
            } else {
                next -= REF_ONE;
                if Snapshot(next).ref_count() == 0 {
                    ToIdle::IdleDealloc
                } else {
                    ToIdle::Idle
                }
            };
            (Some(Snapshot(next)), action)
        })
    }

    /// Called by the runner once the output is stored: clears `RUNNING`, sets `COMPLETE`.
    /// Returns the snapshot after the transition.
    #[inline]
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        // AcqRel: Release publishes the output to the JoinHandle's Acquire load; Acquire sees
        // the JoinHandle's waker write published by its JOIN_WAKER CAS.
        let prev = Snapshot(self.val.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        Snapshot(prev.0 ^ (RUNNING | COMPLETE))
    }

    /// `wake_by_ref`: never consumes a reference; takes a new one on `Submit`.
    #[inline]
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        self.fetch_update(|s| {
            if s.is_complete() || s.is_notified() {
                (None, ToNotified::Nothing)
            } else if s.is_running() {
                (Some(Snapshot(s.0 | NOTIFIED)), ToNotified::Nothing)
            } else {
                (
                    Some(Snapshot((s.0 | NOTIFIED) + REF_ONE)),
                    ToNotified::Submit,
                )
            }
        })
    }

    /// `wake` by value: consumes the waker's reference (it becomes the `Notified` on `Submit`).
    #[inline]
    pub(crate) fn transition_to_notified_by_val(&self) -> ToNotified {
        self.fetch_update(|s| {
            if s.is_running() {
                // The runner holds a reference, so ours cannot be the last.
                let next = Snapshot((s.0 | NOTIFIED) - REF_ONE);
                debug_assert!(next.ref_count() > 0);
                (Some(next), ToNotified::Nothing)
            } else if s.is_complete() || s.is_notified() {
                let next = Snapshot(s.0 - REF_ONE);
                let action = if next.ref_count() == 0 {
                    ToNotified::Dealloc
                } else {
                    ToNotified::Nothing
                };
                (Some(next), action)
            } else {
                (Some(Snapshot(s.0 | NOTIFIED)), ToNotified::Submit)
            }
        })
    }

    /// `abort()`: marks the task cancelled and makes sure some runner will see it.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> ToNotified {
        self.fetch_update(|s| {
            if s.is_cancelled() || s.is_complete() {
                (None, ToNotified::Nothing)
            } else if s.is_running() || s.is_notified() {
                // The current runner, or the next pop of the queued reference, cancels it.
                (
                    Some(Snapshot(s.0 | CANCELLED | NOTIFIED)),
                    ToNotified::Nothing,
                )
            } else {
                (
                    Some(Snapshot((s.0 | CANCELLED | NOTIFIED) + REF_ONE)),
                    ToNotified::Submit,
                )
            }
        })
    }

    /// Runtime shutdown: marks the task cancelled; returns `true` if the caller took `RUNNING`
    /// and must cancel it now (otherwise a runner will, or it is complete).
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|s| {
            if s.is_idle() {
                (Some(Snapshot(s.0 | CANCELLED | RUNNING)), true)
            } else {
                (Some(Snapshot(s.0 | CANCELLED)), false)
            }
        })
    }

    /// `JoinHandle` drop: unsets `JOIN_INTEREST`. Returns the snapshot *before*; if it shows
    /// `COMPLETE`, the caller owns (and must drop) the output.
    #[inline]
    pub(crate) fn unset_join_interested(&self) -> Snapshot {
        // AcqRel: Acquire sees the output published by `transition_to_complete`.
        let prev = Snapshot(self.val.fetch_and(!JOIN_INTEREST, AcqRel));
        debug_assert!(prev.has_join_interest());
        prev
    }

    /// Sets `JOIN_WAKER` after the `JoinHandle` wrote the waker. `Err` if the task completed
    /// first (then the waker will never be read and the output is ready).
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.has_join_interest() && !s.has_join_waker());
            if s.is_complete() {
                (None, Err(s))
            } else {
                (Some(Snapshot(s.0 | JOIN_WAKER)), Ok(()))
            }
        })
    }

    /// Unsets `JOIN_WAKER` so the `JoinHandle` may replace the waker. `Err` if complete.
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.fetch_update(|s| {
            debug_assert!(s.has_join_interest() && s.has_join_waker());
            if s.is_complete() {
                (None, Err(s))
            } else {
                (Some(Snapshot(s.0 & !JOIN_WAKER)), Ok(()))
            }
        })
    }

    /// The runner marks the task's next poll as timed, so that the wake that queues it stamps
    /// its time (`observe::on_schedule`). Called with `RUNNING` held, before the poll ends, so
    /// every wake that can queue that poll comes after it. Relaxed: a diagnostic hint that
    /// orders nothing (the next `transition_to_running` clears it).
    #[cold]
    pub(crate) fn mark_sample_next(&self) {
        self.val.fetch_or(SAMPLE_NEXT, Relaxed);
    }

    /// Whether the task's next poll is timed (see [`State::mark_sample_next`]).
    #[inline]
    pub(crate) fn is_sample_next(&self) -> bool {
        self.val.load(Relaxed) & SAMPLE_NEXT != 0
    }

    #[inline]
    pub(crate) fn ref_inc(&self) {
        // Relaxed: a new reference is made from an existing one, which keeps the task alive.
        let prev = self.val.fetch_add(REF_ONE, Relaxed);
        assert!(
            prev <= isize::MAX as usize,
            "kiln: task reference count overflow"
        );
    }

    /// Drops one reference; `true` if it was the last.
    #[inline]
    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_by(1)
    }

    /// Drops `n` references; `true` if they were the last.
    pub(crate) fn ref_dec_by(&self, n: usize) -> bool {
        // AcqRel: Release orders our accesses before the free; Acquire makes the freeing
        // thread see every other holder's accesses.
        let prev = Snapshot(self.val.fetch_sub(n * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= n, "ref underflow: {prev:?}");
        prev.ref_count() == n
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn new_task_is_notified_with_three_refs() {
        let s = State::new().load();
        assert!(s.is_notified() && s.has_join_interest() && !s.is_running());
        assert_eq!(s.ref_count(), 3);
    }

    #[test]
    fn wake_while_running_reschedules_after_poll() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_notified_by_ref(), ToNotified::Nothing);
        assert_eq!(st.transition_to_idle(), ToIdle::Notified);
        assert_eq!(st.load().ref_count(), 3);
    }

    #[test]
    fn abort_idle_task_submits_once() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        assert_eq!(st.transition_to_idle(), ToIdle::Idle);
        assert_eq!(st.transition_to_notified_and_cancel(), ToNotified::Submit);
        assert_eq!(st.transition_to_notified_and_cancel(), ToNotified::Nothing);
        assert_eq!(st.transition_to_running(), ToRunning::Cancel);
    }

    #[test]
    fn wake_by_val_on_complete_task_frees_last_ref() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        let s = st.transition_to_complete();
        assert!(s.is_complete() && !s.is_running());
        // Drop owned-list, JoinHandle and runner refs, leaving a waker's.
        st.ref_inc();
        assert!(!st.ref_dec_by(3));
        assert_eq!(st.transition_to_notified_by_val(), ToNotified::Dealloc);
    }

    #[test]
    fn join_waker_cannot_be_set_after_complete() {
        let st = State::new();
        assert_eq!(st.transition_to_running(), ToRunning::Poll);
        st.transition_to_complete();
        assert!(st.set_join_waker().is_err());
    }
}
