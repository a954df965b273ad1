//! tokio-postgres on kiln vs on tokio: 50 connections × 1,000 simple queries against a local
//! PostgreSQL server the bench starts itself (`--features tokio-io`; needs the Debian package
//! `postgresql-15`).
//!
//! ```text
//! cargo bench --features tokio-io --bench postgres
//! ```
//!
//! Each round opens 50 connections (untimed), then times 50 tasks that each run 1,000
//! `SELECT $1::INT4` on their own connection, one in flight at a time. Rounds alternate kiln
//! and tokio (A/B/B/A/...), both runtimes with 2 workers; the summary prints each side's
//! median throughput and the client process's CPU time per round. The server runs on the same
//! machine and is the same for both sides.

use std::time::{Duration, Instant};
use tokio_postgres::{Client, Config, NoTls, Statement};

mod common;

#[path = "../tests/support/pg_server.rs"]
mod pg_server;

const CONNECTIONS: usize = 50;
const QUERIES: usize = 1_000;
const ROUNDS: usize = 6;
const WORKERS: usize = 2;
const QUERY: &str = "SELECT $1::INT4";

/// This process's user + system CPU time (Linux `/proc/self/stat`, in clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the parenthesised command name: state (field 3), ..., utime (14), stime (15).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(14 - 3) + field(15 - 3);
    Duration::from_millis(ticks * 10)
}

/// One client's part of a round: its queries, checked.
async fn run_queries(client: Client, stmt: Statement, task: usize) -> Client {
    for i in 0..QUERIES {
        let v = (task * QUERIES + i) as i32;
        let row = client.query_one(&stmt, &[&v]).await.expect("query");
        assert_eq!(row.get::<_, i32>(0), v);
    }
    client
}

/// A round's timed section: wall time and client CPU time.
struct Round {
    wall: Duration,
    cpu: Duration,
}

fn kiln_round(config: &Config, addr: std::net::SocketAddr) -> Round {
    let rt = common::kiln_rt(WORKERS);
    rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            let tcp = kiln::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (client, conn) = config.connect_raw(tcp, NoTls).await.unwrap();
            kiln::spawn(conn);
            let stmt = client.prepare(QUERY).await.unwrap();
            clients.push((client, stmt));
        }
        let (start, cpu) = (Instant::now(), cpu_time());
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, (c, s))| kiln::spawn(run_queries(c, s, i)))
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        let round = Round {
            wall: start.elapsed(),
            cpu: cpu_time() - cpu,
        };
        drop(done);
        round
    })
}

fn tokio_round(config: &Config, addr: std::net::SocketAddr) -> Round {
    let rt = common::tokio_rt(WORKERS);
    rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (client, conn) = config.connect_raw(tcp, NoTls).await.unwrap();
            tokio::spawn(conn);
            let stmt = client.prepare(QUERY).await.unwrap();
            clients.push((client, stmt));
        }
        let (start, cpu) = (Instant::now(), cpu_time());
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, (c, s))| tokio::spawn(run_queries(c, s, i)))
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        let round = Round {
            wall: start.elapsed(),
            cpu: cpu_time() - cpu,
        };
        drop(done);
        round
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // Only under `cargo bench` (not `cargo test --benches`, which passes no `--bench`), and
    // only when no filter argument names another bench.
    if !common::runs_extra("postgres") {
        return;
    }
    let server = pg_server::PgServer::start();
    let config = server.config();
    let addr = server.addr();
    let total = (CONNECTIONS * QUERIES) as f64;
    let (mut kiln, mut tokio) = (Vec::new(), Vec::new());
    let mut rounds: [Vec<(Duration, Duration)>; 2] = Default::default();
    println!("postgres: {CONNECTIONS} connections x {QUERIES} queries, {WORKERS} workers each");
    for round in 0..ROUNDS {
        // A/B then B/A, so neither side always runs first.
        let order: [bool; 2] = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_kiln in order {
            let r = if is_kiln {
                kiln_round(&config, addr)
            } else {
                tokio_round(&config, addr)
            };
            let qps = total / r.wall.as_secs_f64();
            let cpu_us = r.cpu.as_secs_f64() * 1e6 / total;
            println!(
                "  round {round} {:5}: {:>9.0} queries/s  wall {:>7.3} s  client CPU {:>6.3} s ({cpu_us:.1} us/query)",
                if is_kiln { "kiln" } else { "tokio" },
                qps,
                r.wall.as_secs_f64(),
                r.cpu.as_secs_f64(),
            );
            rounds[usize::from(!is_kiln)].push((r.wall, r.cpu));
            if is_kiln {
                kiln.push((qps, cpu_us));
            } else {
                tokio.push((qps, cpu_us));
            }
        }
    }
    common::cpu::save_rounds("postgres_queries", "kiln", &rounds[0]);
    common::cpu::save_rounds("postgres_queries", "tokio", &rounds[1]);
    let k = median(kiln.iter().map(|r| r.0).collect());
    let t = median(tokio.iter().map(|r| r.0).collect());
    let kc = median(kiln.iter().map(|r| r.1).collect());
    let tc = median(tokio.iter().map(|r| r.1).collect());
    println!(
        "median: kiln {k:.0} queries/s ({kc:.1} us CPU/query), tokio {t:.0} queries/s ({tc:.1} us CPU/query), kiln/tokio {:.3}x",
        k / t
    );
}
