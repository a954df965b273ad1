//! An axum app served through hyper on kiln's listener (`--features hyper`) — or, with
//! `--tokio`, the same app on tokio, for side-by-side load tests. `--no-stay` turns off the kiln
//! runtime's `Builder::stay_behind_busy_siblings` (on by default).
//!
//! ```text
//! cargo run --release --features hyper --example axum_server -- 3000
//! curl http://127.0.0.1:3000/health
//! curl -X POST -H 'content-type: application/json' -d '{"text":"hi"}' http://127.0.0.1:3000/notes
//! curl http://127.0.0.1:3000/notes
//! curl http://127.0.0.1:3000/fib/40          # computed on the blocking pool
//! cargo run --release --features hyper --example axum_server -- 3001 --tokio
//! wrk --latency -t2 -c50 -d10s http://127.0.0.1:3000/
//! ```
//!
//! Routes: `GET /` (plain text hello), `GET /health` (JSON, with a request counter kept in
//! shared state), `GET`/`POST /notes` (a JSON list in shared state), `GET /fib/{n}` (CPU work
//! handed to the blocking pool so it never stalls a worker's event loop).
//!
//! axum's `Router` is a tower `Service`; hyper-util's `TowerToHyperService` turns it into a
//! hyper service, and hyper serves the accepted kiln `TcpStream` directly (it implements hyper's
//! I/O traits). axum's own `serve` needs tokio's listener, so this example does not use it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hyper::server::conn::http1;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Runs a CPU-heavy closure off the async workers (kiln's or tokio's blocking pool).
pub type Offload = fn(Box<dyn FnOnce() + Send>);

/// The app's shared state.
pub struct AppState {
    hits: AtomicU64,
    notes: Mutex<Vec<Note>>,
    offload: Offload,
}

/// A note, as stored and as returned.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Note {
    /// Assigned by the server, from 1.
    pub id: u64,
    /// The note's text.
    pub text: String,
}

/// The body of `POST /notes`.
#[derive(Debug, Deserialize)]
pub struct NewNote {
    text: String,
}

/// The body of `GET /health`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"`.
    pub status: String,
    /// Requests to `/health` so far, this one included.
    pub hits: u64,
}

/// The body of `GET /fib/{n}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Fib {
    /// The index asked for.
    pub n: u64,
    /// The `n`th Fibonacci number.
    pub value: u64,
}

/// The largest `n` whose Fibonacci number fits a `u64`.
const FIB_MAX: u64 = 93;

/// The app, with CPU work offloaded through `offload`.
pub fn app(offload: Offload) -> Router {
    let state = Arc::new(AppState {
        hits: AtomicU64::new(0),
        notes: Mutex::new(Vec::new()),
        offload,
    });
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/health", get(health))
        .route("/notes", get(list_notes).post(add_note))
        .route("/fib/{n}", get(fib))
        .with_state(state)
}

/// The app on kiln: CPU work goes to `kiln::spawn_blocking`.
pub fn kiln_app() -> Router {
    app(|job| drop(kiln::spawn_blocking(job)))
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let hits = state.hits.fetch_add(1, Ordering::Relaxed) + 1;
    Json(Health {
        status: "ok".into(),
        hits,
    })
}

async fn list_notes(State(state): State<Arc<AppState>>) -> Json<Vec<Note>> {
    Json(state.notes.lock().unwrap().clone())
}

async fn add_note(
    State(state): State<Arc<AppState>>,
    Json(new): Json<NewNote>,
) -> (StatusCode, Json<Note>) {
    let mut notes = state.notes.lock().unwrap();
    let note = Note {
        id: notes.len() as u64 + 1,
        text: new.text,
    };
    notes.push(note.clone());
    (StatusCode::CREATED, Json(note))
}

async fn fib(
    State(state): State<Arc<AppState>>,
    Path(n): Path<u64>,
) -> Result<Json<Fib>, (StatusCode, String)> {
    if n > FIB_MAX {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("fib({n}) overflows a u64: n must be at most {FIB_MAX}"),
        ));
    }
    let (tx, rx) = kiln::sync::oneshot::channel();
    (state.offload)(Box::new(move || {
        let _ = tx.send(slow_fib(n));
    }));
    let value = rx.await.map_err(|_| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the blocking pool dropped the job".to_string(),
        )
    })?;
    Ok(Json(Fib { n, value }))
}

/// Deliberately iterative-but-slow CPU work: the answer, recomputed `n` times.
fn slow_fib(n: u64) -> u64 {
    let mut value = 0;
    for _ in 0..=n {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n {
            (a, b) = (b, a.wrapping_add(b));
        }
        value = a;
    }
    value
}

/// Serves `app` on every connection `listener` accepts, each on its own kiln task.
pub async fn serve(listener: kiln::net::TcpListener, app: Router) -> std::io::Result<()> {
    use kiln::net::hyper::HyperTimer;
    loop {
        let (conn, _) = listener.accept().await?;
        conn.set_nodelay(true)?;
        let service = TowerToHyperService::new(app.clone());
        kiln::spawn(async move {
            let served = http1::Builder::new()
                .timer(HyperTimer)
                .serve_connection(conn, service)
                .await;
            if let Err(e) = served {
                eprintln!("connection error: {e}");
            }
        });
    }
}

fn run_kiln(port: u16, workers: usize, stay: bool) -> std::io::Result<()> {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(workers)
        .stay_behind_busy_siblings(stay)
        .build()?;
    rt.block_on(async move {
        let listener = kiln::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("kiln: axum on http://{}", listener.local_addr()?);
        serve(listener, kiln_app()).await
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
        println!("tokio: axum on http://{}", listener.local_addr()?);
        let app = app(|job| drop(tokio::task::spawn_blocking(job)));
        loop {
            let (conn, _) = listener.accept().await?;
            conn.set_nodelay(true)?;
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(conn), service)
                    .await;
                if let Err(e) = served {
                    eprintln!("connection error: {e}");
                }
            });
        }
    })
}

fn main() -> std::io::Result<()> {
    let mut port = 3000u16;
    let mut tokio = false;
    let mut workers = 2usize;
    let mut stay = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tokio" => tokio = true,
            "--no-stay" => stay = false,
            "--workers" => {
                workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--workers takes a number")
            }
            p => {
                port = p
                    .parse()
                    .expect("usage: axum_server [PORT] [--tokio] [--workers N] [--no-stay]")
            }
        }
    }
    if tokio {
        run_tokio(port, workers)
    } else {
        run_kiln(port, workers, stay)
    }
}
