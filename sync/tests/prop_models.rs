//! Property tests: random operation sequences on `Queue`, bounded `mpsc` and `Semaphore`,
//! checked step by step against a plain sequential model of each.
//!
//! Single-threaded: waiting operations are futures polled by hand with a no-op waker (first
//! poll when they start, again when the sequence says so, or dropped). The models encode the
//! primitives' documented fairness: a released item, slot or permit goes to the longest
//! waiter first; a waiter that already got one and is dropped passes it on.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use kiln_sync::{mpsc, Queue, Semaphore};
use proptest::prelude::*;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

fn poll_once<T>(fut: &mut Boxed<'_, T>) -> Poll<T> {
    fut.as_mut()
        .poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One step; `usize` picks a pending future (modulo how many there are).
#[derive(Clone, Debug)]
enum Op {
    TryIn,
    TryOut,
    StartIn,
    PollIn(usize),
    DropIn(usize),
    StartOut,
    PollOut(usize),
    DropOut(usize),
    /// `Queue::task_done` (when something is unfinished); unused by mpsc.
    Done,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::TryIn),
        3 => Just(Op::TryOut),
        2 => Just(Op::StartIn),
        2 => any::<usize>().prop_map(Op::PollIn),
        1 => any::<usize>().prop_map(Op::DropIn),
        2 => Just(Op::StartOut),
        2 => any::<usize>().prop_map(Op::PollOut),
        1 => any::<usize>().prop_map(Op::DropOut),
        1 => Just(Op::Done),
    ]
}

/// The sequential model of a FIFO with fair hand-off of items to waiting takers and of
/// free places to waiting givers (`Queue`, bounded `mpsc`).
struct FifoModel {
    /// Items in the container, including ones already handed to a waiting taker.
    items: VecDeque<u32>,
    /// Items no taker holds yet.
    free_items: usize,
    /// Free places (`usize::MAX`: unbounded).
    free_slots: usize,
    /// Waiting takers in arrival order: whether each has been handed an item.
    takers: Vec<bool>,
    /// Waiting givers in arrival order: their value and whether each was handed a place.
    givers: Vec<(u32, bool)>,
}

impl FifoModel {
    fn new(bound: Option<usize>) -> FifoModel {
        FifoModel {
            items: VecDeque::new(),
            free_items: 0,
            free_slots: bound.unwrap_or(usize::MAX),
            takers: Vec::new(),
            givers: Vec::new(),
        }
    }

    /// An item lands: the first taker not yet served gets it, else it is free.
    fn push(&mut self, v: u32) {
        self.items.push_back(v);
        self.release_item();
    }

    fn release_item(&mut self) {
        match self.takers.iter_mut().find(|t| !**t) {
            Some(t) => *t = true,
            None => self.free_items += 1,
        }
    }

    fn release_slot(&mut self) {
        if self.free_slots == usize::MAX {
            return;
        }
        match self.givers.iter_mut().find(|g| !g.1) {
            Some(g) => g.1 = true,
            None => self.free_slots += 1,
        }
    }

    fn take_slot(&mut self) -> bool {
        if self.free_slots == usize::MAX {
            return true;
        }
        if self.free_slots == 0 {
            return false;
        }
        self.free_slots -= 1;
        true
    }

    /// A taker holding an item pops the front one; its place is released.
    fn pop(&mut self) -> u32 {
        let v = self
            .items
            .pop_front()
            .expect("a held item is in the container");
        self.release_slot();
        v
    }

    fn try_take(&mut self) -> Option<u32> {
        if self.free_items == 0 {
            return None;
        }
        self.free_items -= 1;
        Some(self.pop())
    }

    fn try_give(&mut self, v: u32) -> bool {
        if !self.take_slot() {
            return false;
        }
        self.push(v);
        true
    }
}

fn run_queue(maxsize: usize, ops: Vec<Op>) {
    let q = Queue::new(maxsize);
    let mut m = FifoModel::new((maxsize > 0).then_some(maxsize));
    let mut unfinished = 0usize;
    let mut gets: Vec<Boxed<'_, Result<u32, _>>> = Vec::new();
    let mut puts: Vec<Boxed<'_, Result<(), _>>> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        let v = step as u32;
        match op {
            Op::TryIn => {
                let ok = m.try_give(v);
                assert_eq!(q.try_put(v).is_ok(), ok, "step {step}: try_put");
                unfinished += usize::from(ok);
            }
            Op::TryOut => assert_eq!(q.try_get().ok(), m.try_take(), "step {step}: try_get"),
            Op::StartIn => {
                let mut fut: Boxed<'_, _> = Box::pin(q.put(v));
                let ready = poll_once(&mut fut).is_ready();
                assert_eq!(ready, m.try_give(v), "step {step}: put completes at once");
                if ready {
                    unfinished += 1;
                } else {
                    m.givers.push((v, false));
                    puts.push(fut);
                }
            }
            Op::PollIn(i) if !puts.is_empty() => {
                let i = i % puts.len();
                let ready = poll_once(&mut puts[i]).is_ready();
                assert_eq!(
                    ready, m.givers[i].1,
                    "step {step}: a put with a place completes"
                );
                if ready {
                    drop(puts.remove(i));
                    let (v, _) = m.givers.remove(i);
                    m.push(v);
                    unfinished += 1;
                }
            }
            Op::DropIn(i) if !puts.is_empty() => {
                let i = i % puts.len();
                drop(puts.remove(i));
                if m.givers.remove(i).1 {
                    m.release_slot();
                }
            }
            Op::StartOut => {
                let mut fut: Boxed<'_, _> = Box::pin(q.get());
                match poll_once(&mut fut) {
                    Poll::Ready(got) => {
                        assert_eq!(got.ok(), m.try_take(), "step {step}: get at once")
                    }
                    Poll::Pending => {
                        assert_eq!(m.free_items, 0, "step {step}: get waits with items free");
                        m.takers.push(false);
                        gets.push(fut);
                    }
                }
            }
            Op::PollOut(i) if !gets.is_empty() => {
                let i = i % gets.len();
                match poll_once(&mut gets[i]) {
                    Poll::Ready(got) => {
                        assert!(m.takers[i], "step {step}: a get without an item completed");
                        drop(gets.remove(i));
                        m.takers.remove(i);
                        assert_eq!(got.ok(), Some(m.pop()), "step {step}: FIFO order");
                    }
                    Poll::Pending => assert!(!m.takers[i], "step {step}: a served get waits"),
                }
            }
            Op::DropOut(i) if !gets.is_empty() => {
                let i = i % gets.len();
                drop(gets.remove(i));
                if m.takers.remove(i) {
                    m.release_item();
                }
            }
            Op::Done if unfinished > 0 => {
                q.task_done();
                unfinished -= 1;
            }
            _ => {}
        }
        assert_eq!(q.qsize(), m.free_items, "step {step}: qsize");
        assert_eq!(q.is_empty(), m.free_items == 0, "step {step}: is_empty");
        assert_eq!(q.is_full(), m.free_slots == 0, "step {step}: is_full");
        assert_eq!(q.unfinished_tasks(), unfinished, "step {step}: unfinished");
    }
}

fn run_mpsc(capacity: usize, ops: Vec<Op>) {
    let (tx, mut rx) = mpsc::channel(capacity);
    let mut m = FifoModel::new(Some(capacity));
    let mut sends: Vec<Boxed<'_, Result<(), _>>> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        let v = step as u32;
        match op {
            Op::TryIn => {
                let ok = m.try_give(v);
                match tx.try_send(v) {
                    Ok(()) => assert!(ok, "step {step}: try_send past the capacity"),
                    Err(e) => assert!(!ok && e.is_full(), "step {step}: try_send refused"),
                }
            }
            Op::TryOut | Op::PollOut(_) | Op::DropOut(_) => {
                assert_eq!(rx.try_recv().ok(), m.try_take(), "step {step}: try_recv")
            }
            Op::StartIn | Op::StartOut => {
                let mut fut: Boxed<'_, _> = Box::pin(tx.send(v));
                let ready = poll_once(&mut fut).is_ready();
                assert_eq!(ready, m.try_give(v), "step {step}: send completes at once");
                if !ready {
                    m.givers.push((v, false));
                    sends.push(fut);
                }
            }
            Op::PollIn(i) if !sends.is_empty() => {
                let i = i % sends.len();
                let ready = poll_once(&mut sends[i]).is_ready();
                assert_eq!(
                    ready, m.givers[i].1,
                    "step {step}: a send with a place completes"
                );
                if ready {
                    drop(sends.remove(i));
                    let (v, _) = m.givers.remove(i);
                    m.push(v);
                }
            }
            Op::DropIn(i) if !sends.is_empty() => {
                let i = i % sends.len();
                drop(sends.remove(i));
                if m.givers.remove(i).1 {
                    m.release_slot();
                }
            }
            _ => {}
        }
        assert_eq!(rx.len(), m.items.len(), "step {step}: len");
        assert_eq!(tx.capacity(), m.free_slots, "step {step}: capacity");
    }
}

/// One step on a semaphore; amounts are 1..=3 permits.
#[derive(Clone, Debug)]
enum SemOp {
    TryAcquire(u32),
    Release(usize),
    Start(u32),
    Poll(usize),
    DropWaiter(usize),
    Add(usize),
}

fn sem_op() -> impl Strategy<Value = SemOp> {
    prop_oneof![
        3 => (1..=3u32).prop_map(SemOp::TryAcquire),
        3 => any::<usize>().prop_map(SemOp::Release),
        2 => (1..=3u32).prop_map(SemOp::Start),
        3 => any::<usize>().prop_map(SemOp::Poll),
        1 => any::<usize>().prop_map(SemOp::DropWaiter),
        1 => (1..=3usize).prop_map(SemOp::Add),
    ]
}

/// The sequential model of the fair semaphore: released permits fill the front waiter
/// first (partially, if they do not suffice), and only then become free.
struct SemModel {
    available: usize,
    /// Waiters in arrival order: (wanted, assigned).
    waiters: Vec<(usize, usize)>,
}

impl SemModel {
    /// Whether a waiter still lacks permits (a satisfied one has left the wait list and only
    /// waits to be polled).
    fn has_queue(&self) -> bool {
        self.waiters.iter().any(|w| w.1 < w.0)
    }

    fn release(&mut self, mut n: usize) {
        for w in self.waiters.iter_mut() {
            let give = n.min(w.0 - w.1);
            w.1 += give;
            n -= give;
        }
        self.available += n;
    }
}

fn run_semaphore(permits: usize, ops: Vec<SemOp>) {
    let sem = Semaphore::new(permits);
    let mut m = SemModel {
        available: permits,
        waiters: Vec::new(),
    };
    let mut held = Vec::new();
    let mut waiting: Vec<Boxed<'_, _>> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            SemOp::TryAcquire(n) => {
                let ok = !m.has_queue() && m.available >= n as usize;
                match sem.try_acquire_many(n) {
                    Ok(p) => {
                        assert!(
                            ok,
                            "step {step}: try_acquire_many({n}) overtook or overdrew"
                        );
                        m.available -= n as usize;
                        held.push(p);
                    }
                    Err(_) => assert!(!ok, "step {step}: try_acquire_many({n}) refused"),
                }
            }
            SemOp::Release(i) if !held.is_empty() => {
                let p = held.remove(i % held.len());
                let n = p.num_permits();
                drop(p);
                m.release(n);
            }
            SemOp::Start(n) => {
                let mut fut: Boxed<'_, _> = Box::pin(sem.acquire_many(n));
                match poll_once(&mut fut) {
                    Poll::Ready(p) => {
                        assert!(!m.has_queue() && m.available >= n as usize, "step {step}");
                        m.available -= n as usize;
                        held.push(p.unwrap());
                    }
                    Poll::Pending => {
                        // A lone waiter takes what is free as a partial assignment.
                        let take = if m.has_queue() { 0 } else { m.available };
                        assert!(take < n as usize, "step {step}: waited with enough permits");
                        m.available -= take;
                        m.waiters.push((n as usize, take));
                        waiting.push(fut);
                    }
                }
            }
            SemOp::Poll(i) if !waiting.is_empty() => {
                let i = i % waiting.len();
                let (wanted, assigned) = m.waiters[i];
                match poll_once(&mut waiting[i]) {
                    Poll::Ready(p) => {
                        assert_eq!(assigned, wanted, "step {step}: completed unsatisfied");
                        drop(waiting.remove(i));
                        m.waiters.remove(i);
                        held.push(p.unwrap());
                    }
                    Poll::Pending => {
                        assert!(assigned < wanted, "step {step}: a satisfied waiter waits")
                    }
                }
            }
            SemOp::DropWaiter(i) if !waiting.is_empty() => {
                let i = i % waiting.len();
                drop(waiting.remove(i));
                let (_, assigned) = m.waiters.remove(i);
                m.release(assigned);
            }
            SemOp::Add(n) => {
                sem.add_permits(n);
                m.release(n);
            }
            _ => {}
        }
        assert_eq!(
            sem.available_permits(),
            m.available,
            "step {step}: available"
        );
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_matches_its_model(maxsize in 0..4usize, ops in prop::collection::vec(op(), 1..48)) {
        run_queue(maxsize, ops);
    }

    #[test]
    fn mpsc_matches_its_model(capacity in 1..6usize, ops in prop::collection::vec(op(), 1..48)) {
        run_mpsc(capacity, ops);
    }

    #[test]
    fn semaphore_matches_its_model(
        permits in 0..5usize,
        ops in prop::collection::vec(sem_op(), 1..48),
    ) {
        run_semaphore(permits, ops);
    }
}
