//! A hello-world HTTP/1.1 server with hyper 1.x on kiln — or, with `--tokio`, the same server
//! on tokio, for side-by-side load tests.
//!
//! ```text
//! cargo run --release --features hyper --example http_server -- 8080
//! cargo run --release --features hyper --example http_server -- 8081 --tokio
//! wrk -t2 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Both variants use 2 worker threads (override with `--workers N`), keep-alive connections,
//! and answer every request with `Hello, World!`. The kiln server also serves its runtime's
//! metrics in the Prometheus text format at `/metrics` and a task dump at `/tasks`; with
//! `--observe` it turns on the stall watchdog (100 ms) and poll histograms (one poll in 8).
//! Both accept loops pause for [`ACCEPT_BACKOFF`] after an accept error that retrying at once
//! would only repeat (out of file descriptors or memory), as hyper-util's and tokio's examples
//! do, instead of spinning:
//!
//! ```text
//! cargo run --release --features hyper --example http_server -- 8080 --observe
//! curl http://127.0.0.1:8080/metrics
//! curl http://127.0.0.1:8080/tasks
//! ```

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::convert::Infallible;
use std::io;
use std::time::Duration;

/// How long an accept loop pauses after an error that retrying at once would only repeat.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

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

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

/// `/metrics` and `/tasks` from the runtime itself; `Hello, World!` elsewhere.
async fn kiln_route(
    req: Request<Incoming>,
    rt: kiln::Handle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        "/metrics" => {
            let text = rt.metrics().to_prometheus();
            return Ok(Response::builder()
                .header("content-type", "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(text)))
                .expect("a valid response"));
        }
        "/tasks" => Bytes::from(rt.dump().to_string()),
        _ => Bytes::from_static(b"Hello, World!"),
    };
    Ok(Response::new(Full::new(body)))
}

fn run_kiln(port: u16, workers: usize, observe: bool) -> std::io::Result<()> {
    use kiln::net::hyper::{HyperIo, HyperTimer};
    let mut builder = kiln::Builder::new_multi_thread();
    builder.worker_threads(workers);
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
            let rt = kiln::Handle::current();
            kiln::task::Builder::new()
                .name(&format!("conn {peer}"))
                .spawn(async move {
                    let service = service_fn(move |req| kiln_route(req, rt.clone()));
                    let served = http1::Builder::new()
                        .timer(HyperTimer)
                        .serve_connection(HyperIo::new(conn), service)
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
                    .serve_connection(TokioIo::new(conn), service_fn(hello))
                    .await;
                if let Err(e) = served {
                    eprintln!("connection error: {e}");
                }
            });
        }
    })
}

fn main() -> std::io::Result<()> {
    let mut port = 8080u16;
    let mut tokio = false;
    let mut observe = false;
    let mut workers = 2usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tokio" => tokio = true,
            "--observe" => observe = true,
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--workers takes a number")
            }
            p => {
                port = p
                    .parse()
                    .expect("usage: http_server [PORT] [--tokio] [--workers N] [--observe]")
            }
        }
    }
    if tokio {
        run_tokio(port, workers)
    } else {
        run_kiln(port, workers, observe)
    }
}
