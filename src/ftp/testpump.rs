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

use super::client::Client;
use super::server::Session;
use super::{DataAction, DataEvent};

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
            self.server.handle_control(&bytes);
            self.client.control_sent(bytes.len());
            progress = true;
        }
        let bytes = self.server.control_out().to_vec();
        if !bytes.is_empty() {
            self.client.handle_control(&bytes);
            self.server.control_sent(bytes.len());
            progress = true;
        }
        if self.client_finish_pending {
            self.client_finish_pending = false;
            self.client.handle_data_event(DataEvent::Finished);
            progress = true;
        }
        if self.server.wants_close() && self.server.control_out().is_empty() && !self.control_closed
        {
            self.control_closed = true;
            self.client.handle_control_closed();
            progress = true;
        }
        progress |= self.actions();
        if let (Some(s), Some(c)) = (self.server_mode, self.client_mode) {
            assert!(s == c, "both sides want to send or both receive");
            let mut buf = vec![0u8; self.chunk];
            loop {
                let n = match s {
                    Side::Server => self.server.read_data(&mut buf),
                    Side::Client => self.client.read_data(&mut buf),
                };
                if n == 0 {
                    break;
                }
                match s {
                    Side::Server => self.client.write_data(&buf[..n]),
                    Side::Client => self.server.write_data(&buf[..n]),
                }
            }
            self.reset_link();
            match s {
                Side::Server => {
                    self.server.handle_data_event(DataEvent::Finished);
                    if self.client_finish_late {
                        self.client_finish_pending = true;
                    } else {
                        self.client.handle_data_event(DataEvent::Finished);
                    }
                }
                Side::Client => {
                    self.client.handle_data_event(DataEvent::Finished);
                    self.server.handle_data_event(DataEvent::Finished);
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
                                .handle_data_event(DataEvent::Failed("reset by client".into()));
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
                                .handle_data_event(DataEvent::Failed("reset by server".into()));
                        }
                        self.reset_link();
                    }
                    DataAction::Listen { .. } => panic!("server asked to listen"),
                    DataAction::ListenPassive { from, .. } => {
                        self.server_listening = Some(PASSIVE_PORT);
                        let at = passive_at(from);
                        self.server.handle_data_event(DataEvent::Listening(at));
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
            self.server.handle_data_event(DataEvent::Connected);
            self.client.handle_data_event(DataEvent::Connected);
        } else {
            self.client
                .handle_data_event(DataEvent::Failed("connection refused".into()));
        }
    }

    fn connect(&mut self, peer: SocketAddr) {
        if self.listening == Some(peer.port()) && !self.connected {
            self.connected = true;
            self.server.handle_data_event(DataEvent::Connected);
            self.client.handle_data_event(DataEvent::Connected);
        } else {
            self.server
                .handle_data_event(DataEvent::Failed("connection refused".into()));
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
    server.handle_control(format!("{line}\r\n").as_bytes());
    let mut got = Vec::new();
    let end = |moved: usize| match fail_after {
        Some(n) if moved >= n => DataEvent::Failed("reset".into()),
        _ => DataEvent::Finished,
    };
    while let Some(a) = server.poll_action() {
        match a {
            DataAction::Connect { .. } => server.handle_data_event(DataEvent::Connected),
            DataAction::ListenPassive { from, .. } => {
                let at = passive_at(from);
                server.handle_data_event(DataEvent::Listening(at));
                server.handle_data_event(DataEvent::Connected);
            }
            DataAction::Send { .. } => {
                let mut buf = vec![0u8; chunk];
                loop {
                    let n = server.read_data(&mut buf);
                    if n == 0 || fail_after.is_some_and(|f| got.len() >= f) {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                server.handle_data_event(end(got.len()));
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
                server.handle_data_event(end(moved));
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
