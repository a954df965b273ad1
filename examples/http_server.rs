//! A hello-world HTTP/1.1 server with hyper 1.x on kiln — or, with `--tokio`, the same server
//! on tokio, for side-by-side load tests.
//!
//! ```text
//! cargo run --release --features hyper --example http_server -- 8080
//! cargo run --release --features hyper --example http_server -- 8081 --tokio
//! wrk -t2 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Both variants use 2 worker threads (override with `--workers N`) and keep-alive
//! connections, and serve three routes (`benches/http_wrk.sh` loads each):
//! - `/sleep`: waits 1 ms on the runtime's timer, then answers `slept`;
//! - `/blocking`: runs a [`CPU_JOB`]-long CPU-bound job through `spawn_blocking`, then
//!   answers `done`;
//! - any other path: answers `Hello, World!`.
//!
//! The kiln server also serves its runtime's metrics in the Prometheus text format at
//! `/metrics` and a task dump at `/tasks` (each connection task is named after its peer); with
//! `--observe` it turns on the stall watchdog (100 ms) and poll histograms (one poll in 8):
//!
//! ```text
//! cargo run --release --features hyper --example http_server -- 8080 --observe
//! curl http://127.0.0.1:8080/metrics
//! curl http://127.0.0.1:8080/tasks
//! ```
//!
//! `--no-stay` turns off the kiln runtime's `Builder::stay_behind_busy_siblings` (on by default).
//!
//! `--wake-patience US` sets the kiln runtime's `Builder::sibling_wake_patience` in
//! microseconds (default 200; see `docs/tuning.md`).
//!
//! `--worker-slice US` sets the kiln runtime's `Builder::worker_time_slice` in microseconds
//! (default 100; 0 keeps the OS scheduler's default slice).
//!
//! Both accept loops pause for
//! [`ACCEPT_BACKOFF`] after an accept error that retrying at once would only repeat (out of
//! file descriptors or memory), as hyper-util's and tokio's examples do, instead of spinning.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io;
use std::time::Duration;

const USAGE: &str = concat!(
    "usage: http_server [PORT] [--tokio] [--workers N] [--observe] [--wake-patience US] ",
    "[--no-stay] [--worker-slice US]"
);

/// How long an accept loop pauses after an error that retrying at once would only repeat.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long the `/blocking` route's job computes.
const CPU_JOB: Duration = Duration::from_micros(50);

/// How long the `/sleep` route waits.
const SLEEP: Duration = Duration::from_millis(1);

/// The routes (see the module docs).
enum Route {
    Hello,
    Sleep,
    Blocking,
}

fn route<B>(req: &Request<B>) -> Route {
    match req.uri().path() {
        "/sleep" => Route::Sleep,
        "/blocking" => Route::Blocking,
        _ => Route::Hello,
    }
}

fn text(body: &'static str) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        body.as_bytes(),
    ))))
}

/// The `/blocking` route's job: hashes for [`CPU_JOB`] of wall time (the same work on both
/// runtimes; a job that waits for a CPU does less of it, as a deadline-bound job would).
fn cpu_job() -> u64 {
    let start = std::time::Instant::now();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while start.elapsed() < CPU_JOB {
        for _ in 0..64 {
            x = std::hint::black_box(x.rotate_left(5) ^ x.wrapping_mul(0x0100_0000_01B3));
        }
    }
    x
}

/// Whether a failed accept concerned only the one connection it was accepting (then the loop
/// goes on at once). Any other error, above all `EMFILE`/`ENFILE` (no free file descriptor)
/// or `ENOBUFS`/`ENOMEM`, is reported by every accept until some connection closes.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// kiln's routes: the shared ones, plus `/metrics` and `/tasks` from the runtime itself.
async fn kiln_service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    match req.uri().path() {
        "/metrics" => {
            let text = kiln::Handle::current().metrics().to_prometheus();
            return Ok(Response::builder()
                .header("content-type", "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(text)))
                .expect("a valid response"));
        }
        "/tasks" => {
            let dump = kiln::Handle::current().dump().to_string();
            return Ok(Response::new(Full::new(Bytes::from(dump))));
        }
        _ => {}
    }
    match route(&req) {
        Route::Hello => text("Hello, World!"),
        Route::Sleep => {
            kiln::time::sleep(SLEEP).await;
            text("slept")
        }
        Route::Blocking => {
            let _ = kiln::spawn_blocking(cpu_job).await;
            text("done")
        }
    }
}

async fn tokio_service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    match route(&req) {
        Route::Hello => text("Hello, World!"),
        Route::Sleep => {
            tokio::time::sleep(SLEEP).await;
            text("slept")
        }
        Route::Blocking => {
            let _ = tokio::task::spawn_blocking(cpu_job).await;
            text("done")
        }
    }
}

fn run_kiln(
    port: u16,
    workers: usize,
    observe: bool,
    patience: Option<Duration>,
    stay: bool,
    slice: Option<Duration>,
) -> io::Result<()> {
    use kiln::net::hyper::HyperTimer;
    let mut builder = kiln::Builder::new_multi_thread();
    builder
        .worker_threads(workers)
        .stay_behind_busy_siblings(stay);
    if let Some(patience) = patience {
        builder.sibling_wake_patience(patience);
    }
    if let Some(slice) = slice {
        builder.worker_time_slice(slice);
    }
    if observe {
        builder
            .stall_threshold(std::time::Duration::from_millis(100))
            .poll_histograms(8);
    }
    let rt = builder.build()?;
    rt.block_on(async move {
        let listener = kiln::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("kiln: listening on http://{}", listener.local_addr()?);
        loop {
            let (conn, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    if !is_connection_error(&e) {
                        kiln::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            };
            conn.set_nodelay(true)?;
            kiln::task::Builder::new()
                .name(&format!("conn {peer}"))
                .spawn(async move {
                    let served = http1::Builder::new()
                        .timer(HyperTimer)
                        .serve_connection(conn, service_fn(kiln_service))
                        .await;
                    if let Err(e) = served {
                        eprintln!("connection error: {e}");
                    }
                })?;
        }
    })
}

fn run_tokio(port: u16, workers: usize) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("tokio: listening on http://{}", listener.local_addr()?);
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    if !is_connection_error(&e) {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            };
            conn.set_nodelay(true)?;
            tokio::spawn(async move {
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(conn), service_fn(tokio_service))
                    .await;
                if let Err(e) = served {
                    eprintln!("connection error: {e}");
                }
            });
        }
    })
}

/// The value of flag `flag`, a number of microseconds; panics with the flag's name otherwise.
fn micros(value: Option<String>, flag: &str) -> Duration {
    value
        .and_then(|n| n.parse().ok())
        .map(Duration::from_micros)
        .unwrap_or_else(|| panic!("{flag} takes a number of microseconds"))
}

fn main() -> std::io::Result<()> {
    let mut port = 8080u16;
    let mut tokio = false;
    let mut observe = false;
    let mut workers = 2usize;
    let mut patience = None;
    let mut stay = true;
    let mut slice = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tokio" => tokio = true,
            "--observe" => observe = true,
            "--no-stay" => stay = false,
            "--wake-patience" => patience = Some(micros(args.next(), "--wake-patience")),
            "--worker-slice" => slice = Some(micros(args.next(), "--worker-slice")),
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--workers takes a number")
            }
            p => port = p.parse().expect(USAGE),
        }
    }
    if tokio {
        run_tokio(port, workers)
    } else {
        run_kiln(port, workers, observe, patience, stay, slice)
    }
}
