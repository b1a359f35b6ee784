//! # FTP server session (sans-IO, application layer)
//!
//! Layer: application protocol. One [`Session`] per control connection: it is fed control bytes
//! and data-connection events and answers with reply bytes and [`DataAction`]s, following the
//! contract in [`crate::ftp`]. Active mode only (`PORT`). It reads and writes files through the
//! [`Jail`]; it never touches sockets, smoltcp or the clock (the time comes in with
//! [`Session::new`] and [`Session::set_now`]).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::command::{self, Command, Line, LineBuffer, TransferType};
use super::jail::Jail;
use super::listing;
use super::reply::Reply;
use super::{DataAction, DataEvent, FinPolicy};

/// How a server is set up; shared by all its sessions.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The directory served as `/`.
    pub root: PathBuf,
    /// `(user, password)` pairs that may log in.
    pub accounts: Vec<(String, String)>,
    /// Whether `anonymous` and `ftp` may log in with any password.
    pub anonymous: bool,
    /// Whether `STOR` is allowed.
    pub writable: bool,
    /// How data connections are released.
    pub fin: FinPolicy,
    /// Text of the `220` greeting.
    pub greeting: String,
}

/// What a transfer moves.
enum Payload {
    /// A listing generated when the data connection comes up (`LIST` / `NLST`).
    Listing {
        path: PathBuf,
        name: String,
        names_only: bool,
        data: Vec<u8>,
        pos: usize,
    },
    /// A file read in chunks (`RETR`).
    Retr { file: File, size: u64 },
    /// A file written as data arrives (`STOR`); `None` once a write failed.
    Stor { file: Option<File> },
}

/// The one data transfer of a session.
struct Transfer {
    /// Argument as typed, for the 150 reply.
    arg: String,
    payload: Payload,
    connected: bool,
    /// A local read/write error: answered with 451 when the connection finishes.
    error: Option<String>,
}

/// One server-side FTP session (one control connection).
pub struct Session {
    config: Arc<ServerConfig>,
    jail: Arc<Jail>,
    peer: Ipv4Addr,
    now: SystemTime,
    lines: LineBuffer,
    out: Vec<u8>,
    actions: VecDeque<DataAction>,
    pending_user: Option<String>,
    user: Option<String>,
    cwd: String,
    port: Option<SocketAddrV4>,
    transfer: Option<Transfer>,
    closing: bool,
}

fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

impl Session {
    /// A new session for a client at `peer`; queues the `220` greeting.
    pub fn new(
        config: Arc<ServerConfig>,
        jail: Arc<Jail>,
        peer: Ipv4Addr,
        now: SystemTime,
    ) -> Self {
        let mut s = Session {
            config,
            jail,
            peer,
            now,
            lines: LineBuffer::new(),
            out: Vec::new(),
            actions: VecDeque::new(),
            pending_user: None,
            user: None,
            cwd: "/".to_string(),
            port: None,
            transfer: None,
            closing: false,
        };
        let greeting = s.config.greeting.clone();
        s.reply(220, &greeting);
        s
    }

    /// The client's address on the control connection.
    pub fn peer(&self) -> Ipv4Addr {
        self.peer
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Updates the time used for listing dates.
    pub fn set_now(&mut self, now: SystemTime) {
        self.now = now;
    }

    /// Feeds bytes received on the control connection.
    pub fn handle_control(&mut self, bytes: &[u8]) {
        if self.closing {
            return;
        }
        self.lines.push(bytes);
        self.process();
    }

    /// Reply bytes waiting to be sent on the control connection.
    pub fn control_out(&self) -> &[u8] {
        &self.out
    }

    /// Drops the first `n` bytes of [`Session::control_out`], now in a socket.
    pub fn control_sent(&mut self, n: usize) {
        let n = n.min(self.out.len());
        self.out.drain(..n);
    }

    /// The next data-connection action, if any.
    pub fn poll_action(&mut self) -> Option<DataAction> {
        self.actions.pop_front()
    }

    /// True once `QUIT` was answered: close the control connection when `control_out()` is
    /// empty.
    pub fn wants_close(&self) -> bool {
        self.closing
    }

    /// Reports what happened to the data connection.
    pub fn handle_data_event(&mut self, ev: DataEvent) {
        let Some(t) = self.transfer.as_mut() else {
            log::debug!("data event {ev:?} with no transfer");
            return;
        };
        match (ev, t.connected) {
            (DataEvent::Connected, false) => {
                t.connected = true;
                self.start_transfer();
            }
            (DataEvent::Connected, true) => log::debug!("duplicate Connected event"),
            (DataEvent::Finished, true) => {
                match t.error.take() {
                    Some(e) => self.reply(451, &format!("{e}.")),
                    None if matches!(t.payload, Payload::Listing { .. }) => {
                        self.reply(226, "Directory send OK.")
                    }
                    None => self.reply(226, "Transfer complete."),
                }
                self.end_transfer();
            }
            (ev @ (DataEvent::Finished | DataEvent::Failed(_)), false) => {
                log::debug!("data connection failed: {ev:?}");
                self.reply(425, "Can't open data connection.");
                self.end_transfer();
            }
            (DataEvent::Failed(why), true) => {
                log::debug!("data connection broke: {why}");
                self.reply(426, "Connection closed; transfer aborted.");
                self.end_transfer();
            }
        }
    }

    /// Fills `buf` with outgoing data for a `Send` transfer; 0 means no more.
    pub fn read_data(&mut self, buf: &mut [u8]) -> usize {
        let Some(t) = self.transfer.as_mut() else {
            return 0;
        };
        if !t.connected || t.error.is_some() {
            return 0;
        }
        match &mut t.payload {
            Payload::Listing { data, pos, .. } => {
                let n = buf.len().min(data.len().saturating_sub(*pos));
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                n
            }
            Payload::Retr { file, .. } => loop {
                match file.read(buf) {
                    Ok(n) => return n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        log::warn!("read error during RETR: {e}");
                        t.error = Some("Failure reading local file".to_string());
                        return 0;
                    }
                }
            },
            Payload::Stor { .. } => 0,
        }
    }

    /// Takes incoming data of a `Receive` transfer (`STOR`).
    pub fn write_data(&mut self, data: &[u8]) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if let Payload::Stor { file } = &mut t.payload
            && let Some(f) = file
            && let Err(e) = f.write_all(data)
        {
            log::warn!("write error during STOR: {e}");
            t.error = Some("Failure writing to local file".to_string());
            *file = None;
        }
    }

    fn reply(&mut self, code: u16, text: &str) {
        self.send(Reply::new(code, text));
    }

    fn send(&mut self, reply: Reply) {
        self.out.extend_from_slice(&reply.to_bytes());
    }

    fn end_transfer(&mut self) {
        self.transfer = None;
        self.process();
    }

    /// Handles queued lines until a transfer starts or the session closes.
    fn process(&mut self) {
        while self.transfer.is_none() && !self.closing {
            match self.lines.next_line() {
                Some(Line::TooLong) => self.reply(500, "Command line too long."),
                Some(Line::Complete(line)) => self.handle_line(&line),
                None => break,
            }
        }
    }

    fn handle_line(&mut self, line: &[u8]) {
        let cmd = match command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                let verb = command::verb_of(line);
                let pre_login_ok = matches!(
                    verb.as_str(),
                    "USER" | "PASS" | "QUIT" | "FEAT" | "SYST" | "NOOP"
                );
                if self.user.is_none() && !verb.is_empty() && !pre_login_ok && e.code() != 500 {
                    self.reply(530, "Please login with USER and PASS.");
                } else {
                    self.reply(e.code(), e.message());
                }
                return;
            }
        };
        let pre_login_ok = matches!(
            cmd,
            Command::User(_)
                | Command::Pass(_)
                | Command::Quit
                | Command::Feat
                | Command::Syst
                | Command::Noop
        );
        if self.user.is_none() && !pre_login_ok {
            self.reply(530, "Please login with USER and PASS.");
            return;
        }
        self.execute(cmd);
    }

    fn execute(&mut self, cmd: Command) {
        match cmd {
            Command::User(name) => {
                self.user = None;
                self.pending_user = Some(name);
                self.reply(331, "Please specify the password.");
            }
            Command::Pass(pass) => self.pass(&pass),
            Command::Syst => self.reply(215, "UNIX Type: L8"),
            Command::Feat => self.send(Reply::multi(
                211,
                vec!["Features:".into(), " SIZE".into(), "End".into()],
            )),
            Command::Pwd => {
                let text = format!(
                    "\"{}\" is the current directory",
                    self.cwd.replace('"', "\"\"")
                );
                self.reply(257, &text);
            }
            Command::Cwd(path) => self.cwd(&path),
            Command::Cdup => self.cwd(".."),
            // Data is always sent as is (image); TYPE A is accepted for old clients.
            Command::Type(TransferType::Ascii) => self.reply(200, "Switching to ASCII mode."),
            Command::Type(TransferType::Image) => self.reply(200, "Switching to Binary mode."),
            Command::Mode => self.reply(200, "Mode set to S."),
            Command::Stru => self.reply(200, "Structure set to F."),
            Command::Noop => self.reply(200, "NOOP ok."),
            Command::Port(addr) => {
                self.port = Some(addr);
                self.reply(200, "PORT command successful.");
            }
            Command::List(path) => self.listing(path, false),
            Command::Nlst(path) => self.listing(path, true),
            Command::Retr(path) => self.retr(path),
            Command::Stor(path) => self.stor(path),
            Command::Size(path) => {
                let size = self
                    .resolve(&path)
                    .and_then(|p| std::fs::metadata(p).ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len());
                match size {
                    Some(n) => self.reply(213, &n.to_string()),
                    None => self.reply(550, "Could not get file size."),
                }
            }
            Command::Quit => {
                self.reply(221, "Goodbye.");
                self.closing = true;
            }
            Command::Unknown(verb) => {
                log::debug!("unimplemented verb {verb}");
                self.reply(502, "Command not implemented.");
            }
        }
    }

    fn pass(&mut self, pass: &str) {
        if self.user.is_some() {
            self.reply(230, "Already logged in.");
            return;
        }
        let Some(name) = self.pending_user.take() else {
            self.reply(503, "Login with USER first.");
            return;
        };
        let ok = (self.config.anonymous && is_anonymous(&name))
            || self
                .config
                .accounts
                .iter()
                .any(|(u, p)| *u == name && p == pass);
        if ok {
            self.user = Some(name);
            self.reply(230, "Login successful.");
        } else {
            self.reply(530, "Login incorrect.");
        }
    }

    /// The real, jailed path of an existing virtual path relative to the cwd.
    fn resolve(&self, arg: &str) -> Option<PathBuf> {
        let vpath = Jail::normalize(&self.cwd, arg).ok()?;
        self.jail.resolve_existing(&vpath).ok()
    }

    fn cwd(&mut self, arg: &str) {
        let Ok(vpath) = Jail::normalize(&self.cwd, arg) else {
            self.reply(550, "Failed to change directory.");
            return;
        };
        match self.jail.resolve_existing(&vpath) {
            Ok(real) if real.is_dir() => {
                self.cwd = vpath;
                self.reply(250, "Directory successfully changed.");
            }
            _ => self.reply(550, "Failed to change directory."),
        }
    }

    /// Takes the address of the last `PORT`, or answers 425.
    fn take_port(&mut self) -> Option<SocketAddrV4> {
        let port = self.port.take();
        if port.is_none() {
            self.reply(425, "Use PORT first.");
        }
        port
    }

    fn begin(&mut self, peer: SocketAddrV4, label: String, arg: String, payload: Payload) {
        self.transfer = Some(Transfer {
            arg,
            payload,
            connected: false,
            error: None,
        });
        self.actions.push_back(DataAction::Connect { peer, label });
    }

    fn listing(&mut self, path: Option<String>, names_only: bool) {
        let Some(peer) = self.take_port() else {
            return;
        };
        let arg = path.unwrap_or_default();
        let Some(real) = self.resolve(&arg) else {
            self.reply(550, "Failed to open directory.");
            return;
        };
        let name = arg.rsplit('/').next().unwrap_or("").to_string();
        let verb = if names_only { "NLST" } else { "LIST" };
        let payload = Payload::Listing {
            path: real,
            name,
            names_only,
            data: Vec::new(),
            pos: 0,
        };
        self.begin(peer, format!("{verb} data connection"), arg, payload);
    }

    fn retr(&mut self, arg: String) {
        let Some(peer) = self.take_port() else {
            return;
        };
        let opened = self.resolve(&arg).and_then(|real| {
            let file = File::open(real).ok()?;
            let meta = file.metadata().ok()?;
            meta.is_file().then_some((file, meta.len()))
        });
        let Some((file, size)) = opened else {
            self.reply(550, "Failed to open file.");
            return;
        };
        let label = format!("RETR {arg} data connection");
        self.begin(peer, label, arg, Payload::Retr { file, size });
    }

    fn stor(&mut self, arg: String) {
        if !self.config.writable {
            self.reply(550, "Permission denied.");
            return;
        }
        let Some(peer) = self.take_port() else {
            return;
        };
        let created = Jail::normalize(&self.cwd, &arg)
            .and_then(|v| self.jail.resolve_new(&v))
            .ok()
            .and_then(|real| File::create(real).ok());
        let Some(file) = created else {
            self.reply(553, "Could not create file.");
            return;
        };
        let label = format!("STOR {arg} data connection");
        self.begin(peer, label, arg, Payload::Stor { file: Some(file) });
    }

    /// The data connection is up: send the 150 reply and the Send/Receive action.
    fn start_transfer(&mut self) {
        let now = self.now;
        let fin = self.config.fin;
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        let (reply, action) = match &mut t.payload {
            Payload::Listing {
                path,
                name,
                names_only,
                data,
                ..
            } => {
                let made = if *names_only {
                    listing::nlst(path, name)
                } else {
                    listing::list(path, name, now)
                };
                match made {
                    Ok(bytes) => *data = bytes,
                    Err(e) => {
                        log::warn!("listing failed: {e}");
                        t.error = Some("Failure reading directory".to_string());
                    }
                }
                (
                    Reply::new(150, "Here comes the directory listing."),
                    DataAction::Send {
                        fin: fin.for_listing(),
                    },
                )
            }
            Payload::Retr { size, .. } => (
                Reply::new(
                    150,
                    format!(
                        "Opening BINARY mode data connection for {} ({} bytes).",
                        t.arg, size
                    ),
                ),
                DataAction::Send {
                    fin: fin.for_file(),
                },
            ),
            Payload::Stor { .. } => (Reply::new(150, "Ok to send data."), DataAction::Receive),
        };
        self.send(reply);
        self.actions.push_back(action);
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
