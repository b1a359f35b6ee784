//! # A lab's knobs, by layer
//!
//! Layer: application. [`LabConfig`] is a composition: the cable ([`CableConfig`], owned by
//! `link`), both stacks ([`StackConfig`], owned by `net`), the FTP server ([`LabServer`]: the
//! `ftp` layer's own [`ServerConfig`] plus the server host's ports), the FTP client (the `ftp`
//! layer's [`ClientConfig`]) and the run's [`LabLimits`]. Each default is written once: in the
//! part's own `Default` (or `ServerConfig::new`), and here only where a lab differs from it.

use std::path::PathBuf;
use std::time::Duration;

use crate::ftp::FinPolicy;
use crate::ftp::client::ClientConfig;
use crate::ftp::server::ServerConfig;
use crate::lab::{CLIENT_IP, SERVER_IP};
use crate::link::CableConfig;
use crate::net::ports::PortRange;
use crate::net::stacks::StackConfig;

/// The knobs of a lab.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// The cable between the hosts: MTU, delay, rate, queue, jitter, impairments.
    pub cable: CableConfig,
    /// Both hosts' TCP/IP stacks: seed, congestion control, IPv6, buffers, timers.
    pub stacks: StackConfig,
    /// The FTP server and its host's ports.
    pub server: LabServer,
    /// The FTP client: login, mode, data ports, FIN placement, timeout. Its `local_ip` and
    /// `server_ip` are set by the run from [`StackConfig::ipv6`].
    pub client: ClientConfig,
    /// Bounds of the run.
    pub limits: LabLimits,
    /// Whose interface the capture shows (default: the server's).
    pub tap: TapSide,
}

/// The lab's FTP server: the `ftp` layer's configuration and the server host's ports.
#[derive(Clone, Debug)]
pub struct LabServer {
    /// The server sessions' configuration ([`ServerConfig::new`]'s defaults); its `root` is the
    /// directory the run is given, and each run gets a fresh login guard with its limits.
    pub ftp: ServerConfig,
    /// The server's data source port (20).
    pub data_source_port: u16,
    /// Ports the server offers for passive-mode data connections (50000-50999).
    pub passive_ports: PortRange,
    /// Sessions the server accepts at once (and sockets it keeps listening: smoltcp has no
    /// backlog, so a client arriving when none listens gets a RST).
    pub max_sessions: usize,
}

impl LabServer {
    /// Accepts uploads (`STOR`, ...), from the lab's anonymous client too.
    pub fn set_writable(&mut self, writable: bool) {
        self.ftp.writable = writable;
        self.ftp.anonymous_writable = writable;
    }
}

/// Bounds of a lab run.
#[derive(Clone, Copy, Debug)]
pub struct LabLimits {
    /// Bound on the run's duration, simulated or real (600 s).
    pub run: Duration,
}

/// The host whose interface a lab's capture is taken at: its own frames are stamped when it
/// sends them, its peer's when they arrive, as a capture on that machine would show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TapSide {
    /// The FTP server's interface (10.0.0.1).
    #[default]
    Server,
    /// The FTP client's interface (10.0.0.2).
    Client,
}

impl Default for LabServer {
    fn default() -> Self {
        LabServer {
            ftp: ServerConfig::new(PathBuf::new()),
            data_source_port: 20,
            passive_ports: PortRange::PASSIVE_DEFAULT,
            max_sessions: 4,
        }
    }
}

impl Default for LabLimits {
    fn default() -> Self {
        LabLimits {
            run: Duration::from_secs(600),
        }
    }
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            cable: CableConfig::default(),
            stacks: StackConfig::default(),
            server: LabServer::default(),
            client: ClientConfig {
                user: "anonymous".into(),
                pass: "student@example.org".into(),
                local_ip: CLIENT_IP.into(),
                data_port_base: 5001,
                fin: FinPolicy::Seed,
                passive: false,
                server_ip: SERVER_IP.into(),
                timeout: Some(Duration::from_secs(60)),
            },
            limits: LabLimits::default(),
            tap: TapSide::Server,
        }
    }
}

impl LabConfig {
    /// Where the FINs of data connections go, server and client alike.
    pub fn set_fin(&mut self, fin: FinPolicy) {
        self.server.ftp.fin = fin;
        self.client.fin = fin;
    }
}
