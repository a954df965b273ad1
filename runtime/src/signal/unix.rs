//! Unix signals: [`signal`] and [`Signal::recv`] (see the [parent module](super)).

use super::registry::{Listener, SLOTS};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll};

/// Which signal to listen for: the common ones by name, any other by number.
///
/// ```
/// use kiln::signal::unix::SignalKind;
/// assert_eq!(SignalKind::terminate(), SignalKind::from_raw(15)); // SIGTERM
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// The signal numbered `signum` (checked by [`signal`], not here).
    ///
    /// ```
    /// let k = kiln::signal::unix::SignalKind::from_raw(10);
    /// assert_eq!(k.as_raw_value(), 10);
    /// ```
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal number.
    ///
    /// ```
    /// assert_eq!(kiln::signal::unix::SignalKind::interrupt().as_raw_value(), 2);
    /// ```
    pub const fn as_raw_value(self) -> i32 {
        self.0
    }

    /// SIGINT: Ctrl-C in a terminal.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::interrupt();
    /// ```
    pub const fn interrupt() -> SignalKind {
        SignalKind(crate::sys::signum::SIGINT)
    }

    /// SIGTERM: the polite request to stop (`kill`, service managers, container runtimes).
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::terminate();
    /// ```
    pub const fn terminate() -> SignalKind {
        SignalKind(crate::sys::signum::SIGTERM)
    }

    /// SIGHUP: the terminal went away; daemons often reload their configuration on it.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::hangup();
    /// ```
    pub const fn hangup() -> SignalKind {
        SignalKind(crate::sys::signum::SIGHUP)
    }

    /// SIGQUIT: Ctrl-\ in a terminal.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::quit();
    /// ```
    pub const fn quit() -> SignalKind {
        SignalKind(crate::sys::signum::SIGQUIT)
    }

    /// SIGUSR1, for the application's own use.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::user_defined1();
    /// ```
    pub const fn user_defined1() -> SignalKind {
        SignalKind(crate::sys::signum::SIGUSR1)
    }

    /// SIGUSR2, for the application's own use.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::user_defined2();
    /// ```
    pub const fn user_defined2() -> SignalKind {
        SignalKind(crate::sys::signum::SIGUSR2)
    }

    /// SIGCHLD: a child process stopped or exited.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::child();
    /// ```
    pub const fn child() -> SignalKind {
        SignalKind(crate::sys::signum::SIGCHLD)
    }

    /// SIGALRM: a timer set by `alarm(2)` expired.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::alarm();
    /// ```
    pub const fn alarm() -> SignalKind {
        SignalKind(crate::sys::signum::SIGALRM)
    }

    /// SIGPIPE: a write to a pipe with no reader.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::pipe();
    /// ```
    pub const fn pipe() -> SignalKind {
        SignalKind(crate::sys::signum::SIGPIPE)
    }

    /// SIGWINCH: the terminal was resized.
    ///
    /// ```
    /// let _ = kiln::signal::unix::SignalKind::window_change();
    /// ```
    pub const fn window_change() -> SignalKind {
        SignalKind(crate::sys::signum::SIGWINCH)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({})", self.0)
    }
}

/// A listener for one signal (see [`signal`]).
///
/// ```no_run
/// use kiln::signal::unix::{signal, SignalKind};
/// kiln::run(async {
///     let mut hup = signal(SignalKind::hangup()).unwrap();
///     while hup.recv().await.is_some() {
///         println!("reloading the configuration");
///     }
/// });
/// ```
pub struct Signal {
    listener: Listener,
}

/// Listens for `kind`: from now on, every delivery of the signal makes [`Signal::recv`]
/// return (see the [module docs](super) for what listening changes for the process).
///
/// # Errors
/// `InvalidInput`, naming the signal, for SIGKILL and SIGSTOP (they cannot be caught), for
/// SIGILL, SIGFPE and SIGSEGV (faults an asynchronous handler must not swallow), and for a
/// number that is not a signal; other errors if the handler cannot be installed.
///
/// # Panics
/// Outside a kiln runtime.
///
/// ```
/// use kiln::signal::unix::{signal, SignalKind};
/// kiln::run(async {
///     let err = signal(SignalKind::from_raw(9)).unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
///     let _usr2 = signal(SignalKind::user_defined2()).unwrap();
/// });
/// ```
#[track_caller]
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    signal_named(kind, "kiln::signal::unix::signal")
}

#[track_caller]
pub(super) fn signal_named(kind: SignalKind, what: &str) -> io::Result<Signal> {
    let signum = kind.0;
    if crate::sys::is_forbidden_signal(signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be listened for: SIGKILL and SIGSTOP cannot be caught, and SIGILL, SIGFPE and SIGSEGV are faults, not events"),
        ));
    }
    let Some(index) = usize::try_from(signum).ok().filter(|&i| i > 0 && i < SLOTS) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{signum} is not a signal number (expected 1 to {})",
                SLOTS - 1
            ),
        ));
    };
    let listener = Listener::new(index, what).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidInput || crate::sys::is_invalid_argument(&e) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{signum} is not a signal this system can catch: {e}"),
            )
        } else {
            e
        }
    })?;
    Ok(Signal { listener })
}

impl Signal {
    /// Waits for the next delivery of the signal. Always `Some(())`: a listener never ends;
    /// the `Option` leaves room for one that can. Cancel-safe.
    ///
    /// ```no_run
    /// use kiln::signal::unix::{signal, SignalKind};
    /// kiln::run(async {
    ///     let mut term = signal(SignalKind::terminate()).unwrap();
    ///     term.recv().await;
    /// });
    /// ```
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery: `Ready(Some(()))` once the signal arrived since this
    /// listener last returned, else `Pending` with `cx`'s waker registered.
    ///
    /// ```
    /// use kiln::signal::unix::{signal, SignalKind};
    /// use std::task::Poll;
    /// kiln::run(async {
    ///     let mut sig = signal(SignalKind::user_defined2()).unwrap();
    ///     std::future::poll_fn(|cx| {
    ///         assert!(sig.poll_recv(cx).is_pending());
    ///         Poll::Ready(())
    ///     })
    ///     .await;
    /// });
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.listener.poll_recv(cx).map(Some)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("listener", &self.listener)
            .finish()
    }
}
