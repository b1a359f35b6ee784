//! # Conduit: an FTP endpoint on sockets
//!
//! Layer: network (maps FTP actions to sockets). A [`Conduit`] drives one sans-IO FTP
//! [`Endpoint`] (a server session or a client) over its control socket and its data connection:
//! it moves control bytes both ways, carries out [`DataAction`](crate::ftp::DataAction)s
//! (connect from port 20, listen on 5001, send, receive, abort) and reports
//! [`DataEvent`](crate::ftp::DataEvent)s, handing the endpoint the time ([`Now`]) with each
//! input. This is where the FIN placement is made real: queue the last bytes and close before
//! the next poll for DATA+FIN; wait for every byte to be acknowledged, then close, for a FIN
//! alone. It reads no FTP text.
//!
//! One [`Conduit::step`] settles everything that can be done without polling the stack: its
//! work (read control bytes, carry out actions, move data, write control bytes) is a set of
//! pending items, visited in a fixed order; an item that moves something marks the items it
//! can give work to, and the step ends when none is pending. `data.rs` holds the data
//! connection: the actions and the sending and receiving.

mod data;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::SystemTime;

use smoltcp::phy::Device;
use smoltcp::socket::tcp::State;

use crate::ftp::{Endpoint, Event, Now};
use crate::net::host::{Host, SocketHandle, SocketOptions};
use crate::net::ports::PortRange;
use data::{Data, Phase};

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

/// Most control bytes handed to the endpoint at once: between two pieces the endpoint is asked
/// whether it wants more ([`Endpoint::wants_control`]), so what one read can make it queue
/// (replies, waiting lines) stays small whatever the socket's buffer holds.
pub const CONTROL_CHUNK: usize = 512;

/// How long a control connection may take to close once its endpoint is done with it (after
/// `QUIT`, a `421`): a peer that reads nothing keeps our last reply and our FIN in a zero
/// window for ever, and with them its session's place; past this the connection is reset.
pub const CLOSE_LINGER: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(10);

/// One kind of work of a [`Conduit::step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    /// Control bytes from the socket to the endpoint (and the peer's close).
    ControlIn,
    /// The endpoint's data actions carried out.
    Actions,
    /// The data connection: its state news, bytes sent or received.
    Data,
    /// Control bytes from the endpoint to the socket (and our close).
    ControlOut,
}

impl Work {
    /// The order work is visited in, round after round: actions both before and after the
    /// data connection moves, so what its news asks for is done in the same round.
    const ORDER: [Work; 5] = [
        Work::ControlIn,
        Work::Actions,
        Work::Data,
        Work::Actions,
        Work::ControlOut,
    ];

    /// Every kind of work: where a step starts.
    const ALL: u8 = 0b1111;

    fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The work that may have something to do once this work has moved something: an
    /// endpoint that was fed may reply and act, and may handle lines it held (so want more
    /// control bytes); what it asked of the data connection is seen by [`Work::Data`]; sending
    /// replies may let it handle lines that waited for room, or close the connection.
    fn wakes(self) -> u8 {
        match self {
            Work::ControlIn => Work::Actions.bit() | Work::ControlOut.bit(),
            Work::Actions => Work::ControlIn.bit() | Work::Data.bit() | Work::ControlOut.bit(),
            Work::Data => Work::ControlIn.bit() | Work::Actions.bit() | Work::ControlOut.bit(),
            Work::ControlOut => Work::ALL,
        }
    }
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
    /// The endpoint said its session is over ([`Event::Ended`]).
    ended: bool,
    /// The endpoint's events, for the node that owns this conduit.
    events: VecDeque<Event>,
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
            ended: false,
            events: VecDeque::new(),
        }
    }

    /// The control socket.
    pub fn control(&self) -> SocketHandle {
        self.control
    }

    /// The next event of the endpoint (a client step done, the session over), in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
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

    /// Does everything that can be done now without polling the stack, handing the endpoint
    /// the host's clock and `wall`: fires its timers, then works until no work is pending.
    /// Returns whether anything happened.
    pub fn step<D: Device, E: Endpoint + ?Sized>(
        &mut self,
        host: &mut Host<D>,
        ep: &mut E,
        opts: &DataOptions,
        wall: SystemTime,
    ) -> bool {
        let mono = std::time::Duration::from_micros(host.now().total_micros().max(0) as u64);
        let now = Now::new(mono, wall);
        ep.handle_timeout(now);
        self.take_events(ep);
        let mut progress = false;
        let mut pending = Work::ALL;
        for work in Work::ORDER.iter().cycle() {
            if pending == 0 {
                break;
            }
            if pending & work.bit() == 0 {
                continue;
            }
            pending &= !work.bit();
            let moved = match work {
                Work::ControlIn => self.control_in(host, ep, now),
                Work::Actions => self.actions(host, ep, opts, now),
                Work::Data => self.data_step(host, ep, now),
                Work::ControlOut => self.control_out(host, ep),
            };
            self.take_events(ep);
            if moved {
                progress = true;
                pending |= work.wakes();
            }
        }
        self.reap(host);
        progress |= self.linger(host, ep);
        progress
    }

    /// Takes the endpoint's events: [`Event::Ended`] is noted, and all are kept for
    /// [`Conduit::poll_event`]. [`Conduit::step`] does it after every call into the endpoint;
    /// a node that calls into it directly does it afterwards.
    pub fn take_events<E: Endpoint + ?Sized>(&mut self, ep: &mut E) {
        while let Some(event) = ep.poll_event() {
            self.ended |= event == Event::Ended;
            self.events.push_back(event);
        }
    }

    /// Resets a control connection that has not closed within [`CLOSE_LINGER`] of its
    /// endpoint wanting it closed (the peer reads nothing: replies and FIN stay unsent).
    fn linger<D: Device, E: Endpoint + ?Sized>(&mut self, host: &mut Host<D>, ep: &E) -> bool {
        if !self.ended {
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
        now: Now,
    ) -> bool {
        let socket = host.tcp(self.control);
        let mut progress = false;
        while socket.can_recv() && ep.wants_control() {
            match socket.recv(|buf| {
                let n = buf.len().min(CONTROL_CHUNK);
                ep.handle_control(&buf[..n], now);
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
            ep.handle_control_closed(now);
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
        // The endpoint may have ended just now (a reply sent, lines it held handled).
        self.take_events(ep);
        // Not before the handshake is over: what is queued (a 421, say) must go out first.
        let opening = matches!(
            socket.state(),
            State::Listen | State::SynSent | State::SynReceived
        );
        let drained = ep.control_out().is_empty() || !socket.may_send();
        if (self.ended || self.control_gone) && drained && !opening && !self.control_closing {
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

    /// Moves the data connection, finished or not, to the closing list.
    fn retire<D: Device>(&mut self, host: &mut Host<D>) {
        if let Some(d) = self.data.take() {
            if d.phase != Phase::Done {
                host.tcp(d.handle).abort();
            }
            self.closing.push(d.handle);
        }
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
