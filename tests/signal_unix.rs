//! Signals: every listener sees a delivery, on both flavors and across runtimes.
//!
//! Signal handlers are process-wide, and tests in this file run in parallel threads of one
//! process. Each test therefore raises its signal repeatedly until its listeners saw it
//! (another test's raise of the same signal may be merged with ours, which is fine), and
//! only SIGUSR1, SIGUSR2, SIGINT and SIGHUP are raised, with their handlers installed before
//! the first raise (so the default action, ending the process, never runs).

use kiln::signal::unix::{signal, Signal, SignalKind};
use std::time::Duration;

/// Raises `signum` every 20 ms until `done` resolves (within 30 s).
async fn raise_until<T>(signum: i32, done: impl std::future::Future<Output = T>) -> T {
    let mut done = std::pin::pin!(done);
    for _ in 0..1500 {
        // SAFETY: raise(3) only sends a signal to this thread; its handler is installed.
        assert_eq!(unsafe { libc::raise(signum) }, 0);
        if let Ok(v) = kiln::time::timeout(Duration::from_millis(20), done.as_mut()).await {
            return v;
        }
    }
    panic!("signal {signum} was never delivered");
}

async fn recv_in_task(mut sig: Signal) -> Signal {
    sig.recv().await.expect("a listener never ends");
    sig
}

fn two_listeners_see_sigusr1(rt: kiln::Runtime) {
    rt.block_on(async {
        let a = signal(SignalKind::user_defined1()).unwrap();
        let b = signal(SignalKind::user_defined1()).unwrap();
        let a = kiln::spawn(recv_in_task(a));
        let b = kiln::spawn(recv_in_task(b));
        let (a, b) = raise_until(libc::SIGUSR1, futures::future::join(a, b)).await;
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        // Both still listen: a second round reaches both again.
        raise_until(libc::SIGUSR1, futures::future::join(a.recv(), b.recv())).await;
    });
}

#[test]
fn sigusr1_reaches_two_listeners_multi_thread() {
    two_listeners_see_sigusr1(
        kiln::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap(),
    );
}

#[test]
fn sigusr1_reaches_two_listeners_current_thread() {
    two_listeners_see_sigusr1(kiln::Builder::new_current_thread().build().unwrap());
}

#[test]
fn ctrl_c_sees_sigint() {
    kiln::run(async {
        // Install the SIGINT handler before the first raise.
        let _installed = signal(SignalKind::interrupt()).unwrap();
        let waiter = kiln::spawn(kiln::signal::ctrl_c());
        raise_until(libc::SIGINT, waiter).await.unwrap().unwrap();
    });
}

#[test]
fn signals_still_arrive_after_a_runtime_was_dropped() {
    for round in 0..3 {
        let rt = if round % 2 == 0 {
            kiln::Builder::new_current_thread().build().unwrap()
        } else {
            kiln::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap()
        };
        rt.block_on(async {
            let mut hup = signal(SignalKind::hangup()).unwrap();
            raise_until(libc::SIGHUP, hup.recv()).await;
        });
        drop(rt);
    }
}

#[test]
fn a_listener_on_another_runtime_is_woken_by_any_dispatch() {
    let rt1 = kiln::Builder::new_current_thread().build().unwrap();
    let rt2 = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let mut on_rt1 = rt1.block_on(async { signal(SignalKind::user_defined2()).unwrap() });
    // rt1 is not driven: only rt2's listener can drain the socket, and its dispatch must
    // wake the task on rt2 that waits on rt1's listener.
    let waiter = rt2.spawn(async move { on_rt1.recv().await });
    rt2.block_on(async {
        let mut on_rt2 = signal(SignalKind::user_defined2()).unwrap();
        let drainer = kiln::spawn(async move {
            loop {
                on_rt2.recv().await;
            }
        });
        // Let the waiter drain what is there and wait on rt1's (undriven) event loop.
        kiln::time::sleep(Duration::from_millis(50)).await;
        raise_until(libc::SIGUSR2, waiter).await.unwrap();
        drainer.abort();
    });
}

#[test]
fn uncatchable_and_invalid_signals_are_errors() {
    kiln::run(async {
        for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -3, 1000] {
            let err = signal(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{signum}");
            assert!(err.to_string().contains(&signum.to_string()), "{err}");
        }
    });
}
