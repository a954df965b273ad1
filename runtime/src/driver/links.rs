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
//!
//! **The idle mask.** A busy sibling's maintenance tick looks for its disabled registration in
//! every other driver's [`Links`] ([`Links::remove_idle`]), while usually there is none. So
//! that this costs no lock, each `Links` also keeps a summary of its [`Link::Idle`] states in
//! one atomic word: bit `p` is set while position `p`'s registration is idle, for `p` below
//! [`OVERFLOW_BIT`]; that bit stands for every position from [`OVERFLOW_BIT`] up.
//! - It is written only under the lock, after every change of a state (recomputed from all of
//!   them), so it equals the states' summary whenever the lock is free.
//! - [`Links::remove_idle`] reads it without the lock and returns at once if the position's
//!   bit is clear; a set bit still takes the lock and checks the state itself.
//! - The word orders nothing (`Relaxed` throughout): the states and their `epoll_ctl`s are
//!   ordered by the lock. A stale clear bit (a registration that became idle just now) is
//!   left for the sibling's next busy tick, as when the tick ran just before the change; a
//!   stale set bit costs the lock, as before the mask. The final clean-up
//!   ([`Links::remove_idle_now`], from `SiblingWatch`'s `Drop`) reads no mask and always locks.

use crate::loom::sync::atomic::{AtomicU64, Ordering};
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

/// The bit of the idle mask that stands for every position from itself up (module docs).
const OVERFLOW_BIT: usize = 63;

/// Position `pos`'s bit in the idle mask.
fn idle_bit(pos: usize) -> u64 {
    1 << pos.min(OVERFLOW_BIT)
}

/// The states of the siblings' registrations in one driver's main poller (module docs).
pub(super) struct Links {
    /// Each sibling's state, by position; every change under this lock.
    states: Mutex<Vec<Link>>,
    /// Which positions are [`Link::Idle`] (the idle mask, module docs): written under
    /// `states`' lock, read without it.
    idle: AtomicU64,
}

impl Links {
    pub(super) fn new() -> Links {
        Links {
            states: Mutex::new(Vec::new()),
            idle: AtomicU64::new(0),
        }
    }

    /// Stores the idle mask of `states` (called with their lock held, after a change).
    fn publish(&self, states: &[Link]) {
        let mask = states
            .iter()
            .enumerate()
            .filter(|(_, link)| **link == Link::Idle)
            .fold(0, |mask, (pos, _)| mask | idle_bit(pos));
        // Relaxed: the mask orders nothing (module docs).
        self.idle.store(mask, Ordering::Relaxed);
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
        let mut links = self.states.lock();
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
        self.publish(&links);
        done
    }

    /// Disables `reg` if it is enabled for `how`, leaving it in place.
    pub(super) fn disable(&self, reg: Reg<'_>, how: Link) {
        let (main, pos, sources) = (reg.main, reg.pos, reg.sources);
        let mut links = self.states.lock();
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
        self.publish(&links);
    }

    /// Records that `reg`'s one-shot registration for `how` fired: the kernel disabled it
    /// when it reported the event, so it is [`Link::Idle`] now without an `epoll_ctl`.
    pub(super) fn spent(&self, pos: usize, how: Link) {
        let mut links = self.states.lock();
        if let Some(link) = links.get_mut(pos) {
            if *link == how {
                *link = Link::Idle;
                self.publish(&links);
            }
        }
    }

    /// Deletes sibling `pos`'s registration if it is disabled (the sibling is busy); without
    /// a lock if the idle mask says that it is not (module docs).
    pub(super) fn remove_idle(&self, main: &Poller, pos: usize, sources: BorrowedFd<'_>) {
        // Relaxed: the mask orders nothing (module docs).
        if self.idle.load(Ordering::Relaxed) & idle_bit(pos) == 0 {
            return;
        }
        self.remove_idle_now(main, pos, sources);
    }

    /// [`Links::remove_idle`] without the mask: always checks the state under the lock.
    pub(super) fn remove_idle_now(&self, main: &Poller, pos: usize, sources: BorrowedFd<'_>) {
        let mut links = self.states.lock();
        if let Some(link @ Link::Idle) = links.get_mut(pos) {
            // An error means the registration is already gone.
            let _ = main.delete(sources);
            *link = Link::Absent;
            self.publish(&links);
        }
    }

    /// Deletes every registration (the main poller's owner drops its siblings);
    /// `sources(pos)` is sibling `pos`'s source poller.
    pub(super) fn remove_all<'a>(
        &self,
        main: &Poller,
        sources: impl Fn(usize) -> Option<BorrowedFd<'a>>,
    ) {
        let mut links = self.states.lock();
        for (pos, link) in links.iter_mut().enumerate() {
            if let (false, Some(fd)) = (*link == Link::Absent, sources(pos)) {
                // An error means the registration is already gone.
                let _ = main.delete(fd);
            }
            *link = Link::Absent;
        }
        self.publish(&links);
    }

    /// Sibling `pos`'s state (tests).
    #[cfg(all(test, not(loom)))]
    pub(super) fn get(&self, pos: usize) -> Link {
        self.states.lock().get(pos).copied().unwrap_or(Link::Absent)
    }

    /// Whether the idle mask marks position `pos` (tests).
    #[cfg(all(test, not(loom)))]
    pub(super) fn marked_idle(&self, pos: usize) -> bool {
        self.idle.load(Ordering::Relaxed) & idle_bit(pos) != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::{Driver, DriverHandle};
    use super::{Link, Links, Reg};
    use crate::io::READABLE;
    use polling::Poller;
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
                watcher.handle.request_recheck(crate::driver::Recheck::Soon);
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

    /// The idle mask marks exactly the idle positions (positions from the overflow bit up
    /// share it), `remove_idle` still deletes every idle registration, and it skips a
    /// position the mask leaves clear.
    #[test]
    fn remove_idle_deletes_every_idle_registration_and_skips_unmarked_positions() {
        let links = Links::new();
        let main = Poller::new().unwrap();
        let sources: Vec<Poller> = (0..3).map(|_| Poller::new().unwrap()).collect();
        let positions = [1, 64, 70];
        let reg = |i: usize| Reg {
            main: &main,
            pos: positions[i],
            sources: sources[i].as_fd(),
            key: 1000 + i,
        };
        for (i, &pos) in positions.iter().enumerate() {
            // SAFETY: `sources` stay open until their registrations are deleted below.
            assert!(unsafe { links.enable(reg(i), Link::Watch) });
            // (Position 70 shares its bit with the idle position 64.)
            if pos != 70 {
                assert!(
                    !links.marked_idle(pos),
                    "an enabled registration is not idle"
                );
            }
            links.disable(reg(i), Link::Watch);
            assert_eq!(links.get(pos), Link::Idle);
            assert!(links.marked_idle(pos));
        }
        assert!(!links.marked_idle(0) && !links.marked_idle(2));
        // Nothing registered at position 0: nothing changes.
        links.remove_idle(&main, 0, sources[0].as_fd());
        assert_eq!(links.get(1), Link::Idle);
        links.remove_idle(&main, 1, sources[0].as_fd());
        assert_eq!(links.get(1), Link::Absent);
        assert!(!links.marked_idle(1));
        // 64 and 70 share the overflow bit: deleting one leaves the other marked.
        links.remove_idle(&main, 70, sources[2].as_fd());
        assert_eq!(links.get(70), Link::Absent);
        assert!(links.marked_idle(64));
        links.remove_idle(&main, 64, sources[1].as_fd());
        assert_eq!(links.get(64), Link::Absent);
        assert!(!links.marked_idle(64));
        // A state the mask does not show (written here without publishing it) is skipped
        // without the lock; the unconditional removal still finds it.
        links.states.lock().resize(3, super::Link::Absent);
        links.states.lock()[2] = Link::Idle;
        links.remove_idle(&main, 2, sources[0].as_fd());
        assert_eq!(
            links.get(2),
            Link::Idle,
            "skipped: the mask shows nothing idle"
        );
        links.remove_idle_now(&main, 2, sources[0].as_fd());
        assert_eq!(links.get(2), Link::Absent);
    }
}
