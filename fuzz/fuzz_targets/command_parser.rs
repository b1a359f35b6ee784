//! Fuzz target: the control-line side of `smolftp::ftp::command`.
//!
//! The input is a stream of control-connection bytes (the seeds are whole client sessions). It
//! is pushed into a [`LineBuffer`] in pieces of pseudo-random size, and every line that comes
//! out, as well as the whole input taken as one line, goes through [`command::parse`].
//!
//! Invariants checked (besides "no panic"):
//! - `LineBuffer` yields exactly what a simple model says (split at LF, one trailing CR dropped,
//!   `TooLong` for lines over `MAX_LINE`, announced as soon as the line is known to be too long),
//!   whatever the sizes of the pieces; a `Complete` line never exceeds `MAX_LINE` nor holds an LF;
//!   `pending()` counts the lines waiting.
//! - `parse` refuses lines over `MAX_LINE` with a 500; every error has a code `ParseError::code`
//!   documents and a one-line, non-empty message.
//! - The verb is case-insensitive: flipping the ASCII case of its letters changes nothing.
//! - A parsed command, written back with its `Display` (which must equal the canonical wire
//!   form modelled here by `render`), parses to the same command; a known command has its row
//!   in the verb table.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smolftp::ftp::command::{self, Command, Line, LineBuffer, MAX_LINE, ParseError, TransferType};
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    check_parse(data);
    for line in check_line_buffer(data) {
        if let Line::Complete(line) = line {
            check_parse(&line);
        }
    }
});

/// A small deterministic PRNG (xorshift64*), seeded from the input, for the piece sizes.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Rng {
        // FNV-1a of the input; never 0.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A piece size: mostly small, sometimes large enough to hold a whole long line.
    fn piece(&mut self) -> usize {
        let r = self.next();
        match r % 8 {
            0 => 1 + (r >> 8) as usize % (2 * MAX_LINE + 8),
            _ => 1 + (r >> 8) as usize % 16,
        }
    }
}

/// What `LineBuffer` must yield for `data`, computed the simple way.
fn model_lines(data: &[u8]) -> Vec<Line> {
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    // The bytes after the last LF are an unfinished line.
    let unfinished = pieces.pop().unwrap_or(&[]);
    let mut out: Vec<Line> = pieces
        .into_iter()
        .map(|p| {
            let p = p.strip_suffix(b"\r").unwrap_or(p);
            if p.len() > MAX_LINE {
                Line::TooLong
            } else {
                Line::Complete(p.to_vec())
            }
        })
        .collect();
    // Past MAX_LINE bytes plus room for one CR, an unfinished line is already known too long.
    if unfinished.len() > MAX_LINE + 1 {
        out.push(Line::TooLong);
    }
    out
}

/// Pushes `data` in pieces and checks the lines against the model; returns them.
fn check_line_buffer(data: &[u8]) -> Vec<Line> {
    let mut rng = Rng::new(data);
    let mut buf = LineBuffer::new();
    let mut got = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.piece().min(rest.len());
        buf.push(&rest[..n]);
        rest = &rest[n..];
        // Take the lines out at random moments only, so that several pile up.
        if rng.next().is_multiple_of(3) {
            drain(&mut buf, &mut got);
        }
    }
    drain(&mut buf, &mut got);
    let want = model_lines(data);
    assert!(got == want, "LineBuffer disagrees with the model");
    got
}

fn drain(buf: &mut LineBuffer, got: &mut Vec<Line>) {
    let mut pending = buf.pending();
    while let Some(line) = buf.next_line() {
        assert!(pending > 0, "pending() said no line was waiting");
        pending -= 1;
        if let Line::Complete(l) = &line {
            assert!(l.len() <= MAX_LINE, "a line of {} bytes", l.len());
            assert!(!l.contains(&b'\n'), "a line holds an LF");
        }
        got.push(line);
    }
    assert_eq!(pending, 0, "pending() counted lines that never came");
}

fn check_parse(line: &[u8]) {
    let parsed = command::parse(line);
    match &parsed {
        Err(e) => check_error(line, e),
        Ok(cmd) => {
            // `Display` writes what the independent model below writes, and it parses back.
            let wire = cmd.to_string();
            assert_eq!(wire, render(cmd), "Display differs from the model");
            assert!(cmd.verb().is_some() != matches!(cmd, Command::Unknown(_)));
            let again = command::parse(wire.as_bytes());
            assert_eq!(again.as_ref(), Ok(cmd), "{wire:?} does not parse back");
        }
    }
    if let Some(flipped) = flip_verb_case(line) {
        assert_eq!(command::parse(&flipped), parsed, "the verb's case matters");
    }
}

fn check_error(line: &[u8], e: &ParseError) {
    assert!(
        [500, 501, 502, 504, 522].contains(&e.code()),
        "code {}",
        e.code()
    );
    assert!(!e.message().is_empty(), "an empty message");
    assert!(!e.message().contains(['\r', '\n']), "a message spans lines");
    if line.len() > MAX_LINE {
        assert!(matches!(e, ParseError::Syntax(_)), "a long line got {e:?}");
    }
}

/// The line with the ASCII letters of its verb in the other case; `None` if it has no verb.
fn flip_verb_case(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let trimmed = text.trim_start();
    let start = text.len() - trimmed.len();
    let len = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
    if len == 0 {
        return None;
    }
    let mut out = line.to_vec();
    for b in &mut out[start..start + len] {
        if b.is_ascii_alphabetic() {
            *b ^= 0x20;
        }
    }
    Some(out)
}

/// The canonical wire form of a command (no CRLF): the model `Display` is checked against.
fn render(cmd: &Command) -> String {
    let with = |verb: &str, arg: &str| format!("{verb} {arg}");
    let opt = |verb: &str, arg: &Option<String>| match arg {
        Some(a) => with(verb, a),
        None => verb.to_string(),
    };
    match cmd {
        Command::User(a) => with("USER", a),
        Command::Pass(a) => with("PASS", a),
        Command::Syst => "SYST".into(),
        Command::Feat => "FEAT".into(),
        Command::Pwd => "PWD".into(),
        Command::Cwd(a) => with("CWD", a),
        Command::Cdup => "CDUP".into(),
        Command::Type(TransferType::Ascii) => "TYPE A".into(),
        Command::Type(TransferType::Image) => "TYPE I".into(),
        Command::Mode => "MODE S".into(),
        Command::Stru => "STRU F".into(),
        Command::Noop => "NOOP".into(),
        Command::Port(addr) => {
            let [a, b, c, d] = addr.ip().octets();
            let (hi, lo) = (addr.port() >> 8, addr.port() & 0xff);
            format!("PORT {a},{b},{c},{d},{hi},{lo}")
        }
        Command::Eprt(SocketAddr::V4(a)) => format!("EPRT |1|{}|{}|", a.ip(), a.port()),
        Command::Eprt(SocketAddr::V6(a)) => format!("EPRT |2|{}|{}|", a.ip(), a.port()),
        Command::Pasv => "PASV".into(),
        Command::Epsv(a) => opt("EPSV", a),
        Command::List(a) => opt("LIST", a),
        Command::Nlst(a) => opt("NLST", a),
        Command::Retr(a) => with("RETR", a),
        Command::Stor(a) => with("STOR", a),
        Command::Size(a) => with("SIZE", a),
        Command::Quit => "QUIT".into(),
        Command::Acct => "ACCT".into(),
        Command::Smnt => "SMNT".into(),
        Command::Rein => "REIN".into(),
        Command::Stou(a) => opt("STOU", a),
        Command::Appe(a) => with("APPE", a),
        Command::Allo => "ALLO".into(),
        Command::Rest(n) => format!("REST {n}"),
        Command::Rnfr(a) => with("RNFR", a),
        Command::Rnto(a) => with("RNTO", a),
        Command::Abor => "ABOR".into(),
        Command::Dele(a) => with("DELE", a),
        Command::Rmd(a) => with("RMD", a),
        Command::Mkd(a) => with("MKD", a),
        Command::Site(a) => with("SITE", a),
        Command::Stat(a) => opt("STAT", a),
        Command::Help => "HELP".into(),
        Command::Mdtm(a) => with("MDTM", a),
        Command::Mlst(a) => opt("MLST", a),
        Command::Mlsd(a) => opt("MLSD", a),
        Command::Opts(a) => with("OPTS", a),
        Command::Unknown(verb) => verb.clone(),
    }
}
