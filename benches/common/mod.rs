//! The runtimes every side-by-side bench builds: kiln and tokio, multi-threaded, with the
//! same number of workers (tokio with its I/O and time drivers on, as kiln always has them).

/// A kiln multi-thread runtime with `workers` workers.
pub fn kiln_rt(workers: usize) -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("kiln runtime")
}

/// A tokio multi-thread runtime with `workers` workers and every driver enabled.
pub fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
