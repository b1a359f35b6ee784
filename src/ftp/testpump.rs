//! Test helper: an in-memory "network" that runs a [`Client`] against a server [`Session`].
//!
//! It moves control bytes both ways and carries out both sides' [`DataAction`]s: a server
//! `Connect` succeeds when the client listens on that port, then the bytes pulled from the
//! sender's `read_data` are pushed into the receiver's `write_data`, and both get `Finished`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The port the pump's server "listens" on in passive mode.
const PASSIVE_PORT: u16 = 50000;

/// Where the pump's server listens in passive mode: 10.0.0.1 or fd00::1, by the client's family.
fn passive_at(from: IpAddr) -> SocketAddr {
    let ip = match from {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    };
    SocketAddr::new(ip, PASSIVE_PORT)
}

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::client::Client;
use super::server::Session;
use super::{DataAction, DataError, DataEvent, Endpoint, Now};

/// The tests' wall clock: 2025-06-01 00:00:00 UTC (listing dates in the tests are relative to
/// it).
pub(crate) fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_748_736_000)
}

/// The tests' time: `mono` on the monotonic clock, [`wall`] on the wall clock.
pub(crate) fn at(mono: Duration) -> Now {
    Now::new(mono, wall())
}

/// The tests' time for inputs whose monotonic time does not matter (only `handle_timeout`
/// runs timers): zero, and [`wall`].
pub(crate) fn t0() -> Now {
    at(Duration::ZERO)
}

/// Which side sends on the data connection (as each side sees it from its own action).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// Client and server joined by an in-memory control and data "network".
pub(crate) struct Pump {
    /// The server session.
    pub server: Session,
    /// The client.
    pub client: Client,
    /// Every client action, in order.
    pub client_actions: Vec<DataAction>,
    /// Every server action, in order.
    pub server_actions: Vec<DataAction>,
    /// Bytes per `read_data` call.
    pub chunk: usize,
    /// Deliver the client's `Finished` (when it receives) only after the server's next
    /// control bytes, so the final reply arrives first.
    pub client_finish_late: bool,
    listening: Option<u16>,
    /// Passive mode: the server's listening port.
    server_listening: Option<u16>,
    connected: bool,
    server_mode: Option<Side>,
    client_mode: Option<Side>,
    client_finish_pending: bool,
    control_closed: bool,
}

impl Pump {
    /// Joins `client` and `server`.
    pub fn new(server: Session, client: Client) -> Pump {
        Pump {
            server,
            client,
            client_actions: Vec::new(),
            server_actions: Vec::new(),
            chunk: 1000,
            client_finish_late: false,
            listening: None,
            server_listening: None,
            connected: false,
            server_mode: None,
            client_mode: None,
            client_finish_pending: false,
            control_closed: false,
        }
    }

    /// Runs until the client is finished or nothing moves; returns the number of rounds.
    pub fn run(&mut self) -> usize {
        for round in 0..100_000 {
            if !self.round() {
                return round;
            }
        }
        panic!("pump did not settle");
    }

    fn reset_link(&mut self) {
        self.listening = None;
        self.server_listening = None;
        self.connected = false;
        self.server_mode = None;
        self.client_mode = None;
    }

    fn round(&mut self) -> bool {
        let mut progress = false;
        let bytes = self.client.control_out().to_vec();
        if !bytes.is_empty() {
            self.server.handle_control(&bytes, t0());
            self.client.control_sent(bytes.len());
            progress = true;
        }
        let bytes = self.server.control_out().to_vec();
        if !bytes.is_empty() {
            self.client.handle_control(&bytes, t0());
            self.server.control_sent(bytes.len());
            progress = true;
        }
        if self.client_finish_pending {
            self.client_finish_pending = false;
            self.client.handle_data_event(DataEvent::Finished, t0());
            progress = true;
        }
        if self.server.wants_close() && self.server.control_out().is_empty() && !self.control_closed
        {
            self.control_closed = true;
            self.client.handle_control_closed(t0());
            progress = true;
        }
        progress |= self.actions();
        if let (Some(s), Some(c)) = (self.server_mode, self.client_mode) {
            assert!(s == c, "both sides want to send or both receive");
            let mut buf = vec![0u8; self.chunk];
            loop {
                let read = match s {
                    Side::Server => self.server.read_data(&mut buf),
                    Side::Client => self.client.read_data(&mut buf),
                };
                let n = read.len;
                if n > 0 {
                    match s {
                        Side::Server => self.client.write_data(&buf[..n]),
                        Side::Client => self.server.write_data(&buf[..n]),
                    }
                }
                if read.end || n == 0 {
                    break;
                }
            }
            self.reset_link();
            match s {
                Side::Server => {
                    self.server.handle_data_event(DataEvent::Finished, t0());
                    if self.client_finish_late {
                        self.client_finish_pending = true;
                    } else {
                        self.client.handle_data_event(DataEvent::Finished, t0());
                    }
                }
                Side::Client => {
                    self.client.handle_data_event(DataEvent::Finished, t0());
                    self.server.handle_data_event(DataEvent::Finished, t0());
                }
            }
            progress = true;
        }
        progress
    }

    /// Carries out pending actions of both sides until there are none.
    fn actions(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut moved = false;
            while let Some(a) = self.client.poll_action() {
                moved = true;
                self.client_actions.push(a.clone());
                match a {
                    DataAction::Listen { port, .. } => self.listening = Some(port),
                    DataAction::Send { .. } => self.client_mode = Some(Side::Client),
                    DataAction::Receive => self.client_mode = Some(Side::Server),
                    DataAction::Abort => {
                        if self.connected {
                            self.server
                                .handle_data_event(DataEvent::Failed(DataError::Reset), t0());
                        }
                        self.reset_link();
                    }
                    DataAction::Connect { peer, .. } => self.connect_passive(peer),
                    DataAction::ListenPassive { .. } => panic!("client asked to listen passively"),
                }
            }
            while let Some(a) = self.server.poll_action() {
                moved = true;
                self.server_actions.push(a.clone());
                match a {
                    DataAction::Connect { peer, .. } => self.connect(peer),
                    DataAction::Send { .. } => self.server_mode = Some(Side::Server),
                    DataAction::Receive => self.server_mode = Some(Side::Client),
                    DataAction::Abort => {
                        if self.connected {
                            self.client
                                .handle_data_event(DataEvent::Failed(DataError::Reset), t0());
                        }
                        self.reset_link();
                    }
                    DataAction::Listen { .. } => panic!("server asked to listen"),
                    DataAction::ListenPassive { from, .. } => {
                        self.server_listening = Some(PASSIVE_PORT);
                        let at = passive_at(from);
                        self.server
                            .handle_data_event(DataEvent::Listening(at), t0());
                    }
                }
            }
            any |= moved;
            if !moved {
                return any;
            }
        }
    }

    /// Passive mode: the client connects to the server's listening port.
    fn connect_passive(&mut self, peer: SocketAddr) {
        if self.server_listening == Some(peer.port()) && !self.connected {
            self.connected = true;
            self.server.handle_data_event(DataEvent::Connected, t0());
            self.client.handle_data_event(DataEvent::Connected, t0());
        } else {
            self.client
                .handle_data_event(DataEvent::Failed(DataError::Refused), t0());
        }
    }

    fn connect(&mut self, peer: SocketAddr) {
        if self.listening == Some(peer.port()) && !self.connected {
            self.connected = true;
            self.server.handle_data_event(DataEvent::Connected, t0());
            self.client.handle_data_event(DataEvent::Connected, t0());
        } else {
            self.server
                .handle_data_event(DataEvent::Failed(DataError::Refused), t0());
        }
    }
}

/// Runs one command `line` against `server` as a bare client would, without a [`Client`]:
/// answers `Connect` with `Connected`, pulls `Send` data in `chunk`-byte reads, pushes `upload`
/// in `chunk`-byte pieces on `Receive`, and reports `Finished`. With `fail_after` set, the
/// connection breaks (`Failed`) once that many bytes have moved. Returns the replies and the
/// bytes received.
pub(crate) fn raw_transfer(
    server: &mut Session,
    line: &str,
    upload: &[u8],
    chunk: usize,
    fail_after: Option<usize>,
) -> (String, Vec<u8>) {
    server.handle_control(format!("{line}\r\n").as_bytes(), t0());
    let mut got = Vec::new();
    let end = |moved: usize| match fail_after {
        Some(n) if moved >= n => DataEvent::Failed(DataError::Reset),
        _ => DataEvent::Finished,
    };
    while let Some(a) = server.poll_action() {
        match a {
            DataAction::Connect { .. } => server.handle_data_event(DataEvent::Connected, t0()),
            DataAction::ListenPassive { from, .. } => {
                let at = passive_at(from);
                server.handle_data_event(DataEvent::Listening(at), t0());
                server.handle_data_event(DataEvent::Connected, t0());
            }
            DataAction::Send { .. } => {
                let mut buf = vec![0u8; chunk];
                loop {
                    let read = server.read_data(&mut buf);
                    if read.len == 0 || fail_after.is_some_and(|f| got.len() >= f) {
                        break;
                    }
                    got.extend_from_slice(&buf[..read.len]);
                    if read.end {
                        break;
                    }
                }
                server.handle_data_event(end(got.len()), t0());
            }
            DataAction::Receive => {
                let mut moved = 0;
                for piece in upload.chunks(chunk) {
                    if fail_after.is_some_and(|f| moved >= f) {
                        break;
                    }
                    server.write_data(piece);
                    moved += piece.len();
                }
                server.handle_data_event(end(moved), t0());
            }
            DataAction::Abort => {}
            DataAction::Listen { .. } => panic!("server asked to listen"),
        }
    }
    let replies = String::from_utf8_lossy(server.control_out()).into_owned();
    let n = server.control_out().len();
    server.control_sent(n);
    (replies, got)
}
