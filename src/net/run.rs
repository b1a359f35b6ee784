//! # Running on a real device
//!
//! Layer: network (poll loop). Drives one host and its FTP node on the real clock over a device
//! that can be waited on (a TUN interface, possibly wrapped in a capture): poll, let the node
//! work, then sleep on the device until a frame arrives or the stack's next timer is due. A
//! stop flag (set by SIGINT/SIGTERM) ends the loop; the server then closes its connections and
//! keeps polling, for a bounded time, until they are released, so the capture is complete.
//! A device that is gone ([`Wait::broken`]: the TUN interface was deleted) ends the loop at once
//! with its message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};

use crate::link::DeviceGone;
use crate::net::client::ClientNode;
use crate::net::host::Host;
use crate::net::server::ServerNode;

/// Longest sleep between two looks at the stop flag (a signal usually wakes the sleep at once).
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// The device fact this loop sleeps on; it lives in `link`, beside [`crate::link::NextArrival`].
pub use crate::link::Wait;

/// Set once a stale endpoint deadline has been logged (see [`pause`]).
static STALE_LOGGED: AtomicBool = AtomicBool::new(false);

/// Sleeps until there is something to do (a frame, a stack timer, `deadline`), unless `busy`.
///
/// `deadline` comes from endpoints that were just handed the host's time (`host.now()`), which
/// fires every timer due by then; one not later than that did not fire and will not (a bug in
/// the endpoint). Waking up for it would spin at full CPU, so it is logged once and ignored:
/// the loop still wakes for frames, stack timers and at least every [`MAX_SLEEP`].
fn pause<D: Device + Wait>(host: &mut Host<D>, busy: bool, deadline: Option<Instant>) {
    if busy {
        return;
    }
    let now = Instant::now();
    let (delay, stale) = sleep_time(now, host.now(), host.poll_delay(now), deadline);
    if stale && !STALE_LOGGED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "an FTP timer due at {} did not fire when handed the time {} (a bug): ignored, \
             the loop sleeps as if it were not set (logged once)",
            deadline.unwrap_or(now),
            host.now()
        );
    }
    if delay > Duration::ZERO {
        host.device().wait(Some(delay));
    }
}

/// How long [`pause`] sleeps at `now`, given the time the endpoints were last handed
/// (`handed`), the stack's own delay and the endpoints' `deadline`; and whether that deadline
/// is stale (not later than `handed`: ignored).
fn sleep_time(
    now: Instant,
    handed: Instant,
    stack: Option<Duration>,
    deadline: Option<Instant>,
) -> (Duration, bool) {
    let delay = stack.map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP));
    match deadline {
        Some(at) if at <= handed => (delay, true),
        Some(at) => (
            delay.min(if at > now { at - now } else { Duration::ZERO }),
            false,
        ),
        None => (delay, false),
    }
}

/// Serves until `stop` is set, then closes every connection and waits up to `drain` for them
/// to be released. Returns whether all were released in time, or why the device is gone.
pub fn serve<D: Device + Wait>(
    host: &mut Host<D>,
    node: &mut ServerNode,
    stop: &AtomicBool,
    drain: Duration,
) -> Result<bool, DeviceGone> {
    while !stop.load(Ordering::Relaxed) {
        host.poll(Instant::now());
        if let Some(why) = host.device().broken() {
            return Err(DeviceGone(why));
        }
        let busy = node.step(host, SystemTime::now());
        pause(host, busy, node.next_deadline());
    }
    node.shutdown(host);
    let deadline = Instant::now() + drain;
    while Instant::now() < deadline {
        host.poll(Instant::now());
        if let Some(why) = host.device().broken() {
            return Err(DeviceGone(why));
        }
        node.step(host, SystemTime::now());
        if node.is_closed(host) {
            host.poll(Instant::now());
            return Ok(true);
        }
        pause(host, false, None);
    }
    Ok(false)
}

/// How a client run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEnd {
    /// The session ended (successfully or not: see the client's outcomes).
    Finished,
    /// Stopped by `stop` (a signal).
    Stopped,
    /// The caller's `on_step` asked to pause (the session goes on).
    Paused,
    /// The whole run took longer than the limit.
    TimedOut,
    /// The device is gone (why).
    DeviceGone(String),
}

/// Runs the client until its session is over, `stop` is set, `limit` has passed, or `on_step`
/// (called after every round of work, e.g. for a progress display or to take the client's
/// events with [`ClientNode::poll_event`]) returns false.
pub fn run_client<D: Device + Wait>(
    host: &mut Host<D>,
    node: &mut ClientNode,
    stop: &AtomicBool,
    limit: Option<Duration>,
    mut on_step: impl FnMut(&mut ClientNode) -> bool,
) -> ClientEnd {
    let start = Instant::now();
    loop {
        host.poll(Instant::now());
        if let Some(why) = host.device().broken() {
            return ClientEnd::DeviceGone(why);
        }
        let busy = node.step(host);
        let go_on = on_step(node);
        if node.is_finished(host) {
            host.poll(Instant::now());
            return ClientEnd::Finished;
        }
        if !go_on {
            host.poll(Instant::now());
            return ClientEnd::Paused;
        }
        if stop.load(Ordering::Relaxed) {
            node.abort(host);
            host.poll(Instant::now());
            return ClientEnd::Stopped;
        }
        if limit.is_some_and(|l| Instant::now() - start > l) {
            node.abort(host);
            host.poll(Instant::now());
            return ClientEnd::TimedOut;
        }
        pause(host, busy, node.next_deadline());
    }
}

/// Keeps an idle client's host answering the network (ACKs, keep-alive probes, a server's
/// `421`) until `ready` gives a value, e.g. the next line typed at the `ftp>` prompt. `ready`
/// is asked after every round of work and at least every `every`.
pub fn idle_until<D: Device + Wait, T>(
    host: &mut Host<D>,
    node: &mut ClientNode,
    every: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> T {
    loop {
        host.poll(Instant::now());
        let busy = node.step(host);
        if let Some(value) = ready() {
            return value;
        }
        let due = [Some(Instant::now() + every), node.next_deadline()];
        pause(host, busy, due.into_iter().flatten().min());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_that_did_not_move_does_not_make_the_loop_spin() {
        let handed = Instant::from_millis(10_000);
        let now = Instant::from_millis(10_002);
        let ms = Duration::from_millis;
        // Due between the time handed and now: fire it at once.
        let due = Some(Instant::from_millis(10_001));
        assert_eq!(sleep_time(now, handed, None, due), (ms(0), false));
        // Due later: sleep until then.
        let later = Some(Instant::from_millis(10_050));
        assert_eq!(sleep_time(now, handed, None, later), (ms(48), false));
        assert_eq!(sleep_time(now, handed, Some(ms(5)), later), (ms(5), false));
        // Not later than the time handed: the endpoint did not fire it; sleep as without it.
        for stale in [10_000, 9_000] {
            let at = Some(Instant::from_millis(stale));
            assert_eq!(sleep_time(now, handed, None, at), (MAX_SLEEP, true));
            assert_eq!(sleep_time(now, handed, Some(ms(7)), at), (ms(7), true));
        }
        assert_eq!(sleep_time(now, handed, None, None), (MAX_SLEEP, false));
    }
}
