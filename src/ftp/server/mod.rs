//! # FTP server session (sans-IO, application layer)
//!
//! Layer: application protocol. One [`Session`] per control connection: it is fed control bytes
//! and data-connection events and answers with reply bytes and [`DataAction`]s, following the
//! contract in [`crate::ftp`]. Active (`PORT`) and passive (`PASV`, `EPSV`) mode. It reads and
//! writes files through the [`Jail`]; it never touches sockets, smoltcp or the clock: the time
//! comes with every input as one [`Now`] (its wall clock dates listings, its monotonic clock
//! runs the timers of `timers.rs` when handed in with `handle_timeout`). `endpoint.rs` holds
//! the [`crate::ftp::Endpoint`] implementation.
//!
//! Where each verb lives: what a verb is (arguments, login, writes, data connection, HELP and
//! FEAT) is its row in [`crate::ftp::verb`]; `dispatch.rs` parses a line, applies the login and
//! write gates and sends each verb to its handler in one match. This file holds the session
//! and `USER`, `REIN`, `CWD`; `login.rs` `PASS` (accounts, anonymous users and what they may
//! write, the failed-login limits; `guard.rs` the one shared by all sessions of a server);
//! `mode.rs` the data-connection modes (`PORT EPRT PASV EPSV`); `files.rs` the file verbs
//! (`RETR STOR STOU APPE DELE RNFR RNTO MKD RMD SIZE MDTM`, listings); `info.rs` the
//! informational ones (`FEAT OPTS HELP STAT SITE MLST`); `transfer.rs` the data connection
//! (events, `read_data`/`write_data`, ASCII, `ABOR`); `timers.rs` the idle timeout, the delay
//! after a failed login and the data connection's deadline.

mod dispatch;
mod endpoint;
mod files;
pub mod guard;
mod info;
mod login;
mod mode;
mod timers;
mod transfer;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::command::{Line, LineBuffer};
use super::jail::Jail;
use super::listing::Facts;
use super::reply::Reply;
use super::{DataAction, FinPolicy, Now, Outbox};
use guard::LoginGuard;
use transfer::Transfer;

/// Reply bytes not yet taken by the network layer above which a session handles no further
/// command line (the lines wait, and [`crate::ftp::Endpoint::wants_control`] says to stop reading): a client
/// that sends commands and never reads the replies cannot grow the server's memory.
pub const MAX_UNSENT: usize = 64 * 1024;

/// Complete command lines a session keeps waiting at most (held during a transfer, or behind a
/// delayed reply or a full outbox) before [`crate::ftp::Endpoint::wants_control`] says to stop reading; each
/// line is at most [`crate::ftp::command::MAX_LINE`] bytes.
pub const MAX_QUEUED_LINES: usize = 8;

/// How a server is set up; shared by all its sessions.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The directory served as `/`.
    pub root: PathBuf,
    /// `(user, password)` pairs that may log in.
    pub accounts: Vec<(String, String)>,
    /// Whether `anonymous` and `ftp` may log in with any password.
    pub anonymous: bool,
    /// Whether the commands that change files (`STOR STOU APPE DELE RMD MKD RNFR RNTO`) are
    /// allowed; when false they get `550`.
    pub writable: bool,
    /// How data connections are released.
    pub fin: FinPolicy,
    /// Text of the `220` greeting.
    pub greeting: String,
    /// Whether `PORT` may name another host than the control connection's peer, or a port
    /// below 1024 (an FTP bounce, RFC 2577). Safe default: `false` (answered with `501`).
    pub allow_foreign_port: bool,
    /// Failed `PASS` attempts after which the session answers `421` and closes; 0 means no
    /// limit. Safe default: 3.
    pub max_login_failures: u32,
    /// Whether `STOR`/`STOU` write to a temporary (`.smolftp-part-<16 random hex digits>`, see
    /// [`crate::ftp::upload`]) renamed on success, so an interrupted upload never leaves a
    /// truncated file under the final name and two uploads to one name never mix. Safe
    /// default: `true`.
    pub atomic_uploads: bool,
    /// A control connection idle this long (no command, no transfer) is told `421` and
    /// closed; `None`: never. Default: 300 s.
    pub idle_timeout: Option<Duration>,
    /// A failed `PASS` is answered after this delay, and nothing else is read meanwhile
    /// (slows password guessing down, as vsftpd does). Default: 1 s.
    pub login_failure_delay: Duration,
    /// A transfer whose data connection has not come within this gets `425`. Default: 30 s.
    pub data_timeout: Duration,
    /// Whether anonymous users may change files when `writable` is set; if not, they only
    /// read (`550` to every write) and only accounts write. Safe default: `false`.
    pub anonymous_writable: bool,
    /// Failed logins counted by client address across every session made from this
    /// configuration (clones share the counts); past its limit an address gets `421`.
    /// Default: [`guard::DEFAULT_LIMIT`] per [`guard::DEFAULT_WINDOW`].
    pub login_guard: LoginGuard,
}

impl ServerConfig {
    /// A configuration with the safe defaults: no accounts, anonymous read-only (even once
    /// `writable` is set), seed FIN policy, `PORT` only to the peer and ports >= 1024, 3 login
    /// attempts per session and 10 per minute per address, atomic uploads.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ServerConfig {
            root: root.into(),
            accounts: Vec::new(),
            anonymous: true,
            writable: false,
            fin: FinPolicy::Seed,
            greeting: "smolftp ready.".into(),
            allow_foreign_port: false,
            max_login_failures: 3,
            atomic_uploads: true,
            idle_timeout: Some(Duration::from_secs(300)),
            login_failure_delay: Duration::from_secs(1),
            data_timeout: Duration::from_secs(30),
            anonymous_writable: false,
            login_guard: LoginGuard::default(),
        }
    }
}

/// One server-side FTP session (one control connection).
pub struct Session {
    config: Arc<ServerConfig>,
    jail: Arc<Jail>,
    peer: IpAddr,
    /// The wall clock of the last input, for listing dates.
    now: SystemTime,
    /// [`crate::ftp::Event::Ended`] has been given.
    ended_told: bool,
    lines: LineBuffer,
    /// Lines that arrived during a transfer, handled once it ends.
    held: VecDeque<Line>,
    out: Outbox,
    actions: VecDeque<DataAction>,
    pending_user: Option<String>,
    user: Option<String>,
    failed_logins: u32,
    cwd: String,
    port: Option<SocketAddr>,
    /// A passive data connection offered with `PASV`/`EPSV` and not used yet.
    passive: Option<Passive>,
    ascii: bool,
    /// Offset set by `REST`, for the next command only.
    rest: Option<u64>,
    /// Real path named by `RNFR`, for the next command only.
    rename_from: Option<PathBuf>,
    facts: Facts,
    transfer: Option<Transfer>,
    closing: bool,
    timers: timers::Timers,
    /// `EPSV ALL` was sent: every other data-connection setup command is refused (RFC 2428).
    epsv_all: bool,
}

/// Where the next transfer's data connection comes from.
pub(super) enum DataPlan {
    /// Active mode: connect to the address of the last `PORT` or `EPRT`.
    Active(SocketAddr),
    /// Passive mode: the client connects (or has connected) to our listening port.
    Passive {
        /// The connection is already established.
        connected: bool,
    },
}

/// A passive data connection on offer.
#[derive(Debug)]
struct Passive {
    /// `EPSV` (229 reply) rather than `PASV` (227).
    extended: bool,
    /// The 227/229 reply has gone out (the network layer reported the port).
    announced: bool,
    /// The client has connected.
    connected: bool,
}

/// Drops Telnet IAC sequences (IP, DM, ...) that clients put before `ABOR`.
fn strip_telnet(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| b < 0xf0).unwrap_or(line.len());
    &line[start..]
}

/// Lines handled at once even during a transfer: `ABOR` and `STAT` without argument.
fn is_urgent(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(strip_telnet(line));
    let text = text.trim();
    text.eq_ignore_ascii_case("ABOR") || text.eq_ignore_ascii_case("STAT")
}

impl Session {
    /// A new session for a client at `peer`, at `now` (its wall clock dates listings until
    /// the next input brings a newer one); queues the `220` greeting.
    pub fn new(config: Arc<ServerConfig>, jail: Arc<Jail>, peer: IpAddr, now: Now) -> Self {
        let mut s = Session {
            config,
            jail,
            peer,
            now: now.wall,
            ended_told: false,
            lines: LineBuffer::new(),
            held: VecDeque::new(),
            out: Outbox::default(),
            actions: VecDeque::new(),
            pending_user: None,
            user: None,
            failed_logins: 0,
            cwd: "/".to_string(),
            port: None,
            passive: None,
            ascii: false,
            rest: None,
            rename_from: None,
            facts: Facts::default(),
            transfer: None,
            closing: false,
            timers: timers::Timers::default(),
            epsv_all: false,
        };
        let greeting = s.config.greeting.clone();
        s.reply(220, &greeting);
        s
    }

    /// The client's address on the control connection.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// True once `QUIT` was answered (or the session gave up with `421`): close the control
    /// connection when `control_out()` is empty. The network layer learns it from
    /// [`crate::ftp::Event::Ended`].
    pub fn wants_close(&self) -> bool {
        self.closing
    }

    fn reply(&mut self, code: u16, text: &str) {
        self.send(Reply::new(code, text));
    }

    fn send(&mut self, reply: Reply) {
        self.out.push(&reply.to_bytes());
    }

    fn end_transfer(&mut self) {
        self.transfer = None;
        self.process();
    }

    /// Handles queued lines until a transfer starts or the session closes. During a transfer
    /// only `ABOR` and `STAT` are handled; other lines wait for the transfer to end (at most
    /// [`MAX_QUEUED_LINES`]). Nothing is handled while [`MAX_UNSENT`] reply bytes wait.
    fn process(&mut self) {
        // A PASV/EPSV waits for its port before the next command is read, so its 227/229
        // comes before the reply to a command pipelined behind it.
        let offering = |s: &Self| s.passive.as_ref().is_some_and(|p| !p.announced);
        while !self.closing && !self.timers.holding() && !offering(self) {
            if self.out.bytes().len() >= MAX_UNSENT {
                // Back-pressure: the peer is not reading its replies.
                break;
            }
            if self.transfer.is_some() {
                if self.held.len() >= MAX_QUEUED_LINES {
                    // At most a few lines are held for after the transfer; the rest wait where
                    // they are, but an `ABOR` or `STAT` among those already read is answered.
                    match self.lines.take_first(is_urgent) {
                        Some(l) => {
                            self.handle_line(&l);
                            continue;
                        }
                        None => break,
                    }
                }
                match self.lines.next_line() {
                    Some(Line::Complete(l)) if is_urgent(&l) => self.handle_line(&l),
                    Some(line) => self.held.push_back(line),
                    None => break,
                }
            } else {
                match self.held.pop_front().or_else(|| self.lines.next_line()) {
                    Some(Line::TooLong) => self.reply(500, "Command line too long."),
                    Some(Line::Complete(line)) => self.handle_line(&line),
                    None => break,
                }
            }
        }
    }

    /// The reply just queued is the last one (`221`, `421`): nothing more is read, and a passive
    /// connection on offer is given up, since no transfer can use it any more and a late event
    /// about it must not be answered after the goodbye.
    fn close(&mut self) {
        self.closing = true;
        if self.passive.take().is_some() {
            self.actions.push_back(DataAction::Abort);
        }
    }

    /// `REIN`: back to the state right after the greeting (the failure count stays).
    fn rein(&mut self) {
        self.user = None;
        self.pending_user = None;
        self.cwd = "/".to_string();
        self.port = None;
        if self.passive.take().is_some() {
            self.actions.push_back(DataAction::Abort);
        }
        self.ascii = false;
        self.facts = Facts::default();
        self.epsv_all = false;
        self.reply(220, "Service ready for new user.");
    }

    /// The normalized virtual path of `arg` relative to the cwd.
    fn vpath(&self, arg: &str) -> Option<String> {
        Jail::normalize(&self.cwd, arg).ok()
    }

    /// The real, jailed path of an existing virtual path relative to the cwd.
    fn resolve(&self, arg: &str) -> Option<PathBuf> {
        let vpath = self.vpath(arg)?;
        self.jail.resolve_existing(&vpath).ok()
    }

    /// The real path of the directory entry `arg` names, its last component not followed (so
    /// `DELE`/`RNFR` of a symlink act on the link): its parent must resolve inside the jail.
    /// `None` for `/` or a bad parent.
    fn resolve_entry(&self, arg: &str) -> Option<PathBuf> {
        let vpath = self.vpath(arg)?;
        let (parent, name) = vpath.rsplit_once('/')?;
        if name.is_empty() {
            return None;
        }
        let dir = self
            .jail
            .resolve_existing(if parent.is_empty() { "/" } else { parent })
            .ok()?;
        dir.is_dir().then(|| dir.join(name))
    }

    fn cwd(&mut self, arg: &str) {
        let Some(vpath) = self.vpath(arg) else {
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

    /// Takes the data connection of the last `PORT` or `PASV`/`EPSV`, or answers 425.
    fn take_port(&mut self) -> Option<DataPlan> {
        if let Some(addr) = self.port.take() {
            return Some(DataPlan::Active(addr));
        }
        if let Some(p) = self.passive.take() {
            return Some(DataPlan::Passive {
                connected: p.connected,
            });
        }
        self.reply(425, "Use PORT or PASV first.");
        None
    }
}

/// A path in double quotes, inner quotes doubled (RFC 959 `257` replies).
fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;
