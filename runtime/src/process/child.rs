//! [`Child`]: a running (or finished) child process.

use super::pipe::{read_to_end, ChildStderr, ChildStdin, ChildStdout};
use super::reap::Reaper;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::process::{ExitStatus, Output};

/// A child process started by [`Command::spawn`](super::Command::spawn).
///
/// Dropping it does not wait for the process (or kill it, unless
/// [`kill_on_drop`](super::Command::kill_on_drop) was set); the process is reaped in the
/// background once it exits.
///
/// ```
/// kiln::run(async {
///     let mut child = kiln::process::Command::new("true").spawn().unwrap();
///     assert!(child.id().is_some());
///     assert!(child.wait().await.unwrap().success());
///     assert!(child.id().is_none()); // reaped
/// });
/// ```
pub struct Child {
    /// The child's standard input, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
    state: State,
    kill_on_drop: bool,
}

enum State {
    Running(Reaper),
    Exited(ExitStatus),
}

impl Child {
    pub(crate) fn new(
        reaper: Reaper,
        kill_on_drop: bool,
        stdin: Option<std::process::ChildStdin>,
        stdout: Option<std::process::ChildStdout>,
        stderr: Option<std::process::ChildStderr>,
    ) -> io::Result<Child> {
        // If a pipe fails to register, dropping `child` reaps (or kills) the process.
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            state: State::Running(reaper),
            kill_on_drop,
        };
        child.stdin = stdin.map(ChildStdin::from_std).transpose()?;
        child.stdout = stdout.map(ChildStdout::from_std).transpose()?;
        child.stderr = stderr.map(ChildStderr::from_std).transpose()?;
        Ok(child)
    }

    /// The process id, or `None` once the child was reaped (its pid may then belong to
    /// another process).
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("true").spawn().unwrap();
    ///     let pid = child.id().unwrap();
    ///     assert!(pid > 0);
    ///     child.wait().await.unwrap();
    ///     assert_eq!(child.id(), None);
    /// });
    /// ```
    pub fn id(&self) -> Option<u32> {
        match &self.state {
            State::Running(r) => r.pid(),
            State::Exited(_) => None,
        }
    }

    /// Waits for the child to exit and reaps it; returns at once if it already was. Closes
    /// the child's standard input first (so a child reading it to its end can finish).
    /// Cancel-safe.
    ///
    /// # Errors
    /// If waiting fails.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("sh").args(["-c", "exit 7"]).spawn().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(7));
    /// });
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        poll_fn(|cx| match &mut self.state {
            State::Exited(status) => std::task::Poll::Ready(Ok(*status)),
            State::Running(reaper) => {
                let status = std::task::ready!(reaper.poll_wait(cx))?;
                self.state = State::Exited(status);
                std::task::Poll::Ready(Ok(status))
            }
        })
        .await
    }

    /// The exit status if the child exited (reaping it), without waiting.
    ///
    /// # Errors
    /// If `waitpid` fails.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("sleep").arg("10").spawn().unwrap();
    ///     assert!(child.try_wait().unwrap().is_none());
    ///     child.kill().await.unwrap();
    ///     assert!(child.try_wait().unwrap().is_some());
    /// });
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match &mut self.state {
            State::Exited(status) => Ok(Some(*status)),
            State::Running(reaper) => {
                let status = reaper.try_wait()?;
                if let Some(status) = status {
                    self.state = State::Exited(status);
                }
                Ok(status)
            }
        }
    }

    /// Sends SIGKILL to the child without waiting for it to exit. Does nothing if it was
    /// already reaped.
    ///
    /// # Errors
    /// If the signal cannot be sent.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("sleep").arg("10").spawn().unwrap();
    ///     child.start_kill().unwrap();
    ///     assert!(!child.wait().await.unwrap().success());
    /// });
    /// ```
    pub fn start_kill(&mut self) -> io::Result<()> {
        match &mut self.state {
            State::Exited(_) => Ok(()),
            State::Running(reaper) => reaper.std().kill(),
        }
    }

    /// Kills the child (SIGKILL) and waits until it is reaped.
    ///
    /// # Errors
    /// If the signal cannot be sent or waiting fails.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("sleep").arg("10").spawn().unwrap();
    ///     child.kill().await.unwrap();
    ///     assert!(child.id().is_none());
    /// });
    /// ```
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Waits for the child to exit while reading its piped standard output and error to
    /// their ends (concurrently, so a child filling one pipe cannot block on it). Standard
    /// input is closed first. Streams that were not piped come back empty.
    ///
    /// # Errors
    /// If reading or waiting fails.
    ///
    /// ```
    /// use std::process::Stdio;
    /// kiln::run(async {
    ///     let child = kiln::process::Command::new("echo")
    ///         .arg("hi")
    ///         .stdout(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let out = child.wait_with_output().await.unwrap();
    ///     assert_eq!(out.stdout, b"hi\n");
    /// });
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        self.stdin = None;
        let stdout = read_to_end(self.stdout.take());
        let stderr = read_to_end(self.stderr.take());
        let (stdout, stderr, status) =
            futures_util::future::try_join3(stdout, stderr, self.wait()).await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        super::reap::reap_orphans();
        // The placeholder status is never observed: the child is being dropped.
        let placeholder = State::Exited(std::os::unix::process::ExitStatusExt::from_raw(0));
        if let State::Running(reaper) = std::mem::replace(&mut self.state, placeholder) {
            let mut reaper = reaper;
            if self.kill_on_drop {
                let _ = reaper.std().kill();
            }
            reaper.reap_in_background();
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}
