//! # FTP commands (sans-IO, application layer)
//!
//! Layer: application protocol. Parses one control-connection line into a typed [`Command`]
//! and splits the control byte stream into lines with [`LineBuffer`]. Touches no socket, file or
//! clock; used by both the server session and the client.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use super::verb::Verb;

/// Longest control line accepted, in bytes, not counting the CRLF.
pub const MAX_LINE: usize = 2048;

/// Representation type set with `TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A` / `TYPE A N`: ASCII, non-print.
    Ascii,
    /// `TYPE I` / `TYPE L 8`: image (binary).
    Image,
}

impl fmt::Display for TransferType {
    /// The argument of the `TYPE` command: `A` or `I`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(super::verb::type_letter(*self))
    }
}

/// One parsed FTP command with typed arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS password` (the password may be empty)
    Pass(String),
    /// `SYST`
    Syst,
    /// `FEAT`
    Feat,
    /// `PWD`
    Pwd,
    /// `CWD path`
    Cwd(String),
    /// `CDUP`
    Cdup,
    /// `TYPE A` / `TYPE I` (and the synonyms `A N`, `L 8`)
    Type(TransferType),
    /// `MODE S` (the only mode supported)
    Mode,
    /// `STRU F` (the only structure supported)
    Stru,
    /// `NOOP`
    Noop,
    /// `PORT h1,h2,h3,h4,p1,p2`
    Port(SocketAddrV4),
    /// `EPRT |1|a.b.c.d|port|` or `EPRT |2|ipv6|port|` (RFC 2428; any delimiter in 33..=126)
    Eprt(SocketAddr),
    /// `PASV`
    Pasv,
    /// `EPSV [1|2|ALL]` (RFC 2428); the argument as typed
    Epsv(Option<String>),
    /// `LIST [options] [path]`; options (words starting with `-`) are dropped
    List(Option<String>),
    /// `NLST [options] [path]`; options (words starting with `-`) are dropped
    Nlst(Option<String>),
    /// `RETR path`
    Retr(String),
    /// `STOR path`
    Stor(String),
    /// `SIZE path`
    Size(String),
    /// `QUIT`
    Quit,
    /// `ACCT info` (answered with 502)
    Acct,
    /// `SMNT path` (answered with 502)
    Smnt,
    /// `REIN`: log out, keep the connection
    Rein,
    /// `STOU [name]`: store under a unique name
    Stou(Option<String>),
    /// `APPE path`
    Appe(String),
    /// `ALLO n [R m]` (accepted and ignored)
    Allo,
    /// `REST offset`
    Rest(u64),
    /// `RNFR path`
    Rnfr(String),
    /// `RNTO path`
    Rnto(String),
    /// `ABOR`
    Abor,
    /// `DELE path`
    Dele(String),
    /// `RMD path` / `XRMD path`
    Rmd(String),
    /// `MKD path` / `XMKD path`
    Mkd(String),
    /// `SITE args` (only `SITE HELP` is understood)
    Site(String),
    /// `STAT [path]`
    Stat(Option<String>),
    /// `HELP [verb]`
    Help,
    /// `MDTM path`
    Mdtm(String),
    /// `MLST [path]`
    Mlst(Option<String>),
    /// `MLSD [path]`
    Mlsd(Option<String>),
    /// `OPTS args`
    Opts(String),
    /// Any other verb, upper-cased (answered with 502).
    Unknown(String),
}

impl Command {
    /// The verb and the argument as they go on the wire (the argument in its canonical form:
    /// `TYPE A`, `PORT 10,0,0,2,19,137`); an unknown verb's own word.
    fn parts(&self) -> (&str, Option<Cow<'_, str>>) {
        match self {
            Command::User(a) => ("USER", text(a)),
            Command::Pass(a) => ("PASS", text(a)),
            Command::Syst => ("SYST", None),
            Command::Feat => ("FEAT", None),
            Command::Pwd => ("PWD", None),
            Command::Cwd(a) => ("CWD", text(a)),
            Command::Cdup => ("CDUP", None),
            Command::Type(t) => ("TYPE", Some(Cow::Borrowed(super::verb::type_letter(*t)))),
            Command::Mode => ("MODE", Some(Cow::Borrowed("S"))),
            Command::Stru => ("STRU", Some(Cow::Borrowed("F"))),
            Command::Noop => ("NOOP", None),
            Command::Port(addr) => {
                let [a, b, c, d] = addr.ip().octets();
                let (hi, lo) = (addr.port() >> 8, addr.port() & 0xff);
                ("PORT", Some(format!("{a},{b},{c},{d},{hi},{lo}").into()))
            }
            Command::Eprt(SocketAddr::V4(a)) => {
                ("EPRT", Some(format!("|1|{}|{}|", a.ip(), a.port()).into()))
            }
            Command::Eprt(SocketAddr::V6(a)) => {
                ("EPRT", Some(format!("|2|{}|{}|", a.ip(), a.port()).into()))
            }
            Command::Pasv => ("PASV", None),
            Command::Epsv(a) => ("EPSV", opt(a)),
            Command::List(a) => ("LIST", opt(a)),
            Command::Nlst(a) => ("NLST", opt(a)),
            Command::Retr(a) => ("RETR", text(a)),
            Command::Stor(a) => ("STOR", text(a)),
            Command::Size(a) => ("SIZE", text(a)),
            Command::Quit => ("QUIT", None),
            Command::Acct => ("ACCT", None),
            Command::Smnt => ("SMNT", None),
            Command::Rein => ("REIN", None),
            Command::Stou(a) => ("STOU", opt(a)),
            Command::Appe(a) => ("APPE", text(a)),
            Command::Allo => ("ALLO", None),
            Command::Rest(n) => ("REST", Some(n.to_string().into())),
            Command::Rnfr(a) => ("RNFR", text(a)),
            Command::Rnto(a) => ("RNTO", text(a)),
            Command::Abor => ("ABOR", None),
            Command::Dele(a) => ("DELE", text(a)),
            Command::Rmd(a) => ("RMD", text(a)),
            Command::Mkd(a) => ("MKD", text(a)),
            Command::Site(a) => ("SITE", text(a)),
            Command::Stat(a) => ("STAT", opt(a)),
            Command::Help => ("HELP", None),
            Command::Mdtm(a) => ("MDTM", text(a)),
            Command::Mlst(a) => ("MLST", opt(a)),
            Command::Mlsd(a) => ("MLSD", opt(a)),
            Command::Opts(a) => ("OPTS", text(a)),
            Command::Unknown(verb) => (verb, None),
        }
    }

    /// This command's row of the verb table; `None` for an unknown verb.
    pub fn verb(&self) -> Option<&'static Verb> {
        match self {
            Command::Unknown(_) => None,
            known => super::verb::find(known.parts().0),
        }
    }

    /// The trace label of the data connection this command opens, e.g. `RETR readme.txt data
    /// connection`; `None` for a command that opens none.
    pub fn data_label(&self) -> Option<String> {
        let verb = self.verb().filter(|v| v.data.is_some())?;
        let (_, arg) = self.parts();
        Some(verb.data_label(arg.as_deref()))
    }
}

fn text(s: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(s))
}

fn opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

impl fmt::Display for Command {
    /// The command line without CRLF, in the form [`parse`] reads back to the same command:
    /// `RETR readme.txt`, `TYPE I`, `PORT 10,0,0,2,19,137`, `EPRT |2|fd00::2|5001|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (verb, Some(arg)) => write!(f, "{verb} {arg}"),
            (verb, None) => f.write_str(verb),
        }
    }
}

/// Why a control line could not be parsed; each kind maps to one reply code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// 500: the line is not a command at all (empty, too long).
    Syntax(String),
    /// 501: the arguments are malformed or missing, or the line is not UTF-8.
    BadArgument(String),
    /// 504: the command is known but this parameter is not supported.
    BadParameter(String),
    /// 522: the network protocol named (an `EPRT` protocol number) is not supported.
    Unsupported(String),
}

impl ParseError {
    /// The FTP reply code for this error.
    pub fn code(&self) -> u16 {
        match self {
            ParseError::Syntax(_) => 500,
            ParseError::BadArgument(_) => 501,
            ParseError::BadParameter(_) => 504,
            ParseError::Unsupported(_) => 522,
        }
    }

    /// The reply text for this error.
    pub fn message(&self) -> &str {
        match self {
            ParseError::Syntax(m)
            | ParseError::BadArgument(m)
            | ParseError::BadParameter(m)
            | ParseError::Unsupported(m) => m,
        }
    }
}

impl fmt::Display for ParseError {
    /// Formats as `code text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

impl std::error::Error for ParseError {}

pub(super) fn bad_arg(msg: &str) -> ParseError {
    ParseError::BadArgument(msg.to_string())
}

/// The upper-cased first word of a line (its verb), lossily decoded; empty if none.
pub fn verb_of(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// Parses one control line (without its CRLF) into a [`Command`].
///
/// Verbs are case-insensitive; arguments are trimmed of surrounding whitespace.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::Syntax("Command line too long.".into()));
    }
    let text =
        std::str::from_utf8(line).map_err(|_| bad_arg("Command line is not valid UTF-8."))?;
    if text.contains('\0') {
        return Err(bad_arg("NUL byte in command line."));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseError::Syntax(
            "Syntax error, command unrecognized.".into(),
        ));
    }
    let (verb, arg) = match text.split_once(char::is_whitespace) {
        Some((v, a)) => (v, a.trim()),
        None => (text, ""),
    };
    let verb = verb.to_ascii_uppercase();
    match super::verb::find(&verb) {
        Some(v) => v.parse_arg(arg),
        None => Ok(Command::Unknown(verb)),
    }
}

pub(super) fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    if arg.is_empty() {
        return Err(bad_arg("Missing argument."));
    }
    let words: Vec<String> = arg
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L", "8"] => Ok(TransferType::Image),
        _ => Err(ParseError::BadParameter(
            "Unrecognised TYPE command.".into(),
        )),
    }
}

pub(super) fn single_letter(arg: &str, accepted: &str, msg: &str) -> Result<(), ParseError> {
    if arg.is_empty() {
        Err(bad_arg("Missing argument."))
    } else if arg.eq_ignore_ascii_case(accepted) {
        Ok(())
    } else {
        Err(ParseError::BadParameter(msg.to_string()))
    }
}

pub(super) fn parse_port(arg: &str) -> Result<SocketAddrV4, ParseError> {
    let err = || bad_arg("Illegal PORT command.");
    let mut nums = [0u8; 6];
    let mut count = 0;
    for part in arg.split(',') {
        let part = part.trim();
        if count >= 6 || part.is_empty() || part.len() > 3 {
            return Err(err());
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        nums[count] = part.parse::<u8>().map_err(|_| err())?;
        count += 1;
    }
    if count != 6 {
        return Err(err());
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    let port = (u16::from(nums[4]) << 8) | u16::from(nums[5]);
    Ok(SocketAddrV4::new(ip, port))
}

/// Parses the argument of `EPRT` (RFC 2428): `<d>proto<d>address<d>port<d>`, where `<d>` is
/// any printable ASCII character except space, proto 1 is IPv4 and 2 is IPv6.
pub(super) fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    let err = || bad_arg("Illegal EPRT command.");
    let delim = arg.chars().next().ok_or_else(err)?;
    if !(33..=126).contains(&u32::from(delim)) {
        return Err(err());
    }
    let fields: Vec<&str> = arg.split(delim).collect();
    let [first, proto, addr, port, last] = fields[..] else {
        return Err(err());
    };
    if !first.is_empty() || !last.is_empty() {
        return Err(err());
    }
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let port: u16 = port.parse().map_err(|_| err())?;
    let ip = match proto {
        "1" => IpAddr::V4(addr.parse::<Ipv4Addr>().map_err(|_| err())?),
        "2" => IpAddr::V6(addr.parse::<Ipv6Addr>().map_err(|_| err())?),
        _ if !proto.is_empty() && proto.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(ParseError::Unsupported(
                "Network protocol not supported, use (1,2).".into(),
            ));
        }
        _ => return Err(err()),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Drops leading option words (starting with `-`) and returns the remaining path, if any.
pub(super) fn list_path(arg: &str) -> Option<String> {
    let mut rest = arg.trim_start();
    while rest.starts_with('-') {
        rest = match rest.find(char::is_whitespace) {
            Some(i) => rest[i..].trim_start(),
            None => "",
        };
    }
    let rest = rest.trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// One item produced by a [`LineBuffer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its LF and trailing CR.
    Complete(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; its bytes were discarded.
    TooLong,
}

/// Accumulates control-connection bytes and yields complete lines.
///
/// Lines end at LF; a CR before the LF is stripped. A line longer than [`MAX_LINE`] yields
/// [`Line::TooLong`] once and the rest of it, up to the next LF, is discarded, so the buffer
/// never holds more than `MAX_LINE + 1` bytes of an unfinished line.
#[derive(Debug, Default)]
pub struct LineBuffer {
    partial: Vec<u8>,
    discarding: bool,
    ready: VecDeque<Line>,
}

impl LineBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes; complete lines become available through [`LineBuffer::next_line`].
    /// Returns how many items (complete or too long lines) the bytes completed.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let before = self.ready.len();
        for &b in bytes {
            if b == b'\n' {
                if self.discarding {
                    self.discarding = false;
                } else {
                    let mut line = std::mem::take(&mut self.partial);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() > MAX_LINE {
                        self.ready.push_back(Line::TooLong);
                    } else {
                        self.ready.push_back(Line::Complete(line));
                    }
                }
            } else if !self.discarding {
                // Keep room for one trailing CR beyond MAX_LINE.
                if self.partial.len() > MAX_LINE {
                    self.partial = Vec::new();
                    self.discarding = true;
                    self.ready.push_back(Line::TooLong);
                } else {
                    self.partial.push(b);
                }
            }
        }
        self.ready.len() - before
    }

    /// The next complete line, if any.
    pub fn next_line(&mut self) -> Option<Line> {
        self.ready.pop_front()
    }

    /// Takes the first complete line waiting that `pick` accepts, out of turn.
    pub fn take_first(&mut self, pick: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let at = self
            .ready
            .iter()
            .position(|l| matches!(l, Line::Complete(l) if pick(l)))?;
        match self.ready.remove(at) {
            Some(Line::Complete(l)) => Some(l),
            _ => None,
        }
    }

    /// Number of complete lines waiting to be taken.
    pub fn pending(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests;
