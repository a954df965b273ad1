//! The three questions of `docs/observability.md` on a small, misbehaving program: which
//! task blocks its worker, which tasks leaked, which worker is hot.
//!
//! ```text
//! cargo run --example observe
//! ```

use std::time::Duration;

/// Prints `log` records to stderr (a real program would use `env_logger` or similar).
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("[{}] {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> std::io::Result<()> {
    log::set_logger(&Stderr).expect("no other logger");
    log::set_max_level(log::LevelFilter::Warn);
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .stall_threshold(Duration::from_millis(100))
        .poll_histograms(1)
        .build()?;
    rt.block_on(async {
        // 1. A task that blocks its worker: reported while it still runs, then with the total.
        kiln::task::Builder::new()
            .name("report builder")
            .spawn(async { std::thread::sleep(Duration::from_millis(300)) })?
            .await?;

        // 2. Leaked tasks: waiting on a channel whose sender is leaked, so it never sends
        //    and never closes.
        let (tx, rx) = kiln::sync::oneshot::channel::<()>();
        std::mem::forget(tx);
        let rx = std::sync::Arc::new(kiln::sync::Mutex::new(Some(rx)));
        for i in 0..3 {
            let rx = rx.clone();
            kiln::task::Builder::new()
                .name(&format!("subscriber {i}"))
                .spawn(async move {
                    let rx = rx.lock().await.take();
                    if let Some(rx) = rx {
                        let _ = rx.await;
                    } else {
                        std::future::pending::<()>().await
                    }
                })?;
        }

        // 3. A hot worker: one task spinning through short polls.
        kiln::task::Builder::new().name("busy loop").spawn(async {
            loop {
                std::thread::sleep(Duration::from_micros(200));
                kiln::task::yield_now().await;
            }
        })?;
        kiln::time::sleep(Duration::from_millis(250)).await;
        Ok::<_, std::io::Error>(())
    })?;

    println!("--- Handle::dump() ---\n{}", rt.handle().dump());
    let text = rt.metrics().to_prometheus();
    println!("--- to_prometheus() (excerpt) ---");
    for line in text.lines().filter(|l| {
        l.starts_with("kiln_worker_polls_total")
            || l.starts_with("kiln_alive_tasks")
            || (l.starts_with("kiln_worker_poll_time_seconds")
                && (l.contains("le=\"2.62144e-4\"")
                    || l.contains("le=\"5.24288e-4\"")
                    || l.contains("_count")))
    }) {
        println!("{line}");
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
