//! # Failed-login guard: one limit per client address, shared by all sessions of a server
//!
//! Layer: application protocol (sans-IO). The per-session limit
//! ([`super::ServerConfig::max_login_failures`]) and delay slow one connection down; a client
//! that opens many connections guesses in parallel. The [`LoginGuard`] counts the failed logins
//! of every session of a server by client address, in a sliding window of time: past the
//! limit, every further `PASS` from that address is refused (`421`, closing) until the oldest
//! failures leave the window. It is fed the sessions' monotonic time (`handle_timeout`); it reads
//! no clock and touches no socket. Its memory is bounded: at most `limit` times per address, at
//! most [`MAX_ADDRESSES`] addresses (the one that failed least recently is forgotten first).
//! IPv6 clients are counted by their /64 network, since one host easily has a whole /64.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Addresses the guard remembers at most.
pub const MAX_ADDRESSES: usize = 4096;

/// Failed logins per address and window after which the address is refused, by default.
pub const DEFAULT_LIMIT: u32 = 10;

/// The default window of [`DEFAULT_LIMIT`].
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The server-wide count of failed logins by client address. Cloning it gives another handle
/// on the same counts: every session made from one [`super::ServerConfig`] shares them.
#[derive(Clone, Debug)]
pub struct LoginGuard {
    limit: u32,
    window: Duration,
    failures: Arc<Mutex<HashMap<IpAddr, VecDeque<Duration>>>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(DEFAULT_LIMIT, DEFAULT_WINDOW)
    }
}

/// The key an address is counted under: itself for IPv4, its /64 for IPv6 (an IPv4-mapped
/// IPv6 address counts as the IPv4 address).
fn key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl LoginGuard {
    /// At most `limit` failed logins per address within `window`; `limit` 0: no limit.
    pub fn new(limit: u32, window: Duration) -> Self {
        LoginGuard {
            limit,
            window,
            failures: Arc::default(),
        }
    }

    /// The limit (0: none).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window the limit counts in.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether `peer` has failed `limit` times within the window before `now`.
    pub fn blocked(&self, peer: IpAddr, now: Duration) -> bool {
        if self.limit == 0 {
            return false;
        }
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(times) = map.get_mut(&key(peer)) else {
            return false;
        };
        self.expire(times, now);
        times.len() >= self.limit as usize
    }

    /// `peer` failed a login at `now` (a refused attempt of a blocked address counts too, so
    /// an address that keeps guessing stays refused). Returns true when this failure reached
    /// the limit (the address was not refused before it), the moment to tell the operator.
    pub fn failed(&self, peer: IpAddr, now: Duration) -> bool {
        if self.limit == 0 {
            return false;
        }
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&key(peer)) {
            map.retain(|_, times| {
                self.expire(times, now);
                !times.is_empty()
            });
            if map.len() >= MAX_ADDRESSES {
                let stalest = map
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(addr, _)| *addr);
                if let Some(addr) = stalest {
                    map.remove(&addr);
                }
            }
        }
        let times = map.entry(key(peer)).or_default();
        self.expire(times, now);
        let was_blocked = times.len() >= self.limit as usize;
        times.push_back(now);
        while times.len() > self.limit as usize {
            times.pop_front();
        }
        !was_blocked && times.len() >= self.limit as usize
    }

    /// Drops the failures that have left the window (those stamped after `now`, from a clock
    /// of another origin, stay until `now` passes them).
    fn expire(&self, times: &mut VecDeque<Duration>, now: Duration) {
        while times.front().is_some_and(|&t| t + self.window <= now) {
            times.pop_front();
        }
    }

    /// Addresses remembered now (for tests and statistics).
    pub fn addresses(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn an_address_is_refused_past_the_limit_until_its_failures_age() {
        let g = LoginGuard::new(3, secs(60));
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
        for t in 0..3 {
            assert!(!g.blocked(a, secs(t)));
            assert_eq!(
                g.failed(a, secs(t)),
                t == 2,
                "the third failure reaches the limit"
            );
        }
        assert!(g.blocked(a, secs(3)));
        assert!(!g.blocked(b, secs(3)), "another address is not affected");
        assert!(g.blocked(a, secs(59)));
        assert!(!g.blocked(a, secs(60)), "the first failure left the window");
        assert!(g.failed(a, secs(60)));
        assert!(
            !g.failed(a, secs(60)),
            "reached once, not again while refused"
        );
        assert!(g.blocked(a, secs(60)), "three within the last minute again");
        assert!(g.blocked(a, secs(61)), "the refused attempt counted too");
        assert!(!g.blocked(a, secs(62)), "the failures of 1 s and 2 s aged");
    }

    #[test]
    fn ipv6_counts_by_64_and_memory_is_bounded() {
        let g = LoginGuard::new(2, secs(60));
        let one: IpAddr = "fd00:7::1".parse().unwrap();
        let other: IpAddr = "fd00:7::ffff:2".parse().unwrap();
        g.failed(one, secs(0));
        g.failed(other, secs(1));
        assert!(g.blocked("fd00:7::99".parse().unwrap(), secs(2)));
        assert!(!g.blocked("fd00:8::1".parse().unwrap(), secs(2)));
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        g.failed(mapped, secs(0));
        g.failed(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), secs(0));
        assert!(g.blocked(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), secs(1)));
        for i in 0..(MAX_ADDRESSES as u32 + 100) {
            g.failed(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)), secs(5));
        }
        assert!(g.addresses() <= MAX_ADDRESSES);
        let unlimited = LoginGuard::new(0, secs(60));
        unlimited.failed(one, secs(0));
        assert!(!unlimited.blocked(one, secs(0)));
        assert_eq!(unlimited.addresses(), 0);
    }
}
