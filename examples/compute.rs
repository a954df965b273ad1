//! A small server that stays responsive while it crunches numbers.
//!
//! ```text
//! cargo run --release --example compute -- 3     # run for 3 seconds (default 2)
//! ```
//!
//! Three things share one kiln runtime:
//! - a TCP server that answers every `ping` line with `pong` (and a client task that pings it
//!   every 10 ms, measuring the round trip);
//! - a ticker that sleeps 1 ms at a time and records how late each wake-up is;
//! - a crunching loop that keeps batches of prime-counting jobs in flight on the runtime's
//!   compute pool through `pool.map` (results come back in input order).
//!
//! The compute pool has one thread per worker and queues what it cannot run yet, so the CPU
//! work never starts a thread per job and the workers keep serving sockets and timers. At the
//! end it prints tick lateness, ping round trips and jobs per second.

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use kiln::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Primes in `[from, from + 20_000)`: a few milliseconds of CPU.
fn count_primes(from: u64) -> usize {
    (from..from + 20_000)
        .filter(|&n| n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count()
}

/// Answers each `ping` line with `pong` until the peer closes.
async fn serve(conn: TcpStream) -> std::io::Result<()> {
    let (reader, mut writer) = conn.into_split();
    let mut lines = futures::io::BufReader::new(reader).lines();
    use futures::StreamExt;
    while let Some(line) = lines.next().await {
        if line? == "ping" {
            writer.write_all(b"pong\n").await?;
        }
    }
    Ok(())
}

fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort();
    let at = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    format!(
        "n={} p50={:?} p99={:?} max={:?}",
        v.len(),
        at(50),
        at(99),
        v[v.len() - 1]
    )
}

fn main() -> std::io::Result<()> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let run_for = Duration::from_secs(secs);
    kiln::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        kiln::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                kiln::spawn(serve(conn));
            }
        });

        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let ticker = kiln::spawn(async move {
            let mut late = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let due = Instant::now() + Duration::from_millis(1);
                kiln::time::sleep(Duration::from_millis(1)).await;
                late.push(Instant::now().saturating_duration_since(due));
            }
            late
        });

        let s = stop.clone();
        let pinger = kiln::spawn(async move {
            let mut conn = TcpStream::connect(addr).await?;
            let mut rtts = Vec::new();
            let mut buf = [0u8; 5];
            while !s.load(Ordering::Relaxed) {
                let sent = Instant::now();
                conn.write_all(b"ping\n").await?;
                conn.read_exact(&mut buf).await?;
                rtts.push(sent.elapsed());
                kiln::time::sleep(Duration::from_millis(10)).await;
            }
            Ok::<_, std::io::Error>(rtts)
        });

        let pool = kiln::Handle::current().compute_pool().clone();
        let s = stop.clone();
        let cruncher = kiln::spawn(async move {
            let (mut jobs, mut primes, mut next) = (0u64, 0usize, 0u64);
            while !s.load(Ordering::Relaxed) {
                // 64 jobs in flight per batch; the pool runs as many as it has threads.
                let starts: Vec<u64> = (0..64).map(|i| next + i * 20_000).collect();
                next += 64 * 20_000;
                let mut results = pool.map(starts, count_primes);
                while let Some(r) = results.next().await {
                    primes += r.expect("prime counting does not panic");
                    jobs += 1;
                }
            }
            (jobs, primes)
        });

        let started = Instant::now();
        kiln::time::sleep(run_for).await;
        stop.store(true, Ordering::Relaxed);
        let late = ticker.await.expect("ticker");
        let rtts = pinger.await.expect("pinger")?;
        let (jobs, primes) = cruncher.await.expect("cruncher");
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "compute threads: {}, workers: {}",
            kiln::Handle::current().compute_pool().threads(),
            kiln::Handle::current().metrics().num_workers()
        );
        println!("tick lateness (1 ms ticks): {}", percentiles(late));
        println!("ping round trip:            {}", percentiles(rtts));
        println!(
            "crunched: {jobs} jobs ({:.0} jobs/s), {primes} primes found",
            jobs as f64 / elapsed
        );
        Ok(())
    })
}
