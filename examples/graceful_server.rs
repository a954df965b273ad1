//! A line-protocol server that shuts down gracefully on Ctrl-C or SIGTERM.
//!
//! ```text
//! cargo run --example graceful_server -- 127.0.0.1:7001 10
//! # elsewhere:  printf 'work 2000\n' | nc 127.0.0.1 7001      # then Ctrl-C the server
//! ```
//!
//! Arguments: the address (default `127.0.0.1:7001`) and the drain deadline in seconds
//! (default 10). Each request is a line `work <ms>`: the server answers `accepted <ms>` at
//! once, works for `<ms>` milliseconds, then answers `done <ms>`.
//!
//! Shutdown, on the first SIGINT or SIGTERM:
//! 1. The listener is closed: new connections are refused.
//! 2. A [`CancellationToken`] tells every connection to stop *between* requests; a request
//!    being worked on finishes and gets its answer.
//! 3. The server waits, up to the deadline, for every connection task (a [`TaskTracker`]);
//!    whatever is left then is cancelled when the runtime shuts down.
//! 4. It exits with status 0.
//!
//! [`CancellationToken`]: kiln::sync::CancellationToken
//! [`TaskTracker`]: kiln::task::TaskTracker

use futures::future::{select, Either};
use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use futures::StreamExt;
use kiln::net::{TcpListener, TcpStream};
use kiln::signal::unix::{signal, SignalKind};
use kiln::sync::CancellationToken;
use kiln::task::TaskTracker;
use std::pin::pin;
use std::time::Duration;

/// Parses the arguments and serves until a shutdown signal (public so the graceful-shutdown
/// test can run this very code as its server process).
pub fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7001".to_string());
    let deadline = args
        .next()
        .map(|s| {
            s.parse()
                .expect("the drain deadline is a number of seconds")
        })
        .unwrap_or(10);
    if let Err(e) = kiln::run(serve(addr, Duration::from_secs(deadline))) {
        eprintln!("graceful_server: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: String, deadline: Duration) -> std::io::Result<()> {
    // Listen for the signals before anything can send them.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    {
        let (term, int) = (pin!(term.recv()), pin!(int.recv()));
        let mut stop = select(term, int);
        loop {
            match select(pin!(listener.accept()), &mut stop).await {
                Either::Left((Ok((conn, _peer)), _)) => {
                    tracker.spawn(handle(conn, shutdown.clone()));
                }
                Either::Left((Err(e), _)) => eprintln!("accept failed: {e}"),
                Either::Right(_) => break,
            }
        }
    }

    // Step 1: refuse new connections.
    drop(listener);
    println!("shutting down: {} connections open", tracker.len());
    // Step 2: connections stop after their current request.
    shutdown.cancel();
    tracker.close();
    // Step 3: wait for them, up to the deadline.
    match kiln::time::timeout(deadline, tracker.wait()).await {
        Ok(()) => println!("drained: every connection finished"),
        Err(_) => println!(
            "deadline of {deadline:?} passed: cancelling {} connections",
            tracker.len()
        ),
    }
    // Step 4: `main` returns and the process exits with status 0.
    Ok(())
}

/// Serves one connection until the peer closes it, or shutdown begins between requests.
async fn handle(conn: TcpStream, shutdown: CancellationToken) {
    let (reader, mut writer) = conn.into_split();
    let mut lines = BufReader::new(reader).lines();
    loop {
        let line = match select(lines.next(), pin!(shutdown.cancelled())).await {
            Either::Left((Some(Ok(line)), _)) => line,
            // The peer closed, the connection failed, or shutdown began while idle.
            _ => return,
        };
        let reply = match line.trim().strip_prefix("work ").map(str::parse::<u64>) {
            Some(Ok(ms)) => {
                if writer
                    .write_all(format!("accepted {ms}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                // In flight: finishes even if shutdown begins meanwhile.
                kiln::time::sleep(Duration::from_millis(ms)).await;
                format!("done {ms}\n")
            }
            _ => format!("error: expected `work <ms>`, got {line:?}\n"),
        };
        if writer.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
