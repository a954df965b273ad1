//! A TCP echo server on kiln.
//!
//! ```text
//! cargo run --example echo_server -- 127.0.0.1:7000
//! # elsewhere:  nc 127.0.0.1 7000
//! ```
//!
//! Every connection gets its own task; the task splits the stream into owned halves and copies
//! everything it reads back to the peer until the peer closes its side. When `accept` fails
//! for lack of file descriptors or memory, the loop pauses before it tries again (see
//! `serve`).

use futures::AsyncWriteExt;
use kiln::net::TcpListener;
use std::io;
use std::time::Duration;

/// How long to pause accepting after an error that retrying at once would only repeat.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    kiln::run(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("echo server listening on {}", listener.local_addr()?);
        serve(listener, |e| eprintln!("accept failed: {e}")).await
    })
}

/// Accepts connections forever, each served by a task of its own; `on_error` hears of every
/// failed accept.
///
/// A failed accept that concerns only one connection (the peer reset or aborted it before it
/// was accepted) is skipped at once. Any other error, above all running out of file
/// descriptors (`EMFILE`, `ENFILE`) or memory (`ENOBUFS`, `ENOMEM`), is reported again by
/// every accept until some connection closes, so retrying at once would burn a whole CPU:
/// the loop sleeps [`ACCEPT_BACKOFF`] first.
pub async fn serve(listener: TcpListener, mut on_error: impl FnMut(&io::Error)) -> io::Result<()> {
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                on_error(&e);
                if !is_connection_error(&e) {
                    kiln::time::sleep(ACCEPT_BACKOFF).await;
                }
                continue;
            }
        };
        kiln::spawn(async move {
            let (mut reader, mut writer) = conn.into_split();
            match futures::io::copy(&mut reader, &mut writer).await {
                Ok(n) => println!("{peer}: echoed {n} bytes"),
                Err(e) => eprintln!("{peer}: {e}"),
            }
            let _ = writer.close().await;
        });
    }
}

/// Whether a failed accept concerned only the one connection it was accepting.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
