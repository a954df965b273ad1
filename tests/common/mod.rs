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
