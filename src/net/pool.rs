//! # Listener pool: accepting connections without a backlog
//!
//! Layer: network. smoltcp has no listen backlog: a listening socket *becomes* the connection,
//! and a SYN that finds no socket listening is answered with a RST. A [`ListenerPool`] keeps
//! enough sockets listening on one port that a burst of connects is taken (up to `spare` in
//! one poll; a larger burst waits a poll in the Host while the pool grows for it, and the
//! listeners it added go when it is over), follows each connection through its handshake (half-open: SYN-RECEIVED), and hands
//! it over only once the handshake is complete, so half-open connections never count as
//! sessions. Half-open connections have their own limit (past it, when they would take the
//! room of the listeners, the oldest is dropped, as a kernel's SYN queue drops under a flood)
//! and timeout, and the pool never holds more sockets than the room its owner gives it: a SYN
//! flood from spoofed addresses costs a bounded number of sockets. The listeners are kept
//! whatever the half-open ones, so a real client's SYN is taken during a flood, and its
//! connection survives as long as fewer than `half_open` SYNs arrive within its round trip.
//! Nothing here knows FTP.

use std::collections::VecDeque;

use smoltcp::phy::Device;
use smoltcp::socket::tcp::State;
use smoltcp::time::{Duration, Instant};

use crate::link::ratelog::RateLog;
use crate::net::host::{Host, SocketHandle, SocketOptions};

/// How a pool accepts connections.
#[derive(Clone, Copy, Debug)]
pub struct PoolConfig {
    /// Local port.
    pub port: u16,
    /// Options of every socket.
    pub socket: SocketOptions,
    /// Sockets kept listening (when there is room): the burst of SYNs taken in one poll. A
    /// larger burst waits a poll in the Host (its backlog of one poll) while the pool grows
    /// past `spare` for it, doubling per poll, and shrinks back as the burst ends.
    pub spare: usize,
    /// Half-open connections kept at once; past this the oldest is dropped.
    pub half_open: usize,
    /// A handshake not completed within this is dropped.
    pub handshake_timeout: Duration,
}

/// Listening sockets and half-open connections on one port.
pub struct ListenerPool {
    config: PoolConfig,
    label: String,
    listening: Vec<SocketHandle>,
    /// Listeners wanted beyond `spare` while a burst lasts (see [`PoolConfig::spare`]).
    burst: usize,
    /// Half-open connections, oldest first, with the time their SYN was seen.
    half_open: VecDeque<(SocketHandle, Instant)>,
    dropped: RateLog,
    listen_failed: RateLog,
}

impl ListenerPool {
    /// A pool with no socket yet (see [`ListenerPool::refill`]); sockets are labelled `label`.
    pub fn new(config: PoolConfig, label: impl Into<String>) -> Self {
        ListenerPool {
            dropped: RateLog::new(
                format!("port {}: half-open connection dropped", config.port),
                log::Level::Warn,
            ),
            listen_failed: RateLog::new(
                format!("cannot listen on port {}", config.port),
                log::Level::Error,
            ),
            config,
            label: label.into(),
            listening: Vec::new(),
            burst: 0,
            half_open: VecDeque::new(),
        }
    }

    /// Sockets now listening.
    pub fn listening(&self) -> usize {
        self.listening.len()
    }

    /// Connections now half-open.
    pub fn half_open(&self) -> usize {
        self.half_open.len()
    }

    /// Sockets the pool holds (listening and half-open).
    pub fn sockets(&self) -> usize {
        self.listening.len() + self.half_open.len()
    }

    /// Half-open connections dropped so far (limit or timeout).
    pub fn dropped(&self) -> u64 {
        self.dropped.total()
    }

    /// When the oldest half-open connection times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.half_open
            .front()
            .map(|(_, since)| *since + self.config.handshake_timeout)
    }

    /// Looks at every socket after a poll: listeners that got a SYN become half-open, half-open
    /// connections whose handshake completed are pushed to `accepted` (the caller owns them
    /// from now on), those past the handshake timeout are dropped. Returns whether anything
    /// changed.
    pub fn accept<D: Device>(
        &mut self,
        host: &mut Host<D>,
        accepted: &mut Vec<SocketHandle>,
    ) -> bool {
        let now = host.now();
        let before = (accepted.len(), self.listening.len(), self.half_open.len());
        let listeners = self.listening.len();
        let mut i = 0;
        while i < self.listening.len() {
            let handle = self.listening[i];
            match host.tcp(handle).state() {
                State::Listen => i += 1,
                State::SynReceived => {
                    self.listening.swap_remove(i);
                    self.half_open.push_back((handle, now));
                }
                State::Closed => {
                    self.listening.swap_remove(i);
                    host.remove(handle);
                }
                // SYN and ACK in one poll: the handshake is already complete.
                _ => {
                    self.listening.swap_remove(i);
                    accepted.push(handle);
                }
            }
        }
        // Every listener taken in one poll: more SYNs may be waiting; grow for them. No SYN:
        // the burst is over; shrink back towards `spare`.
        let taken = listeners - self.listening.len();
        if listeners > 0 && taken == listeners {
            self.burst = self.wanted() * 2;
        } else if taken == 0 {
            self.burst /= 2;
        }
        let timeout = self.config.handshake_timeout;
        self.half_open.retain(|&(handle, since)| {
            match host.tcp(handle).state() {
                State::SynReceived if now >= since + timeout => {
                    drop_half_open(host, handle);
                    self.dropped.hit(format_args!(
                        "no ACK for our SYN-ACK within {timeout} (spoofed SYNs?)"
                    ));
                }
                State::SynReceived => return true,
                // A RST during the handshake puts smoltcp's socket back to LISTEN.
                State::Listen => self.listening.push(handle),
                State::Closed => host.remove(handle),
                _ => accepted.push(handle),
            }
            false
        });
        before != (accepted.len(), self.listening.len(), self.half_open.len())
    }

    /// Drops the oldest half-open connections while there are more than the limit and they
    /// keep the pool from holding `spare` listeners within `room` sockets (a SYN flood):
    /// a burst of real connects within the room is never cut.
    pub fn trim<D: Device>(&mut self, host: &mut Host<D>, room: usize) {
        while self.half_open.len() > self.config.half_open
            && room.saturating_sub(self.half_open.len()) < self.config.spare
        {
            let Some((handle, _)) = self.half_open.pop_front() else {
                break;
            };
            drop_half_open(host, handle);
            self.dropped.hit(format_args!(
                "more than {} half-open connections at once (a SYN flood?): the oldest goes",
                self.config.half_open
            ));
        }
    }

    /// Adds listening sockets up to `spare` (more during a burst, and those a burst left beyond
    /// it go), holding at most `room` sockets in all (listening and half-open). Returns false if the port cannot be listened on.
    pub fn refill<D: Device>(&mut self, host: &mut Host<D>, room: usize) -> bool {
        // Listeners a burst left beyond what is wanted now go (their buffers with them).
        while self.listening.len() > self.wanted() {
            let Some(handle) = self.listening.pop() else {
                break;
            };
            host.tcp(handle).abort();
            host.remove(handle);
        }
        let want = self.wanted().min(room.saturating_sub(self.half_open.len()));
        while self.listening.len() < want {
            let handle = host.add_tcp(self.config.socket, self.label.clone());
            if let Err(e) = host.tcp(handle).listen(self.config.port) {
                self.listen_failed.hit(e);
                host.remove(handle);
                return false;
            }
            self.listening.push(handle);
        }
        true
    }

    /// Listeners wanted now: `spare`, or more during a burst.
    fn wanted(&self) -> usize {
        self.config.spare.max(self.burst)
    }

    /// Takes back a socket that listens again (its connection was reset).
    pub fn give_back(&mut self, handle: SocketHandle) {
        self.listening.push(handle);
    }

    /// Closes every socket of the pool.
    pub fn shutdown<D: Device>(&mut self, host: &mut Host<D>) {
        let half_open = self.half_open.drain(..).map(|(h, _)| h);
        for handle in self.listening.drain(..).chain(half_open) {
            host.tcp(handle).abort();
            host.remove(handle);
        }
    }
}

/// Forgets a half-open connection without a RST: its SYN likely came from a spoofed address,
/// and a real peer's ACK now meets a listener, which answers it with a RST.
fn drop_half_open<D: Device>(host: &mut Host<D>, handle: SocketHandle) {
    host.tcp(handle).abort();
    host.remove(handle);
}
