//! # Host: one simulated machine
//!
//! Layer: network (stack owner). A [`Host`] owns one smoltcp `Interface`, its `SocketSet` and its
//! device, polls them, chooses local ports (no 4-tuple clashes), and follows the TCP state of every
//! socket after each poll, logging each transition with the connection's 4-tuple (target
//! `smolftp::tcp`, level info). When the device is recorded, the Host writes the frames of each
//! poll with an explanation built from what it knew then ([`crate::net::explain`]). It knows
//! nothing of FTP: connections carry a label given by whoever opened them.
//!
//! Sockets live in shards of at most [`SHARD_SIZE`] (smoltcp looks through every socket of a
//! set for each received frame); the Host reads each frame ahead and hands it to the shard that
//! holds its connection ([`crate::net::demux`]), so a frame costs the same with 10 or 10,000
//! connections. A SYN that finds every listener of its port taken waits for the next poll
//! (a backlog of one poll), so a node that adds listeners between polls resets no burst.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp::{self, CongestionControl, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr, Ipv6Address, Ipv6Cidr,
};

use crate::link::Recorder;
use crate::link::recorder::ExplainerId;
use crate::net::demux::{Demux, SHARD_SIZE, Tuple};
use crate::net::explain::Transition;
pub use crate::net::options::SocketOptions;
use crate::net::pages::SocketPages;
use crate::net::stackview::{Snapshots, StackLog, StackView};

mod explainer;
mod shards;
use explainer::{Context, HostExplainer, Row};
use shards::Shard;

/// A socket of a [`Host`]: its shard and its handle there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketHandle {
    shard: u32,
    inner: smoltcp::iface::SocketHandle,
}

/// First port of the ephemeral range the Host hands out.
const EPHEMERAL_FIRST: u16 = 49152;

/// How a Host is set up.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Name used in logs, e.g. `server`.
    pub name: String,
    /// IPv4 address and prefix of the interface.
    pub addr: Ipv4Cidr,
    /// IPv6 address and prefix of the interface, if it speaks IPv6 too.
    pub addr6: Option<Ipv6Cidr>,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Address>,
    /// Random seed of the stack (ISNs, ...). Give each host its own.
    pub seed: u64,
    /// Congestion control of every TCP socket.
    pub congestion: Congestion,
}

/// TCP congestion control choice (smoltcp's [`CongestionControl`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Congestion {
    /// No congestion control: send whatever the peer's window allows.
    None,
    /// Reno: slow start from a two-segment window, as a textbook TCP.
    #[default]
    Reno,
    /// CUBIC.
    Cubic,
}

#[derive(Debug)]
struct Tracked {
    label: String,
    state: State,
    local: Option<IpEndpoint>,
    remote: Option<IpEndpoint>,
    /// The 4-tuple the demultiplexer knows the socket by.
    route: Option<Tuple>,
    /// The port the demultiplexer counts it as listening on.
    listening: Option<u16>,
    /// Its large buffers' pages (dropped after the socket: `tracked` follows `shards`).
    pages: SocketPages,
}

/// One machine: interface, sockets, device, and the bookkeeping around them.
pub struct Host<D: Device> {
    name: String,
    iface: Interface,
    /// The sockets; declared before `tracked`, which holds their pages, so dropped first.
    shards: Vec<Shard>,
    demux: Demux,
    /// A received frame read ahead of smoltcp.
    frame: Vec<u8>,
    /// `frame` is a SYN held until the next poll (every listener was taken).
    held: bool,
    device: D,
    recorder: Option<Recorder>,
    congestion: Congestion,
    tracked: BTreeMap<SocketHandle, Tracked>,
    transitions: Vec<Transition>,
    /// Connections removed since the last poll's explanation (their streams are forgotten).
    forget: Vec<(SocketAddr, SocketAddr)>,
    /// Who explains this host's frames on the capture's writing thread, once there is one.
    explainer: Option<ExplainerId>,
    /// `tracked` changed since the explainer last got a copy.
    tracked_changed: bool,
    next_port: u16,
    /// The time of the last poll: the host's clock, as the endpoints' timers see it.
    now: Instant,
    /// The stack's own view of the frames it sends (comments, stack log, congestion events).
    view: StackView,
    /// The lower bound of the RTO of sockets added from now on; `None`: smoltcp's (1 s).
    min_rto: Option<smoltcp::time::Duration>,
    /// Sockets added from now on send tail loss probes (RFC 8985).
    tail_loss_probe: bool,
    /// Sockets added from now on resend lost retransmissions by RACK's rule (RFC 8985 6.2).
    rack: bool,
    /// Sockets added from now on count bytes acknowledged in congestion avoidance (RFC 5681).
    byte_counting: bool,
}

/// Why a connection could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// Another socket already uses this 4-tuple.
    InUse(IpEndpoint, IpEndpoint),
    /// smoltcp refused (unaddressable, invalid state).
    Refused(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::InUse(l, r) => write!(f, "{l} -> {r} is already in use"),
            ConnectError::Refused(why) => write!(f, "cannot connect: {why}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl<D: Device> Host<D> {
    /// A host on `device`, started at `now`.
    pub fn new(config: HostConfig, mut device: D, now: Instant) -> Self {
        let mut iface_config = Config::new(HardwareAddress::Ip);
        iface_config.random_seed = config.seed;
        let mut iface = Interface::new(iface_config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            // At most two addresses: the only failure is a full list, which cannot happen here.
            let _ = addrs.push(IpCidr::Ipv4(config.addr));
            if let Some(addr6) = config.addr6 {
                let _ = addrs.push(IpCidr::Ipv6(addr6));
            }
        });
        if let Some(gw) = config.gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        Host {
            name: config.name,
            iface,
            shards: vec![Shard {
                set: SocketSet::new(Vec::new()),
                len: 0,
            }],
            demux: Demux::default(),
            frame: Vec::new(),
            held: false,
            device,
            recorder: None,
            congestion: config.congestion,
            tracked: BTreeMap::new(),
            transitions: Vec::new(),
            forget: Vec::new(),
            explainer: None,
            tracked_changed: true,
            next_port: EPHEMERAL_FIRST,
            now,
            view: StackView::default(),
            min_rto: None,
            tail_loss_probe: false,
            rack: false,
            byte_counting: false,
        }
    }

    /// Makes the TCP sockets added from now on grow cwnd in congestion avoidance by one MSS
    /// per window of bytes acknowledged (RFC 5681 3.1), not by MSS * MSS / cwnd per ACK.
    pub fn set_byte_counting(&mut self, enabled: bool) {
        self.byte_counting = enabled;
    }

    /// Makes the TCP sockets added from now on resend a lost retransmission as soon as data
    /// sent after it is SACKed (RACK's rule, RFC 8985 6.2), not at the RTO.
    pub fn set_rack(&mut self, enabled: bool) {
        self.rack = enabled;
    }

    /// Makes the TCP sockets added from now on send tail loss probes (RFC 8985 7).
    pub fn set_tail_loss_probe(&mut self, enabled: bool) {
        self.tail_loss_probe = enabled;
    }

    /// Gives the TCP sockets added from now on this lower bound of their retransmission
    /// timeout (RFC 6298 2.4; `None`: 1 s as the RFC asks).
    pub fn set_min_rto(&mut self, min_rto: Option<std::time::Duration>) {
        self.min_rto = min_rto.map(crate::link::smol_duration);
    }

    /// Records explained frames of this host into `recorder` (its device must be a
    /// [`crate::link::Capture`] writing to the same recorder).
    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
        self.keep_snapshots();
    }

    /// Starts the TCP connections opened from now on with an initial congestion window of
    /// `segments` segments of their MSS (RFC 5681 3.1); `None`: RFC 5681's upper bound.
    pub fn set_initial_window(&mut self, segments: Option<usize>) {
        self.view.initial_window = segments;
    }

    /// Writes a line of the stack's view for every frame it sends into `log` (JSON Lines).
    pub fn set_stack_log(&mut self, log: StackLog) {
        self.view.set_log(log);
        self.keep_snapshots();
    }

    /// Whether each socket keeps a snapshot per segment sent: when frames are recorded or
    /// logged.
    fn wants_snapshots(&self) -> bool {
        self.recorder.is_some() || self.view.log().is_some()
    }

    fn keep_snapshots(&mut self) {
        self.view
            .keep_snapshots(tcp_sockets(&mut self.shards).map(|(_, socket)| socket));
    }

    /// Per-segment snapshots that found no recorded frame (with a capture, they are matched on
    /// its writing thread: complete after [`Recorder::sync`] or [`Recorder::finish`]).
    pub fn unmatched_snapshots(&self) -> u64 {
        self.view.unmatched()
    }

    /// Where this host's per-segment snapshots wait for their frames.
    pub fn stack_snapshots(&self) -> Arc<Mutex<Snapshots>> {
        self.view.shared()
    }

    /// Puts this host's snapshots with another host's of the same capture (a tap may record
    /// a frame in the poll of the host that receives it).
    pub fn set_stack_snapshots(&mut self, shared: Arc<Mutex<Snapshots>>) {
        self.view.set_shared(shared);
    }

    /// The time of the last poll.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's IPv4 address.
    pub fn ipv4(&self) -> Option<Ipv4Address> {
        self.iface.ipv4_addr()
    }

    /// The host's IPv6 address, if it has one.
    pub fn ipv6(&self) -> Option<Ipv6Address> {
        self.iface.ipv6_addr()
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The device, to write frames the stack did not make (tests: spoofed segments).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// Adds a TCP socket, named `label` in logs and frame comments.
    pub fn add_tcp(&mut self, options: SocketOptions, label: impl Into<String>) -> SocketHandle {
        let mut pages = SocketPages::default();
        // SAFETY: the pages go into the socket's `Tracked` entry, which outlives the socket: the
        // host removes a socket from its set before it drops the entry, and declares its
        // sockets before their entries so that its own drop does the same.
        let (rx, tx) = unsafe {
            (
                pages.buffer(options.rx_buffer),
                pages.buffer(options.tx_buffer),
            )
        };
        let mut socket = tcp::Socket::new(rx, tx);
        socket.set_ack_delay(options.ack_delay);
        socket.set_nagle_enabled(options.nagle);
        socket.set_timeout(options.timeout);
        socket.set_keep_alive(options.keep_alive);
        socket.set_initial_window(self.view.initial_window);
        if let Some(min_rto) = self.min_rto {
            socket.set_min_rto(min_rto);
        }
        socket.set_tail_loss_probe(self.tail_loss_probe);
        socket.set_rack(self.rack);
        socket.set_byte_counting(self.byte_counting);
        socket.set_sent_info_log(self.wants_snapshots());
        socket.set_congestion_control(match self.congestion {
            Congestion::None => CongestionControl::None,
            Congestion::Reno => CongestionControl::Reno,
            Congestion::Cubic => CongestionControl::Cubic,
        });
        let shard = match self.shards.iter().position(|s| s.len < SHARD_SIZE) {
            Some(i) => i,
            None => {
                self.shards.push(Shard {
                    set: SocketSet::new(Vec::new()),
                    len: 0,
                });
                self.shards.len() - 1
            }
        };
        let inner = self.shards[shard].set.add(socket);
        self.shards[shard].len += 1;
        let handle = SocketHandle {
            shard: shard as u32,
            inner,
        };
        self.tracked_changed = true;
        self.tracked.insert(
            handle,
            Tracked {
                label: label.into(),
                state: State::Closed,
                local: None,
                remote: None,
                route: None,
                listening: None,
                pages,
            },
        );
        handle
    }

    /// Renames a socket's connection (for logs and frame comments).
    pub fn set_label(&mut self, handle: SocketHandle, label: impl Into<String>) {
        if let Some(t) = self.tracked.get_mut(&handle) {
            t.label = label.into();
            self.tracked_changed = true;
        }
    }

    /// The TCP socket behind `handle`.
    pub fn tcp(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
        self.shards[handle.shard as usize]
            .set
            .get_mut::<tcp::Socket>(handle.inner)
    }

    /// Removes a socket (abort it first if it may still be open).
    pub fn remove(&mut self, handle: SocketHandle) {
        self.observe(handle);
        let shard = &mut self.shards[handle.shard as usize];
        shard.set.remove(handle.inner);
        shard.len -= 1;
        if let Some(t) = self.tracked.remove(&handle) {
            self.tracked_changed = true;
            if let (Some(local), Some(remote)) = (t.local, t.remote)
                && self.recorder.is_some()
            {
                self.forget.push((local.into(), remote.into()));
            }
            self.demux.moved(handle.shard, t.route, None);
            if let Some(port) = t.listening {
                self.demux.listens(handle.shard, port, false);
            }
        }
        self.view.forget(handle);
    }

    /// Opens a connection to `remote` from `local_port` (an ephemeral port when `None`),
    /// refusing a 4-tuple that another socket still holds (TIME-WAIT included).
    pub fn connect(
        &mut self,
        handle: SocketHandle,
        remote: IpEndpoint,
        local_port: Option<u16>,
    ) -> Result<(), ConnectError> {
        let local_addr: IpAddress = match remote.addr {
            IpAddress::Ipv4(dst) => self.iface.get_source_address_ipv4(&dst).map(Into::into),
            IpAddress::Ipv6(dst) => self
                .iface
                .ipv6_addr()
                .map(|_| self.iface.get_source_address_ipv6(&dst).into()),
        }
        .ok_or_else(|| ConnectError::Refused(format!("no route to {}", remote.addr)))?;
        let port = match local_port {
            Some(p) => p,
            None => self.ephemeral_port(),
        };
        let local = IpEndpoint::new(local_addr, port);
        let tuple = (local, remote);
        let in_use = self.demux.shard_of(&tuple).is_some_and(|shard| {
            self.shards[shard as usize]
                .set
                .iter()
                .any(|(_, s)| match s {
                    smoltcp::socket::Socket::Tcp(t) => {
                        t.local_endpoint() == Some(local) && t.remote_endpoint() == Some(remote)
                    }
                    #[allow(unreachable_patterns)]
                    _ => false,
                })
        });
        if in_use {
            return Err(ConnectError::InUse(local, remote));
        }
        let cx = self.iface.context();
        self.shards[handle.shard as usize]
            .set
            .get_mut::<tcp::Socket>(handle.inner)
            .connect(cx, remote, local)
            .map_err(|e| ConnectError::Refused(e.to_string()))?;
        self.observe(handle);
        Ok(())
    }

    /// Whether some socket is bound to, or listens on, local `port`.
    pub fn port_in_use(&self, port: u16) -> bool {
        self.sockets_on(port).next().is_some()
    }

    /// Whether a socket bound to, or listening on, local `port` is in any state but CLOSED
    /// and TIME-WAIT. A port held only by those can listen again, as a kernel socket with
    /// `SO_REUSEADDR` can: a closed socket takes no segment, one in TIME-WAIT only those of
    /// its own four-tuple, so a new peer's SYN reaches the new listener.
    pub fn port_held(&self, port: u16) -> bool {
        self.sockets_on(port)
            .any(|t| !matches!(t.state(), State::Closed | State::TimeWait))
    }

    /// The TCP sockets bound to, or listening on, local `port`.
    fn sockets_on(&self, port: u16) -> impl Iterator<Item = &tcp::Socket<'static>> {
        let sockets = self.shards.iter().flat_map(|s| s.set.iter());
        sockets.filter_map(move |(_, s)| match s {
            smoltcp::socket::Socket::Tcp(t)
                if t.local_endpoint().map(|e| e.port) == Some(port)
                    || t.listen_endpoint().port == port =>
            {
                Some(t)
            }
            _ => None,
        })
    }

    /// The next ephemeral port not bound by any socket.
    fn ephemeral_port(&mut self) -> u16 {
        for _ in 0..=(u16::MAX - EPHEMERAL_FIRST) {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            if !self.port_in_use(port) {
                return port;
            }
        }
        // Every ephemeral port is bound: reuse the next one; the 4-tuple check still applies.
        self.next_port
    }

    /// When the stack next wants to be polled (`Some(now)` or earlier: at once).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.held {
            return Some(now);
        }
        let iface = &mut self.iface;
        self.shards
            .iter()
            .filter_map(|s| iface.poll_at(now, &s.set))
            .min()
    }

    /// How long the stack may sleep before it must be polled again (`None`: until a frame).
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        match self.poll_at(now) {
            Some(at) if now < at => Some(at - now),
            Some(_) => Some(Duration::ZERO),
            None => None,
        }
    }

    /// Polls the interface once: frames in and out, timers. Returns whether a socket may have
    /// changed. State transitions are logged; recorded frames are explained and written.
    pub fn poll(&mut self, now: Instant) -> bool {
        self.now = now;
        self.track();
        let changed = self.poll_shards(now);
        self.track();
        self.prune_routes();
        // The capture's writing thread explains the frames; the explainer is handed over
        // before the first snapshot it is to get.
        if let Some(recorder) = &self.recorder
            && self.explainer.is_none()
        {
            let explainer = HostExplainer::new(self.view.teller());
            self.explainer = Some(recorder.add_explainer(Box::new(explainer)));
            // A log read as it runs gets each poll's lines after that poll, as without a
            // capture.
            if self.view.log().is_some_and(StackLog::flushes_each) {
                recorder.hand_over_each_poll();
            }
        }
        if self.wants_snapshots() || log::log_enabled!(target: "smolftp::tcp", log::Level::Info) {
            let tracked = &self.tracked;
            let ends = |handle| {
                tracked
                    .get(&handle)
                    .map_or((None, None), |t: &Tracked| (t.local, t.remote))
            };
            let recorded = self.recorder.as_ref().zip(self.explainer);
            self.view.collect(
                &self.name,
                tcp_sockets(&mut self.shards),
                ends,
                recorded,
                now,
            );
        }
        match (self.recorder.is_some(), self.explainer) {
            (true, Some(explainer)) => {
                let context = self.explain_context();
                if let Some(recorder) = &self.recorder {
                    recorder.write_pending(explainer, context);
                }
            }
            _ => self.transitions.clear(),
        }
        changed
    }

    /// What changed for the explainer since the last poll's frames, if anything.
    fn explain_context(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        let sockets = std::mem::take(&mut self.tracked_changed).then(|| {
            let rows = self.tracked.iter().map(|(handle, t)| Row {
                handle: *handle,
                local: t.local,
                remote: t.remote,
                label: t.label.clone(),
                state: t.state,
            });
            rows.collect()
        });
        if sockets.is_none() && self.transitions.is_empty() && self.forget.is_empty() {
            return None;
        }
        Some(Box::new(Context {
            sockets,
            transitions: std::mem::take(&mut self.transitions),
            forget: std::mem::take(&mut self.forget),
        }))
    }

    /// The TCP state of every socket, for checks that all connections are done.
    pub fn states(&self) -> impl Iterator<Item = (SocketHandle, State)> + '_ {
        self.tracked.iter().map(|(h, t)| (*h, t.state))
    }
}

/// Every TCP socket of `shards`, with its handle.
fn tcp_sockets(
    shards: &mut [Shard],
) -> impl Iterator<Item = (SocketHandle, &mut tcp::Socket<'static>)> {
    shards.iter_mut().enumerate().flat_map(|(i, shard)| {
        shard.set.iter_mut().filter_map(move |(inner, socket)| {
            let shard = i as u32;
            <tcp::Socket as smoltcp::socket::AnySocket>::downcast_mut(socket)
                .map(|s| (SocketHandle { shard, inner }, s))
        })
    })
}
