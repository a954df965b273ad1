//! `Builder::unhandled_panic`: `Ignore` carries on, `ShutdownRuntime` stops the runtime and
//! makes `block_on` panic with the task's message, on both flavors.

use kiln::UnhandledPanic;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

fn build(multi: bool, policy: Option<UnhandledPanic>) -> kiln::Runtime {
    let mut b = if multi {
        let mut b = kiln::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        kiln::Builder::new_current_thread()
    };
    if let Some(p) = policy {
        b.unhandled_panic(p);
    }
    b.build().unwrap()
}

/// The panic message `block_on` panicked with.
fn block_on_panic<F: std::future::Future>(rt: &kiln::Runtime, fut: F) -> String {
    let err = catch_unwind(AssertUnwindSafe(|| rt.block_on(fut)))
        .err()
        .expect("block_on should have panicked");
    match err.downcast::<String>() {
        Ok(s) => *s,
        Err(e) => e.downcast::<&str>().map(|s| s.to_string()).unwrap(),
    }
}

/// Sets its flag when dropped: shows that a task's future was dropped (cancelled).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn ignore_is_the_default_and_keeps_the_runtime_running() {
    for multi in [true, false] {
        for policy in [None, Some(UnhandledPanic::Ignore)] {
            let rt = build(multi, policy);
            let out = rt.block_on(async {
                drop(kiln::spawn(async { panic!("ignored panic") }));
                let h = kiln::spawn(async { panic!("ignored after completion") });
                kiln::time::sleep(Duration::from_millis(20)).await;
                drop(h);
                kiln::time::sleep(Duration::from_millis(20)).await;
                kiln::spawn(async { 5 }).await.unwrap()
            });
            assert_eq!(out, 5);
            // And the runtime still works afterwards.
            assert_eq!(
                rt.block_on(async { kiln::spawn(async { 6 }).await.unwrap() }),
                6
            );
        }
    }
}

#[test]
fn shutdown_runtime_stops_everything_and_block_on_panics_with_the_message() {
    for multi in [true, false] {
        let rt = build(multi, Some(UnhandledPanic::ShutdownRuntime));
        let cancelled = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(cancelled.clone());
        rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        let msg = block_on_panic(&rt, async {
            kiln::time::sleep(Duration::from_millis(10)).await;
            drop(kiln::spawn(async { panic!("detached task exploded") }));
            // Never returns: the runtime is shut down under it.
            std::future::pending::<()>().await
        });
        assert!(msg.contains("detached task exploded"), "{msg}");
        assert!(msg.contains("ShutdownRuntime"), "{msg}");
        // Workers cancel their tasks as they leave their loops, right after the trigger.
        let start = std::time::Instant::now();
        while !cancelled.load(SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the other task was not cancelled (multi: {multi})"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // A later block_on panics too.
        let again = block_on_panic(&rt, async { 1 });
        assert!(again.contains("detached task exploded"), "{again}");
        drop(rt);
    }
}

#[test]
fn a_join_handle_dropped_after_the_panic_also_shuts_down() {
    for multi in [true, false] {
        let rt = build(multi, Some(UnhandledPanic::ShutdownRuntime));
        let msg = block_on_panic(&rt, async {
            let h = kiln::spawn(async { panic!("read by nobody") });
            while !h.is_finished() {
                kiln::time::sleep(Duration::from_millis(1)).await;
            }
            drop(h);
            std::future::pending::<()>().await
        });
        assert!(msg.contains("read by nobody"), "{msg}");
    }
}

#[test]
fn a_panic_whose_output_is_read_is_handled() {
    for multi in [true, false] {
        let rt = build(multi, Some(UnhandledPanic::ShutdownRuntime));
        let out = rt.block_on(async {
            let err = kiln::spawn(async { panic!("handled") }).await.unwrap_err();
            assert!(err.is_panic());
            let mut set = kiln::task::JoinSet::new();
            set.spawn(async { panic!("handled in a set") });
            assert!(set.join_next().await.unwrap().unwrap_err().is_panic());
            kiln::time::sleep(Duration::from_millis(20)).await;
            kiln::spawn(async { 9 }).await.unwrap()
        });
        assert_eq!(out, 9);
    }
}
