//! # Conduit: an FTP endpoint on sockets
//!
//! Layer: network (maps FTP actions to sockets). A [`Conduit`] drives one sans-IO FTP
//! [`Endpoint`] (a server session or a client) over its control socket and its data connection:
//! it moves control bytes both ways, carries out [`DataAction`]s (connect from port 20, listen on
//! 5001, send, receive, abort) and reports [`DataEvent`]s. This is where the FIN placement is made
//! real: queue the last bytes and close before the next poll for DATA+FIN; wait for every byte
//! to be acknowledged, then close, for a FIN alone. It reads no FTP text.

use crate::net::host::SocketHandle;
use smoltcp::phy::Device;
use smoltcp::socket::tcp::State;
use smoltcp::wire::IpEndpoint;
use std::net::{IpAddr, SocketAddr};

use crate::ftp::{DataAction, DataEvent, Endpoint, FinPlacement};
use crate::net::host::{Host, SocketOptions};
use crate::net::ports::PortRange;

/// How data connections are made.
#[derive(Clone, Copy, Debug)]
pub struct DataOptions {
    /// Socket buffers and behaviour of data connections.
    pub socket: SocketOptions,
    /// Local port of connections we open (the server's 20); `None` for an ephemeral port.
    pub source_port: Option<u16>,
    /// Ports offered for passive-mode data connections: the first free one is taken.
    pub passive_ports: PortRange,
}

impl DataOptions {
    /// Data connections on `socket`, from an ephemeral port, offering the default passive
    /// range.
    pub fn new(socket: SocketOptions) -> DataOptions {
        DataOptions {
            socket,
            source_port: None,
            passive_ports: PortRange::PASSIVE_DEFAULT,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Connecting out (server, active mode).
    Connecting,
    /// Waiting for the peer to connect (client, active mode).
    Listening,
    /// Up; the endpoint has not said yet whether to send or receive.
    Connected,
    Sending(FinPlacement),
    Receiving,
    /// Finished, failed or aborted: waiting for the socket to close.
    Done,
}

/// Size of the look-ahead read made when the send buffer is full (see [`Conduit`]).
const PEEK: usize = 4096;

/// Most control bytes handed to the endpoint at once: between two pieces the endpoint is asked
/// whether it wants more ([`Endpoint::wants_control`]), so what one read can make it queue
/// (replies, waiting lines) stays small whatever the socket's buffer holds.
pub const CONTROL_CHUNK: usize = 512;

/// How long a control connection may take to close once its endpoint is done with it (after
/// `QUIT`, a `421`): a peer that reads nothing keeps our last reply and our FIN in a zero
/// window for ever, and with them its session's place; past this the connection is reset.
pub const CLOSE_LINGER: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(10);

#[derive(Debug)]
struct Data {
    handle: SocketHandle,
    phase: Phase,
    /// Passive mode: only a connection from this address is accepted.
    only_from: Option<IpAddr>,
    /// Bytes read from the endpoint that did not fit into the socket yet.
    peek: Vec<u8>,
    eof: bool,
}

/// One FTP endpoint's sockets: the control connection and at most one data connection at a
/// time, plus finished data sockets still closing.
#[derive(Debug)]
pub struct Conduit {
    control: SocketHandle,
    data: Option<Data>,
    closing: Vec<SocketHandle>,
    control_closing: bool,
    control_gone: bool,
    /// When the endpoint first wanted the control connection closed (see [`CLOSE_LINGER`]).
    close_wanted: Option<smoltcp::time::Instant>,
}

/// Sends our FIN on a control connection and stops its keep-alive probes: a peer that never
/// sends its own FIN (a server that hangs, say) would otherwise answer the probes and hold the
/// socket in FIN-WAIT-2 forever; without them, the socket's timeout ends it, as Linux's
/// `tcp_fin_timeout` does.
fn close_control(socket: &mut smoltcp::socket::tcp::Socket<'static>) {
    socket.set_keep_alive(None);
    socket.close();
}

impl Conduit {
    /// Drives the endpoint over the control socket `control` (connected or connecting).
    pub fn new(control: SocketHandle) -> Self {
        Conduit {
            control,
            data: None,
            closing: Vec::new(),
            control_closing: false,
            control_gone: false,
            close_wanted: None,
        }
    }

    /// The control socket.
    pub fn control(&self) -> SocketHandle {
        self.control
    }

    /// True once the control connection is closed and every data socket is closed or in
    /// TIME-WAIT: nothing of this endpoint is left on the wire.
    pub fn is_finished<D: Device>(&self, host: &mut Host<D>) -> bool {
        let settled = |s: State| matches!(s, State::Closed | State::TimeWait);
        settled(host.tcp(self.control).state())
            && self.data.is_none()
            && self.closing.iter().all(|h| settled(host.tcp(*h).state()))
    }

    /// Closes the control connection and aborts the data connection, whatever the endpoint is
    /// doing (shutting a server down).
    pub fn close_all<D: Device>(&mut self, host: &mut Host<D>) {
        if let Some(d) = &mut self.data {
            host.tcp(d.handle).abort();
            d.phase = Phase::Done;
        }
        self.retire(host);
        close_control(host.tcp(self.control));
        self.control_closing = true;
    }

    /// Frees every socket of this conduit except the control socket.
    pub fn release<D: Device>(&mut self, host: &mut Host<D>) {
        for h in self
            .closing
            .drain(..)
            .chain(self.data.take().map(|d| d.handle))
        {
            host.tcp(h).abort();
            host.remove(h);
        }
    }

    /// Does everything that can be done now without polling the stack. Returns whether
    /// anything happened.
    pub fn step<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
        opts: &DataOptions,
    ) -> bool {
        let mut progress = false;
        ep.handle_time(std::time::Duration::from_micros(
            host.now().total_micros().max(0) as u64,
        ));
        // Each round can produce events that produce actions: a few rounds settle it.
        for _ in 0..8 {
            let mut again = self.control_in(host, ep);
            again |= self.actions(host, ep, opts);
            again |= self.data_step(host, ep);
            again |= self.actions(host, ep, opts);
            again |= self.control_out(host, ep);
            progress |= again;
            if !again {
                break;
            }
        }
        self.reap(host);
        progress |= self.linger(host, ep);
        progress
    }

    /// Resets a control connection that has not closed within [`CLOSE_LINGER`] of its
    /// endpoint wanting it closed (the peer reads nothing: replies and FIN stay unsent).
    fn linger<D: Device, E: Endpoint + ?Sized>(&mut self, host: &mut Host<D>, ep: &E) -> bool {
        if !ep.wants_close() {
            return false;
        }
        let now = host.now();
        let since = *self.close_wanted.get_or_insert(now);
        let socket = host.tcp(self.control);
        if now - since < CLOSE_LINGER || matches!(socket.state(), State::Closed | State::TimeWait) {
            return false;
        }
        log::info!(
            "reset the control connection of {:?}: not closed {} s after the last reply \
             ({} bytes unsent, the peer reads nothing)",
            socket.remote_endpoint(),
            CLOSE_LINGER.secs(),
            ep.control_out().len() + socket.send_queue()
        );
        socket.abort();
        self.control_closing = true;
        true
    }

    fn control_in<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
    ) -> bool {
        let socket = host.tcp(self.control);
        let mut progress = false;
        while socket.can_recv() && ep.wants_control() {
            match socket.recv(|buf| {
                let n = buf.len().min(CONTROL_CHUNK);
                ep.handle_control(&buf[..n]);
                (n, n)
            }) {
                Ok(n) if n > 0 => progress = true,
                _ => break,
            }
        }
        let peer_closed = !socket.may_recv()
            && matches!(
                socket.state(),
                State::CloseWait | State::Closed | State::TimeWait | State::LastAck
            );
        if peer_closed && !self.control_gone {
            self.control_gone = true;
            ep.control_closed();
            progress = true;
        }
        progress
    }

    fn control_out<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
    ) -> bool {
        let socket = host.tcp(self.control);
        let mut progress = false;
        while !ep.control_out().is_empty() && socket.can_send() {
            match socket.send_slice(ep.control_out()) {
                Ok(n) if n > 0 => {
                    ep.control_sent(n);
                    progress = true;
                }
                _ => break,
            }
        }
        // Not before the handshake is over: what is queued (a 421, say) must go out first.
        let opening = matches!(
            socket.state(),
            State::Listen | State::SynSent | State::SynReceived
        );
        let drained = ep.control_out().is_empty() || !socket.may_send();
        if (ep.wants_close() || self.control_gone) && drained && !opening && !self.control_closing {
            close_control(socket);
            self.control_closing = true;
            self.drop_idle_data(host);
            progress = true;
        }
        progress
    }

    /// When the control connection closes, a data connection that moves no data (a passive
    /// offer nobody took, a connection made and never used) has no session left to use it: it
    /// is aborted, so its port goes back to the passive range and the endpoint can finish. One
    /// that sends or receives goes on to its end.
    fn drop_idle_data<D: Device>(&mut self, host: &mut Host<D>) {
        if let Some(d) = &mut self.data
            && matches!(
                d.phase,
                Phase::Listening | Phase::Connecting | Phase::Connected
            )
        {
            host.tcp(d.handle).abort();
            d.phase = Phase::Done;
            self.retire(host);
        }
    }

    fn actions<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
        opts: &DataOptions,
    ) -> bool {
        let mut progress = false;
        while let Some(action) = ep.poll_action() {
            progress = true;
            match action {
                DataAction::Connect { peer, label } => {
                    self.retire(host);
                    let handle = host.add_tcp(opts.socket, label);
                    let remote = IpEndpoint::from(peer);
                    match host.connect(handle, remote, opts.source_port) {
                        Ok(()) => self.data = Some(Data::new(handle, Phase::Connecting)),
                        Err(e) => {
                            host.remove(handle);
                            ep.handle_data_event(DataEvent::Failed(e.to_string()));
                        }
                    }
                }
                DataAction::Listen { port, label } => {
                    self.retire(host);
                    let handle = host.add_tcp(opts.socket, label);
                    match host.tcp(handle).listen(port) {
                        Ok(()) => self.data = Some(Data::new(handle, Phase::Listening)),
                        Err(e) => {
                            host.remove(handle);
                            let why = format!("cannot listen on port {port}: {e}");
                            ep.handle_data_event(DataEvent::Failed(why));
                        }
                    }
                }
                DataAction::ListenPassive { from, label } => {
                    self.retire(host);
                    let handle = host.add_tcp(opts.socket, label);
                    // A port nothing is bound to, or else one left only to sockets in TIME-WAIT
                    // or closed (the offer given up just above, say): so a small range serves
                    // one transfer after another, not one per TIME-WAIT.
                    let range = opts.passive_ports;
                    let free = range
                        .ports()
                        .find(|p| !host.port_in_use(*p))
                        .or_else(|| range.ports().find(|p| !host.port_held(*p)));
                    let listening = free.and_then(|p| host.tcp(handle).listen(p).ok().map(|_| p));
                    // Announce the address the control connection arrived at: it is of the
                    // client's family (IPv4 or IPv6).
                    let local = host.tcp(self.control).local_endpoint().map(|e| e.addr);
                    let ip: Option<IpAddr> = match local {
                        Some(addr) => Some(addr.into()),
                        None if from.is_ipv6() => host.ipv6().map(IpAddr::V6),
                        None => host.ipv4().map(IpAddr::V4),
                    };
                    match (listening, ip) {
                        (Some(port), Some(ip)) => {
                            let mut data = Data::new(handle, Phase::Listening);
                            data.only_from = Some(from);
                            self.data = Some(data);
                            let at = SocketAddr::new(ip, port);
                            ep.handle_data_event(DataEvent::Listening(at));
                        }
                        (None, _) => {
                            host.remove(handle);
                            // The session answers 425; the operator is the one who can act.
                            log::warn!(
                                "every passive port of {range} is in use: PASV/EPSV answered \
                                 425 (widen the range: --passive-ports)"
                            );
                            let why = format!("no free passive port in {range}");
                            ep.handle_data_event(DataEvent::Failed(why));
                        }
                        (Some(_), None) => {
                            host.remove(handle);
                            let why = "no local address to announce".to_string();
                            ep.handle_data_event(DataEvent::Failed(why));
                        }
                    }
                }
                DataAction::Send { fin } => self.set_phase(Phase::Sending(fin)),
                DataAction::Receive => self.set_phase(Phase::Receiving),
                DataAction::Abort => {
                    if let Some(d) = &mut self.data {
                        host.tcp(d.handle).abort();
                        d.phase = Phase::Done;
                    }
                    self.retire(host);
                }
            }
        }
        progress
    }

    fn set_phase(&mut self, phase: Phase) {
        if let Some(d) = &mut self.data
            && d.phase == Phase::Connected
        {
            d.phase = phase;
        }
    }

    /// Moves the data connection, finished or not, to the closing list.
    fn retire<D: Device>(&mut self, host: &mut Host<D>) {
        if let Some(d) = self.data.take() {
            if d.phase != Phase::Done {
                host.tcp(d.handle).abort();
            }
            self.closing.push(d.handle);
        }
    }

    fn data_step<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
    ) -> bool {
        let Some(d) = &mut self.data else {
            return false;
        };
        let socket = host.tcp(d.handle);
        let state = socket.state();
        let (progress, event) = match d.phase {
            Phase::Listening
                if d.only_from.is_some()
                    && !matches!(state, State::Listen | State::Closed)
                    && socket.remote_endpoint().map(|e| e.addr) != d.only_from.map(Into::into) =>
            {
                // Passive mode: a connection from anyone but the client is refused (RST) and
                // the port listens again.
                let intruder = socket.remote_endpoint();
                let port = socket.local_endpoint().map_or(0, |e| e.port);
                socket.abort();
                let _ = socket.listen(port);
                log::warn!("refused a passive data connection from {intruder:?}");
                (true, None)
            }
            Phase::Connecting | Phase::Listening => {
                if matches!(state, State::Established | State::CloseWait) {
                    d.phase = Phase::Connected;
                    (true, Some(DataEvent::Connected))
                } else if state == State::Closed && d.phase == Phase::Connecting {
                    d.phase = Phase::Done;
                    let why = "connection refused or timed out".to_string();
                    (true, Some(DataEvent::Failed(why)))
                } else {
                    (false, None)
                }
            }
            Phase::Connected | Phase::Done => (false, None),
            Phase::Sending(fin) => d.send(socket, ep, fin),
            Phase::Receiving => d.receive(socket, ep),
        };
        if let Some(event) = event {
            ep.handle_data_event(event);
        }
        if self.data.as_ref().is_some_and(|d| d.phase == Phase::Done) {
            self.retire(host);
        }
        progress
    }

    /// Forgets data sockets that have fully closed.
    fn reap<D: Device>(&mut self, host: &mut Host<D>) {
        self.closing.retain(|&h| {
            if host.tcp(h).state() == State::Closed {
                host.remove(h);
                false
            } else {
                true
            }
        });
    }
}

impl Data {
    fn new(handle: SocketHandle, phase: Phase) -> Self {
        Data {
            handle,
            phase,
            only_from: None,
            peek: Vec::new(),
            eof: false,
        }
    }

    /// Fills the send buffer from the endpoint and closes as `fin` says.
    ///
    /// For DATA+FIN the end of the data must be known before its last bytes reach the wire, so
    /// when the buffer fills up, one small look-ahead read ([`PEEK`] bytes) is kept aside: if it
    /// comes back empty, the data has ended and the FIN can still join the bytes in the buffer.
    fn send<E: Endpoint + ?Sized>(
        &mut self,
        socket: &mut smoltcp::socket::tcp::Socket<'static>,
        ep: &mut E,
        fin: FinPlacement,
    ) -> (bool, Option<DataEvent>) {
        if !socket.may_send() {
            self.phase = Phase::Done;
            return (true, Some(DataEvent::Failed("connection reset".into())));
        }
        let mut progress = false;
        while !self.eof && socket.can_send() {
            let n = if self.peek.is_empty() {
                socket
                    .send(|buf| {
                        let n = ep.read_data(buf);
                        (n, n)
                    })
                    .unwrap_or(0)
            } else {
                let n = socket.send_slice(&self.peek).unwrap_or(0);
                self.peek.drain(..n);
                if n == 0 {
                    break;
                }
                progress = true;
                continue;
            };
            if n == 0 {
                self.eof = true;
            }
            progress = true;
        }
        if !self.eof && self.peek.is_empty() {
            self.peek.resize(PEEK, 0);
            let n = ep.read_data(&mut self.peek);
            self.peek.truncate(n);
            self.eof = n == 0;
        }
        let done = self.eof
            && self.peek.is_empty()
            && match fin {
                FinPlacement::Piggyback => true,
                FinPlacement::Separate => socket.send_queue() == 0,
            };
        if done {
            socket.close();
            self.phase = Phase::Done;
            return (true, Some(DataEvent::Finished));
        }
        (progress, None)
    }

    /// Hands received bytes to the endpoint; on the peer's FIN, closes our side at once.
    fn receive<E: Endpoint + ?Sized>(
        &mut self,
        socket: &mut smoltcp::socket::tcp::Socket<'static>,
        ep: &mut E,
    ) -> (bool, Option<DataEvent>) {
        let mut progress = false;
        while socket.can_recv() {
            match socket.recv(|buf| {
                ep.write_data(buf);
                (buf.len(), buf.len())
            }) {
                Ok(n) if n > 0 => progress = true,
                _ => break,
            }
        }
        match socket.state() {
            State::CloseWait if socket.recv_queue() == 0 => {
                socket.close();
                self.phase = Phase::Done;
                (true, Some(DataEvent::Finished))
            }
            State::Closed | State::TimeWait | State::Closing | State::LastAck => {
                self.phase = Phase::Done;
                (true, Some(DataEvent::Failed("connection reset".into())))
            }
            _ => (progress, None),
        }
    }
}
