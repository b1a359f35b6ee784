//! # FTP commands (sans-IO, application layer)
//!
//! Layer: application protocol. Parses one control-connection line into a typed [`Command`]
//! and splits the control byte stream into lines with [`LineBuffer`]. Touches no socket, file or
//! clock; used by both the server session and the client.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

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
        match self {
            TransferType::Ascii => f.write_str("A"),
            TransferType::Image => f.write_str("I"),
        }
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

fn bad_arg(msg: &str) -> ParseError {
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
    let required = |arg: &str| {
        if arg.is_empty() {
            Err(bad_arg("Missing argument."))
        } else {
            Ok(arg.to_string())
        }
    };
    let no_arg = |cmd: Command| {
        if arg.is_empty() {
            Ok(cmd)
        } else {
            Err(bad_arg("This command takes no argument."))
        }
    };
    match verb.as_str() {
        "USER" => required(arg).map(Command::User),
        "PASS" => Ok(Command::Pass(arg.to_string())),
        "SYST" => no_arg(Command::Syst),
        "FEAT" => no_arg(Command::Feat),
        "PWD" | "XPWD" => no_arg(Command::Pwd),
        "CWD" | "XCWD" => required(arg).map(Command::Cwd),
        "CDUP" | "XCUP" => no_arg(Command::Cdup),
        "TYPE" => parse_type(arg).map(Command::Type),
        "MODE" => single_letter(arg, "S", "Bad MODE command.").map(|_| Command::Mode),
        "STRU" => single_letter(arg, "F", "Bad STRU command.").map(|_| Command::Stru),
        "NOOP" => no_arg(Command::Noop),
        "PORT" => parse_port(arg).map(Command::Port),
        "EPRT" => parse_eprt(arg).map(Command::Eprt),
        "PASV" => no_arg(Command::Pasv),
        "EPSV" => Ok(Command::Epsv(optional(arg))),
        "LIST" => Ok(Command::List(list_path(arg))),
        "NLST" => Ok(Command::Nlst(list_path(arg))),
        "RETR" => required(arg).map(Command::Retr),
        "STOR" => required(arg).map(Command::Stor),
        "SIZE" => required(arg).map(Command::Size),
        "QUIT" => no_arg(Command::Quit),
        "ACCT" => Ok(Command::Acct),
        "SMNT" => Ok(Command::Smnt),
        "REIN" => no_arg(Command::Rein),
        "STOU" => Ok(Command::Stou(optional(arg))),
        "APPE" => required(arg).map(Command::Appe),
        "ALLO" => Ok(Command::Allo),
        "REST" => arg
            .parse::<u64>()
            .map(Command::Rest)
            .map_err(|_| bad_arg("REST needs a byte offset.")),
        "RNFR" => required(arg).map(Command::Rnfr),
        "RNTO" => required(arg).map(Command::Rnto),
        "ABOR" => no_arg(Command::Abor),
        "DELE" => required(arg).map(Command::Dele),
        "RMD" | "XRMD" => required(arg).map(Command::Rmd),
        "MKD" | "XMKD" => required(arg).map(Command::Mkd),
        "SITE" => required(arg).map(Command::Site),
        "STAT" => Ok(Command::Stat(list_path(arg))),
        "HELP" => Ok(Command::Help),
        "MDTM" => required(arg).map(Command::Mdtm),
        "MLST" => Ok(Command::Mlst(optional(arg))),
        "MLSD" => Ok(Command::Mlsd(optional(arg))),
        "OPTS" => required(arg).map(Command::Opts),
        _ => Ok(Command::Unknown(verb)),
    }
}

fn optional(arg: &str) -> Option<String> {
    (!arg.is_empty()).then(|| arg.to_string())
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
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

fn single_letter(arg: &str, accepted: &str, msg: &str) -> Result<(), ParseError> {
    if arg.is_empty() {
        Err(bad_arg("Missing argument."))
    } else if arg.eq_ignore_ascii_case(accepted) {
        Ok(())
    } else {
        Err(ParseError::BadParameter(msg.to_string()))
    }
}

fn parse_port(arg: &str) -> Result<SocketAddrV4, ParseError> {
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
fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
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
fn list_path(arg: &str) -> Option<String> {
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
#[path = "command_tests.rs"]
mod tests;
