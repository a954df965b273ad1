//! Siblings' source pollers in a driver's main poller, kept in place between uses.
//!
//! Two things put a sibling's source poller into this driver's main poller, both for one
//! wait at a time: this driver's owner *watching* a busy sibling (`watch.rs`, one-shot), and a
//! sibling *following* this driver (`follow.rs`, level-triggered). Adding an epoll
//! descriptor to another makes the kernel check for loops: it takes a lock global to the
//! system and walks every descriptor the added poller holds (each socket of that sibling),
//! and deleting frees the registration again. Under load a worker parks, and so watches or
//! follows, about once every few requests; an add and a delete each time cost more than all
//! its other epoll calls together.
//!
//! So after its use a registration stays, disabled (`EPOLL_CTL_MOD` with no interest: the
//! kernel reports nothing for it), and the next use enables it again with one
//! `EPOLL_CTL_MOD`, which neither checks for loops nor allocates. Enabling it reports the
//! sibling's pending events at once (level-triggered; one-shot re-arms), so nothing that
//! arrived meanwhile is missed.
//!
//! A registration in place, even disabled, puts this main poller on the sibling's source
//! poller's wait queue, so each socket event of that sibling also runs a (short) callback for
//! it. The sibling removes its disabled registrations when a maintenance tick finds it busy
//! (it has not waited since the previous tick, see `Driver::arm_own_sources`), which is when
//! its own registration leaves its own main poller as well: a worker that parks often keeps
//! them, one busy in tasks pays no callback.
//!
//! Each registration has one state ([`Link`]) in the main poller's owner's handle, indexed
//! by the sibling's position in that driver's sibling list; every change of a registration
//! happens under that state's lock, together with its `epoll_ctl`, so the watcher, the
//! follower and the removal never act on a registration at the same time. A watch and a
//! follow exclude each other as their adds did (the second add failed): a sibling that
//! follows this driver is not watched (its events reach this driver anyway), and a sibling
//! watched by this driver does not follow it.

use crate::loom::sync::Mutex;
use polling::{Event, PollMode, Poller};
use std::os::fd::{AsRawFd, BorrowedFd};

/// How a sibling's source poller is registered in a main poller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// Not registered.
    Absent,
    /// Registered and disabled.
    Idle,
    /// Enabled for the main poller's owner's wait (one-shot, `watch.rs`).
    Watch,
    /// Enabled while the sibling follows this driver (level-triggered, `follow.rs`).
    Follow,
}

/// One sibling's source poller as registered in a driver's main poller.
#[derive(Clone, Copy)]
pub(super) struct Reg<'a> {
    /// The main poller.
    pub(super) main: &'a Poller,
    /// The sibling's position in the main poller's owner's sibling list.
    pub(super) pos: usize,
    /// The sibling's source poller.
    pub(super) sources: BorrowedFd<'a>,
    /// The key its events carry in `main`.
    pub(super) key: usize,
}

/// The states of the siblings' registrations in one driver's main poller (module docs).
pub(super) struct Links(Mutex<Vec<Link>>);

impl Links {
    pub(super) fn new() -> Links {
        Links(Mutex::new(Vec::new()))
    }

    /// Enables `reg` for `how` ([`Link::Watch`] or [`Link::Follow`]), adding it if it is
    /// absent. False if it is enabled already (for the other use) or the kernel refused.
    ///
    /// # Safety
    /// `reg.sources` stays open until its registration in `reg.main` is deleted: by
    /// [`Links::remove_idle`] or [`Links::remove_all`], or by closing `reg.main`.
    pub(super) unsafe fn enable(&self, reg: Reg<'_>, how: Link) -> bool {
        let (main, pos, sources) = (reg.main, reg.pos, reg.sources);
        let mode = match how {
            Link::Watch => PollMode::Oneshot,
            _ => PollMode::Level,
        };
        let mut links = self.0.lock();
        if links.len() <= pos {
            links.resize(pos + 1, Link::Absent);
        }
        let ev = Event::readable(reg.key);
        let done = match links[pos] {
            Link::Idle => main.modify_with_mode(sources, ev, mode).is_ok(),
            // SAFETY: the caller keeps `sources` open while it is registered.
            Link::Absent => unsafe { main.add_with_mode(sources.as_raw_fd(), ev, mode).is_ok() },
            Link::Watch | Link::Follow => return false,
        };
        links[pos] = if done { how } else { Link::Absent };
        if !done {
            // A registration the kernel no longer has (or cannot change): start afresh.
            let _ = main.delete(sources);
        }
        done
    }

    /// Disables `reg` if it is enabled for `how`, leaving it in place.
    pub(super) fn disable(&self, reg: Reg<'_>, how: Link) {
        let (main, pos, sources) = (reg.main, reg.pos, reg.sources);
        let mut links = self.0.lock();
        let Some(link) = links.get_mut(pos) else {
            return;
        };
        if *link != how {
            return;
        }
        let off = Event::none(reg.key);
        *link = if main.modify_with_mode(sources, off, PollMode::Level).is_ok() {
            Link::Idle
        } else {
            // An error means the registration is gone, or cannot be disabled: delete it.
            let _ = main.delete(sources);
            Link::Absent
        };
    }

    /// Deletes sibling `pos`'s registration if it is disabled (the sibling is busy).
    pub(super) fn remove_idle(&self, main: &Poller, pos: usize, sources: BorrowedFd<'_>) {
        let mut links = self.0.lock();
        if let Some(link @ Link::Idle) = links.get_mut(pos) {
            // An error means the registration is already gone.
            let _ = main.delete(sources);
            *link = Link::Absent;
        }
    }

    /// Deletes every registration (the main poller's owner drops its siblings);
    /// `sources(pos)` is sibling `pos`'s source poller.
    pub(super) fn remove_all<'a>(
        &self,
        main: &Poller,
        sources: impl Fn(usize) -> Option<BorrowedFd<'a>>,
    ) {
        let mut links = self.0.lock();
        for (pos, link) in links.iter_mut().enumerate() {
            if let (false, Some(fd)) = (*link == Link::Absent, sources(pos)) {
                // An error means the registration is already gone.
                let _ = main.delete(fd);
            }
            *link = Link::Absent;
        }
    }

    /// Sibling `pos`'s state (tests).
    #[cfg(all(test, not(loom)))]
    pub(super) fn get(&self, pos: usize) -> Link {
        self.0.lock().get(pos).copied().unwrap_or(Link::Absent)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::{Driver, DriverHandle};
    use super::Link;
    use crate::io::READABLE;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// A watch's registration stays (disabled) after its wait, the next watch enables it
    /// again and still sees the sibling's new event, and the sibling's busy maintenance tick
    /// deletes it.
    #[test]
    fn a_watch_registration_is_reused_then_removed_when_the_sibling_is_busy() {
        let busy_handle = DriverHandle::new().unwrap();
        let mut busy = Driver::new(busy_handle.clone(), Duration::ZERO);
        let mut watcher = Driver::new(DriverHandle::new().unwrap(), Duration::ZERO);
        watcher.set_siblings(vec![busy_handle.clone()], 0);
        busy.set_siblings(vec![watcher.handle.clone()], 1);
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let (key, io) = busy_handle.register(b.as_fd()).unwrap();
        assert!(busy_handle.poll_io_nonblocking() >= 1);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        for round in 0..2 {
            assert!(io.poll_ready(&mut cx, READABLE).is_pending());
            a.write_all(b"x").unwrap();
            let mut seen = None;
            for _ in 0..10_000 {
                watcher.handle.request_recheck(true);
                watcher.park(Some(Duration::from_secs(1)));
                if let Poll::Ready(ev) = io.poll_ready(&mut cx, READABLE) {
                    let ev = ev.expect("the runtime is running");
                    seen = Some(ev);
                    break;
                }
            }
            let ev = seen.unwrap_or_else(|| panic!("round {round}: the watcher missed the event"));
            assert_eq!(watcher.handle.links.get(0), Link::Idle, "round {round}");
            // Consume the byte and the readiness, as a reader that hit `WouldBlock` does.
            assert_eq!((&b).read(&mut [0; 8]).unwrap(), 1);
            io.clear_readiness(ev, READABLE);
        }
        // Two maintenance ticks without a wait between them: the sibling is busy.
        busy.park(Some(Duration::ZERO));
        busy.park(Some(Duration::ZERO));
        assert_eq!(watcher.handle.links.get(0), Link::Absent);
        busy_handle.deregister(b.as_fd(), key);
    }
}
