//! Child processes: asyncio's `create_subprocess_exec`.
//!
//! [`Command`] is `std::process::Command` with asynchronous waits: [`Child::wait`],
//! [`Child::wait_with_output`], [`Command::output`], [`Command::status`]. A child's piped
//! standard streams ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]) are futures-io
//! `AsyncWrite`/`AsyncRead` on the event loop. No thread waits for a child or a pipe: exits
//! are noticed through a pidfd on Linux and `SIGCHLD` elsewhere (see `reap.rs`), and children
//! whose [`Child`] was dropped are still reaped, so none lingers as a zombie.
//!
//! Spawning runs `fork`/`exec` (std's `spawn`) on the calling task's thread, as std does.
//!
//! Unix only; the pidfd is Linux-only (5.3+), other systems use `SIGCHLD`, which installs a
//! process-wide `SIGCHLD` handler (see [`crate::signal`]).

mod child;
mod pipe;
mod reap;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

/// A process builder, as `std::process::Command`, whose children are awaited on the event
/// loop.
///
/// ```
/// kiln::run(async {
///     let out = kiln::process::Command::new("echo").arg("hello").output().await.unwrap();
///     assert!(out.status.success());
///     assert_eq!(out.stdout, b"hello\n");
/// });
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Whether the caller chose stdin / stdout / stderr (else `output` uses `/dev/null` for
    /// stdin and pipes the others).
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    /// Tests only: use SIGCHLD even where pidfds work.
    prefer_pidfd: bool,
}

impl Command {
    /// A command for `program` (looked up in `PATH` if it has no `/`), with no arguments,
    /// the parent's environment and working directory, and inherited standard streams.
    ///
    /// ```
    /// let cmd = kiln::process::Command::new("ls");
    /// assert_eq!(cmd.as_std().get_program(), "ls");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("ls");
    /// cmd.arg("-l");
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("ls");
    /// cmd.args(["-l", "-a"]);
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// ```
    /// kiln::run(async {
    ///     let out = kiln::process::Command::new("sh")
    ///         .args(["-c", "printf %s \"$GREETING\""])
    ///         .env("GREETING", "hi")
    ///         .output()
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(out.stdout, b"hi");
    /// });
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables.
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("env");
    /// cmd.envs([("A", "1"), ("B", "2")]);
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("env");
    /// cmd.env_remove("HOME");
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Self::env) adds).
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("/usr/bin/env");
    /// cmd.env_clear();
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// ```
    /// kiln::run(async {
    ///     let out = kiln::process::Command::new("pwd").current_dir("/").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"/\n");
    /// });
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input (default: inherited; `Stdio::piped()` gives
    /// [`Child::stdin`]).
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("cat");
    /// cmd.stdin(std::process::Stdio::null());
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's standard output (default: inherited, or piped by [`output`](Self::output)).
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("ls");
    /// cmd.stdout(std::process::Stdio::piped());
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's standard error (default: inherited, or piped by [`output`](Self::output)).
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("ls");
    /// cmd.stderr(std::process::Stdio::null());
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] before it was waited for kills it (SIGKILL; default
    /// `false`). Either way a dropped child is reaped once it exits.
    ///
    /// ```
    /// kiln::run(async {
    ///     let child = kiln::process::Command::new("sleep")
    ///         .arg("100")
    ///         .kill_on_drop(true)
    ///         .spawn()
    ///         .unwrap();
    ///     drop(child); // killed
    /// });
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The underlying std command, to read its settings.
    ///
    /// ```
    /// let mut cmd = kiln::process::Command::new("ls");
    /// cmd.arg("-l");
    /// assert_eq!(cmd.as_std().get_args().count(), 1);
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The underlying std command, for settings this type does not forward (for example
    /// `std::os::unix::process::CommandExt`).
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// let mut cmd = kiln::process::Command::new("ls");
    /// cmd.as_std_mut().arg0("list");
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child. Its piped streams and its exit are registered with the current
    /// worker's event loop.
    ///
    /// # Errors
    /// If the program cannot be started: a missing program is `ErrorKind::NotFound`, and
    /// every error's message names the program.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln::run(async {
    ///     let err = kiln::process::Command::new("no-such-program-here").spawn().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    ///     assert!(err.to_string().contains("no-such-program-here"));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        if crate::Handle::try_current().is_none() {
            crate::runtime::no_runtime("kiln::process::Command::spawn");
        }
        reap::reap_orphans();
        let early = reap::ExitWatch::before_spawn(self.prefer_pidfd)?;
        let mut std_child = self.std.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("failed to spawn {:?}: {e}", self.std.get_program()),
            )
        })?;
        let stdin = std_child.stdin.take();
        let stdout = std_child.stdout.take();
        let stderr = std_child.stderr.take();
        let pid = std_child.id();
        let reaper = match reap::ExitWatch::after_spawn(early, pid) {
            Ok(watch) => reap::Reaper::new(std_child, watch),
            Err(e) => {
                // Do not leave a child nobody can wait for.
                let _ = std_child.kill();
                let _ = std_child.wait();
                return Err(e);
            }
        };
        Child::new(reaper, self.kill_on_drop, stdin, stdout, stderr)
    }

    /// Runs the child to completion with standard input from `/dev/null` (unless set) and
    /// standard output and error captured (unless set), and returns them with the exit
    /// status: std's `Command::output`.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), or if reading the output or waiting fails.
    ///
    /// ```
    /// kiln::run(async {
    ///     let out = kiln::process::Command::new("sh")
    ///         .args(["-c", "echo out; echo err >&2; exit 3"])
    ///         .output()
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(out.status.code(), Some(3));
    ///     assert_eq!((&out.stdout[..], &out.stderr[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// });
    /// ```
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // The defaults are per call: later `spawn`s inherit again.
        if !self.stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        child?.wait_with_output().await
    }

    /// Runs the child to completion and returns its exit status; piped streams are closed
    /// at once.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), or if waiting fails.
    ///
    /// ```
    /// kiln::run(async {
    ///     let status = kiln::process::Command::new("false").status().await.unwrap();
    ///     assert!(!status.success());
    /// });
    /// ```
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        child.stdin = None;
        child.stdout = None;
        child.stderr = None;
        child.wait().await
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            prefer_pidfd: true,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Command;

    impl Command {
        /// Waits for the child through `SIGCHLD` even where a pidfd is available.
        fn force_sigchld(&mut self) -> &mut Command {
            self.prefer_pidfd = false;
            self
        }
    }

    /// The portable path (SIGCHLD instead of a pidfd) waits for and reaps children too.
    #[test]
    fn the_sigchld_fallback_waits_and_reaps() {
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    crate::spawn(async move {
                        Command::new("sh")
                            .args(["-c", &format!("exit {}", i % 3)])
                            .force_sigchld()
                            .status()
                            .await
                            .unwrap()
                            .code()
                    })
                })
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), Some((i % 3) as i32));
            }
            let out = Command::new("echo")
                .arg("x")
                .force_sigchld()
                .output()
                .await
                .unwrap();
            assert_eq!(out.stdout, b"x\n");
        });
    }
}
