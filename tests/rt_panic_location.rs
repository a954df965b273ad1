//! Misuse panics name the caller's line and the mistake (`#[track_caller]` through kiln's own
//! frames).

use std::panic::Location;
use std::sync::{Mutex, Once};

/// A panic seen by the hook: the thread's name, where, and the message.
#[derive(Clone, Debug)]
struct Seen {
    thread: String,
    file: String,
    line: u32,
    message: String,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// The recorded panics (a failed assertion elsewhere must not poison them for the hook).
fn seen_lock() -> std::sync::MutexGuard<'static, Vec<Seen>> {
    SEEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records every panic on a thread whose name starts with `loc-` (the hook is process-wide;
/// other tests of this binary use other names), then runs the previous hook.
fn record_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or("").to_string();
            if thread.starts_with("loc-") {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info.location().expect("a location");
                seen_lock().push(Seen {
                    thread,
                    file: at.file().to_string(),
                    line: at.line(),
                    message,
                });
            }
            prev(info);
        }));
    });
}

/// Runs `f` on a thread named `name`, expects it to panic, and returns what the hook saw.
fn panic_on_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Seen {
    record_panics();
    let joined = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .unwrap()
        .join();
    assert!(joined.is_err(), "{name}: expected a panic");
    let seen = seen_lock().iter().find(|s| s.thread == name).cloned();
    seen.unwrap_or_else(|| panic!("{name}: the hook saw no panic"))
}

/// The file and line of the line *after* the one that calls this.
#[track_caller]
fn next_line() -> (&'static str, u32) {
    let at = Location::caller();
    (at.file(), at.line() + 1)
}

#[test]
fn nested_block_on_reports_the_callers_line() {
    for flavor in ["multi", "current"] {
        let name = format!("loc-nested-{flavor}");
        let (tx, rx) = std::sync::mpsc::channel();
        let seen = panic_on_thread(&name, move || {
            let rt = if flavor == "multi" {
                kiln::Builder::new_multi_thread().worker_threads(1).build()
            } else {
                kiln::Builder::new_current_thread().build()
            }
            .unwrap();
            rt.block_on(async {
                tx.send(next_line()).unwrap();
                rt.block_on(async {});
            });
        });
        let at = rx.recv().unwrap();
        assert!(
            seen.message.contains("cannot block_on inside a runtime"),
            "{seen:?}"
        );
        assert_eq!((seen.file.as_str(), seen.line), at, "{flavor}");
    }
}

#[test]
fn block_on_inside_a_task_reports_the_callers_line() {
    record_panics();
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("loc-worker")
        .build()
        .unwrap();
    let (at, err) = rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel();
        let err = kiln::spawn(async move {
            let inner = kiln::Runtime::new().unwrap();
            tx.send(next_line()).unwrap();
            inner.block_on(async {});
        })
        .await
        .unwrap_err();
        (rx.recv().unwrap(), err)
    });
    assert!(err.is_panic());
    let seen = seen_lock()
        .iter()
        .find(|s| s.thread == "loc-worker")
        .cloned()
        .expect("the hook saw the task's panic");
    assert_eq!((seen.file.as_str(), seen.line), at);
}

#[test]
fn oversized_capacities_name_the_constructor_and_its_limit() {
    let max = kiln::sync::Semaphore::MAX_PERMITS.to_string();
    type Case = (
        &'static str,
        &'static str,
        fn(std::sync::mpsc::Sender<(&'static str, u32)>),
    );
    let cases: [Case; 3] = [
        ("loc-mpsc", "mpsc::channel capacity", |tx| {
            tx.send(next_line()).unwrap();
            drop(kiln::sync::mpsc::channel::<u8>(usize::MAX));
        }),
        ("loc-semaphore", "Semaphore::new", |tx| {
            tx.send(next_line()).unwrap();
            drop(kiln::sync::Semaphore::new(usize::MAX));
        }),
        ("loc-queue", "Queue::new maxsize", |tx| {
            tx.send(next_line()).unwrap();
            drop(kiln::sync::Queue::<u8>::new(usize::MAX));
        }),
    ];
    for (name, what, f) in cases {
        let (tx, rx) = std::sync::mpsc::channel();
        let seen = panic_on_thread(name, move || f(tx));
        let at = rx.recv().unwrap();
        assert!(seen.message.contains(what), "{name}: {seen:?}");
        assert!(
            seen.message.contains(&max),
            "{name}: names the limit: {seen:?}"
        );
        assert_eq!((seen.file.as_str(), seen.line), at, "{name}");
    }
}
