//! # FTP server node
//!
//! Layer: network. Runs [`crate::ftp::server::Session`]s on a [`Host`]: keeps sockets listening
//! on the control port ([`ListenerPool`]: smoltcp has no backlog, a listening socket becomes the
//! connection), starts a session on each connection once its handshake is complete (half-open
//! connections are not sessions), drives it through a [`Conduit`], and frees its sockets when it
//! is over. A connection past `max_sessions` is accepted, told `421` and closed
//! ([`crate::ftp::refusal::Refusal`]). Control sockets of every kind (listening, half-open,
//! sessions, refusals) are bounded by `max_sessions + half_open + listeners`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use smoltcp::phy::Device;
use smoltcp::socket::tcp::State;
use smoltcp::time::Duration;

use crate::ftp::Endpoint;
use crate::ftp::jail::Jail;
use crate::ftp::refusal::Refusal;
use crate::ftp::server::{ServerConfig, Session};
use crate::link::ratelog::RateLog;
use crate::net::conduit::{Conduit, DataOptions};
use crate::net::host::{Host, SocketOptions};
use crate::net::pool::{ListenerPool, PoolConfig};

/// Network settings of the server.
#[derive(Clone, Copy, Debug)]
pub struct ServerNet {
    /// Control port (21).
    pub control_port: u16,
    /// Sockets kept listening on the control port (while there is room): the largest burst of
    /// connects taken at once (a SYN that finds no listener is reset).
    pub listeners: usize,
    /// Sessions served at once; past that, a new connection is told `421` and closed.
    pub max_sessions: usize,
    /// Control connection sockets.
    pub control_socket: SocketOptions,
    /// Data connections (source port 20).
    pub data: DataOptions,
    /// Half-open connections (handshake not complete) kept at once; past this the oldest is
    /// dropped. They are not sessions.
    pub half_open: usize,
    /// A handshake not completed within this is dropped.
    pub handshake_timeout: Duration,
}

impl ServerNet {
    /// Half-open connections kept at once by default: a burst of this many connects is taken.
    pub const HALF_OPEN: usize = 64;
    /// Time allowed for a handshake by default (the SYN-ACK is sent three times meanwhile).
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

    /// Control sockets of every kind (listening, half-open, sessions, refusals) at most.
    pub fn control_sockets(&self) -> usize {
        self.max_sessions.max(1) + self.half_open.max(1) + self.listeners.max(1)
    }
}

/// The FTP server on one host.
pub struct ServerNode {
    config: Arc<ServerConfig>,
    jail: Arc<Jail>,
    net: ServerNet,
    pool: ListenerPool,
    sessions: Vec<Served>,
    /// Sessions that count towards `max_sessions` (refusals do not).
    counted: usize,
    served: u64,
    /// After [`ServerNode::shutdown`]: accept nothing more.
    closing: bool,
    /// Sessions refused (told `421`), logged once per period.
    refusals: RateLog,
}

/// One accepted control connection and what answers it.
struct Served {
    conduit: Conduit,
    endpoint: Box<dyn Endpoint>,
    /// A real session (not a refusal): counts towards `max_sessions`.
    counted: bool,
}

impl ServerNode {
    /// Starts listening on `host`.
    pub fn new<D: Device>(
        host: &mut Host<D>,
        config: Arc<ServerConfig>,
        jail: Arc<Jail>,
        net: ServerNet,
    ) -> Self {
        let pool = ListenerPool::new(
            PoolConfig {
                port: net.control_port,
                socket: net.control_socket,
                spare: net.listeners.max(1),
                half_open: net.half_open.max(1),
                handshake_timeout: net.handshake_timeout,
            },
            "control connection",
        );
        let mut node = ServerNode {
            config,
            jail,
            net,
            pool,
            sessions: Vec::new(),
            counted: 0,
            served: 0,
            closing: false,
            refusals: RateLog::new("refusing a session", log::Level::Warn),
        };
        node.refill(host);
        node
    }

    fn refill<D: Device>(&mut self, host: &mut Host<D>) {
        if !self.closing {
            let room = self
                .net
                .control_sockets()
                .saturating_sub(self.sessions.len());
            self.pool.trim(host, room);
            self.pool.refill(host, room);
        }
    }

    /// Sessions now open (refusals not counted).
    pub fn sessions(&self) -> usize {
        self.counted
    }

    /// Connections on the control port whose handshake is not complete.
    pub fn half_open(&self) -> usize {
        self.pool.half_open()
    }

    /// Sockets listening on the control port.
    pub fn listening(&self) -> usize {
        self.pool.listening()
    }

    /// Control sockets held now (listening, half-open, sessions, refusals).
    pub fn control_sockets(&self) -> usize {
        self.pool.sockets() + self.sessions.len()
    }

    /// Half-open connections dropped so far (past the limit, or timed out).
    pub fn half_open_dropped(&self) -> u64 {
        self.pool.dropped()
    }

    /// When a session's timer (idle, login delay, data deadline) or a handshake's timeout is
    /// next due.
    pub fn next_deadline(&self) -> Option<smoltcp::time::Instant> {
        self.sessions
            .iter()
            .filter_map(|s| s.endpoint.next_deadline())
            .min()
            .map(|d| smoltcp::time::Instant::from_micros(d.as_micros() as i64))
            .into_iter()
            .chain(self.pool.next_deadline())
            .min()
    }

    /// Sessions served so far (ended ones included).
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Does all the server's work that needs no poll; `now` is the wall clock for listings.
    pub fn step<D: Device>(&mut self, host: &mut Host<D>, now: SystemTime) -> bool {
        let mut accepted = Vec::new();
        let mut progress = !self.closing && self.pool.accept(host, &mut accepted);
        // Connections whose handshake is complete become sessions.
        for handle in accepted {
            let socket = host.tcp(handle);
            let peer: IpAddr = match socket.remote_endpoint() {
                Some(e) => e.addr.into(),
                None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            };
            let counted = self.counted < self.net.max_sessions;
            let endpoint: Box<dyn Endpoint> = if counted {
                self.served += 1;
                self.counted += 1;
                Box::new(Session::new(
                    self.config.clone(),
                    self.jail.clone(),
                    peer,
                    now,
                ))
            } else {
                self.refusals
                    .hit(format_args!("{peer}: {} sessions open", self.counted));
                host.set_label(handle, "control connection (refused: too many sessions)");
                Box::new(Refusal::new("Too many sessions, try again later."))
            };
            self.sessions.push(Served {
                conduit: Conduit::new(handle),
                endpoint,
                counted,
            });
            progress = true;
        }
        // Sessions.
        for s in &mut self.sessions {
            progress |= s.conduit.step(host, s.endpoint.as_mut(), &self.net.data);
        }
        let before = self.sessions.len();
        let pool = &mut self.pool;
        let counted = &mut self.counted;
        self.sessions.retain_mut(|s| {
            let conduit = &mut s.conduit;
            let gone = if host.tcp(conduit.control()).state() == State::Listen {
                // A socket back in LISTEN (smoltcp does that on a RST in SYN-RECEIVED) is a
                // listener again.
                conduit.release(host);
                pool.give_back(conduit.control());
                true
            } else if conduit.is_finished(host) {
                let control = conduit.control();
                conduit.release(host);
                host.remove(control);
                true
            } else {
                false
            };
            if gone && s.counted {
                *counted -= 1;
            }
            !gone
        });
        progress |= before != self.sessions.len();
        self.refill(host);
        progress
    }
}

impl ServerNode {
    /// Starts closing everything: listeners stop, every session's connections are closed (a
    /// transfer in progress is cut). Keep polling until [`ServerNode::is_closed`].
    pub fn shutdown<D: Device>(&mut self, host: &mut Host<D>) {
        self.closing = true;
        self.pool.shutdown(host);
        for s in &mut self.sessions {
            s.conduit.close_all(host);
        }
    }

    /// After [`ServerNode::shutdown`]: every connection is closed (or in TIME-WAIT).
    pub fn is_closed<D: Device>(&mut self, host: &mut Host<D>) -> bool {
        self.pool.sockets() == 0 && self.sessions.iter().all(|s| s.conduit.is_finished(host))
    }
}
