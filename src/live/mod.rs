//! # Live: the server and the client on a TUN device
//!
//! Layer: application (composes `ftp`, `net` and `link`). `smolftp server` and `smolftp client`
//! run one smoltcp host on a Linux TUN interface, on the real clock, the kernel (or anything
//! routed through it) being the peer: curl, lftp, vsftpd, or the other side of smolftp. Captures
//! record both directions on the interface, with the same frame comments as the demo; `-` streams
//! them to standard output for Wireshark.
//!
//! `prompt.rs` holds the interactive `ftp>` shell, `output.rs` what the client prints (outcomes,
//! the progress bar).

mod output;
mod prompt;

use output::{Bar, report_new};

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{Ipv4Address, Ipv4Cidr, Ipv6Cidr};

use crate::ftp::FinPolicy;
use crate::ftp::client::{Client, ClientConfig, Outcome, Step};
use crate::ftp::jail::Jail;
use crate::ftp::server::ServerConfig;
use crate::ftp::shell::{self, ShellCommand};
use crate::lab::RunError;
use crate::link::impair::{Faults, Impair, ImpairPlan, Side};
use crate::link::tun::{Tun, TunMode};
use crate::link::{Capture, Format, Recorder};
use crate::link::{DeviceGone, Wait, smol_duration};
use crate::net::client::ClientNode;
use crate::net::conduit::DataOptions;
use crate::net::host::{Congestion, Host, HostConfig};
use crate::net::options::SocketOptions;
use crate::net::ports::PortRange;
use crate::net::run::{self, ClientEnd};
use crate::net::server::{ServerNet, ServerNode};
use crate::net::stackview::StackLog;

/// The host's side of the TUN device.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// TUN interface to attach to.
    pub tun: String,
    /// Our address and prefix on it.
    pub ip: Ipv4Cidr,
    /// Our IPv6 address and prefix on it, if the host speaks IPv6 too.
    pub ip6: Option<Ipv6Cidr>,
    /// Default gateway (the kernel's address, to reach other subnets).
    pub gateway: Option<Ipv4Address>,
    /// IP MTU; the interface's own by default.
    pub mtu: Option<usize>,
    /// Capture file (`-`: standard output).
    pub capture: Option<PathBuf>,
    /// Its format.
    pub format: Format,
    /// Random seed of the stack; `None` picks one from the clock.
    pub seed: Option<u64>,
    /// Congestion control.
    pub congestion: Congestion,
    /// Socket buffers of data connections, bytes.
    pub buffer: usize,
    /// TCP segmentation offload to the kernel ([`Tun::open_offload`]).
    pub offload: bool,
    /// Impairments between the stack and the TUN device (none by default).
    pub impair: ImpairPlan,
    /// Initial congestion window, in segments; `None`: RFC 5681's bound.
    pub initial_window: Option<usize>,
    /// Stack log file (JSON Lines, one object per frame the host sends).
    pub stack_log: Option<PathBuf>,
    /// The lower bound of the retransmission timeout (RFC 6298 2.4); `None`: 1 s.
    pub min_rto: Option<std::time::Duration>,
    /// Tail loss probes (RFC 8985 7).
    pub tail_loss_probe: bool,
    /// RACK's lost-retransmission rule (RFC 8985 6.2).
    pub rack: bool,
    /// Congestion avoidance counts bytes acknowledged (RFC 5681 3.1).
    pub byte_counting: bool,
    /// The kernel takes our frames in on a NAPI thread, with GRO ([`Tun::open_gro`]).
    pub gro: bool,
    /// Record each TSO send of `--offload` as the MSS-sized frames the kernel cuts it into.
    pub capture_segments: bool,
    /// Write each run of segments as one GSO frame ([`TunMode::coalesce`]); without
    /// `--offload` only.
    pub coalesce: bool,
}

fn seed_or_clock(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            // The low 64 bits of the nanoseconds: a seed, truncated on purpose.
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

impl NetOptions {
    fn host_config(&self, name: &str) -> HostConfig {
        HostConfig {
            name: name.into(),
            addr: self.ip,
            addr6: self.ip6,
            gateway: self.gateway,
            seed: seed_or_clock(self.seed),
            congestion: self.congestion,
        }
    }

    /// Gives `host` the initial window and the stack log of these options.
    fn set_up<D: Device>(&self, host: &mut Host<D>) -> Result<(), RunError> {
        host.set_initial_window(self.initial_window);
        host.set_min_rto(self.min_rto);
        host.set_tail_loss_probe(self.tail_loss_probe);
        host.set_rack(self.rack);
        host.set_byte_counting(self.byte_counting);
        if let Some(path) = &self.stack_log {
            let log = StackLog::create(path).map_err(RunError::Told)?;
            log.set_flush_each(true);
            host.set_stack_log(log);
        }
        Ok(())
    }

    /// Opens the TUN device and the capture, and hands both to `f` as one device type.
    fn with_device<T>(
        &self,
        role: &str,
        f: impl FnOnce(DeviceChoice) -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        let mode = TunMode {
            offload: self.offload,
            gro: self.gro,
            coalesce: self.coalesce,
        };
        let tun = Tun::open_with(&self.tun, self.mtu, mode)?;
        // The impairments sit between the stack and the device, inside the capture: what this
        // host sends is recorded before its fate, what it receives after.
        let faults = Faults::new(self.capture.is_some());
        let plan = &self.impair;
        let (out, inbound) = match role {
            "server" => (
                Side {
                    rates: plan.to_client(),
                    dir: faults.add_direction("server->client", true),
                },
                Side {
                    rates: plan.to_server(),
                    dir: faults.add_direction("client->server", false),
                },
            ),
            _ => (
                Side {
                    rates: plan.to_server(),
                    dir: faults.add_direction("client->server", true),
                },
                Side {
                    rates: plan.to_client(),
                    dir: faults.add_direction("server->client", false),
                },
            ),
        };
        let tun = Impair::new(
            tun,
            out,
            inbound,
            plan.drops.clone(),
            plan.seed,
            faults.clone(),
        );
        let result = self.on_device(tun, &faults, f);
        if !plan.is_none() {
            eprint!(
                "smolftp {role}: the link, per direction:\n{}",
                faults.summary()
            );
        }
        result
    }

    fn on_device<T>(
        &self,
        tun: Impair<Tun>,
        faults: &Faults,
        f: impl FnOnce(DeviceChoice) -> Result<T, RunError>,
    ) -> Result<T, RunError> {
        match &self.capture {
            None => f(DeviceChoice::Plain(tun)),
            Some(path) => {
                let recorder = Recorder::create(path, self.format).map_err(RunError::Told)?;
                let id = recorder
                    .add_interface(&format!(
                        "{} ({}, this host's interface)",
                        self.tun, self.ip
                    ))
                    .map_err(RunError::Capture)?;
                let mut device =
                    Capture::new(tun, recorder.clone(), id).with_faults(faults.clone());
                if self.capture_segments {
                    device = device.with_wire_segments();
                }
                let result = f(DeviceChoice::Captured(device, recorder.clone()));
                let frames = recorder
                    .finish()
                    .map_err(RunError::io(format!("cannot write {}", path.display())))?;
                log::info!("{frames} frames written to {}", path.display());
                result
            }
        }
    }
}

/// The device, recorded or not.
enum DeviceChoice {
    Plain(Impair<Tun>),
    Captured(Capture<Impair<Tun>>, Recorder),
}

/// What `smolftp server` serves and how.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The interface.
    pub net: NetOptions,
    /// The FTP sessions: served directory, accounts, writes, FIN placement, timers, login
    /// limits ([`ServerConfig::new`]'s defaults where no flag says otherwise).
    pub ftp: ServerConfig,
    /// Local port of data connections (20).
    pub data_source_port: u16,
    /// Ports offered for passive-mode data connections (`PASV`/`EPSV`).
    pub passive_ports: PortRange,
    /// Sessions at once; the next one gets `421`.
    pub max_sessions: usize,
    /// Give up a connection whose peer has been silent this long (TCP).
    pub timeout: StdDuration,
    /// Half-open connections kept at once (and listening sockets kept ready).
    pub half_open: usize,
    /// A handshake not completed within this is dropped.
    pub handshake_timeout: StdDuration,
}

/// Serves until `stop` is set, then closes everything and completes the capture.
pub fn run_server(opts: &ServerOptions, stop: &AtomicBool) -> Result<(), RunError> {
    let jail = Jail::new(&opts.ftp.root).map_err(|source| RunError::Serve {
        root: opts.ftp.root.clone(),
        source,
    })?;
    if opts.ftp.writable {
        crate::ftp::upload::remove_stale(jail.root());
    }
    opts.net.with_device("server", |device| match device {
        DeviceChoice::Plain(d) => serve_on(d, None, opts, jail, stop),
        DeviceChoice::Captured(d, r) => serve_on(d, Some(r), opts, jail, stop),
    })
}

fn serve_on<D: Device + Wait>(
    device: D,
    recorder: Option<Recorder>,
    opts: &ServerOptions,
    jail: Jail,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let mut host = Host::new(opts.net.host_config("server"), device, Instant::now());
    if let Some(r) = recorder {
        host.set_recorder(r);
    }
    opts.net.set_up(&mut host)?;
    let timeout = smol_duration(opts.timeout);
    let control_socket = SocketOptions::control(timeout);
    let data = DataOptions::new(SocketOptions::data(
        opts.net.buffer,
        opts.net.buffer,
        timeout,
    ));
    let mut node = ServerNode::new(
        &mut host,
        Arc::new(opts.ftp.clone()),
        Arc::new(jail),
        ServerNet {
            control_port: 21,
            listeners: opts.half_open,
            max_sessions: opts.max_sessions,
            control_socket,
            data: DataOptions {
                source_port: Some(opts.data_source_port),
                passive_ports: opts.passive_ports,
                ..data
            },
            half_open: opts.half_open,
            handshake_timeout: smol_duration(opts.handshake_timeout),
        },
    );
    eprintln!(
        "smolftp server: listening on {}:21 on {}",
        opts.net.ip.address(),
        opts.net.tun
    );
    if let Some(ip6) = opts.net.ip6 {
        eprintln!(
            "smolftp server: listening on [{}]:21 on {}",
            ip6.address(),
            opts.net.tun
        );
    }
    let clean =
        run::serve(&mut host, &mut node, stop, Duration::from_secs(3)).map_err(|source| {
            RunError::ServerStopped {
                served: node.served(),
                source,
            }
        })?;
    eprintln!(
        "smolftp server: stopped after {} session(s){}",
        node.served(),
        if clean {
            ""
        } else {
            "; some connections were cut"
        }
    );
    Ok(())
}

/// What `smolftp client` does.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The interface.
    pub net: NetOptions,
    /// The server's control address (IPv6 needs [`NetOptions::ip6`]).
    pub server: SocketAddr,
    /// Login name.
    pub user: String,
    /// Password.
    pub pass: String,
    /// First data port (5001).
    pub data_port_base: u16,
    /// FIN placement of uploads.
    pub fin: FinPolicy,
    /// Give up a connection whose peer is silent this long.
    pub timeout: StdDuration,
    /// Passive mode (EPSV, then PASV) instead of PORT.
    pub passive: bool,
    /// Shell command lines to run; none opens the interactive shell.
    pub commands: Vec<String>,
}

/// Runs the commands (or the shell). `Err` carries the message for a failed run.
pub fn run_client(opts: &ClientOptions, stop: &AtomicBool) -> Result<(), RunError> {
    let mut steps = Vec::new();
    for line in &opts.commands {
        match shell::parse(line)? {
            ShellCommand::Step(step) => steps.push(step),
            ShellCommand::Nothing | ShellCommand::Bye => {}
            other => {
                return Err(RunError::ShellOnly {
                    line: line.clone(),
                    command: format!("{other:?}"),
                });
            }
        }
    }
    let interactive = opts.commands.is_empty();
    opts.net.with_device("client", |device| match device {
        DeviceChoice::Plain(d) => client_on(d, None, opts, steps, interactive, stop),
        DeviceChoice::Captured(d, r) => client_on(d, Some(r), opts, steps, interactive, stop),
    })
}

fn client_on<D: Device + Wait>(
    device: D,
    recorder: Option<Recorder>,
    opts: &ClientOptions,
    steps: Vec<Step>,
    interactive: bool,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let mut host = Host::new(opts.net.host_config("client"), device, Instant::now());
    if let Some(r) = recorder {
        host.set_recorder(r);
    }
    opts.net.set_up(&mut host)?;
    let timeout = smol_duration(opts.timeout);
    let mut session = Session {
        host,
        opts,
        timeout,
        stop,
        passive: opts.passive,
    };
    if interactive {
        session.shell()
    } else {
        let config = session.config(opts.server, &opts.user, &opts.pass);
        let client = Client::new(config, steps);
        let outcomes = session.run(opts.server, client, None)?;
        let failed = outcomes.iter().filter(|o| !o.ok).count();
        if failed > 0 {
            return Err(RunError::CommandsFailed(failed));
        }
        Ok(())
    }
}

/// A client host and what it runs.
struct Session<'a, D: Device + Wait> {
    host: Host<D>,
    opts: &'a ClientOptions,
    timeout: Duration,
    stop: &'a AtomicBool,
    /// Passive mode for the next transfers (`passive` toggles it).
    passive: bool,
}

impl<D: Device + Wait> Session<'_, D> {
    fn config(&self, server: SocketAddr, user: &str, pass: &str) -> ClientConfig {
        let local_ip = match server {
            SocketAddr::V4(_) => IpAddr::V4(self.opts.net.ip.address()),
            // Without --ip6, connect() says what is missing.
            SocketAddr::V6(_) => IpAddr::V6(
                self.opts
                    .net
                    .ip6
                    .map_or(Ipv6Addr::UNSPECIFIED, |c| c.address()),
            ),
        };
        ClientConfig {
            user: user.into(),
            pass: pass.into(),
            local_ip,
            data_port_base: self.opts.data_port_base,
            fin: self.opts.fin,
            passive: self.passive,
            server_ip: server.ip(),
            timeout: Some(self.opts.timeout),
        }
    }

    /// Connects and runs `client` to its end; prints each outcome as it comes.
    fn run(
        &mut self,
        server: SocketAddr,
        client: Client,
        node: Option<&mut ClientNode>,
    ) -> Result<Vec<Outcome>, RunError> {
        let mut fresh;
        let node = match node {
            Some(n) => n,
            None => {
                fresh = self.connect(server, client)?;
                &mut fresh
            }
        };
        let mut done = Vec::new();
        let mut bar = Bar::default();
        let end = run::run_client(&mut self.host, node, self.stop, None, |n| {
            bar.update(n.client());
            done.extend(report_new(n, &mut bar));
            true
        });
        bar.clear();
        done.extend(report_new(node, &mut bar));
        if let Some(why) = node.connect_failure() {
            return Err(RunError::Failed(format!(
                "{why} (timeout {} s)",
                self.timeout.secs()
            )));
        }
        match end {
            ClientEnd::Stopped => return Err(RunError::Interrupted),
            ClientEnd::TimedOut => return Err(RunError::TimedOut),
            ClientEnd::DeviceGone(why) => return Err(DeviceGone(why).into()),
            ClientEnd::Finished | ClientEnd::Paused => {}
        }
        if let Some(e) = node.client().error() {
            return Err(RunError::Failed(e.to_string()));
        }
        Ok(done)
    }

    fn connect(&mut self, server: SocketAddr, client: Client) -> Result<ClientNode, RunError> {
        if server.is_ipv6() && self.opts.net.ip6.is_none() {
            return Err(RunError::NoIpv6(server));
        }
        let mut control = SocketOptions::control(self.timeout);
        let buffer = self.opts.net.buffer;
        let data = DataOptions::new(SocketOptions::data(buffer, buffer, self.timeout));
        control.timeout = Some(self.timeout);
        ClientNode::connect(&mut self.host, server, client, control, data)
            .map_err(|source| RunError::Connect { server, source })
    }
}
