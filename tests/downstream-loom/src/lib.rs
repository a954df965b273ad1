//! A crate with its own loom shim (gated on a bare `cfg(loom)`, as is common) that also runs
//! kiln. Built with `RUSTFLAGS="--cfg loom"`, its counter is loom's while kiln stays kiln.

#[cfg(loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// A hit counter: the crate's own concurrent code, checked by its own loom model.
#[derive(Debug, Default)]
pub struct Hits(AtomicUsize);

impl Hits {
    /// A counter at zero.
    pub fn new() -> Hits {
        Hits(AtomicUsize::new(0))
    }

    /// Counts one hit; returns the count before it.
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::AcqRel)
    }

    /// The hits so far.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Serves `n` requests on a kiln runtime: tasks, timers, the blocking pool and kiln::sync.
pub fn serve(n: u64) -> u64 {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("kiln runtime");
    rt.block_on(async move {
        let total = std::sync::Arc::new(kiln::sync::Mutex::new(0u64));
        let (tx, mut rx) = kiln::sync::mpsc::channel(4);
        let mut tasks = Vec::new();
        for i in 0..n {
            let tx = tx.clone();
            tasks.push(kiln::spawn(async move {
                kiln::time::sleep(std::time::Duration::from_millis(1)).await;
                let v = kiln::spawn_blocking(move || i * 2).await.unwrap();
                tx.send(v).await.unwrap();
            }));
        }
        drop(tx);
        while let Some(v) = rx.recv().await {
            *total.lock().await += v;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let sum = *total.lock().await;
        sum
    })
}
