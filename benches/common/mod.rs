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

/// Whether a printed extra part of a bench (not a criterion group) named `name` should run:
/// only under `cargo bench` (not `cargo test --benches`), unfiltered or filtered to it.
#[allow(
    dead_code,
    reason = "used by the benches that print extra parts, not by every bench"
)]
pub fn runs_extra(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter().any(|a| a == "--bench") && filters(&args).all(|f| name.contains(f))
}

/// The positional (filter) arguments, skipping the values of criterion's options.
#[allow(dead_code, reason = "used through `runs_extra` only")]
fn filters(args: &[String]) -> impl Iterator<Item = &str> {
    const TAKES_VALUE: &[&str] = &[
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--load-baseline",
        "-c",
        "--color",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--plotting-backend",
    ];
    let mut skip = false;
    args.iter().filter_map(move |a| {
        if std::mem::take(&mut skip) {
            return None;
        }
        if a.starts_with('-') {
            skip = TAKES_VALUE.contains(&a.as_str());
            return None;
        }
        Some(a.as_str())
    })
}
