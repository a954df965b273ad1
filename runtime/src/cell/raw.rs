//! The task cell: one allocation per task, and every raw pointer and `unsafe` block of the
//! task system.
//!
//! Layout: [`Cell`] is `#[repr(C)]` with the [`Header`] first, so a `NonNull<Header>` is a
//! pointer to the whole cell and the [`Vtable`] (monomorphized per future and scheduler type)
//! recovers the concrete type. Handles (`Task`, `Notified`, `JoinHandle`, `Waker`) each own one
//! reference counted in the [`State`] word; the last one frees the cell through `dealloc`.
//!
//! Field access rules:
//! - `stage` (the future, then its output): only the thread holding `RUNNING` touches it until
//!   `COMPLETE` is set; after that only the `JoinHandle` (while `JOIN_INTEREST`) or the runner
//!   that saw `JOIN_INTEREST` unset at completion (see `state.rs`).
//! - `join_waker`: see the join waker protocol in `state.rs`.
//! - `owned_slot`: only under the lock of the owned-list shard the task is bound to.
//! - `polls`: written only by the thread holding `RUNNING` (Relaxed load + store, no
//!   read-modify-write), read by dumps at any time; a diagnostic that orders nothing.
//! - `diag`: set at creation, then read-only (see `diag.rs`).
//!
//! `owned_slot` and `polls` are 32 bits each so that they share one word and the header stays
//! five words: diagnostics must not make a cell larger (a larger cell can fall out of the
//! allocator's fast size classes, which costs every spawn).

use super::join::{Failure, JoinError};
use super::state::{Snapshot, State, ToIdle, ToNotified, ToRunning};
use super::{Id, Schedule};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// The type-erased part every task starts with.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    vtable: &'static Vtable,
    pub(crate) id: Id,
    /// Index in the owned-list shard; guarded by that shard's lock.
    pub(crate) owned_slot: UnsafeCell<u32>,
    /// Started polls (wrapping), for dumps.
    polls: AtomicU32,
    /// Spawn location, name and observed-runtime fields (see `diag.rs`).
    pub(crate) diag: super::diag::TaskDiag,
}

// Diagnostics must not grow the cell (see the module docs): the header stays five words, as it
// was before tasks recorded names and poll counts, so a small task's cell stays in the
// allocator's fast size classes when observability is off.
#[cfg(all(not(loom), target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<Header>() == 5 * std::mem::size_of::<usize>());

impl Header {
    /// Where the task was spawned (for slow-poll reports, dumps and stall reports).
    pub(crate) fn spawned_at(&self) -> &'static std::panic::Location<'static> {
        self.diag.spawned_at()
    }

    /// Polls started so far.
    #[inline]
    pub(crate) fn polls(&self) -> u32 {
        self.polls.load(Relaxed)
    }

    /// Starts a poll (the caller holds `RUNNING`): bumps the count, returns the count before.
    #[inline]
    pub(crate) fn begin_poll(&self) -> u32 {
        let n = self.polls.load(Relaxed);
        self.polls.store(n.wrapping_add(1), Relaxed);
        n
    }
}

struct Vtable {
    poll: unsafe fn(NonNull<Header>),
    schedule: unsafe fn(NonNull<Header>),
    shutdown: unsafe fn(NonNull<Header>),
    dealloc: unsafe fn(NonNull<Header>),
    try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    drop_join_handle: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Running(F),
    /// The output, or how the task failed (the `JoinHandle` turns that into a `JoinError`).
    Finished(Result<F::Output, Failure>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
    join_waker: UnsafeCell<Option<Waker>>,
}

/// An untyped pointer to a task cell. Owns nothing by itself: the typed handles in `task/mod.rs`
/// decide which reference it stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a `RawTask` is only a pointer; every access goes through the state protocol, and the
// cell's future and output are `Send` (required by `RawTask::new`).
unsafe impl Send for RawTask {}
// SAFETY: as above; shared access is mediated by the atomic state word.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task with three references (see `State::new`).
    pub(crate) fn new<F, S>(future: F, scheduler: S, id: Id, diag: super::diag::TaskDiag) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: vtable::<F, S>(),
                id,
                owned_slot: UnsafeCell::new(u32::MAX),
                polls: AtomicU32::new(0),
                diag,
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: UnsafeCell::new(None),
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        RawTask { ptr }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the caller's handle owns a reference, so the cell is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Polls (or cancels) the task, consuming the `Notified` reference the caller held.
    pub(crate) fn poll(self) {
        // SAFETY: the vtable matches the cell it was created with.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// Hands a `Notified` reference (consumed) to the task's scheduler.
    pub(crate) fn schedule(self) {
        // SAFETY: as above.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    /// Cancels the task for runtime shutdown. Consumes nothing.
    pub(crate) fn shutdown(self) {
        // SAFETY: as above.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// Drops one reference, freeing the cell if it was the last.
    pub(crate) fn drop_reference(self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference; nobody else can reach the cell.
            unsafe { (self.header().vtable.dealloc)(self.ptr) }
        }
    }

    /// Writes `Poll::Ready(Result<T, JoinError>)` to `dst` if the output is ready, else
    /// registers `waker`.
    ///
    /// # Safety
    /// `dst` must point to a `Poll<Result<T, JoinError>>` with `T` the task's output type, and
    /// the caller must be the task's `JoinHandle`.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// The `JoinHandle` is gone: drop interest (and the output if complete), then its reference.
    pub(crate) fn drop_join_handle(self) {
        // SAFETY: the vtable matches the cell.
        unsafe { (self.header().vtable.drop_join_handle)(self.ptr) }
    }
}

fn vtable<F, S>() -> &'static Vtable
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    &Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        shutdown: shutdown::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle: drop_join_handle::<F, S>,
    }
}

/// # Safety
/// `ptr` must point to a live `Cell<F, S>`.
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: the header is the first field of a `#[repr(C)]` cell of this type.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: called once, by the holder of the last reference; the cell came from `Box::new`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller hands over a live `Notified` reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    crate::observe::on_schedule(&cell.header);
    cell.scheduler
        .schedule(super::Notified::from_raw(RawTask { ptr }));
}

unsafe fn poll<F, S>(ptr: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the caller's `Notified` reference keeps the cell alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        ToRunning::Poll => {}
        ToRunning::Cancel => return cancel_and_complete(cell, ptr),
        ToRunning::Skip => return,
        // SAFETY: our reference was the last.
        ToRunning::Dealloc => return unsafe { dealloc::<F, S>(ptr) },
    }
    // A waker that borrows the runner's reference instead of owning one.
    // SAFETY: the vtable's functions expect exactly this data pointer; `ManuallyDrop` keeps the
    // borrowed reference from being released.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    let polled = catch_unwind(AssertUnwindSafe(|| {
        let _id = super::CurrentId::enter(cell.header.id);
        let _probe = crate::observe::PollGuard::enter(&cell.header);
        cell.stage.with_mut(|stage| {
            // SAFETY: we hold RUNNING, so we have exclusive access to the stage; the future is
            // never moved out of the cell while it is `Running`, so pinning it is sound.
            match unsafe { &mut *stage } {
                // SAFETY: as above: the future stays in place inside the cell until dropped.
                Stage::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(&mut cx),
                _ => unreachable!("kiln: polled a task whose future is gone"),
            }
        })
    }));
    match polled {
        Ok(Poll::Ready(output)) => complete(cell, ptr, Ok(output)),
        Ok(Poll::Pending) => match cell.header.state.transition_to_idle() {
            ToIdle::Idle => {}
            // SAFETY: our reference was the last.
            ToIdle::IdleDealloc => unsafe { dealloc::<F, S>(ptr) },
            ToIdle::Notified => {
                crate::observe::on_schedule(&cell.header);
                cell.scheduler
                    .yield_now(super::Notified::from_raw(RawTask { ptr }))
            }
            ToIdle::Cancel => cancel_and_complete(cell, ptr),
        },
        Err(payload) => {
            let dropped = drop_future(cell);
            // A panic in the future's destructor is dropped: the poll's panic is the cause.
            drop(dropped);
            complete(cell, ptr, Err(Failure::panic(payload)));
        }
    }
}

/// Drops the future in place (the caller holds RUNNING); returns a panic from its destructor.
fn drop_future<F: Future, S>(cell: &Cell<F, S>) -> Result<(), Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: RUNNING gives exclusive access to the stage.
        cell.stage
            .with_mut(|stage| unsafe { *stage = Stage::Consumed });
    }))
}

fn cancel_and_complete<F, S>(cell: &Cell<F, S>, ptr: NonNull<Header>)
where
    F: Future,
    S: Schedule,
{
    let err = match drop_future(cell) {
        Ok(()) => Failure::cancelled(),
        Err(payload) => Failure::panic(payload),
    };
    complete(cell, ptr, Err(err));
}

/// Stores the output, publishes `COMPLETE`, notifies the `JoinHandle`, releases the task from
/// its owned list and drops the runner's reference. The caller holds RUNNING.
fn complete<F, S>(cell: &Cell<F, S>, ptr: NonNull<Header>, output: Result<F::Output, Failure>)
where
    F: Future,
    S: Schedule,
{
    // The future (if still there) is dropped by this assignment; make that panic-safe first.
    if let Err(payload) = drop_future(cell) {
        drop(payload);
    }
    // SAFETY: RUNNING gives exclusive access to the stage.
    cell.stage
        .with_mut(|stage| unsafe { *stage = Stage::Finished(output) });
    let snapshot = cell.header.state.transition_to_complete();
    if !snapshot.has_join_interest() {
        // Nobody will read the output: it is ours to drop. Its destructor may panic.
        // SAFETY: without JOIN_INTEREST nobody else touches the stage after COMPLETE.
        let unhandled = cell
            .stage
            .with(|stage| panic_message(unsafe { &*stage }, &cell.header));
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above.
            cell.stage
                .with_mut(|stage| unsafe { *stage = Stage::Consumed });
        }));
        if let Some(message) = unhandled {
            cell.scheduler.unhandled_panic(message);
        }
    } else if snapshot.has_join_waker() {
        // SAFETY: with JOIN_WAKER set and COMPLETE now set, the JoinHandle no longer writes the
        // slot; reading it here is the runtime's side of the join-waker protocol.
        cell.join_waker.with(|w| {
            // SAFETY: see above; only shared reads of the slot happen now.
            if let Some(w) = unsafe { &*w } {
                // A user's waker: its panic must not skip the release below.
                crate::cell::contain_panic(|| w.wake_by_ref());
            }
        });
    }
    let raw = RawTask { ptr };
    let released = cell.scheduler.release(raw);
    let refs = if released { 2 } else { 1 };
    if cell.header.state.ref_dec_by(refs) {
        // SAFETY: those were the last references.
        unsafe { dealloc::<F, S>(ptr) };
    }
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller (the owned list) holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // We took RUNNING: cancel it here. `complete` drops the runner's reference, so take one
        // for it first (the caller keeps its own).
        cell.header.state.ref_inc();
        cancel_and_complete(cell, ptr);
    }
}

/// The panic a finished stage holds, described for `Schedule::unhandled_panic`.
fn panic_message<F: Future>(stage: &Stage<F>, header: &Header) -> Option<String> {
    match stage {
        Stage::Finished(Err(e)) => e.panic_message(header),
        _ => None,
    }
}

unsafe fn try_read_output<F: Future, S>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    if !can_read_output(&cell.header, &cell.join_waker, waker) {
        return;
    }
    // SAFETY: COMPLETE with JOIN_INTEREST: the stage is the JoinHandle's alone.
    let stage = cell
        .stage
        .with_mut(|stage| unsafe { std::mem::replace(&mut *stage, Stage::Consumed) });
    let Stage::Finished(output) = stage else {
        panic!("kiln: JoinHandle polled after it returned its output");
    };
    let output = output.map_err(|e| e.into_join_error(&cell.header));
    // SAFETY: the caller guarantees `dst` is a `Poll<Result<F::Output, JoinError>>`.
    unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
}

/// The JoinHandle side of the join-waker protocol; `true` once the output can be taken.
fn can_read_output(header: &Header, slot: &UnsafeCell<Option<Waker>>, waker: &Waker) -> bool {
    let snapshot = header.state.load();
    if snapshot.is_complete() {
        return true;
    }
    if snapshot.has_join_waker() {
        // SAFETY: while JOIN_WAKER is set the runtime only reads the slot; reading it too is fine.
        let same = slot.with(|w| unsafe { &*w }.as_ref().is_some_and(|w| w.will_wake(waker)));
        if same {
            return false;
        }
        if header.state.unset_join_waker().is_err() {
            return true;
        }
    }
    // SAFETY: JOIN_WAKER is unset and the task is not complete: the slot is ours.
    slot.with_mut(|w| unsafe { *w = Some(waker.clone()) });
    header
        .state
        .set_join_waker()
        .is_err_and(Snapshot::is_complete)
}

unsafe fn drop_join_handle<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    let prev = cell.header.state.unset_join_interested();
    if prev.is_complete() {
        // The output is ours to drop; a panicking destructor must not escape a `drop`.
        // SAFETY: COMPLETE was set before we unset JOIN_INTEREST: the stage is ours.
        let unhandled = cell
            .stage
            .with(|stage| panic_message(unsafe { &*stage }, &cell.header));
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above.
            cell.stage
                .with_mut(|stage| unsafe { *stage = Stage::Consumed });
        }));
        if let Some(message) = unhandled {
            cell.scheduler.unhandled_panic(message);
        }
    }
    if cell.header.state.ref_dec() {
        // SAFETY: ours was the last reference.
        unsafe { dealloc::<F, S>(ptr) };
    }
}

// ---- the waker: its data pointer is the task pointer; each waker owns one reference ----

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_by_val, wake_by_ref, drop_waker);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE)
}

unsafe fn header<'a>(data: *const ()) -> &'a Header {
    // SAFETY: waker data pointers are always live task pointers (the waker owns a reference).
    unsafe { &*(data as *const Header) }
}

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned keeps the task alive.
    unsafe { header(data) }.state.ref_inc();
    // SAFETY: data is non-null (a task pointer).
    raw_waker(unsafe { NonNull::new_unchecked(data as *mut Header) })
}

unsafe fn wake_by_val(data: *const ()) {
    // SAFETY: data is a live task pointer whose reference this call consumes.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: as above.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_notified_by_val() {
        ToNotified::Nothing => {}
        // SAFETY: our reference became the `Notified` one.
        ToNotified::Submit => unsafe { (header.vtable.schedule)(ptr) },
        // SAFETY: our reference was the last.
        ToNotified::Dealloc => unsafe { (header.vtable.dealloc)(ptr) },
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: data is a live task pointer (the waker holds a reference).
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: as above.
    let header = unsafe { ptr.as_ref() };
    if header.state.transition_to_notified_by_ref() == ToNotified::Submit {
        // SAFETY: the transition took a new reference for the `Notified`.
        unsafe { (header.vtable.schedule)(ptr) }
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: data is a live task pointer; this drops the waker's reference.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    RawTask { ptr }.drop_reference();
}
