//! # Lab: one FTP session between two hosts on a cable
//!
//! Layer: application (composes `ftp`, `net` and `link`). A lab is what `demo`, `bench` and the
//! whole-session tests share: a server host (10.0.0.1) serving a directory, a client host
//! (10.0.0.2) running a list of FTP steps, an in-process cable between them, optionally a
//! capture taken at one host's interface, and a clock (virtual or real). Its knobs,
//! [`LabConfig`], come by layer (`config.rs`); why a run failed is a [`RunError`] (`error.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv4Cidr, Ipv6Cidr};

use crate::ftp::client::{Client, ClientConfig, Outcome, Step};
use crate::ftp::jail::Jail;
use crate::ftp::server::ServerConfig;
use crate::ftp::server::guard::LoginGuard;
use crate::link::impair::{DirStats, Faults, Impair, Side};
use crate::link::{Capture, NextArrival, Recorder, smol_duration, wire};
use crate::net::client::ClientNode;
use crate::net::conduit::DataOptions;
use crate::net::host::{Host, HostConfig, SocketOptions};
use crate::net::server::{ServerNet, ServerNode};
use crate::net::sim::{Clock, Sim};
use crate::net::stackview::StackLog;

mod config;
mod error;
pub use config::{LabConfig, LabLimits, LabServer, TapSide};
pub use error::RunError;

/// The moment the virtual clock starts, and the date of the demo's files: 2024-01-01 00:00 UTC.
pub const EPOCH_SECS: u64 = 1_704_067_200;
/// Address of the server host.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Address of the client host.
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// IPv6 address of the server host (with [`crate::net::stacks::StackConfig::ipv6`]).
pub const SERVER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// IPv6 address of the client host (with [`crate::net::stacks::StackConfig::ipv6`]).
pub const CLIENT_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

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
        let stacks = &self.stacks;
        let headers = if stacks.ipv6 { 60 } else { 40 };
        let mss = self.cable.mtu.saturating_sub(headers).max(1);
        let send_buffer = stacks.send_buffer.div_ceil(mss) * mss;
        socket_options(stacks.window, send_buffer, smol_duration(stacks.timeout))
    }

    /// The server's address as the client sees it: IPv4, or IPv6 with [`crate::net::stacks::StackConfig::ipv6`].
    pub fn server_ip(&self) -> IpAddr {
        if self.stacks.ipv6 {
            IpAddr::V6(SERVER_IP6)
        } else {
            IpAddr::V4(SERVER_IP)
        }
    }

    /// The client's address, of the same family as [`LabConfig::server_ip`].
    pub fn client_ip(&self) -> IpAddr {
        if self.stacks.ipv6 {
            IpAddr::V6(CLIENT_IP6)
        } else {
            IpAddr::V4(CLIENT_IP)
        }
    }

    fn host(&self, name: &str, ip: Ipv4Addr, ip6: Ipv6Addr, seed: u64) -> HostConfig {
        HostConfig {
            name: name.into(),
            addr: Ipv4Cidr::new(ip, 24),
            addr6: self.stacks.ipv6.then(|| Ipv6Cidr::new(ip6, 64)),
            gateway: None,
            seed,
            congestion: self.stacks.congestion,
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
    ) -> Result<LabRun, RunError> {
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
    /// (session `i` listens on data ports from the client's `data_port_base + 16 i`).
    pub fn run_many(
        &self,
        root: &Path,
        sessions: Vec<Vec<Step>>,
        recorder: Option<&Recorder>,
        clock: Clock,
    ) -> Result<LabRuns, RunError> {
        // The impairments sit at the tapped host's interface (the server's without a capture):
        // what it sends is recorded before its fate, what it receives after.
        let at_server = recorder.is_none() || self.tap == TapSide::Server;
        let faults = Faults::new(recorder.is_some());
        let s2c = faults.add_direction("server->client", at_server);
        let c2s = faults.add_direction("client->server", !at_server);
        let (server_end, client_end) =
            wire::pair_told(self.cable.wire(), Some((faults.clone(), [c2s, s2c])));
        let plan = &self.cable.impair;
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
            .map_err(RunError::Capture)?;
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
        run.frames = recorder.finish().map_err(RunError::Capture)?;
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
    ) -> Result<LabRuns, RunError>
    where
        DS: Device + NextArrival,
        DC: Device + NextArrival,
    {
        let start = match clock {
            Clock::Virtual(t) => t,
            Clock::Real => Instant::now(),
        };
        let stacks = &self.stacks;
        let mut server_host = Host::new(
            self.host("server", SERVER_IP, SERVER_IP6, stacks.seed),
            server_dev,
            start,
        );
        let mut client_host = Host::new(
            self.host("client", CLIENT_IP, CLIENT_IP6, stacks.client_seed()),
            client_dev,
            start,
        );
        if let Some(r) = recorder {
            server_host.set_recorder(r.clone());
            client_host.set_recorder(r.clone());
        }
        client_host.set_stack_snapshots(server_host.stack_snapshots());
        stacks.apply(&mut server_host);
        stacks.apply(&mut client_host);
        let stack_log = match &stacks.stack_log {
            Some(path) => Some(StackLog::create(path).map_err(RunError::Told)?),
            None => None,
        };
        if let Some(log) = &stack_log {
            server_host.set_stack_log(log.clone());
            client_host.set_stack_log(log.clone());
        }
        let (control_socket, data) = self.sockets();
        let jail = Jail::new(root).map_err(|source| RunError::Serve {
            root: root.to_path_buf(),
            source,
        })?;
        let ftp = &self.server.ftp;
        if ftp.writable {
            crate::ftp::upload::remove_stale(jail.root());
        }
        let server_config = ServerConfig {
            root: root.to_path_buf(),
            // Every run counts failed logins afresh, as a server started anew would.
            login_guard: LoginGuard::new(ftp.login_guard.limit(), ftp.login_guard.window()),
            ..ftp.clone()
        };
        let max_sessions = self.server.max_sessions.max(1);
        let server = ServerNode::new(
            &mut server_host,
            Arc::new(server_config),
            Arc::new(jail),
            ServerNet {
                control_port: 21,
                // Listeners for a burst of connects in one poll; a larger one waits a poll
                // while the pool grows for it, so idle listeners hold no buffers per session.
                listeners: max_sessions.clamp(1, LISTENERS),
                max_sessions,
                control_socket,
                data: DataOptions {
                    source_port: Some(self.server.data_source_port),
                    passive_ports: self.server.passive_ports,
                    ..data
                },
                half_open: max_sessions,
                // No SYN flood on the lab's cable, but a lossy one: a client whose last ACK of
                // the handshake was lost waits for the greeting while the server's SYN+ACK is
                // sent again; give the handshake as long as any silent peer (the 5 s of a TUN
                // server left 1 in 500 impaired soak sessions without a greeting).
                handshake_timeout: smol_duration(stacks.timeout),
            },
        );
        let mut clients = Vec::with_capacity(sessions.len());
        for (i, steps) in sessions.into_iter().enumerate() {
            let client = Client::new(
                ClientConfig {
                    local_ip: self.client_ip(),
                    // Saturating: past port 65535 every session shares the last ports, and
                    // the host refuses the clashing ones.
                    data_port_base: self
                        .client
                        .data_port_base
                        .saturating_add(u16::try_from(i).unwrap_or(u16::MAX).saturating_mul(16)),
                    server_ip: self.server_ip(),
                    ..self.client.clone()
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
            .map_err(RunError::ControlConnection)?;
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
        let limit = smol_duration(self.limits.run);
        let end = sim.run(clock, wall, limit).map_err(RunError::Session)?;
        if let Some(log) = &stack_log {
            // The capture's writing thread writes the lines of recorded frames.
            if let Some(r) = recorder {
                r.sync();
            }
            log.flush()
                .map_err(RunError::io("cannot write the stack log"))?;
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

/// Control and data socket settings: [`SocketOptions::control`] and, with `window` bytes of
/// receive buffer and `send_buffer` of send buffer, [`SocketOptions::data`]. A server offers the
/// default passive range, [`crate::net::ports::PortRange::PASSIVE_DEFAULT`], unless its caller sets another.
pub fn socket_options(
    window: usize,
    send_buffer: usize,
    timeout: Duration,
) -> (SocketOptions, DataOptions) {
    (
        SocketOptions::control(timeout),
        DataOptions::new(SocketOptions::data(window, send_buffer, timeout)),
    )
}

/// Listeners the lab's server keeps at most when idle (see [`ServerNet::listeners`]).
const LISTENERS: usize = 64;

/// The virtual clock's start.
pub fn virtual_start() -> Clock {
    Clock::Virtual(Instant::from_secs(EPOCH_SECS as i64))
}
