//! Recycled memory for task records ([`DiagExt`]), so that an observed or named spawn does
//! not call `malloc` and its task's completion does not call `free`.
//!
//! - Each thread keeps the blocks it frees in its own list (a thread-local singly linked list
//!   threaded through the free blocks), up to [`CAP`]; creating a record takes the most
//!   recently freed block, still warm in this thread's cache. No other thread reaches a
//!   thread's list, so it needs no synchronization.
//! - A thread whose list is full hands the whole list (one chain of [`CAP`] blocks) to a
//!   process-wide depot, and a thread whose list is empty takes a chain from it: the depot's
//!   lock is taken once per [`CAP`] records. This matters when tasks are spawned on one
//!   thread and complete on another. The depot holds at most [`DEPOT_CAP`] chains; beyond
//!   that, blocks go back to the allocator.
//! - A thread's list is freed when the thread exits; the depot is kept for the process. The
//!   list is a thread-local without a destructor, so its common paths do not check whether
//!   it was initialized or destroyed; a second thread-local, [`ListOwner`], frees it and is
//!   registered the first time the thread leaves a common path. A list's `len` starts at
//!   [`NEW`] (the owner is not registered yet) and ends at [`DEAD`] (the owner freed it); both
//!   are at least [`CAP`], so a push takes the full-list path and a pop of the empty list the
//!   refill path, which handle them: `NEW` registers the owner, `DEAD` keeps nothing (blocks go
//!   to and come from the allocator).
//! - The depot's lock is `crate::loom`'s, in a `LazyLock` static, so a loom model that
//!   creates records sees it (built anew in each execution). The thread lists are std
//!   thread-locals, which a model's threads share (loom runs them on one OS thread); the
//!   depot's lock is the only point in this pool where a model switches threads, so a model
//!   that passes chains through the depot may leak blocks of a shared list, never hand one
//!   block out twice.
//!
//! At most `CAP` blocks per thread plus `CAP × DEPOT_CAP` in the depot (64 bytes each: 16 KiB
//! and 1 MiB) are kept; that memory was in use by live records before.

use super::DiagExt;
use crate::loom::sync::{LazyLock, Mutex, MutexGuard};
use std::alloc::{dealloc, handle_alloc_error, Layout};
use std::cell::Cell;
use std::ptr;

/// The most freed blocks a thread keeps in its own list.
pub(super) const CAP: u32 = 256;
/// The most chains of `CAP` blocks the depot keeps.
const DEPOT_CAP: usize = 64;

const LAYOUT: Layout = Layout::new::<DiagExt>();

/// A free block: the first word of a record's memory, linking to the next free block.
struct Free {
    next: *mut Free,
}

const _: () = assert!(std::mem::size_of::<Free>() <= std::mem::size_of::<DiagExt>());
const _: () = assert!(std::mem::align_of::<Free>() <= std::mem::align_of::<DiagExt>());

/// A chain of exactly [`CAP`] free blocks, linked through their `next` words.
struct Chain(*mut Free);

// SAFETY: a chain's blocks are owned by whoever holds the chain (the depot, then the thread
// that takes it); nothing else points to them.
unsafe impl Send for Chain {}

/// Full chains handed over by threads whose list was full (see the module docs). The lock
/// guards only this memory and orders nothing else.
struct Depot(Mutex<Vec<Chain>>);

static DEPOT: LazyLock<Depot> = LazyLock::new(|| Depot(Mutex::new(Vec::new())));

impl Depot {
    fn chains(&self) -> MutexGuard<'_, Vec<Chain>> {
        self.0.lock()
    }
}

/// One thread's free blocks.
struct List {
    head: Cell<*mut Free>,
    /// How many blocks `head` holds, or [`NEW`] or [`DEAD`] (with none).
    len: Cell<u32>,
}

/// [`List::len`] of a thread's list before its [`ListOwner`] is registered.
const NEW: u32 = u32::MAX - 1;
/// [`List::len`] of a thread's list after its [`ListOwner`] freed it (the thread is exiting).
const DEAD: u32 = u32::MAX;
// `DEAD` (the largest `u32`) is above `NEW`, so both are at least `CAP`.
const _: () = assert!(NEW >= CAP && DEAD > NEW);

/// Frees every block of the chain starting at `p`.
///
/// # Safety
/// The chain's blocks are allocations of [`LAYOUT`] owned by the caller.
unsafe fn free_chain(mut p: *mut Free) {
    while !p.is_null() {
        // SAFETY: every block of the chain is a live allocation of `LAYOUT` owned by the
        // caller, its first word written as a `Free`.
        let next = unsafe { (*p).next };
        // SAFETY: as above; the block is not used again.
        unsafe { dealloc(p.cast(), LAYOUT) };
        p = next;
    }
}

/// Frees its thread's list when the thread exits (see the module docs).
struct ListOwner;

impl Drop for ListOwner {
    fn drop(&mut self) {
        LIST.with(|l| {
            l.len.set(DEAD);
            // SAFETY: the list owns its blocks; marked dead, it takes no more.
            unsafe { free_chain(l.head.replace(ptr::null_mut())) };
        });
    }
}

thread_local! {
    static LIST: List = const {
        List {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(NEW),
        }
    };
    static OWNER: ListOwner = const { ListOwner };
}

/// Settles a list whose `len` is [`NEW`]: registers this thread's [`ListOwner`] (the list is
/// then empty), or marks the list [`DEAD`] if the thread's thread-locals are being destroyed.
/// Returns whether the list may keep blocks.
#[cold]
fn settle(list: &List) -> bool {
    match list.len.get() {
        DEAD => false,
        NEW => {
            let registered = OWNER.try_with(|_| ()).is_ok();
            list.len.set(if registered { 0 } else { DEAD });
            registered
        }
        _ => true,
    }
}

/// A block for one record, uninitialized: from this thread's list, the depot, or the
/// allocator.
#[inline]
pub(super) fn alloc() -> *mut DiagExt {
    let block = LIST.with(|l| pop(l, || DEPOT.get()));
    if !block.is_null() {
        return block.cast();
    }
    alloc_fresh()
}

/// A block from the allocator (this thread's list and the depot are empty).
#[cold]
#[inline(never)]
fn alloc_fresh() -> *mut DiagExt {
    // SAFETY: `LAYOUT` is `DiagExt`'s layout, which is not zero-sized.
    let p = unsafe { std::alloc::alloc(LAYOUT) }.cast::<DiagExt>();
    if p.is_null() {
        handle_alloc_error(LAYOUT);
    }
    p
}

/// Takes a block from `list`, refilling it from the depot if it is empty; null if both are.
/// The depot is reached (through `depot`) only then, so the common path does not check
/// whether the process-wide depot was initialized.
#[inline]
fn pop<'d>(list: &List, depot: impl FnOnce() -> &'d Depot) -> *mut Free {
    let mut head = list.head.get();
    if head.is_null() {
        head = refill(list, depot());
        if head.is_null() {
            return head;
        }
    }
    // SAFETY: a listed block is owned by the list.
    list.head.set(unsafe { (*head).next });
    list.len.set(list.len.get() - 1);
    head
}

/// Moves a chain from the depot into the (empty) `list`; returns its head, or null (also
/// for a dead list).
#[cold]
fn refill(list: &List, depot: &Depot) -> *mut Free {
    if !settle(list) {
        return ptr::null_mut();
    }
    let chain = depot.chains().pop();
    let Some(Chain(head)) = chain else {
        return ptr::null_mut();
    };
    list.head.set(head);
    list.len.set(CAP);
    head
}

/// Drops the record at `ext` and keeps its memory for a later record (or frees it).
///
/// # Safety
/// `ext` came from [`alloc`] (on any thread) and holds a live record that is not used
/// afterwards.
#[inline]
pub(super) unsafe fn destroy(ext: *mut DiagExt) {
    // SAFETY: the caller owns the live record.
    unsafe { ptr::drop_in_place(ext) };
    let block = ext.cast::<Free>();
    // SAFETY: the block's contents were dropped above; it is ours to keep or free.
    LIST.with(|l| unsafe { push(l, || DEPOT.get(), block) });
}

/// Puts `block` on `list`, first handing a full list to the depot (or freeing its blocks if
/// the depot is full too); the depot is reached (through `depot`) only then. A dead list
/// keeps nothing: the block is freed.
///
/// # Safety
/// `block` is an allocation of [`LAYOUT`] owned by the caller, with nothing live in it.
#[inline(always)]
unsafe fn push<'d>(list: &List, depot: impl FnOnce() -> &'d Depot, block: *mut Free) {
    // SAFETY: the caller's contract, passed on.
    if list.len.get() >= CAP && !unsafe { make_room(list, depot(), block) } {
        return;
    }
    // SAFETY: the block is ours (see the contract), large and aligned enough for a `Free`.
    unsafe {
        block.write(Free {
            next: list.head.get(),
        })
    };
    list.head.set(block);
    list.len.set(list.len.get() + 1);
}

/// Makes room for `block` in a `list` whose `len` is at least [`CAP`]: settles a new one,
/// spills a full one; frees `block` and returns false for a dead one (it keeps nothing).
///
/// # Safety
/// As for [`push`].
#[cold]
unsafe fn make_room(list: &List, depot: &Depot, block: *mut Free) -> bool {
    if list.len.get() < NEW {
        spill(list, depot);
        return true;
    }
    if settle(list) {
        return true;
    }
    // SAFETY: the block is an allocation of `LAYOUT` that nobody uses (the contract).
    unsafe { dealloc(block.cast(), LAYOUT) };
    false
}

/// Empties a full `list` into the depot, or frees its blocks if the depot is full.
fn spill(list: &List, depot: &Depot) {
    let chain = Chain(list.head.replace(ptr::null_mut()));
    list.len.set(0);
    let mut chains = depot.chains();
    if chains.len() < DEPOT_CAP {
        chains.push(chain);
        return;
    }
    drop(chains);
    // SAFETY: the chain's blocks were this list's, and now are no one else's.
    unsafe { free_chain(chain.0) };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A record with nothing to drop (the pool only recycles memory).
    fn record() -> DiagExt {
        DiagExt {
            spawned_at: std::panic::Location::caller(),
            name: None,
            poll_ns: Default::default(),
            last_poll: Default::default(),
            spawned: 7,
            woke: Default::default(),
        }
    }

    #[test]
    fn a_freed_block_is_reused_by_the_same_thread() {
        let a = alloc();
        // SAFETY: a fresh block; written before it is destroyed.
        unsafe { a.write(record()) };
        // SAFETY: `a` is live and not used again.
        unsafe { destroy(a) };
        let b = alloc();
        assert_eq!(a, b, "the last freed block comes back first");
        // SAFETY: as above.
        unsafe { b.write(record()) };
        // SAFETY: as above.
        assert_eq!(unsafe { (*b).spawned }, 7);
        // SAFETY: as above.
        unsafe { destroy(b) };
    }

    fn new_list() -> List {
        List {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
        }
    }

    #[test]
    fn full_lists_pass_chains_through_the_depot() {
        // One list frees (the completing thread), another allocates (the spawning thread),
        // with a depot of their own so that other tests cannot take its chains.
        let depot = Depot(Mutex::new(Vec::new()));
        let (spawner, completer) = (new_list(), new_list());
        let cap = CAP as usize;
        // SAFETY: fresh allocations of `LAYOUT`, owned by this test until pushed.
        let blocks: Vec<*mut Free> = (0..3 * cap + 1).map(|_| unsafe { alloc_block() }).collect();
        for &b in &blocks {
            // SAFETY: each block is ours and pushed once.
            unsafe { push(&completer, || &depot, b) };
        }
        // Three full lists spilled; the fourth holds the last block.
        assert_eq!(depot.chains().len(), 3);
        assert_eq!(completer.len.get(), 1);
        assert!(
            pop(&spawner, || &depot) == blocks[3 * cap - 1],
            "the newest chain first"
        );
        assert_eq!(depot.chains().len(), 2);
        assert_eq!(spawner.len.get(), CAP - 1);
        let taken: Vec<*mut Free> = (0..cap - 1).map(|_| pop(&spawner, || &depot)).collect();
        assert!(taken.iter().all(|t| blocks[2 * cap..3 * cap].contains(t)));
        assert_eq!(spawner.len.get(), 0);
        for b in taken {
            // SAFETY: the popped blocks are ours again.
            unsafe { dealloc(b.cast(), LAYOUT) };
        }
        // SAFETY: as above.
        unsafe { dealloc(blocks[3 * cap - 1].cast(), LAYOUT) };
        for Chain(head) in depot.chains().drain(..) {
            // SAFETY: the depot's chains are owned by it, which is dropped here.
            unsafe { free_chain(head) };
        }
        // SAFETY: the test's lists own their blocks and are not used again.
        unsafe { free_chain(completer.head.replace(ptr::null_mut())) };
        // SAFETY: as above.
        unsafe { free_chain(spawner.head.replace(ptr::null_mut())) };
    }

    #[test]
    fn a_new_list_settles_and_a_dead_one_keeps_nothing() {
        let depot = Depot(Mutex::new(Vec::new()));
        let list = List {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(NEW),
        };
        // SAFETY: a fresh allocation of `LAYOUT`, pushed once.
        let b = unsafe { alloc_block() };
        // SAFETY: `b` is ours.
        unsafe { push(&list, || &depot, b) };
        assert_eq!(
            list.len.get(),
            1,
            "a new list is settled, then keeps the block"
        );
        assert!(pop(&list, || &depot) == b);
        list.len.set(DEAD);
        // SAFETY: `b` is ours again; a dead list frees it.
        unsafe { push(&list, || &depot, b) };
        assert!(list.head.get().is_null(), "a dead list keeps nothing");
        assert!(
            pop(&list, || &depot).is_null(),
            "a dead list hands out nothing"
        );
        assert!(depot.chains().is_empty());
    }

    #[test]
    fn threads_that_only_free_or_only_allocate_exit_cleanly() {
        let records: Vec<usize> = std::thread::spawn(|| {
            (0..CAP + 3)
                .map(|_| {
                    let r = alloc();
                    // SAFETY: a fresh block, written before it is destroyed elsewhere.
                    unsafe { r.write(record()) };
                    r as usize
                })
                .collect()
        })
        .join()
        .unwrap();
        std::thread::spawn(move || {
            for r in records {
                // SAFETY: each record is live and destroyed once, on this thread.
                unsafe { destroy(r as *mut DiagExt) };
            }
        })
        .join()
        .unwrap();
    }

    /// An allocation of [`LAYOUT`].
    ///
    /// # Safety
    /// The caller frees it (directly or through a list).
    unsafe fn alloc_block() -> *mut Free {
        // SAFETY: `LAYOUT` is not zero-sized.
        let p = unsafe { std::alloc::alloc(LAYOUT) };
        assert!(!p.is_null());
        p.cast()
    }
}
