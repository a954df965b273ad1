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
//! - A thread's list is freed when the thread exits; the depot is kept for the process.
//! - The depot's lock is `crate::loom`'s, in a `LazyLock` static, so a loom model that
//!   creates records sees it (built anew in each execution). The thread lists are std
//!   thread-locals, which a model's threads share (loom runs them on one OS thread); the
//!   depot's lock is the only point in this pool where a model switches threads, so a model
//!   that passes chains through the depot may leak blocks of a shared list, never hand one
//!   block out twice.
//!
//! At most `CAP` blocks per thread plus `CAP × DEPOT_CAP` in the depot (80 bytes each: 20 KiB
//! and 1.25 MiB) are kept; that memory was in use by live records before.

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
    len: Cell<u32>,
}

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

impl Drop for List {
    fn drop(&mut self) {
        // SAFETY: the list owns its blocks.
        unsafe { free_chain(self.head.replace(ptr::null_mut())) };
    }
}

thread_local! {
    static LIST: List = const {
        List {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
        }
    };
}

/// A block for one record, uninitialized: from this thread's list, the depot, or the
/// allocator.
#[inline]
pub(super) fn alloc() -> *mut DiagExt {
    let block = LIST
        .try_with(|l| pop(l, || DEPOT.get()))
        .unwrap_or(ptr::null_mut());
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

/// Moves a chain from the depot into the (empty) `list`; returns its head, or null.
#[cold]
fn refill(list: &List, depot: &Depot) -> *mut Free {
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
    let kept = LIST.try_with(|l| unsafe { push(l, || DEPOT.get(), block) });
    if kept.is_ok() {
        return;
    }
    // SAFETY: the block is an allocation of `LAYOUT` (from `alloc`) that nobody uses.
    unsafe { dealloc(block.cast(), LAYOUT) };
}

/// Puts `block` on `list`, first handing a full list to the depot (or freeing its blocks if
/// the depot is full too); the depot is reached (through `depot`) only then.
///
/// # Safety
/// `block` is an allocation of [`LAYOUT`] owned by the caller, with nothing live in it.
#[inline]
unsafe fn push<'d>(list: &List, depot: impl FnOnce() -> &'d Depot, block: *mut Free) {
    if list.len.get() >= CAP {
        spill(list, depot());
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

/// Empties a full `list` into the depot, or frees its blocks if the depot is full.
#[cold]
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
            sample_mask: crate::observe::NEVER_SAMPLED,
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
        // The lists free their own blocks when dropped.
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
