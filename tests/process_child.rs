//! Child processes: output, exit status, pipes, kill, and reaping without zombies.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use kiln::process::Command;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

/// Whether `pid` is still a child of this process (running or a zombie), from `/proc`.
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')').expect("a /proc stat line") + 1..];
    let ppid: u32 = rest.split_whitespace().nth(1).unwrap().parse().unwrap();
    ppid == std::process::id()
}

fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().next() == Some("Z")
}

/// Waits (up to 30 s) until `pid` is no longer a child of this process: exited and reaped.
async fn until_reaped(pid: u32) {
    let start = Instant::now();
    while is_our_child(pid) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "child {pid} was never reaped (zombie: {})",
            is_zombie(pid)
        );
        kiln::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn output_and_exit_status() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let out = Command::new("sh")
                .args(["-c", "printf 'to out'; printf 'to err' >&2; exit 42"])
                .output()
                .await
                .unwrap();
            assert_eq!(out.status.code(), Some(42));
            assert_eq!(out.stdout, b"to out");
            assert_eq!(out.stderr, b"to err");

            // `output` gives the child an empty stdin: `cat` ends at once.
            let out = Command::new("cat").output().await.unwrap();
            assert!(out.status.success() && out.stdout.is_empty());

            let status = Command::new("true").status().await.unwrap();
            assert!(status.success());
            let status = Command::new("false").status().await.unwrap();
            assert_eq!(status.code(), Some(1));

            let mut child = Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
            assert_eq!(child.wait().await.unwrap().code(), Some(5));
            // Waiting again returns the same status.
            assert_eq!(child.wait().await.unwrap().code(), Some(5));
        });
    }
}

#[test]
fn ten_mib_through_cat() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            // A pattern with period 251 (prime), so a lost or repeated 64 KiB chunk shows.
            let data: Vec<u8> = (0..251u8).cycle().take(10 * 1024 * 1024).collect();
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let writer = {
                let data = data.clone();
                kiln::spawn(async move {
                    stdin.write_all(&data).await.unwrap();
                    // Dropping stdin closes cat's input.
                })
            };
            let mut got = Vec::with_capacity(data.len() + 1);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stdout.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            writer.await.unwrap();
            assert!(child.wait().await.unwrap().success());
            assert_eq!(got.len(), data.len());
            assert!(got == data, "cat returned different bytes");
        });
    }
}

#[test]
fn kill_stops_a_child_and_reaps_it() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let mut child = Command::new("sleep").arg("100").spawn().unwrap();
            let pid = child.id().unwrap();
            child.kill().await.unwrap();
            assert!(child.id().is_none());
            let status = child.try_wait().unwrap().unwrap();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9)
            );
            assert!(!is_our_child(pid));
        });
    }
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let child = Command::new("sleep")
                .arg("100")
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let pid = child.id().unwrap();
            drop(child);
            until_reaped(pid).await;
        });
    }
}

#[test]
fn a_child_that_outlives_its_handle_is_reaped() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let child = Command::new("sleep").arg("0.3").spawn().unwrap();
            let pid = child.id().unwrap();
            drop(child);
            // Still running (not killed) right after the drop...
            assert!(is_our_child(pid) && !is_zombie(pid));
            // ...and reaped once it exits, while nobody holds its Child.
            until_reaped(pid).await;
        });
    }
}

#[test]
fn five_hundred_parallel_children_leave_no_zombie() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                kiln::spawn(async {
                    let mut child = Command::new("true").spawn().unwrap();
                    let pid = child.id().unwrap();
                    assert!(child.wait().await.unwrap().success());
                    pid
                })
            })
            .collect();
        let mut pids = Vec::new();
        for t in tasks {
            pids.push(t.await.unwrap());
        }
        let zombies: Vec<u32> = pids.into_iter().filter(|&p| is_our_child(p)).collect();
        assert!(zombies.is_empty(), "children left behind: {zombies:?}");
    });
}

#[test]
fn a_missing_program_is_not_found_and_named() {
    kiln::run(async {
        let err = Command::new("kiln-no-such-program")
            .arg("x")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains("kiln-no-such-program"), "{err}");
        let err = Command::new("kiln-no-such-program")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
#[should_panic(expected = "must be called from inside a kiln runtime")]
fn spawning_outside_a_runtime_panics_with_a_clear_message() {
    let _ = Command::new("true").spawn();
}
