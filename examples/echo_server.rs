//! A TCP echo server on kiln.
//!
//! ```text
//! cargo run --example echo_server -- 127.0.0.1:7000
//! # elsewhere:  nc 127.0.0.1 7000
//! ```
//!
//! Every connection gets its own task; the task splits the stream into owned halves and copies
//! everything it reads back to the peer until the peer closes its side.

use futures::AsyncWriteExt;
use kiln::net::TcpListener;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    kiln::run(async move {
        let listener = TcpListener::bind(addr.as_str()).await?;
        println!("echo server listening on {}", listener.local_addr()?);
        loop {
            let (conn, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("accept failed: {e}");
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
    })
}
