//! Fuzz target: one server `Session` (smolftp::ftp::server) over a real, jailed directory.
//!
//! The input is a script of records separated by LF, so that the seeds read like FTP sessions:
//!
//! - a record not starting with `!` is control bytes, fed with its LF (`USER anonymous\r`);
//! - `!part BYTES`: control bytes without the LF (a line split across reads);
//! - `!cfg LETTERS` (first record only): `6` IPv6 peer, `r` read-only, `a` no anonymous login,
//!   `f` PORT to any host and port, `n` no atomic uploads, `p`/`s` FIN policy piggyback /
//!   separate, `m` no limit on failed logins (per session nor per address), `g` 2 failed
//!   logins per address and minute, `o` anonymous users only read, `z` no delay after a failed
//!   login, `i` 5 s idle timeout, `t` 2 s data timeout;
//! - data events, in any order, sensible or not: `!listening [PORT]`, `!listening4`,
//!   `!listening6`, `!connected`, `!failed`, `!finished`;
//! - `!pump [UPLOAD]`: answers the pending data actions as a well-behaved network layer does
//!   (listen, connect, pull all data, push UPLOAD, report `Finished`);
//! - `!read [N]`, `!readall`, `!write BYTES`: `read_data` / `write_data` calls;
//! - in UPLOAD and BYTES, the two characters `\n` stand for an LF;
//! - `!time [MS]`: the monotonic clock moves on (`handle_timeout`); `!now SECS`: the wall clock
//!   handed in with every later input is set;
//! - `!sent [N]`: only N bytes of the pending replies are taken (`control_sent`).
//!
//! Any other `!` record is control bytes too. `SMOLFTP_FUZZ_TRACE=1` prints each run's data
//! actions and replies, to read what a crash input does. The session sees a fresh copy of a small tree
//! (`readme.txt`, `pub/`, symlinks pointing out of the root) inside a scratch directory made once
//! under the system temporary directory; nothing is written anywhere else.
//!
//! Invariants checked (besides "no panic"):
//! - the control connection carries only well-formed replies: CRLF-terminated lines, each reply
//!   complete whenever the session returns, accepted by `ReplyParser` (three-digit code 1xx-5xx,
//!   multi-line replies closed), the first one `220`, nothing after a reply that closes;
//! - bounded output: replies and data in proportion to the input;
//! - data actions: `Connect` only to the control connection's peer and a port >= 1024 (unless
//!   the configuration allows a bounce), `ListenPassive` only for the peer, never a second data
//!   connection before the first is released;
//! - the jail holds: the directory above the root, the directory the symlinks point to and the
//!   sentinel file in it are never changed, and the sentinel's content never leaves the session.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smolftp::ftp::jail::Jail;
use smolftp::ftp::reply::ReplyParser;
use smolftp::ftp::server::guard::LoginGuard;
use smolftp::ftp::server::{ServerConfig, Session};
use smolftp::ftp::{DataAction, DataError, DataEvent, Endpoint, Event, FinPolicy, Now};
use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let place = Place::get();
    place.reset_root();
    run(place, data);
    place.check_jail();
});

/// The scratch directory: `base/root` is served, `base/outside` holds the sentinel.
struct Place {
    base: PathBuf,
    root: PathBuf,
    outside: PathBuf,
    sentinel: PathBuf,
    /// The sentinel's content: a token no input can know in advance.
    secret: Vec<u8>,
}

const SENTINEL_NAME: &str = "sentinel-outside-the-jail";

impl Place {
    fn get() -> &'static Place {
        static PLACE: OnceLock<Place> = OnceLock::new();
        PLACE.get_or_init(Place::make)
    }

    /// `<tmp>/smolftp-fuzz/session-<pid>`, after removing those of processes that are gone.
    fn make() -> Place {
        let top = std::env::temp_dir().join("smolftp-fuzz");
        std::fs::create_dir_all(&top).expect("scratch directory");
        for entry in std::fs::read_dir(&top)
            .expect("scratch directory")
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("session-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let base = top.join(format!("session-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).expect("scratch directory");
        let sentinel = outside.join(SENTINEL_NAME);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let secret = format!("secret-{:x}-{nanos:x}\n", std::process::id()).into_bytes();
        std::fs::write(&sentinel, &secret).expect("sentinel");
        Place {
            base,
            root,
            outside,
            sentinel,
            secret,
        }
    }

    /// A fresh copy of the served tree, so that every input starts from the same state.
    fn reset_root(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
        std::fs::create_dir_all(self.root.join("pub/deep")).expect("root");
        let readme: Vec<u8> = b"line one\nline two\r\nthree\rfour\n".repeat(40);
        std::fs::write(self.root.join("readme.txt"), readme).expect("root");
        std::fs::write(self.root.join("empty.txt"), b"").expect("root");
        std::fs::write(self.root.join("pub/a\"b.txt"), b"q").expect("root");
        std::fs::write(self.root.join("pub/deep/x.bin"), [0u8, 255, 13, 10]).expect("root");
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, self.root.join(name)).expect("symlink");
        };
        link(&self.outside, "escape");
        link(&self.sentinel, "secret");
        link(Path::new(".."), "up");
        link(Path::new("readme.txt"), "inside-link");
    }

    /// Nothing above the root or behind the outward symlinks changed.
    fn check_jail(&self) {
        assert_eq!(
            names(&self.base),
            set(&["outside", "root"]),
            "the jail's parent changed"
        );
        assert_eq!(
            names(&self.outside),
            set(&[SENTINEL_NAME]),
            "outside the jail changed"
        );
        let content = std::fs::read(&self.sentinel).expect("sentinel gone");
        assert!(content == self.secret, "the sentinel was written");
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// One record of the input script.
enum Op<'a> {
    Control(&'a [u8]),
    Event(DataEvent),
    Pump(Vec<u8>),
    Read(usize),
    ReadAll,
    Write(Vec<u8>),
    Time(u64),
    Now(i64),
    Sent(usize),
}

/// Data with each `\n` (backslash, n) turned into an LF, which a record cannot hold.
fn unescape(arg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len());
    let mut i = 0;
    while i < arg.len() {
        if arg[i..].starts_with(b"\\n") {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(arg[i]);
            i += 1;
        }
    }
    out
}

fn number<T: std::str::FromStr>(arg: &[u8], default: T) -> T {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

impl<'a> Op<'a> {
    /// The op of one record (`line` with its LF, if it had one).
    fn parse(line: &'a [u8], peer: IpAddr) -> Op<'a> {
        let Some(directive) = line.strip_prefix(b"!") else {
            return Op::Control(line);
        };
        let directive = directive.strip_suffix(b"\n").unwrap_or(directive);
        let (name, arg) = match directive.iter().position(|&b| b == b' ') {
            Some(i) => (&directive[..i], &directive[i + 1..]),
            None => (directive, &b""[..]),
        };
        let v4 = || IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let v6 = || IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
        let listening = |ip: IpAddr| {
            Op::Event(DataEvent::Listening(SocketAddr::new(
                ip,
                number(arg, 50000),
            )))
        };
        match name {
            b"part" => Op::Control(arg),
            b"listening" if peer.is_ipv6() => listening(v6()),
            b"listening" => listening(v4()),
            b"listening4" => listening(v4()),
            b"listening6" => listening(v6()),
            b"connected" => Op::Event(DataEvent::Connected),
            b"failed" => Op::Event(DataEvent::Failed(DataError::Reset)),
            b"finished" => Op::Event(DataEvent::Finished),
            b"pump" => Op::Pump(unescape(arg)),
            b"read" => Op::Read(number(arg, 512usize).min(1 << 16)),
            b"readall" => Op::ReadAll,
            b"write" => Op::Write(unescape(arg)),
            b"time" => Op::Time(number(arg, 1000u64).min(1 << 40)),
            b"now" => Op::Now(number(arg, 1_748_736_000i64)),
            b"sent" => Op::Sent(number(arg, 0usize)),
            _ => Op::Control(line),
        }
    }
}

/// The server's configuration as the `!cfg` record sets it.
fn config(root: &Path, letters: &[u8]) -> (ServerConfig, IpAddr) {
    let mut c = ServerConfig::new(root);
    c.writable = true;
    // Writes as anonymous too, as the seeds do (`o` turns it off).
    c.anonymous_writable = true;
    c.accounts = vec![("alice".into(), "wonder".into())];
    let mut peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    for &l in letters {
        match l {
            b'6' => peer = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
            b'r' => c.writable = false,
            b'a' => c.anonymous = false,
            b'f' => c.allow_foreign_port = true,
            b'n' => c.atomic_uploads = false,
            b'p' => c.fin = FinPolicy::Piggyback,
            b's' => c.fin = FinPolicy::Separate,
            b'm' => {
                c.max_login_failures = 0;
                c.login_guard = LoginGuard::new(0, Duration::from_secs(60));
            }
            b'g' => c.login_guard = LoginGuard::new(2, Duration::from_secs(60)),
            b'o' => c.anonymous_writable = false,
            b'z' => c.login_failure_delay = Duration::ZERO,
            b'i' => c.idle_timeout = Some(Duration::from_secs(5)),
            b't' => c.data_timeout = Duration::from_secs(2),
            _ => {}
        }
    }
    (c, peer)
}

/// Everything one run checks and remembers.
struct Harness {
    s: Session,
    config: Arc<ServerConfig>,
    peer: IpAddr,
    secret: Vec<u8>,
    /// Control bytes already checked at the front of `control_out()`.
    seen: usize,
    /// The reply bytes so far, and the reply lines fed to the parser.
    transcript: Vec<u8>,
    checked_to: usize,
    parser: ReplyParser,
    /// Where the reply that closes the session (221, or a 421) starts in `transcript`.
    closed_at: Option<usize>,
    /// Budget for the replies and data: grows with the input.
    budget: usize,
    per_op: usize,
    data_out: usize,
    /// Actions not yet answered by `!pump`.
    pending: VecDeque<DataAction>,
    /// A data connection (or passive listener) was asked for and not released yet.
    data_open: bool,
    clock: Duration,
    /// The wall clock handed in with every input (`!now`).
    wall: SystemTime,
    /// The session said it ended ([`Event::Ended`]).
    ended: bool,
}

impl Harness {
    /// The time handed in with the next input.
    fn now(&self) -> Now {
        Now::new(self.clock, self.wall)
    }

    fn new(place: &Place, letters: &[u8], input_len: usize) -> Harness {
        let (config, peer) = config(&place.root, letters);
        let config = Arc::new(config);
        let jail = Arc::new(Jail::new(&place.root).expect("jail"));
        let wall = UNIX_EPOCH + Duration::from_secs(1_748_736_000);
        let s = Session::new(config.clone(), jail, peer, Now::new(Duration::ZERO, wall));
        let per_op = 16 * 1024 + 64 * input_len;
        let mut h = Harness {
            s,
            config,
            peer,
            secret: place.secret.clone(),
            seen: 0,
            transcript: Vec::new(),
            checked_to: 0,
            parser: ReplyParser::new(),
            closed_at: None,
            budget: 64 * 1024 + per_op,
            per_op,
            data_out: 0,
            pending: VecDeque::new(),
            data_open: false,
            clock: Duration::ZERO,
            wall,
            ended: false,
        };
        h.after_call();
        assert!(h.transcript.starts_with(b"220 "), "no 220 greeting");
        h
    }

    /// After every call into the session: take its actions and check its new reply bytes.
    fn after_call(&mut self) {
        while let Some(a) = self.s.poll_action() {
            if trace() {
                eprintln!("action {a:?}");
            }
            self.check_action(&a);
            self.pending.push_back(a);
            assert!(self.pending.len() < 10_000, "endless data actions");
        }
        let out = self.s.control_out();
        assert!(
            out.len() >= self.seen,
            "control_out lost bytes not yet sent"
        );
        let fresh = &out[self.seen..];
        if !fresh.is_empty() {
            if let Some(at) = self.closed_at {
                panic!(
                    "{:?} after the closing reply {:?}",
                    String::from_utf8_lossy(fresh),
                    String::from_utf8_lossy(&self.transcript[at..])
                );
            }
            let from = self.transcript.len().saturating_sub(self.secret.len());
            self.transcript.extend_from_slice(fresh);
            self.seen = out.len();
            assert!(
                !contains(&self.transcript[from..], &self.secret),
                "the sentinel was read"
            );
        }
        self.check_replies();
        while let Some(event) = self.s.poll_event() {
            assert_eq!(event, Event::Ended, "a server session gives no other event");
            assert!(!self.ended, "Ended given twice");
            assert!(self.s.wants_close(), "Ended while the session goes on");
            self.ended = true;
        }
        assert_eq!(self.ended, self.s.wants_close(), "the end not told");
        if self.s.wants_close() && self.closed_at.is_none() {
            // Where the last reply line starts: the one that closes.
            let t = &self.transcript[..self.transcript.len().saturating_sub(2)];
            let at = t.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let last = &self.transcript[at..];
            assert!(
                last.starts_with(b"221 ") || last.starts_with(b"421 "),
                "the session closes after {:?}",
                String::from_utf8_lossy(last)
            );
            self.closed_at = Some(at);
        }
    }

    fn check_action(&mut self, a: &DataAction) {
        match a {
            DataAction::Connect { peer, .. } => {
                assert_eq!(peer.is_ipv6(), self.peer.is_ipv6(), "Connect to {peer}");
                if !self.config.allow_foreign_port {
                    assert_eq!(peer.ip(), self.peer, "a bounce: Connect to {peer}");
                    assert!(peer.port() >= 1024, "Connect to a privileged port: {peer}");
                }
                self.open_data(a);
            }
            DataAction::ListenPassive { from, .. } => {
                assert_eq!(*from, self.peer, "ListenPassive for {from}");
                self.open_data(a);
            }
            DataAction::Listen { .. } => panic!("a server asked to listen actively"),
            DataAction::Abort => self.data_open = false,
            DataAction::Send { .. } | DataAction::Receive => {}
        }
    }

    fn open_data(&mut self, a: &DataAction) {
        assert!(self.closed_at.is_none(), "{a:?} after the session closed");
        assert!(!self.data_open, "{a:?} while a data connection is open");
        self.data_open = true;
    }

    /// Every complete line so far is a reply line; the replies are whole between calls.
    fn check_replies(&mut self) {
        let rest = &self.transcript[self.checked_to..];
        let mut start = 0;
        while let Some(i) = rest[start..].iter().position(|&b| b == b'\n') {
            let line = &rest[start..start + i + 1];
            let Some(body) = line.strip_suffix(b"\r\n") else {
                panic!("a bare LF in {:?}", String::from_utf8_lossy(line));
            };
            assert!(
                !body.contains(&b'\r'),
                "a bare CR in {:?}",
                String::from_utf8_lossy(line)
            );
            match self.parser.feed_line(body) {
                Ok(Some(reply)) => {
                    assert!(
                        (100..600).contains(&reply.code),
                        "reply code {}",
                        reply.code
                    );
                }
                Ok(None) => {}
                Err(e) => panic!("{e}"),
            }
            start += i + 1;
        }
        self.checked_to += start;
        assert_eq!(
            self.checked_to,
            self.transcript.len(),
            "a reply line without its CRLF"
        );
        assert!(!self.parser.in_multiline(), "a multi-line reply left open");
        assert!(
            self.transcript.len() <= self.budget,
            "{} reply bytes for this input",
            self.transcript.len()
        );
    }

    fn event(&mut self, ev: DataEvent) {
        if matches!(ev, DataEvent::Failed(_) | DataEvent::Finished) {
            self.data_open = false;
        }
        self.s.handle_data_event(ev, self.now());
        self.after_call();
    }

    /// One `read_data` of `n` bytes; whether it said the end.
    fn read(&mut self, n: usize) -> bool {
        let mut buf = vec![0u8; n];
        let read = self.s.read_data(&mut buf);
        let got = read.len;
        assert!(got <= n, "read_data said {got} into {n} bytes");
        assert!(got > 0 || read.end, "0 bytes and not the end");
        self.data_out += got;
        assert!(
            self.data_out <= self.budget,
            "{} data bytes for this input",
            self.data_out
        );
        assert!(
            !contains(&buf[..got], &self.secret),
            "the sentinel was read"
        );
        self.after_call();
        read.end
    }

    /// Reads to the end; the end is told with the last bytes: nothing follows it.
    fn read_all(&mut self) {
        while !self.read(4096) {}
        let mut buf = vec![0u8; 16];
        assert_eq!(self.s.read_data(&mut buf).len, 0, "bytes after the end");
        self.after_call();
    }

    fn write(&mut self, data: &[u8]) {
        for piece in data.chunks(7) {
            self.s.write_data(piece);
        }
        self.after_call();
    }

    /// Answers the pending actions as a well-behaved network layer would.
    fn pump(&mut self, upload: &[u8]) {
        let upload: &[u8] = if upload.is_empty() {
            b"up\r\nloaded\n\r"
        } else {
            upload
        };
        for _ in 0..64 {
            let Some(a) = self.pending.pop_front() else {
                return;
            };
            match a {
                DataAction::Connect { .. } => self.event(DataEvent::Connected),
                DataAction::ListenPassive { .. } => {
                    let ip = match self.peer {
                        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
                    };
                    self.event(DataEvent::Listening(SocketAddr::new(ip, 50000)));
                    self.event(DataEvent::Connected);
                }
                DataAction::Send { .. } => {
                    self.read_all();
                    self.event(DataEvent::Finished);
                }
                DataAction::Receive => {
                    self.write(upload);
                    self.event(DataEvent::Finished);
                }
                DataAction::Abort | DataAction::Listen { .. } => {}
            }
        }
    }

    fn op(&mut self, op: Op) {
        self.budget += self.per_op;
        match op {
            Op::Control(bytes) => {
                self.s.handle_control(bytes, self.now());
                self.after_call();
            }
            Op::Event(ev) => self.event(ev),
            Op::Pump(upload) => self.pump(&upload),
            Op::Read(n) => {
                self.read(n);
            }
            Op::ReadAll => self.read_all(),
            Op::Write(data) => self.write(&data),
            Op::Time(ms) => {
                self.clock += Duration::from_millis(ms);
                self.s.handle_timeout(self.now());
                if let Some(next) = self.s.poll_timeout() {
                    assert!(
                        next > self.clock || self.s.wants_close(),
                        "a timer due now did not fire"
                    );
                }
                self.after_call();
            }
            Op::Now(secs) => {
                let t = if secs >= 0 {
                    UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
                } else {
                    UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
                };
                if let Some(t) = t {
                    self.wall = t;
                }
            }
            Op::Sent(n) => {
                let n = n.min(self.s.control_out().len());
                self.s.control_sent(n);
                self.seen -= n.min(self.seen);
                self.after_call();
            }
        }
    }
}

/// `SMOLFTP_FUZZ_TRACE=1`: print the replies and actions of each run (to read a crash input).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("SMOLFTP_FUZZ_TRACE").is_some())
}

fn run(place: &Place, data: &[u8]) {
    let mut records = data.split_inclusive(|&b| b == b'\n').peekable();
    let letters: &[u8] = match records.peek() {
        Some(first) if first.starts_with(b"!cfg") => {
            let l = records.next().unwrap_or_default();
            l.strip_suffix(b"\n").unwrap_or(l)
        }
        _ => b"",
    };
    let mut h = Harness::new(place, letters, data.len());
    for (i, record) in records.enumerate() {
        if i >= 4096 {
            break;
        }
        let op = Op::parse(record, h.peer);
        h.op(op);
    }
    if trace() {
        eprintln!("{}", String::from_utf8_lossy(&h.transcript));
    }
    // What is left is sent, as the network layer would: room in the outbox lets lines that
    // waited behind a full one (back-pressure) be handled, so it takes a few rounds.
    for _ in 0..4096 {
        if h.s.control_out().is_empty() {
            break;
        }
        h.op(Op::Sent(usize::MAX));
    }
    assert!(h.s.control_out().is_empty(), "replies without end");
}
