//! `examples/graceful_server.rs` under load receives SIGTERM: in-flight requests complete,
//! new connections are refused, and it exits with status 0 within its drain deadline.
//!
//! The example's code is compiled into this test binary (`#[path]`), which runs it as the
//! server when started with `CHILD_ENV` set; otherwise `main` is the test and spawns itself
//! as that server process.

#[path = "../examples/graceful_server.rs"]
mod example;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "KILN_GRACEFUL_SERVER_CHILD";
/// The server's drain deadline.
const DEADLINE_SECS: u64 = 20;
/// How long each in-flight request works.
const IN_FLIGHT_MS: u64 = 1500;
const IN_FLIGHT: usize = 8;
const LOAD_CLIENTS: usize = 4;

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        example::main();
        return;
    }
    graceful_shutdown_under_load();
    println!("rt_graceful_server: graceful_shutdown_under_load ... ok");
}

/// Kills the server if the test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line)
        .expect("reading the server's output");
    assert!(!line.is_empty(), "the server closed its output early");
    line.trim_end().to_string()
}

fn read_reply(conn: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    match conn.read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(line.trim_end().to_string()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
        Err(e) => panic!("reading a reply: {e}"),
    }
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let c = TcpStream::connect(addr).expect("connecting to the server");
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    BufReader::new(c)
}

/// A client that sends short requests until the server refuses it. Counts completed
/// requests; flags a request that was accepted but never answered.
fn load_client(addr: SocketAddr, done: Arc<AtomicUsize>, broken: Arc<AtomicBool>) {
    loop {
        let Ok(c) = TcpStream::connect(addr) else {
            return; // refused: the server stopped accepting
        };
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut conn = BufReader::new(c);
        loop {
            if conn.get_mut().write_all(b"work 1\n").is_err() {
                break;
            }
            match read_reply(&mut conn) {
                Some(r) if r == "accepted 1" => {}
                Some(r) => panic!("unexpected reply {r:?}"),
                None => break, // closed between requests: fine
            }
            match read_reply(&mut conn) {
                Some(r) if r == "done 1" => done.fetch_add(1, SeqCst),
                _ => {
                    broken.store(true, SeqCst);
                    return;
                }
            };
        }
    }
}

fn graceful_shutdown_under_load() {
    let exe = std::env::current_exe().unwrap();
    let mut server = Server(
        Command::new(exe)
            .args(["127.0.0.1:0", &DEADLINE_SECS.to_string()])
            .env(CHILD_ENV, "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    let first = read_line(&mut out);
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();

    // Load: clients hammering short requests.
    let done = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..LOAD_CLIENTS)
        .map(|_| {
            let (done, broken) = (done.clone(), broken.clone());
            std::thread::spawn(move || load_client(addr, done, broken))
        })
        .collect();
    // In flight: long requests the server has started on.
    let mut slow: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let mut c = connect(addr);
            c.get_mut()
                .write_all(format!("work {IN_FLIGHT_MS}\n").as_bytes())
                .unwrap();
            assert_eq!(
                read_reply(&mut c).as_deref(),
                Some(&*format!("accepted {IN_FLIGHT_MS}"))
            );
            c
        })
        .collect();
    let start = Instant::now();
    while done.load(SeqCst) < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no load reached the server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let sigterm_at = Instant::now();
    let pid = libc::pid_t::try_from(server.0.id()).unwrap();
    // SAFETY: kill(2) with a valid signal number; `pid` is our unreaped child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);

    let line = read_line(&mut out);
    assert!(line.starts_with("shutting down"), "{line:?}");
    // The listener is closed: new connections are refused.
    let err = TcpStream::connect(addr).expect_err("a connection was accepted after SIGTERM");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    // Every in-flight request completes.
    for c in &mut slow {
        assert_eq!(
            read_reply(c).as_deref(),
            Some(&*format!("done {IN_FLIGHT_MS}")),
            "an in-flight request was cut off"
        );
        // The server then closes the connection (shutdown, between requests).
        assert_eq!(read_reply(c), None);
    }
    for t in load {
        t.join().unwrap();
    }
    assert!(
        !broken.load(SeqCst),
        "a request the server accepted under load was never answered"
    );

    let line = read_line(&mut out);
    assert!(line.starts_with("drained"), "{line:?}");
    let deadline = Duration::from_secs(DEADLINE_SECS);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            sigterm_at.elapsed() < deadline,
            "the server did not exit within its {deadline:?} deadline"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the server exited with {status}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
}
