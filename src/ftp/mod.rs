//! # FTP layer (sans-IO)
//!
//! Layer: application protocol. This module holds the FTP commands and replies, the server
//! session and client state machines, the listing formats, the jailed file view and the rules
//! for writing uploads, and the verb table ([`verb`]) that says what each command is. It is
//! fed control-connection bytes and data-connection events and answers with control bytes,
//! [`DataAction`]s and [`Event`]s; it never touches a socket, smoltcp or a clock. The network
//! layer (`crate::net`) carries out the actions.
//!
//! The contract both state machines share with the network layer is [`Endpoint`], shaped like
//! quinn-proto's `Connection`: inputs are `handle_*(.., now)` calls, each with the time as one
//! [`Now`] value; outputs are polled (`control_out`/`control_sent` for the control bytes,
//! `poll_action`, `poll_event`, `poll_timeout`) after every input, until they give nothing.
//! Outgoing data is pulled with `read_data`, which says when it is the last; incoming data is
//! pushed with `write_data`. At most one data connection exists per session at a time.

mod ascii;
pub mod client;
pub mod command;
pub mod jail;
pub mod listing;
pub mod refusal;
pub mod reply;
pub mod server;
pub mod shell;
pub mod step;
#[cfg(test)]
mod testpump;
pub mod upload;
pub mod verb;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

/// Where the FIN of a data connection goes, relative to its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinPlacement {
    /// The FIN rides on the segment that carries the last byte (DATA+FIN).
    Piggyback,
    /// The FIN is sent alone, once every byte has been acknowledged.
    Separate,
}

/// The `--fin` choice: how every data connection of a session is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FinPolicy {
    /// As in the textbook figure: listings end with a FIN alone, files with DATA+FIN.
    #[default]
    Seed,
    /// Every transfer piggybacks its FIN on the last data segment.
    Piggyback,
    /// Every transfer sends its FIN alone after the data is acknowledged.
    Separate,
}

impl FinPolicy {
    /// FIN placement for a directory listing (`LIST`, `NLST`).
    pub fn for_listing(self) -> FinPlacement {
        match self {
            FinPolicy::Seed | FinPolicy::Separate => FinPlacement::Separate,
            FinPolicy::Piggyback => FinPlacement::Piggyback,
        }
    }

    /// FIN placement for a file (`RETR`, `STOR`).
    pub fn for_file(self) -> FinPlacement {
        match self {
            FinPolicy::Seed | FinPolicy::Piggyback => FinPlacement::Piggyback,
            FinPolicy::Separate => FinPlacement::Separate,
        }
    }
}

/// What a session asks the network layer to do with its data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataAction {
    /// Server, active mode: open a TCP connection to `peer` from the data source port (20).
    Connect {
        /// Address and port named by the client's `PORT` or `EPRT` (IPv4 or IPv6).
        peer: SocketAddr,
        /// Human name of the connection for traces, e.g. `RETR readme.txt data connection`.
        label: String,
    },
    /// Client, active mode: listen on local `port` for the server's connection.
    Listen {
        /// The port announced with `PORT` (5001, 5002, ...).
        port: u16,
        /// Human name of the connection for traces, e.g. `LIST data connection`.
        label: String,
    },
    /// Server, passive mode: listen on a free port of the passive range for one connection
    /// from `from` (the control connection's peer; others are refused), report the address
    /// with [`DataEvent::Listening`], then [`DataEvent::Connected`] when it arrives.
    ListenPassive {
        /// The only address allowed to connect.
        from: IpAddr,
        /// Human name of the connection for traces.
        label: String,
    },
    /// The connection is up: send the bytes pulled with `read_data` until it says the end,
    /// then close with this FIN placement. When closed, report [`DataEvent::Finished`].
    Send {
        /// Whether the FIN rides on the last data segment or travels alone.
        fin: FinPlacement,
    },
    /// The connection is up: push received bytes with `write_data` until the peer's FIN, then
    /// close our side at once. When closed, report [`DataEvent::Finished`].
    Receive,
    /// Drop the data connection (or the listening socket) now, with a RST if it is open.
    Abort,
}

/// What the network layer reports about the data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataEvent {
    /// Passive mode: listening on this address (of the control connection's family), to be
    /// announced with 227 or 229.
    Listening(SocketAddr),
    /// The TCP connection is established.
    Connected,
    /// The connection could not be made or broke.
    Failed(DataError),
    /// `Send`: every byte is queued and our FIN is on its way. `Receive`: the peer's FIN has
    /// arrived, every byte was pushed with `write_data`, and our FIN is on its way.
    Finished,
}

/// Why a data connection could not be made or broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataError {
    /// Connecting out failed at once (the network layer's words: a 4-tuple in use, say).
    Connect(String),
    /// Listening on `port` failed, for the reason given.
    Listen {
        /// The port asked for.
        port: u16,
        /// Why it failed.
        why: String,
    },
    /// Every port of the passive range (named) is in use.
    NoPassivePort(String),
    /// No local address of the control connection's family to announce.
    NoLocalAddress,
    /// Connecting out: refused (RST) or no answer.
    Refused,
    /// The connection was reset or closed under us.
    Reset,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Connect(why) => f.write_str(why),
            DataError::Listen { port, why } => write!(f, "cannot listen on port {port}: {why}"),
            DataError::NoPassivePort(range) => write!(f, "no free passive port in {range}"),
            DataError::NoLocalAddress => f.write_str("no local address to announce"),
            DataError::Refused => f.write_str("connection refused or timed out"),
            DataError::Reset => f.write_str("connection reset"),
        }
    }
}

impl std::error::Error for DataError {}

/// What [`Endpoint::read_data`] gave: `len` bytes, and whether they are the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    /// Bytes written into the buffer.
    pub len: usize,
    /// No byte follows these: the data has ended (always so when `len` is 0).
    pub end: bool,
}

impl Read {
    /// `len` bytes, more to come.
    pub fn more(len: usize) -> Read {
        Read { len, end: false }
    }

    /// `len` bytes, the last ones (0: nothing more at all).
    pub fn last(len: usize) -> Read {
        Read { len, end: true }
    }
}

/// The time handed to an endpoint with every input: one value, so a session has no clock of
/// its own and no second way of learning the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, any origin, never going back: timers run on it.
    pub mono: Duration,
    /// Wall-clock time: dates in listings.
    pub wall: SystemTime,
}

impl Now {
    /// The time `mono` on the monotonic clock and `wall` on the wall clock.
    pub fn new(mono: Duration, wall: SystemTime) -> Now {
        Now { mono, wall }
    }
}

/// News an endpoint gives the layer that drives it ([`Endpoint::poll_event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Client: a step finished, with its outcome.
    StepDone(step::Outcome),
    /// The session is over: close the control connection once [`Endpoint::control_out`] is
    /// empty. Given once.
    Ended,
}

/// Control bytes a state machine has said and the network layer has not taken yet (what
/// [`Endpoint::control_out`] shows and [`Endpoint::control_sent`] consumes).
#[derive(Debug, Default)]
pub(crate) struct Outbox(Vec<u8>);

impl Outbox {
    /// The bytes waiting.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The first `n` bytes are in a socket.
    pub(crate) fn sent(&mut self, n: usize) {
        self.0.drain(..n.min(self.0.len()));
    }

    /// Queues `bytes`.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// The sans-IO surface that the server session and the client share with the network layer.
///
/// Inputs take the time ([`Now`]); after each, the driver takes the outputs: the control bytes,
/// then [`Endpoint::poll_action`] and [`Endpoint::poll_event`] until `None`, and asks
/// [`Endpoint::poll_timeout`] when to call [`Endpoint::handle_timeout`].
pub trait Endpoint {
    /// Bytes received on the control connection.
    fn handle_control(&mut self, bytes: &[u8], now: Now);
    /// The peer closed the control connection.
    fn handle_control_closed(&mut self, now: Now);
    /// News of the data connection.
    fn handle_data_event(&mut self, event: DataEvent, now: Now);
    /// The time has come (or passed) for [`Endpoint::poll_timeout`]: timers that are due fire.
    /// Afterwards no timeout that `poll_timeout` reports is due at `now.mono`, unless the
    /// session has ended.
    fn handle_timeout(&mut self, now: Now);
    /// Control bytes waiting to be sent.
    fn control_out(&self) -> &[u8];
    /// The first `n` bytes of [`Endpoint::control_out`] are in the socket.
    fn control_sent(&mut self, n: usize);
    /// The next thing to do with the data connection.
    fn poll_action(&mut self) -> Option<DataAction>;
    /// The next news for the driver (a client step done, the session over).
    fn poll_event(&mut self) -> Option<Event>;
    /// When [`Endpoint::handle_timeout`] should next be called (monotonic), if a timer runs.
    fn poll_timeout(&self) -> Option<Duration>;
    /// Outgoing data (during `Send`) into `buf`, saying when it is the last.
    fn read_data(&mut self, buf: &mut [u8]) -> Read;
    /// Incoming data (during `Receive`).
    fn write_data(&mut self, data: &[u8]);
    /// Whether to read more control bytes now (false: leave them in the socket, so the peer's
    /// window closes, until the endpoint has caught up). Bytes fed anyway are still taken.
    fn wants_control(&self) -> bool {
        true
    }
}
