//! # FTP client state machine (sans-IO, application layer)
//!
//! Layer: application protocol. A [`Client`] logs in and runs a fixed list of [`Step`]s in
//! active mode (`PORT`, or `EPRT` to an IPv6 server; one data port per transfer: 5001, 5002,
//! ...) or passive mode (`EPSV`, then `PASV` on IPv4), one command at a time,
//! then sends `QUIT`. It is fed reply bytes and data-connection events and answers with command
//! bytes and [`DataAction`]s, following the contract in [`crate::ftp`]. It reads and writes
//! local files for downloads and uploads; it never touches sockets, smoltcp or the clock.
//!
//! This file holds the state, the public surface and login; `endpoint.rs` the
//! [`crate::ftp::Endpoint`] implementation; `transfer.rs` starts each step and
//! follows a transfer's replies (`PORT`/`EPRT`/`EPSV`/`PASV`, `REST`, the command, the final
//! reply); `data.rs` takes the data events and moves the bytes between the data connection
//! and the local file (converting line ends under `TYPE A`).

use std::collections::VecDeque;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::ascii::CrlfReader;
use super::command::{Command, Line, LineBuffer};
use super::reply::{Reply, ReplyParser};
pub use super::step::{Outcome, Step};
use super::{DataAction, Event, FinPolicy, Outbox};
#[cfg(test)]
use transfer::announced_size;

mod data;
mod endpoint;
mod timer;
mod transfer;

/// How the client logs in and where it listens for data connections.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// User name for `USER`.
    pub user: String,
    /// Password for `PASS`.
    pub pass: String,
    /// Our address, announced with `PORT` (IPv4) or `EPRT` (IPv6).
    pub local_ip: IpAddr,
    /// First data port (5001 by default); each transfer uses the next one.
    pub data_port_base: u16,
    /// How our sending data connections (`STOR`) are released.
    pub fin: FinPolicy,
    /// Passive mode: `EPSV` (then `PASV` if refused) and connect to the server, instead of
    /// `PORT` and listen.
    pub passive: bool,
    /// The server's address: passive data connections go there, whatever a `227` reply says
    /// (as curl and ftplib do: a server behind NAT often names a private address). An IPv6
    /// server is asked for `EPRT` (active) or `EPSV` alone (passive).
    pub server_ip: IpAddr,
    /// Give up when the server is silent this long while we wait for it: no greeting, no reply
    /// to a command, no data connection, or no data on it (see `timer.rs`). `None`: wait
    /// forever.
    pub timeout: Option<Duration>,
}

/// Where the data connection of a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    Listening,
    Connected,
    /// Finished cleanly, failed or aborted: nothing more will come.
    Done,
}

/// The local end of a transfer's data.
enum Local {
    Listing(Vec<u8>),
    /// RETR target; `None` until the server accepted the command (see `open_sink`) or after
    /// a write error.
    Sink(Option<File>),
    /// STOR / APPE / STOU source.
    Source(File),
}

/// Which command of a transfer awaits its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// `PORT`/`EPRT` or `EPSV`/`PASV`.
    Port,
    /// `REST offset` (a `reget`), which must come right before its `RETR`.
    Rest,
    /// The transfer command itself (`RETR`, `STOR`, `LIST`, ...).
    Command,
}

struct Transfer {
    step: Step,
    stage: Stage,
    /// A `reget`'s restart offset: the size of the local file, appended to (0: plain `RETR`).
    offset: u64,
    /// `STOU`: the name the server announced.
    unique_name: Option<String>,
    /// `TYPE A` was in force when the transfer began: a file's line ends are converted (LF
    /// locally, CRLF on the wire; listings are kept as they come).
    ascii: bool,
    /// `TYPE A` download: a CR that may start a CRLF, held until the next byte.
    held_cr: bool,
    /// `TYPE A` upload: the LF to CRLF conversion.
    crlf: CrlfReader,
    /// Passive mode: `PASV` was sent (after `EPSV` was refused).
    pasv_sent: bool,
    data: Data,
    local: Local,
    bytes: u64,
    reply: Option<Reply>,
    error: Option<String>,
    /// Bytes expected: the local file's size (STOR) or what the `150` reply announced (RETR).
    total: Option<u64>,
}

impl Transfer {
    /// For a download whose local file was opened and is not complete, what the user must be
    /// told: `; FILE is left incomplete: N bytes (`reget` resumes it)`.
    fn incomplete_local(&self) -> Option<String> {
        let (Local::Sink(Some(_)), Step::Retr { local, .. } | Step::Reget { local, .. }) =
            (&self.local, &self.step)
        else {
            return None;
        };
        Some(format!(
            "; {} is left incomplete: {} bytes (`reget` resumes it)",
            local.display(),
            self.offset + self.bytes
        ))
    }
}

/// A transfer in progress, for a progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress<'a> {
    /// The step being run.
    pub step: &'a Step,
    /// Data bytes moved so far.
    pub bytes: u64,
    /// Bytes expected, when known.
    pub total: Option<u64>,
}

enum State {
    Greeting,
    User,
    Pass,
    Simple(Step),
    Transfer(Box<Transfer>),
    /// Logged in, every step done, waiting for more (interactive use).
    Idle,
    Quit,
    Done,
}

/// The client side of one FTP control connection, running a list of steps.
pub struct Client {
    config: ClientConfig,
    steps: VecDeque<Step>,
    state: State,
    lines: LineBuffer,
    parser: ReplyParser,
    out: Outbox,
    actions: VecDeque<DataAction>,
    next_port: u16,
    outcomes: Vec<Outcome>,
    /// Steps done and not yet polled ([`Endpoint::poll_event`](crate::ftp::Endpoint)).
    events: VecDeque<Event>,
    /// [`Event::Ended`] has been given.
    ended_told: bool,
    error: Option<String>,
    /// Wait for more steps instead of sending `QUIT` when they run out.
    keep_open: bool,
    /// The server refused `EPSV` once: use `PASV` from then on.
    no_epsv: bool,
    /// `TYPE A` is in force (a `TYPE A` step, or a quoted one, got `200`).
    ascii: bool,
    /// The timeout's clock.
    timer: timer::Timer,
    /// The last command sent (`PASS` without its argument), for the timeout's message.
    last_command: String,
}

impl Client {
    /// A client that will log in and run `steps`; it first waits for the `220` greeting.
    pub fn new(config: ClientConfig, steps: Vec<Step>) -> Self {
        let next_port = config.data_port_base;
        Client {
            config,
            steps: steps.into(),
            state: State::Greeting,
            lines: LineBuffer::new(),
            parser: ReplyParser::new(),
            out: Outbox::default(),
            actions: VecDeque::new(),
            next_port,
            outcomes: Vec::new(),
            events: VecDeque::new(),
            ended_told: false,
            error: None,
            keep_open: false,
            no_epsv: false,
            ascii: false,
            timer: timer::Timer::default(),
            last_command: String::new(),
        }
    }

    /// Switches between passive and active mode for the next transfers.
    pub fn set_passive(&mut self, passive: bool) {
        self.config.passive = passive;
    }

    /// Whether transfers use passive mode.
    pub fn is_passive(&self) -> bool {
        self.config.passive
    }

    /// A client for interactive use: after login and after each step it waits for
    /// [`Client::push_step`], and sends `QUIT` only after [`Client::finish`].
    pub fn interactive(config: ClientConfig) -> Self {
        let mut client = Client::new(config, Vec::new());
        client.keep_open = true;
        client
    }

    /// Adds a step; it starts at once if the client is idle.
    pub fn push_step(&mut self, step: Step) {
        self.steps.push_back(step);
        if matches!(self.state, State::Idle) {
            self.next_step();
        }
    }

    /// No more steps will come: `QUIT` once the queued ones are done.
    pub fn finish(&mut self) {
        self.keep_open = false;
        if matches!(self.state, State::Idle) {
            self.quit();
        }
    }

    /// Logged in and waiting for a step (interactive use).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// The transfer in progress, if any.
    pub fn progress(&self) -> Option<Progress<'_>> {
        match &self.state {
            State::Transfer(t) => Some(Progress {
                step: &t.step,
                bytes: t.bytes,
                total: t.total,
            }),
            _ => None,
        }
    }

    /// The server closed the control connection: fatal unless we sent `QUIT`.
    fn control_closed(&mut self) {
        match self.state {
            State::Quit | State::Done => {}
            _ => {
                let left = match &self.state {
                    State::Transfer(t) => t.incomplete_local().unwrap_or_default(),
                    _ => String::new(),
                };
                self.fatal(format!("control connection closed by the server{left}"));
                if let State::Transfer(t) = &self.state
                    && t.data != Data::Done
                {
                    self.actions.push_back(DataAction::Abort);
                }
            }
        }
        self.state = State::Done;
    }

    /// Records the outcome of a step, and tells it ([`Event::StepDone`]).
    fn record(&mut self, outcome: Outcome) {
        self.events.push_back(Event::StepDone(outcome.clone()));
        self.outcomes.push(outcome);
    }

    /// True once `221` arrived after `QUIT`, or after a fatal error: close the control
    /// connection.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The results of the steps run so far, in order.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// The fatal error, if any (bad greeting, login refused, control connection closed).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Sends `cmd`.
    fn send(&mut self, cmd: &Command) {
        self.send_line(&cmd.to_string());
    }

    /// Sends the command of `step`, or its quoted line as typed.
    fn send_step(&mut self, step: &Step) {
        match step.command() {
            Some(cmd) => self.send(&cmd),
            None => self.send_line(&step.to_string()),
        }
    }

    /// Sends one line (a command written out, or a quoted line).
    fn send_line(&mut self, line: &str) {
        log::debug!("-> {line}");
        // A new wait begins.
        self.timer.activity();
        self.last_command = match line.split_once(' ') {
            Some(("PASS", _)) => "PASS".into(),
            _ => line.into(),
        };
        self.out.push(line.as_bytes());
        self.out.push(b"\r\n");
    }

    fn fatal(&mut self, msg: String) {
        // The caller reports `error()`; at debug level it shows when it happened.
        log::debug!("{msg}");
        self.error.get_or_insert(msg);
    }

    fn quit(&mut self) {
        self.send(&Command::Quit);
        self.state = State::Quit;
    }

    fn on_reply(&mut self, reply: Reply) {
        log::debug!("<- {reply}");
        if reply.code == 421 && !matches!(self.state, State::Quit | State::Done) {
            if let State::Transfer(t) = &self.state
                && t.data != Data::Done
            {
                self.actions.push_back(DataAction::Abort);
            }
            self.fatal(format!("server closing: {reply}"));
            self.state = State::Done;
            return;
        }
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match state {
            State::Greeting if reply.is_positive_preliminary() => State::Greeting,
            State::Greeting if reply.code == 220 => {
                self.send(&Command::User(self.config.user.clone()));
                State::User
            }
            State::Greeting => {
                self.fatal(format!("unexpected greeting: {reply}"));
                State::Done
            }
            State::User | State::Pass if reply.is_positive_completion() => {
                self.next_step();
                return;
            }
            State::User if reply.code == 331 => {
                self.send(&Command::Pass(self.config.pass.clone()));
                State::Pass
            }
            s @ (State::User | State::Pass) if reply.is_positive_preliminary() => s,
            State::User | State::Pass => {
                self.fatal(format!("login refused: {reply}"));
                self.quit();
                return;
            }
            s @ State::Simple(_) if reply.is_positive_preliminary() => s,
            State::Simple(Step::Rename { from, to }) if reply.code == 350 => {
                self.send(&Command::Rnto(to.clone()));
                State::Simple(Step::Rename { from, to })
            }
            State::Simple(step) => {
                if reply.is_positive_completion() {
                    self.note_type(&step);
                }
                self.record(Outcome::of_reply(step, reply));
                self.next_step();
                return;
            }
            State::Transfer(t) => {
                self.state = State::Transfer(t);
                self.transfer_reply(reply);
                return;
            }
            State::Idle => {
                log::warn!("unexpected reply while idle: {reply}");
                State::Idle
            }
            State::Quit if reply.is_positive_preliminary() => State::Quit,
            State::Quit | State::Done => State::Done,
        };
    }
}

#[cfg(test)]
mod tests;
