//! Compile-time checks: which runtime types are `Send`, `Sync`, `Unpin`.

#![allow(
    dead_code,
    reason = "the functions are type-level assertions, never called"
)]

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn runtime_types_are_send_and_sync() {
    send::<kiln::Runtime>();
    sync::<kiln::Runtime>();
    send::<kiln::Handle>();
    sync::<kiln::Handle>();
    send::<kiln::Builder>();
    send::<kiln::RuntimeMetrics>();
    sync::<kiln::RuntimeMetrics>();
    send::<kiln::JoinHandle<u32>>();
    sync::<kiln::JoinHandle<u32>>();
    unpin::<kiln::JoinHandle<std::rc::Rc<u8>>>();
    send::<kiln::JoinError>();
    sync::<kiln::JoinError>();
    send::<kiln::task::Id>();
    sync::<kiln::task::Id>();
    send::<kiln::process::Command>();
    sync::<kiln::process::Command>();
    send::<kiln::process::Child>();
    sync::<kiln::process::Child>();
    send::<kiln::process::ChildStdin>();
    send::<kiln::process::ChildStdout>();
    send::<kiln::process::ChildStderr>();
    sync::<kiln::process::ChildStdout>();
    send::<kiln::signal::unix::Signal>();
    sync::<kiln::signal::unix::Signal>();
    send::<kiln::signal::unix::SignalKind>();
    send::<kiln::task::TaskTracker>();
    sync::<kiln::task::TaskTracker>();
    send::<kiln::task::TrackedFuture<std::future::Ready<u8>>>();
    send::<kiln::task::TrackerWait<'static>>();
    send::<kiln::task::Unconstrained<std::future::Ready<u8>>>();
    sync::<kiln::task::Unconstrained<std::future::Ready<u8>>>();
}

#[test]
fn spawned_futures_are_send() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    // A JoinHandle of a non-Send output is still a value that can be awaited where it is.
    let h = rt.spawn(async { 1u8 });
    assert_eq!(rt.block_on(h).unwrap(), 1);
}

#[test]
fn executor_types_are_send_and_sync() {
    send::<kiln::executor::ThreadPool>();
    sync::<kiln::executor::ThreadPool>();
    send::<kiln::executor::Builder>();
    sync::<kiln::executor::Builder>();
    send::<kiln::executor::JoinHandle<u32>>();
    sync::<kiln::executor::JoinHandle<u32>>();
    unpin::<kiln::executor::JoinHandle<std::rc::Rc<u8>>>();
    send::<kiln::executor::JoinError>();
    sync::<kiln::executor::JoinError>();
    send::<kiln::executor::Map<u32>>();
    sync::<kiln::executor::Map<u32>>();
    send::<kiln::executor::SpawnWait<fn() -> u32, u32>>();
    unpin::<kiln::executor::SpawnWait<fn() -> u32, u32>>();
    send::<kiln::executor::ThreadPoolMetrics>();
}
