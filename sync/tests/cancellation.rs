//! `CancellationToken`: cancel, children, waiting, drop guards.

use futures::task::noop_waker;
use kiln_sync::CancellationToken;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[test]
fn cancel_wakes_every_waiter_on_other_threads() {
    let token = CancellationToken::new();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let t = token.clone();
            std::thread::spawn(move || futures::executor::block_on(t.cancelled()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    assert!(!token.is_cancelled());
    token.cancel();
    for w in waiters {
        w.join().unwrap();
    }
    assert!(token.is_cancelled());
}

#[test]
fn a_pending_wait_completes_only_after_cancel() {
    let token = CancellationToken::new();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut wait = pin!(token.cancelled());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    token.cancel();
    assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(()));
}

#[test]
fn children_follow_their_parent_and_not_the_reverse() {
    let root = CancellationToken::new();
    let a = root.child_token();
    let a1 = a.child_token();
    let b = root.child_token();
    a.cancel();
    assert!(a.is_cancelled() && a1.is_cancelled());
    assert!(!root.is_cancelled() && !b.is_cancelled());
    root.cancel();
    assert!(b.is_cancelled());
    // A child of a cancelled token is born cancelled.
    assert!(root.child_token().is_cancelled());
    assert!(a1.child_token().is_cancelled());
}

#[test]
fn a_deep_chain_cancels_without_overflowing_the_stack() {
    let root = CancellationToken::new();
    let mut chain = vec![root.clone()];
    for _ in 0..100_000 {
        let next = chain.last().unwrap().child_token();
        chain.push(next);
    }
    root.cancel();
    assert!(chain.iter().all(CancellationToken::is_cancelled));
}

#[test]
fn dropped_children_are_pruned_and_survivors_still_cancelled() {
    let root = CancellationToken::new();
    let keep: Vec<_> = (0..10).map(|_| root.child_token()).collect();
    for _ in 0..10_000 {
        drop(root.child_token());
    }
    root.cancel();
    assert!(keep.iter().all(CancellationToken::is_cancelled));
}

#[test]
fn drop_guard_cancels_unless_disarmed() {
    let token = CancellationToken::new();
    let guard = token.clone().drop_guard();
    let back = guard.disarm();
    assert!(!token.is_cancelled());
    drop(back.drop_guard());
    assert!(token.is_cancelled());
}

#[test]
fn concurrent_cancel_and_child_creation_never_miss_a_child() {
    for _ in 0..200 {
        let root = CancellationToken::new();
        let maker = {
            let root = root.clone();
            std::thread::spawn(move || (0..50).map(|_| root.child_token()).collect::<Vec<_>>())
        };
        root.cancel();
        let children = maker.join().unwrap();
        assert!(children.iter().all(CancellationToken::is_cancelled));
    }
}
