//! Compile-time Send/Sync checks for every public type of `kiln::sync`.

#![allow(dead_code, reason = "the functions exist only to be type-checked")]

use kiln_sync::*;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Mutex<u8>>();
    send_sync::<MutexGuard<'static, u8>>();
    send_sync::<OwnedMutexGuard<u8>>();
    send_sync::<RwLock<u8>>();
    send_sync::<RwLockReadGuard<'static, u8>>();
    send_sync::<RwLockWriteGuard<'static, u8>>();
    send_sync::<OwnedRwLockReadGuard<u8>>();
    send_sync::<OwnedRwLockWriteGuard<u8>>();
    send_sync::<Semaphore>();
    send_sync::<SemaphorePermit<'static>>();
    send_sync::<OwnedSemaphorePermit>();
    send_sync::<Notify>();
    send_sync::<Notified<'static>>();
    send_sync::<Event>();
    send_sync::<CancellationToken>();
    send_sync::<WaitForCancellation<'static>>();
    send_sync::<DropGuard>();
    send_sync::<EventWait<'static>>();
    send_sync::<Barrier>();
    send_sync::<BarrierWait<'static>>();
    send_sync::<OnceCell<u8>>();
    send_sync::<Queue<u8>>();
    send_sync::<QueueGet<'static, u8>>();
    send_sync::<QueueJoin<'static, u8>>();
    send_sync::<QueueStream<'static, u8>>();
    send_sync::<QueueFull<u8>>();
    send_sync::<QueueEmpty>();
    send_sync::<QueueShutDown<u8>>();
    send_sync::<oneshot::Sender<u8>>();
    send_sync::<oneshot::Receiver<u8>>();
    send_sync::<mpsc::Sender<u8>>();
    send_sync::<mpsc::Receiver<u8>>();
    send_sync::<mpsc::UnboundedSender<u8>>();
    send_sync::<mpsc::UnboundedReceiver<u8>>();
    send_sync::<mpsc::Permit<'static, u8>>();
    send_sync::<mpsc::OwnedPermit<u8>>();
    send_sync::<broadcast::Sender<u8>>();
    send_sync::<broadcast::Receiver<u8>>();
    send_sync::<watch::Sender<u8>>();
    send_sync::<watch::Receiver<u8>>();
    send_sync::<AcquireError>();
    send_sync::<TryAcquireError>();
    send_sync::<mpsc::TrySendError<u8>>();
}

#[test]
fn futures_are_send() {
    let m = Mutex::new(0u8);
    let sem = Semaphore::new(1);
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let q = Queue::<u8>::new(1);
    fn is_send<T: Send>(_: &T) {}
    is_send(&m.lock());
    is_send(&sem.acquire_many(2));
    is_send(&tx.send(1));
    is_send(&tx.reserve());
    is_send(&tx.clone().reserve_owned());
    is_send(&rx.recv());
    is_send(&q.put(1));
    is_send(&q.get());
    is_send(&q.join());
}

/// A `Send + !Sync` payload still gives a `Sync` mutex, whose owned guard can move threads.
#[test]
fn send_only_payloads_are_lockable() {
    send_sync::<Mutex<std::cell::Cell<u8>>>();
    send::<OwnedMutexGuard<std::cell::Cell<u8>>>();
    sync::<OnceCell<Vec<u8>>>();
}
