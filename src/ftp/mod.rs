//! # FTP layer (sans-IO)
//!
//! Layer: application protocol. This module holds the FTP commands and replies, the server
//! session and client state machines, the listing formats, the jailed file view and the rules
//! for writing uploads. It is fed control-connection bytes and data-connection events and
//! answers with control bytes and [`DataAction`]s; it never touches a socket, smoltcp or a
//! clock. The network layer (`crate::net`) carries out the actions.
//!
//! The contract both state machines share with the network layer:
//!
//! 1. Control bytes in: `handle_control(&bytes)`.
//! 2. Control bytes out: `control_out()` gives the pending bytes, `control_sent(n)` drops the
//!    first `n` once they are in a socket.
//! 3. Data connection: `poll_action()` until `None`, after every call into the session. At most
//!    one data connection exists per session at a time.
//! 4. Data events: `handle_data_event(DataEvent)`; outgoing data is pulled with `read_data`, incoming
//!    data is pushed with `write_data`.

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

use std::net::{IpAddr, SocketAddr};

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
    /// The connection is up: send the bytes pulled with `read_data` until it returns 0, then
    /// close with this FIN placement. When closed, report [`DataEvent::Finished`].
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
    /// The connection could not be made or broke; the text says why.
    Failed(String),
    /// `Send`: every byte is queued and our FIN is on its way. `Receive`: the peer's FIN has
    /// arrived, every byte was pushed with `write_data`, and our FIN is on its way.
    Finished,
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
pub trait Endpoint {
    /// Bytes received on the control connection.
    fn handle_control(&mut self, bytes: &[u8]);
    /// Control bytes waiting to be sent.
    fn control_out(&self) -> &[u8];
    /// The first `n` bytes of [`Endpoint::control_out`] are in the socket.
    fn control_sent(&mut self, n: usize);
    /// The next thing to do with the data connection.
    fn poll_action(&mut self) -> Option<DataAction>;
    /// News of the data connection.
    fn handle_data_event(&mut self, event: DataEvent);
    /// Outgoing data (during `Send`) into `buf`; 0 means the end.
    fn read_data(&mut self, buf: &mut [u8]) -> usize;
    /// Incoming data (during `Receive`).
    fn write_data(&mut self, data: &[u8]);
    /// The control connection is to be closed once [`Endpoint::control_out`] is empty.
    fn wants_close(&self) -> bool;
    /// The peer closed the control connection.
    fn control_closed(&mut self) {}
    /// The monotonic time now (any origin): timers that are due fire.
    fn handle_time(&mut self, _now: std::time::Duration) {}
    /// When [`Endpoint::handle_time`] should next be called, if a timer runs.
    fn next_deadline(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether to read more control bytes now (false: leave them in the socket, so the peer's
    /// window closes, until the endpoint has caught up). Bytes fed anyway are still taken.
    fn wants_control(&self) -> bool {
        true
    }
}

/// Forwards [`Endpoint`] to a type's inherent methods of the same names.
macro_rules! endpoint_impl {
    ($ty:ty, wants_close: $wants:ident, closed: |$s:ident| $closed:expr $(, $timers:ident)?
     $(, back_pressure: $bp:ident)?) => {
        impl Endpoint for $ty {
            fn handle_control(&mut self, bytes: &[u8]) {
                <$ty>::handle_control(self, bytes)
            }
            fn control_out(&self) -> &[u8] {
                <$ty>::control_out(self)
            }
            fn control_sent(&mut self, n: usize) {
                <$ty>::control_sent(self, n)
            }
            fn poll_action(&mut self) -> Option<DataAction> {
                <$ty>::poll_action(self)
            }
            fn handle_data_event(&mut self, event: DataEvent) {
                <$ty>::handle_data_event(self, event)
            }
            fn read_data(&mut self, buf: &mut [u8]) -> usize {
                <$ty>::read_data(self, buf)
            }
            fn write_data(&mut self, data: &[u8]) {
                <$ty>::write_data(self, data)
            }
            fn wants_close(&self) -> bool {
                <$ty>::$wants(self)
            }
            fn control_closed(&mut self) {
                let $s = self;
                $closed
            }
            $(
                fn handle_time(&mut self, now: std::time::Duration) {
                    let _ = stringify!($timers);
                    <$ty>::handle_time(self, now)
                }
                fn next_deadline(&self) -> Option<std::time::Duration> {
                    <$ty>::next_deadline(self)
                }
            )?
            $(
                fn wants_control(&self) -> bool {
                    <$ty>::$bp(self)
                }
            )?
        }
    };
}

endpoint_impl!(server::Session, wants_close: wants_close, closed: |_s| (), timers,
               back_pressure: wants_control);
endpoint_impl!(client::Client, wants_close: is_finished, closed: |s| s.handle_control_closed(), timers);
