//! # Relay: two TUN devices joined by an impairing cable
//!
//! Layer: device (phy). [`relay`] forwards raw IP frames between two devices, as a router with
//! one link on each side would, through the impairment middleware ([`Impair`]) on the second
//! device: frames from `a` to `b` go through its outbound side, frames from `b` to `a` through
//! its inbound side, each with its own seeded random numbers and counted in the run's
//! [`Faults`](super::impair::Faults). Put two network namespaces on either side (each holding
//! one of the TUN interfaces) and every peer behind it, the kernel's TCP and ours alike, sees
//! the very same lossy path: a netem-free way to compare them. Knows nothing of FTP or TCP.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::time::{Duration, Instant};

use super::DeviceGone;
use super::impair::Impair;
use super::tun::Tun;

/// Frames moved one way before the other way gets its turn.
const BURST: usize = 64;
/// Longest sleep between two looks at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(200);
/// Sleep while the impairments hold frames back (duplicates, reordered frames).
const HELD_SLEEP: Duration = Duration::from_millis(1);

/// Frames taken each way: from `a` before the impairments act (lost ones count), from `b`
/// after them (lost ones never come out).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    /// From the first device to the second.
    pub a_to_b: u64,
    /// From the second device to the first.
    pub b_to_a: u64,
}

/// What ends a relay, and what restarts its random numbers.
pub struct Control<'a> {
    /// Set (by SIGINT/SIGTERM): the relay returns.
    pub stop: &'a AtomicBool,
    /// Set (by SIGUSR1): the impairments start over from `seed` ([`Impair::reseed`]), and the
    /// flag is cleared.
    pub restart: &'a AtomicBool,
    /// The seed to start over from.
    pub seed: u64,
}

/// Forwards frames between `a` and `b` until `control.stop` is set; `b`'s impairments act on
/// both directions (outbound: `a` to `b`; inbound: `b` to `a`). Ends with an error, naming the
/// device, when either device is gone (its interface deleted).
pub fn relay(a: &mut Tun, b: &mut Impair<Tun>, control: Control) -> Result<Relayed, DeviceGone> {
    let mut done = Relayed::default();
    let mut ready = (false, false);
    while !control.stop.load(Ordering::Relaxed) {
        if control.restart.swap(false, Ordering::Relaxed) {
            b.reseed(control.seed);
            log::info!("random numbers restarted from seed {}", control.seed);
        }
        let now = Instant::now();
        // A device is read only when the kernel has a frame for it: reading a TUN device that
        // is down (just attached, or being moved to its namespace) fails as if it were gone.
        // Writing to one that is down fails the same way: until it is up (the kernel then
        // takes frames: POLLOUT), frames for it are dropped, as a link that is down drops them.
        let ab = if ready.0 {
            forward(a, b, now, is_up(b.get_ref().as_raw_fd()))
        } else {
            0
        };
        let ba = if ready.1 || b.holds_frames() {
            forward(b, a, now, is_up(a.as_raw_fd()))
        } else {
            0
        };
        done.a_to_b += ab as u64;
        done.b_to_a += ba as u64;
        if let Some(why) = a.broken().or_else(|| b.get_ref().broken()) {
            return Err(DeviceGone(why));
        }
        ready = if ab == BURST || ba == BURST {
            // More is waiting: look (without sleeping) which devices have frames.
            wait_either(a.as_raw_fd(), b.get_ref().as_raw_fd(), Duration::ZERO)
        } else {
            let sleep = if b.holds_frames() {
                HELD_SLEEP
            } else {
                MAX_SLEEP
            };
            wait_either(a.as_raw_fd(), b.get_ref().as_raw_fd(), sleep)
        };
    }
    Ok(done)
}

/// Moves up to [`BURST`] frames from `from` to `to` (drops them when `deliver` is false);
/// returns how many were taken from `from`.
pub fn forward<S: Device, D: Device>(
    from: &mut S,
    to: &mut D,
    now: Instant,
    deliver: bool,
) -> usize {
    let mut moved = 0;
    while moved < BURST {
        let Some((rx, _)) = from.receive(now) else {
            break;
        };
        rx.consume(|frame| {
            if deliver && let Some(tx) = to.transmit(now) {
                tx.consume(frame.len(), |buf| buf.copy_from_slice(frame));
            }
        });
        moved += 1;
    }
    moved
}

/// True if the TUN device behind `fd` takes frames (it is up: poll(2) says POLLOUT).
fn is_up(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call; no waiting.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 && pfd.revents & libc::POLLOUT != 0 }
}

/// poll(2) on two descriptors for reading, at most `timeout`: which of them has a frame.
fn wait_either(a: RawFd, b: RawFd, timeout: Duration) -> (bool, bool) {
    let pfd = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut fds = [pfd(a), pfd(b)];
    let ms = timeout.total_millis().min(i32::MAX as u64) as i32;
    // SAFETY: two valid pollfds for the duration of the call.
    if unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) } <= 0 {
        return (false, false);
    }
    let readable = |p: &libc::pollfd| p.revents & libc::POLLIN != 0;
    (readable(&fds[0]), readable(&fds[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::impair::{Faults, Rates, Side};
    use crate::link::wire::{self, WireConfig, WireEnd};

    /// Frames written into one end of a cable come out of `forward` on the other device, in
    /// order; through an impairing middleware with 100 % loss none arrive, and all are counted.
    #[test]
    fn forward_moves_frames_in_order_and_impair_loses_them() {
        let (mut a_near, mut a_far) = wire::pair(WireConfig::default());
        let (mut b_near, b_far) = wire::pair(WireConfig::default());
        let now = Instant::ZERO;
        for n in 0..3u8 {
            let tx = a_far.transmit(now).expect("room");
            tx.consume(20 + n as usize, |buf| buf.fill(n));
        }
        assert_eq!(forward(&mut a_near, &mut b_near, now, true), 3);
        let mut b_far = b_far;
        for n in 0..3u8 {
            let (rx, _) = b_far.receive(now).expect("a frame");
            rx.consume(|f| assert_eq!((f.len(), f[0]), (20 + n as usize, n)));
        }
        assert!(b_far.receive(now).is_none());

        let faults = Faults::new(false);
        let lossy = Side {
            rates: Rates {
                loss: 100.0,
                ..Rates::default()
            },
            dir: faults.add_direction("a->b", false),
        };
        let back = Side {
            rates: Rates::default(),
            dir: faults.add_direction("b->a", false),
        };
        let mut impaired = Impair::new(b_near, lossy, back, Vec::new(), 1, faults.clone());
        for _ in 0..5 {
            let tx = a_far.transmit(now).expect("room");
            tx.consume(40, |buf| buf.fill(9));
        }
        assert_eq!(forward(&mut a_near, &mut impaired, now, true), 5);
        assert!(
            b_far.receive(now).is_none(),
            "a frame got through 100 % loss"
        );
        let stats = faults.stats();
        assert_eq!((stats[0].1.sent, stats[0].1.lost), (5, 5));
    }

    /// After [`Impair::reseed`] the same frames of the sequence are lost again: two runs
    /// through a relay restarted with one seed meet the same losses.
    #[test]
    fn reseed_repeats_the_losses() {
        let (mut a_near, mut a_far) = wire::pair(WireConfig::default());
        let (b_near, mut b_far) = wire::pair(WireConfig::default());
        let faults = Faults::new(false);
        let half = Side {
            rates: Rates {
                loss: 50.0,
                ..Rates::default()
            },
            dir: faults.add_direction("a->b", false),
        };
        let back = Side {
            rates: Rates::default(),
            dir: faults.add_direction("b->a", false),
        };
        let mut b = Impair::new(b_near, half, back, Vec::new(), 7, faults);
        let now = Instant::ZERO;
        let mut run = |b: &mut Impair<WireEnd>| {
            for n in 0..40u8 {
                let tx = a_far.transmit(now).expect("room");
                tx.consume(40, |buf| buf.fill(n));
            }
            while forward(&mut a_near, b, now, true) > 0 {}
            let mut got = Vec::new();
            while let Some((rx, _)) = b_far.receive(now) {
                rx.consume(|f| got.push(f[0]));
            }
            got
        };
        let first = run(&mut b);
        assert!(!first.is_empty() && first.len() < 40, "{first:?}");
        let second = run(&mut b);
        assert_ne!(first, second, "the random numbers went on");
        b.reseed(7);
        assert_eq!(run(&mut b), first, "the same frames are lost after reseed");
    }
}
