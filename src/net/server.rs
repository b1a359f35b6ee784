//! # FTP server node
//!
//! Layer: network. Runs [`crate::ftp::server::Session`]s on a [`Host`]: keeps a pool of sockets
//! listening on the control port (smoltcp has no backlog: a listening socket becomes the
//! connection, so a fresh one takes its place), starts a session on each accepted connection,
//! drives it through a [`Conduit`], and frees its sockets when it is over. A connection past
//! `max_sessions` is accepted, told `421` and closed ([`crate::ftp::refusal::Refusal`]).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use smoltcp::iface::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::socket::tcp::State;

use crate::ftp::Endpoint;
use crate::ftp::jail::Jail;
use crate::ftp::refusal::Refusal;
use crate::ftp::server::{ServerConfig, Session};
use crate::net::conduit::{Conduit, DataOptions};
use crate::net::host::{Host, SocketOptions};

/// Network settings of the server.
#[derive(Clone, Copy, Debug)]
pub struct ServerNet {
    /// Control port (21).
    pub control_port: u16,
    /// Sockets kept listening on the control port.
    pub listeners: usize,
    /// Sessions served at once; past that, a new connection is told `421` and closed.
    pub max_sessions: usize,
    /// Control connection sockets.
    pub control_socket: SocketOptions,
    /// Data connections (source port 20).
    pub data: DataOptions,
}

/// The FTP server on one host.
pub struct ServerNode {
    config: Arc<ServerConfig>,
    jail: Arc<Jail>,
    net: ServerNet,
    listeners: Vec<SocketHandle>,
    sessions: Vec<Served>,
    served: u64,
    /// After [`ServerNode::shutdown`]: accept nothing more.
    closing: bool,
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
        let mut node = ServerNode {
            config,
            jail,
            net,
            listeners: Vec::new(),
            sessions: Vec::new(),
            served: 0,
            closing: false,
        };
        node.refill(host);
        node
    }

    fn refill<D: Device>(&mut self, host: &mut Host<D>) {
        while !self.closing && self.listeners.len() < self.net.listeners.max(1) {
            let handle = host.add_tcp(self.net.control_socket, "control connection");
            if let Err(e) = host.tcp(handle).listen(self.net.control_port) {
                log::error!("cannot listen on port {}: {e}", self.net.control_port);
                host.remove(handle);
                return;
            }
            self.listeners.push(handle);
        }
    }

    /// Sessions now open (refusals not counted).
    pub fn sessions(&self) -> usize {
        self.sessions.iter().filter(|s| s.counted).count()
    }

    /// When a session's timer (idle, login delay, data deadline) is next due.
    pub fn next_deadline(&self) -> Option<smoltcp::time::Instant> {
        self.sessions
            .iter()
            .filter_map(|s| s.endpoint.next_deadline())
            .min()
            .map(|d| smoltcp::time::Instant::from_micros(d.as_micros() as i64))
    }

    /// Sessions served so far (ended ones included).
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Does all the server's work that needs no poll; `now` is the wall clock for listings.
    pub fn step<D: Device>(&mut self, host: &mut Host<D>, now: SystemTime) -> bool {
        let mut progress = false;
        // Accepted connections become sessions.
        let mut i = 0;
        while i < self.listeners.len() {
            let handle = self.listeners[i];
            let socket = host.tcp(handle);
            if socket.state() == State::Listen {
                i += 1;
                continue;
            }
            self.listeners.swap_remove(i);
            let peer: IpAddr = match socket.remote_endpoint() {
                Some(e) => e.addr.into(),
                None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            };
            let counted = self.sessions() < self.net.max_sessions;
            let endpoint: Box<dyn Endpoint> = if counted {
                self.served += 1;
                Box::new(Session::new(
                    self.config.clone(),
                    self.jail.clone(),
                    peer,
                    now,
                ))
            } else {
                log::warn!(
                    "refusing a session from {peer}: {} sessions open",
                    self.sessions()
                );
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
        let listeners = &mut self.listeners;
        self.sessions.retain_mut(|Served { conduit, .. }| {
            if host.tcp(conduit.control()).state() == State::Listen {
                // A RST during the handshake puts smoltcp's socket back to LISTEN: it is a
                // listener again, and the session never began.
                conduit.release(host);
                listeners.push(conduit.control());
                false
            } else if conduit.is_finished(host) {
                let control = conduit.control();
                conduit.release(host);
                host.remove(control);
                false
            } else {
                true
            }
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
        for handle in self.listeners.drain(..) {
            host.tcp(handle).abort();
            host.remove(handle);
        }
        for s in &mut self.sessions {
            s.conduit.close_all(host);
        }
    }

    /// After [`ServerNode::shutdown`]: every connection is closed (or in TIME-WAIT).
    pub fn is_closed<D: Device>(&mut self, host: &mut Host<D>) -> bool {
        self.listeners.is_empty() && self.sessions.iter().all(|s| s.conduit.is_finished(host))
    }
}
