//! The data connection of a [`Conduit`]: the data actions carried out on sockets (connect,
//! listen, passive listen, send, receive, abort), the connection's news reported to the
//! endpoint, and the bytes moved between the endpoint and the socket.

use smoltcp::phy::Device;
use smoltcp::socket::tcp::State;
use smoltcp::wire::IpEndpoint;
use std::net::{IpAddr, SocketAddr};

use super::{Conduit, DataOptions};
use crate::ftp::{DataAction, DataError, DataEvent, Endpoint, FinPlacement, Now, Read};
use crate::net::host::{Host, SocketHandle};

/// Where the data connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Connecting out (server, active mode).
    Connecting,
    /// Waiting for the peer to connect (client, active mode).
    Listening,
    /// Up; the endpoint has not said yet whether to send or receive.
    Connected,
    /// Sending what the endpoint gives, then the FIN placed so.
    Sending(FinPlacement),
    /// Receiving until the peer's FIN.
    Receiving,
    /// Finished, failed or aborted: waiting for the socket to close.
    Done,
}

/// The data connection in use.
#[derive(Debug)]
pub(super) struct Data {
    pub(super) handle: SocketHandle,
    pub(super) phase: Phase,
    /// Passive mode: only a connection from this address is accepted.
    only_from: Option<IpAddr>,
    /// The endpoint has said its data ends (`Send`).
    eof: bool,
}

impl Conduit {
    /// Carries out the endpoint's data actions, until it has none; what fails at once (or a
    /// passive port found) is reported to it at once.
    pub(super) fn actions<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
        opts: &DataOptions,
        now: Now,
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
                            ep.handle_data_event(
                                DataEvent::Failed(DataError::Connect(e.to_string())),
                                now,
                            );
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
                            let why = DataError::Listen {
                                port,
                                why: e.to_string(),
                            };
                            ep.handle_data_event(DataEvent::Failed(why), now);
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
                            ep.handle_data_event(DataEvent::Listening(at), now);
                        }
                        (None, _) => {
                            host.remove(handle);
                            // The session answers 425; the operator is the one who can act.
                            log::warn!(
                                "every passive port of {range} is in use: PASV/EPSV answered \
                                 425 (widen the range: --passive-ports)"
                            );
                            let why = DataError::NoPassivePort(range.to_string());
                            ep.handle_data_event(DataEvent::Failed(why), now);
                        }
                        (Some(_), None) => {
                            host.remove(handle);
                            let why = DataError::NoLocalAddress;
                            ep.handle_data_event(DataEvent::Failed(why), now);
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

    /// The endpoint said what to do with a connection that is up.
    fn set_phase(&mut self, phase: Phase) {
        if let Some(d) = &mut self.data
            && d.phase == Phase::Connected
        {
            d.phase = phase;
        }
    }

    /// The data connection's news (up, refused, finished, reset) for the endpoint, and its
    /// bytes moved as the phase says.
    pub(super) fn data_step<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
        now: Now,
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
                    (true, Some(DataEvent::Failed(DataError::Refused)))
                } else {
                    (false, None)
                }
            }
            Phase::Connected | Phase::Done => (false, None),
            Phase::Sending(fin) => d.send(socket, ep, fin),
            Phase::Receiving => d.receive(socket, ep),
        };
        if let Some(event) = event {
            ep.handle_data_event(event, now);
        }
        if self.data.as_ref().is_some_and(|d| d.phase == Phase::Done) {
            self.retire(host);
        }
        progress
    }
}

impl Data {
    /// A data connection on the socket `handle`, in `phase`.
    pub(super) fn new(handle: SocketHandle, phase: Phase) -> Self {
        Data {
            handle,
            phase,
            only_from: None,
            eof: false,
        }
    }

    /// Fills the send buffer from the endpoint and closes as `fin` says. The endpoint tells
    /// the end of its data with its last bytes ([`Read::end`]), so for DATA+FIN the FIN is
    /// asked for in the step that queues the last byte, without reading ahead.
    fn send<E: Endpoint + ?Sized>(
        &mut self,
        socket: &mut smoltcp::socket::tcp::Socket<'static>,
        ep: &mut E,
        fin: FinPlacement,
    ) -> (bool, Option<DataEvent>) {
        if !socket.may_send() {
            self.phase = Phase::Done;
            return (true, Some(DataEvent::Failed(DataError::Reset)));
        }
        let mut progress = false;
        while !self.eof && socket.can_send() {
            let read = socket
                .send(|buf| {
                    let read = ep.read_data(buf);
                    (read.len, read)
                })
                .unwrap_or(Read::last(0));
            self.eof = read.end || read.len == 0;
            progress = true;
        }
        let done = self.eof
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
                (true, Some(DataEvent::Failed(DataError::Reset)))
            }
            _ => (progress, None),
        }
    }
}
