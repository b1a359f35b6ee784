//! # Lab: one FTP session between two hosts on a cable
//!
//! Layer: application (composes `ftp`, `net` and `link`). A lab is what `demo`, `bench` and the
//! whole-session tests share: a server host (10.0.0.1) serving a directory, a client host
//! (10.0.0.2) running a list of FTP steps, an in-process cable between them, optionally a
//! capture taken at one host's interface, and a clock (virtual or real).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv4Cidr, Ipv6Cidr};

use crate::ftp::FinPolicy;
use crate::ftp::client::{Client, ClientConfig, Outcome, Step};
use crate::ftp::jail::Jail;
use crate::ftp::server::ServerConfig;
use crate::link::impair::{DirStats, Faults, Impair, ImpairPlan, Side};
use crate::link::{Capture, NextArrival, Recorder, WireConfig, wire};
use crate::net::client::ClientNode;
use crate::net::conduit::DataOptions;
use crate::net::host::{Congestion, Host, HostConfig, SocketOptions};
use crate::net::ports::PortRange;
use crate::net::server::{ServerNet, ServerNode};
use crate::net::sim::{Clock, Sim};
use crate::net::stackview::StackLog;

/// The moment the virtual clock starts, and the date of the demo's files: 2024-01-01 00:00 UTC.
pub const EPOCH_SECS: u64 = 1_704_067_200;
/// Address of the server host.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Address of the client host.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// IPv6 address of the server host (with [`LabConfig::ipv6`]).
pub const SERVER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// IPv6 address of the client host (with [`LabConfig::ipv6`]).
pub const CLIENT_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// The knobs of a lab.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// Seed of the hosts' random numbers (the server gets this one, the client one derived).
    pub seed: u64,
    /// IP MTU of the cable.
    pub mtu: usize,
    /// One-way delay of the cable.
    pub delay: StdDuration,
    /// Where the FINs of data connections go (server and client alike).
    pub fin: FinPolicy,
    /// Congestion control of both stacks.
    pub congestion: Congestion,
    /// Receive window (buffer) of data connections, bytes.
    pub window: usize,
    /// Send buffer of data connections, bytes.
    pub send_buffer: usize,
    /// The server's data source port (20).
    pub data_source_port: u16,
    /// The client's first data port (5001).
    pub data_port_base: u16,
    /// Ports the server offers for passive-mode data connections (50000-50999).
    pub passive_ports: PortRange,
    /// Accounts of the server besides anonymous.
    pub accounts: Vec<(String, String)>,
    /// Whether the server accepts STOR.
    pub writable: bool,
    /// The client's user name and password.
    pub login: (String, String),
    /// The client uses passive mode (EPSV, then PASV).
    pub passive: bool,
    /// Bound on the session's duration (simulated or real).
    pub limit: StdDuration,
    /// Sessions the server accepts at once (and sockets it keeps listening: smoltcp has no
    /// backlog, so a client arriving when none listens gets a RST).
    pub max_sessions: usize,
    /// Both hosts get an IPv6 address too ([`SERVER_IP6`], [`CLIENT_IP6`], /64) and the client
    /// connects to `[fd00::1]:21`: control and data over IPv6 (`EPRT`, `EPSV`).
    pub ipv6: bool,
    /// The client gives up when the server is silent this long while it waits (for a reply,
    /// the data connection or data); `None`: never.
    pub client_timeout: Option<StdDuration>,
    /// Whose interface the capture shows (default: the server's).
    pub tap: TapSide,
    /// Bit rate of each direction of the cable, bit/s (`None`: none).
    pub rate: Option<u64>,
    /// Frames that may wait for the link in each direction (`None`: no limit).
    pub queue: Option<usize>,
    /// Jitter of the one-way delay, either way (seeded; frames stay in order).
    pub jitter: StdDuration,
    /// Loss, duplication, reordering, corruption and targeted drops on the cable.
    pub impair: ImpairPlan,
    /// The stacks give a connection up when its peer stays silent this long (60 s; a heavily
    /// impaired cable backs retransmissions off beyond it).
    pub stack_timeout: StdDuration,
    /// Initial congestion window of every TCP connection, in segments of its MSS (RFC 5681
    /// 3.1); `None`: RFC 5681's bound. Two by default: the seed figure's look, the client's
    /// ACKs falling between the file's data segments.
    pub initial_window: Option<usize>,
    /// Write the stack log (JSON Lines, one object per frame a host sent) to this file; needs
    /// a capture for frame numbers.
    pub stack_log: Option<PathBuf>,
    /// The lower bound of every TCP connection's retransmission timeout (RFC 6298 2.4);
    /// `None`: 1 s as the RFC asks.
    pub min_rto: Option<StdDuration>,
    /// Tail loss probes (RFC 8985 7) on every TCP connection.
    pub tail_loss_probe: bool,
    /// RACK's lost-retransmission rule (RFC 8985 6.2) on every TCP connection.
    pub rack: bool,
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

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            seed: 1,
            mtu: 1500,
            delay: StdDuration::from_millis(1),
            fin: FinPolicy::Seed,
            congestion: Congestion::Reno,
            window: 65535,
            send_buffer: 64 * 1024,
            data_source_port: 20,
            data_port_base: 5001,
            passive_ports: PortRange::PASSIVE_DEFAULT,
            accounts: Vec::new(),
            writable: false,
            login: ("anonymous".into(), "student@example.org".into()),
            passive: false,
            limit: StdDuration::from_secs(600),
            max_sessions: 4,
            ipv6: false,
            client_timeout: Some(StdDuration::from_secs(60)),
            tap: TapSide::Server,
            rate: None,
            queue: None,
            jitter: StdDuration::ZERO,
            impair: ImpairPlan::default(),
            stack_timeout: StdDuration::from_secs(60),
            initial_window: Some(2),
            stack_log: None,
            min_rto: None,
            tail_loss_probe: false,
            rack: false,
        }
    }
}

/// What each session of a many-session lab produced, and the run's totals.
#[derive(Debug)]
pub struct LabRuns {
    /// Per session, in order: its outcomes and fatal error.
    pub sessions: Vec<(Vec<Outcome>, Option<String>)>,
    /// Duration of the whole run (simulated with the virtual clock).
    pub elapsed: StdDuration,
    /// Frames written to the capture (0 without one).
    pub frames: u64,
    /// Per direction of the cable (`server->client`, `client->server`): what it carried and
    /// what went wrong.
    pub link: Vec<(String, DirStats)>,
}

/// What a lab session produced.
#[derive(Debug)]
pub struct LabRun {
    /// One outcome per step, in order.
    pub outcomes: Vec<Outcome>,
    /// A fatal client error (login refused, ...), if any.
    pub error: Option<String>,
    /// Duration of the session (simulated with the virtual clock).
    pub elapsed: StdDuration,
    /// Frames written to the capture (0 without one).
    pub frames: u64,
    /// Per direction of the cable: what it carried and what went wrong.
    pub link: Vec<(String, DirStats)>,
}

impl LabConfig {
    /// Control and data socket settings of this lab (see [`socket_options`]). The send buffer
    /// is rounded up to whole segments of the cable's MSS: smoltcp sends what the buffer holds
    /// (no Nagle on data connections), so a buffer that ends mid-segment would cut runts.
    pub fn sockets(&self) -> (SocketOptions, DataOptions) {
        let headers = if self.ipv6 { 60 } else { 40 };
        let mss = self.mtu.saturating_sub(headers).max(1);
        let send_buffer = self.send_buffer.div_ceil(mss) * mss;
        socket_options(
            self.window,
            send_buffer,
            Duration::from_micros(self.stack_timeout.as_micros() as u64),
        )
    }

    /// The server's address as the client sees it: IPv4, or IPv6 with [`LabConfig::ipv6`].
    pub fn server_ip(&self) -> IpAddr {
        if self.ipv6 {
            IpAddr::V6(SERVER_IP6)
        } else {
            IpAddr::V4(SERVER_IP)
        }
    }

    /// The client's address, of the same family as [`LabConfig::server_ip`].
    pub fn client_ip(&self) -> IpAddr {
        if self.ipv6 {
            IpAddr::V6(CLIENT_IP6)
        } else {
            IpAddr::V4(CLIENT_IP)
        }
    }

    fn host(&self, name: &str, ip: Ipv4Addr, ip6: Ipv6Addr, seed: u64) -> HostConfig {
        HostConfig {
            name: name.into(),
            addr: Ipv4Cidr::new(ip, 24),
            addr6: self.ipv6.then(|| Ipv6Cidr::new(ip6, 64)),
            gateway: None,
            seed,
            congestion: self.congestion,
        }
    }

    /// Runs `steps` against a server serving `root`. With `recorder`, the interface of the host
    /// named by [`LabConfig::tap`] is recorded into it and every frame is explained.
    pub fn run(
        &self,
        root: &Path,
        steps: Vec<Step>,
        recorder: Option<&Recorder>,
        clock: Clock,
    ) -> Result<LabRun, String> {
        let mut runs = self.run_many(root, vec![steps], recorder, clock)?;
        let (outcomes, error) = runs.sessions.pop().unwrap_or_default();
        Ok(LabRun {
            outcomes,
            error,
            elapsed: runs.elapsed,
            frames: runs.frames,
            link: runs.link,
        })
    }

    /// Runs one client session per entry of `sessions`, all at once, from the client host
    /// (session `i` listens on data ports from `data_port_base + 16 i`).
    pub fn run_many(
        &self,
        root: &Path,
        sessions: Vec<Vec<Step>>,
        recorder: Option<&Recorder>,
        clock: Clock,
    ) -> Result<LabRuns, String> {
        let micros = |d: StdDuration| Duration::from_micros(d.as_micros() as u64);
        // The impairments sit at the tapped host's interface (the server's without a capture):
        // what it sends is recorded before its fate, what it receives after.
        let at_server = recorder.is_none() || self.tap == TapSide::Server;
        let faults = Faults::new(recorder.is_some());
        let s2c = faults.add_direction("server->client", at_server);
        let c2s = faults.add_direction("client->server", !at_server);
        let (server_end, client_end) = wire::pair_told(
            WireConfig {
                mtu: self.mtu,
                delay: micros(self.delay),
                rate: self.rate,
                queue: self.queue,
                jitter: micros(self.jitter),
                seed: self.impair.seed ^ 0x7177,
            },
            Some((faults.clone(), [c2s, s2c])),
        );
        let plan = &self.impair;
        let to_client = Side {
            rates: plan.to_client(),
            dir: s2c,
        };
        let to_server = Side {
            rates: plan.to_server(),
            dir: c2s,
        };
        let impair = |end, out, inbound| {
            Impair::new(
                end,
                out,
                inbound,
                plan.drops.clone(),
                plan.seed,
                faults.clone(),
            )
        };
        let Some(recorder) = recorder else {
            let server_dev = impair(server_end, to_client, to_server);
            let mut run = self.run_on(server_dev, client_end, None, root, sessions, clock)?;
            run.link = faults.stats();
            return Ok(run);
        };
        let (tapped, other, role) = match self.tap {
            TapSide::Server => (self.server_ip(), self.client_ip(), "server"),
            TapSide::Client => (self.client_ip(), self.server_ip(), "client"),
        };
        let iface = recorder
            .add_interface(&format!(
                "cable {tapped} <-> {other}, seen from {tapped} (the FTP {role}'s interface)"
            ))
            .map_err(|e| format!("cannot write the capture: {e}"))?;
        // One tap, on one host's interface: what it sends is stamped when sent, what it
        // receives when it arrives (never with its sender's clock).
        let tap = |dev| Capture::new(dev, recorder.clone(), iface).with_faults(faults.clone());
        let mut run = match self.tap {
            TapSide::Server => self.run_on(
                tap(impair(server_end, to_client, to_server)),
                Capture::relay(client_end, recorder.clone()),
                Some(recorder),
                root,
                sessions,
                clock,
            )?,
            TapSide::Client => self.run_on(
                Capture::relay(server_end, recorder.clone()),
                tap(impair(client_end, to_server, to_client)),
                Some(recorder),
                root,
                sessions,
                clock,
            )?,
        };
        run.link = faults.stats();
        run.frames = recorder
            .finish()
            .map_err(|e| format!("cannot write the capture: {e}"))?;
        Ok(run)
    }

    /// Runs `sessions` on devices the caller made (e.g. the two ends of a [`wire::pair`],
    /// wrapped in a test's middleware and then in [`Capture::tap`]s writing to `recorder`):
    /// what [`LabConfig::run_many`] does on its own cable. The caller finishes `recorder`.
    pub fn run_on<DS, DC>(
        &self,
        server_dev: DS,
        client_dev: DC,
        recorder: Option<&Recorder>,
        root: &Path,
        sessions: Vec<Vec<Step>>,
        clock: Clock,
    ) -> Result<LabRuns, String>
    where
        DS: Device + NextArrival,
        DC: Device + NextArrival,
    {
        let start = match clock {
            Clock::Virtual(t) => t,
            Clock::Real => Instant::now(),
        };
        let mut server_host = Host::new(
            self.host("server", SERVER_IP, SERVER_IP6, self.seed),
            server_dev,
            start,
        );
        let client_seed = self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED;
        let mut client_host = Host::new(
            self.host("client", CLIENT_IP, CLIENT_IP6, client_seed),
            client_dev,
            start,
        );
        if let Some(r) = recorder {
            server_host.set_recorder(r.clone());
            client_host.set_recorder(r.clone());
        }
        client_host.set_stack_snapshots(server_host.stack_snapshots());
        server_host.set_initial_window(self.initial_window);
        client_host.set_initial_window(self.initial_window);
        server_host.set_min_rto(self.min_rto);
        client_host.set_min_rto(self.min_rto);
        server_host.set_tail_loss_probe(self.tail_loss_probe);
        client_host.set_tail_loss_probe(self.tail_loss_probe);
        server_host.set_rack(self.rack);
        client_host.set_rack(self.rack);
        let stack_log = match &self.stack_log {
            Some(path) => Some(StackLog::create(path).map_err(|e| e.to_string())?),
            None => None,
        };
        if let Some(log) = &stack_log {
            server_host.set_stack_log(log.clone());
            client_host.set_stack_log(log.clone());
        }
        let (control_socket, data) = self.sockets();
        let jail = Jail::new(root).map_err(|e| format!("cannot serve {}: {e}", root.display()))?;
        if self.writable {
            crate::ftp::upload::remove_stale(jail.root());
        }
        let server_config = ServerConfig {
            root: root.to_path_buf(),
            accounts: self.accounts.clone(),
            anonymous: true,
            writable: self.writable,
            fin: self.fin,
            greeting: "smolftp ready.".into(),
            allow_foreign_port: false,
            max_login_failures: 3,
            atomic_uploads: true,
            // The lab's client logs in as anonymous by default: its `writable` is for it.
            anonymous_writable: self.writable,
            ..ServerConfig::new(root)
        };
        let server = ServerNode::new(
            &mut server_host,
            Arc::new(server_config),
            Arc::new(jail),
            ServerNet {
                control_port: 21,
                listeners: self.max_sessions.max(1),
                max_sessions: self.max_sessions.max(1),
                control_socket,
                data: DataOptions {
                    source_port: Some(self.data_source_port),
                    passive_ports: self.passive_ports,
                    ..data
                },
                half_open: self.max_sessions.max(1),
                // No SYN flood on the lab's cable, but a lossy one: a client whose last ACK of
                // the handshake was lost waits for the greeting while the server's SYN+ACK is
                // sent again; give the handshake as long as any silent peer (the 5 s of a TUN
                // server left 1 in 500 impaired soak sessions without a greeting).
                handshake_timeout: Duration::from_micros(self.stack_timeout.as_micros() as u64),
            },
        );
        let mut clients = Vec::with_capacity(sessions.len());
        for (i, steps) in sessions.into_iter().enumerate() {
            let client = Client::new(
                ClientConfig {
                    user: self.login.0.clone(),
                    pass: self.login.1.clone(),
                    local_ip: self.client_ip(),
                    data_port_base: self
                        .data_port_base
                        .saturating_add((i as u16).saturating_mul(16)),
                    fin: self.fin,
                    passive: self.passive,
                    server_ip: self.server_ip(),
                    timeout: self.client_timeout,
                },
                steps,
            );
            let node = ClientNode::connect(
                &mut client_host,
                SocketAddr::new(self.server_ip(), 21),
                client,
                control_socket,
                data,
            )
            .map_err(|e| format!("cannot open the control connection: {e}"))?;
            clients.push(node);
        }
        let mut sim = Sim {
            server_host,
            server,
            client_host,
            clients,
        };
        let wall = match clock {
            Clock::Virtual(_) => UNIX_EPOCH + StdDuration::from_secs(EPOCH_SECS),
            Clock::Real => SystemTime::now(),
        };
        let limit = Duration::from_micros(self.limit.as_micros() as u64);
        let end = sim
            .run(clock, wall, limit)
            .map_err(|e| format!("the session failed: {e}"))?;
        if let Some(log) = &stack_log {
            log.flush()
                .map_err(|e| format!("cannot write the stack log: {e}"))?;
        }
        Ok(LabRuns {
            sessions: sim
                .clients
                .iter()
                .map(|c| {
                    let c = c.client();
                    (c.outcomes().to_vec(), c.error().map(str::to_string))
                })
                .collect(),
            elapsed: StdDuration::from_micros((end - start).total_micros()),
            frames: 0,
            link: Vec::new(),
        })
    }
}

/// Control and data socket settings: small control buffers with smoltcp's delayed ACK; data
/// connections with `window` bytes of receive buffer and `send_buffer` of send buffer, that
/// acknowledge every segment at once (so the client's ACK of the server's FIN travels before its
/// own FIN, as in the figure) and send without Nagle's delay. Connections whose peer stays silent
/// for `timeout` are given up. A control connection may be quiet for far longer (a user thinking
/// at the `ftp>` prompt; the server's own idle timer is 300 s), so it sends TCP keep-alive probes
/// every `timeout / 6` of quiet: a peer that is there answers them. Five chances per timeout, not
/// one: on a lossy path a probe or its answer is lost (at 10 % loss both ways, one in five), and
/// a control connection quiet through a long transfer must not time out for that. A server offers the default
/// passive range, [`PortRange::PASSIVE_DEFAULT`], unless its caller sets another.
pub fn socket_options(
    window: usize,
    send_buffer: usize,
    timeout: Duration,
) -> (SocketOptions, DataOptions) {
    let control = SocketOptions {
        rx_buffer: 8 * 1024,
        tx_buffer: 8 * 1024,
        ack_delay: Some(Duration::from_millis(10)),
        nagle: true,
        timeout: Some(timeout),
        keep_alive: Some(timeout / 6),
    };
    let data = DataOptions {
        socket: SocketOptions {
            rx_buffer: window,
            tx_buffer: send_buffer,
            ack_delay: None,
            nagle: false,
            timeout: Some(timeout),
            keep_alive: None,
        },
        source_port: None,
        passive_ports: PortRange::PASSIVE_DEFAULT,
    };
    (control, data)
}

/// The virtual clock's start.
pub fn virtual_start() -> Clock {
    Clock::Virtual(Instant::from_secs(EPOCH_SECS as i64))
}
