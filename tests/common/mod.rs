//! Shared helpers for the runtime integration tests (included with `mod`).

#![allow(dead_code, reason = "each test file uses a subset")]

/// Both flavors, so every behaviour test runs on each.
pub fn runtimes() -> Vec<(&'static str, kiln::Runtime)> {
    vec![
        (
            "multi",
            kiln::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("kiln-test-worker")
                .build()
                .unwrap(),
        ),
        (
            "current",
            kiln::Builder::new_current_thread()
                .thread_name("kiln-test-worker")
                .build()
                .unwrap(),
        ),
    ]
}

/// Sets a flag when dropped, remembering the thread it was dropped on.
pub struct DropFlag {
    /// Where the drop happened: the dropping thread's name.
    pub flag: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        let name = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_string();
        *self.flag.lock().unwrap() = Some(name);
    }
}

/// A waker that counts its wake-ups.
pub struct CountWaker(pub std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A waker and its wake-up counter.
pub fn counting_waker() -> (std::sync::Arc<CountWaker>, std::task::Waker) {
    let c = std::sync::Arc::new(CountWaker(std::sync::atomic::AtomicUsize::new(0)));
    (c.clone(), std::task::Waker::from(c))
}

/// Polls a pinned future once with `waker`.
pub fn poll<F: std::future::Future + ?Sized>(
    fut: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(waker))
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    /// Creates (or empties) the directory for `tag`.
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kiln-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Binds a loopback TCP listener and serves each accepted connection with `handle` on a task
/// of its own, forever; returns the listener's address. A failed accept (out of descriptors,
/// say) pauses the loop briefly instead of spinning on it.
pub async fn serve_tcp<F, Fut>(handle: F) -> std::net::SocketAddr
where
    F: Fn(kiln::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    kiln::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => drop(kiln::spawn(handle(conn))),
                Err(_) => kiln::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    });
    addr
}

/// Runs `f` on its own thread and returns its result, failing the test if it takes longer than
/// 20 s (a generous bound on a loaded machine): a regression to a hang fails instead of
/// stalling the suite. A panic of `f` is re-raised here.
pub fn watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(std::time::Duration::from_secs(20)).is_err() {
        panic!("{what}: hung (no result after 20 s)");
    }
    match t.join().unwrap() {
        Ok(out) => out,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// A waker that panics when woken (a bug in user code that a runtime thread may run).
pub struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        panic!("waker panicked on purpose");
    }
}

/// A [`PanickingWaker`].
pub fn panicking_waker() -> std::task::Waker {
    std::task::Waker::from(std::sync::Arc::new(PanickingWaker))
}

/// Spawns a task that yields in a loop until `done` is set (bounded to 10 s), so that the
/// worker running it never runs out of tasks; returns it with its count of yields so far.
pub fn spawn_yielder(
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (
    kiln::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::Ordering::SeqCst;
    let yields = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = yields.clone();
    let task = kiln::spawn(async move {
        let start = std::time::Instant::now();
        while !done.load(SeqCst) && start.elapsed() < std::time::Duration::from_secs(10) {
            kiln::task::yield_now().await;
            counter.fetch_add(1, SeqCst);
        }
    });
    (task, yields)
}
