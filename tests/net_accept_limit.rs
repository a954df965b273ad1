//! An accept loop at the file-descriptor limit backs off instead of spinning: `accept` reports
//! `EMFILE` at once on every call while no descriptor is free.
//!
//! This binary holds this one test only: it lowers the process's descriptor limit.

#[allow(dead_code, reason = "the example's `main` is not run here")]
#[path = "../examples/echo_server.rs"]
mod echo_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The soft limit on open descriptors while the test fills them.
const LIMIT: libc::rlim_t = 256;

fn set_soft_limit(soft: libc::rlim_t) -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to write to.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let old = lim;
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit to read.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    old
}

#[test]
fn the_example_accept_loop_backs_off_at_the_descriptor_limit() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let listener =
        rt.block_on(async { kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap() });
    let addr = listener.local_addr().unwrap();
    // Waits in the backlog: every accept tries it, and fails while no descriptor is free.
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let old = set_soft_limit(LIMIT);
    let mut fill = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fill.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }
    let errors = Arc::new(AtomicUsize::new(0));
    let counted = errors.clone();
    let server = rt.spawn(async move {
        let _ = echo_server::serve(listener, move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .await;
    });
    std::thread::sleep(Duration::from_millis(500));
    let seen = errors.load(Ordering::Relaxed);
    drop(fill);
    set_soft_limit(old.rlim_cur);
    assert!(seen >= 1, "the accept loop never hit the limit");
    // A loop that retries at once fails accept(2) hundreds of thousands of times a second;
    // one that sleeps 100 ms between tries, about five times in this half second.
    assert!(
        seen < 100,
        "the accept loop spun: {seen} failed accepts in 0.5 s"
    );

    // With descriptors free again the waiting connection is served.
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::io::Write::write_all(&mut client, b"ping").unwrap();
    let mut buf = [0u8; 4];
    std::io::Read::read_exact(&mut client, &mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    server.abort();
    drop(rt);
}
