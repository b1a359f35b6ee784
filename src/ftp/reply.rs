//! # FTP replies (sans-IO, application layer)
//!
//! Layer: application protocol. Formats server replies as RFC 959 bytes ([`Reply::to_bytes`])
//! and reassembles them on the client side from control lines ([`ReplyParser`]), including
//! multi-line replies. Touches no socket, file or clock.

use std::fmt;

/// One FTP reply: a three-digit code and one or more text lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 100..=599.
    pub code: u16,
    /// The text lines: one for a single-line reply; for a multi-line reply the first line, the
    /// middle lines as sent, and the last line.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply (first line, middle lines, last line).
    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        Reply { code, lines }
    }

    /// The wire form: `code text\r\n`, or for several lines `code-first\r\n`, the middle lines
    /// (a middle line starting with three digits gets a leading space) and `code last\r\n`.
    /// CR and LF inside the text are replaced by spaces.
    pub fn to_bytes(&self) -> Vec<u8> {
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let mut out = String::new();
        match self.lines.as_slice() {
            [] => out.push_str(&format!("{} \r\n", self.code)),
            [only] => out.push_str(&format!("{} {}\r\n", self.code, clean(only))),
            [first, middle @ .., last] => {
                out.push_str(&format!("{}-{}\r\n", self.code, clean(first)));
                for line in middle {
                    let line = clean(line);
                    if line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
                        out.push(' ');
                    }
                    out.push_str(&line);
                    out.push_str("\r\n");
                }
                out.push_str(&format!("{} {}\r\n", self.code, clean(last)));
            }
        }
        out.into_bytes()
    }

    /// The text lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// 1xx: positive preliminary (e.g. `150` before a transfer).
    pub fn is_positive_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// 2xx: positive completion.
    pub fn is_positive_completion(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3xx: positive intermediate (e.g. `331` asking for a password).
    pub fn is_positive_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4xx: transient negative completion.
    pub fn is_transient_negative(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5xx: permanent negative completion.
    pub fn is_permanent_negative(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// 4xx or 5xx.
    pub fn is_negative(&self) -> bool {
        self.is_transient_negative() || self.is_permanent_negative()
    }
}

impl fmt::Display for Reply {
    /// `code text` with the lines joined by ` / ` (for logs and error messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// A control line that is not a valid reply line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedReply {
    /// The offending line, lossily decoded.
    pub line: String,
}

impl fmt::Display for MalformedReply {
    /// Describes the malformed line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed reply line: {:?}", self.line)
    }
}

impl std::error::Error for MalformedReply {}

/// Client side: reassembles [`Reply`]s from control lines (without CRLF).
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// The code and lines of a multi-line reply in progress.
    partial: Option<(u16, Vec<String>)>,
}

/// Splits `ddd<sep>rest` into the code, the separator byte (0 if none) and the rest.
fn split_code(line: &str) -> Option<(u16, u8, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !(b'1'..=b'5').contains(&bytes[0]) {
        return None;
    }
    let code = (u16::from(bytes[0] - b'0') * 100)
        + (u16::from(bytes[1] - b'0') * 10)
        + u16::from(bytes[2] - b'0');
    match bytes.get(3) {
        None => Some((code, 0, "")),
        Some(&sep @ (b' ' | b'-')) => Some((code, sep, &line[4..])),
        Some(_) => None,
    }
}

impl ReplyParser {
    /// A parser with no reply in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a multi-line reply has started but not ended.
    pub fn in_multiline(&self) -> bool {
        self.partial.is_some()
    }

    /// Feeds one line; returns a reply when it is complete, `Ok(None)` while a multi-line reply
    /// is in progress, or an error for a line that cannot start a reply (the parser state is
    /// unchanged then).
    pub fn feed_line(&mut self, line: &[u8]) -> Result<Option<Reply>, MalformedReply> {
        let text = String::from_utf8_lossy(line).into_owned();
        if let Some((code, lines)) = &mut self.partial {
            let code = *code;
            match split_code(&text) {
                Some((c, b' ', rest)) if c == code => {
                    lines.push(rest.to_string());
                    let lines = std::mem::take(lines);
                    self.partial = None;
                    return Ok(Some(Reply { code, lines }));
                }
                Some((c, 0, _)) if c == code => {
                    lines.push(String::new());
                    let lines = std::mem::take(lines);
                    self.partial = None;
                    return Ok(Some(Reply { code, lines }));
                }
                _ => {
                    lines.push(text);
                    return Ok(None);
                }
            }
        }
        match split_code(&text) {
            Some((code, b'-', rest)) => {
                self.partial = Some((code, vec![rest.to_string()]));
                Ok(None)
            }
            Some((code, _, rest)) => Ok(Some(Reply::new(code, rest))),
            None => Err(MalformedReply { line: text }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_table() {
        let cases: Vec<(Reply, &str)> = vec![
            (
                Reply::new(230, "Login successful."),
                "230 Login successful.\r\n",
            ),
            (
                Reply::multi(211, vec!["Features:".into(), " SIZE".into(), "End".into()]),
                "211-Features:\r\n SIZE\r\n211 End\r\n",
            ),
            (
                Reply::multi(211, vec!["a".into(), "211 x".into(), "b".into()]),
                "211-a\r\n 211 x\r\n211 b\r\n",
            ),
            (
                Reply::multi(200, vec!["a".into(), "b".into()]),
                "200-a\r\n200 b\r\n",
            ),
            (Reply::multi(200, vec![]), "200 \r\n"),
            (Reply::new(550, "bad\r\nname"), "550 bad  name\r\n"),
        ];
        for (reply, want) in cases {
            assert_eq!(String::from_utf8(reply.to_bytes()).unwrap(), want);
        }
    }

    #[test]
    fn classes() {
        let r = |c| Reply::new(c, "");
        assert!(r(150).is_positive_preliminary());
        assert!(r(226).is_positive_completion());
        assert!(r(331).is_positive_intermediate());
        assert!(r(425).is_transient_negative() && r(425).is_negative());
        assert!(r(550).is_permanent_negative() && r(550).is_negative());
        assert!(!r(226).is_negative());
    }

    fn feed_all(
        p: &mut ReplyParser,
        lines: &[&[u8]],
    ) -> Vec<Result<Option<Reply>, MalformedReply>> {
        lines.iter().map(|l| p.feed_line(l)).collect()
    }

    #[test]
    fn parse_single_and_multi() {
        let mut p = ReplyParser::new();
        assert_eq!(
            p.feed_line(b"220 (vsFTPd 3.0.5)"),
            Ok(Some(Reply::new(220, "(vsFTPd 3.0.5)")))
        );
        assert_eq!(p.feed_line(b"200"), Ok(Some(Reply::new(200, ""))));
        let got = feed_all(
            &mut p,
            &[
                b"211-Features:",
                b" SIZE",
                b"150 not the end",
                b"211-still not",
                b"211 End",
            ],
        );
        assert_eq!(got[..4], [Ok(None), Ok(None), Ok(None), Ok(None)]);
        assert_eq!(
            got[4],
            Ok(Some(Reply::multi(
                211,
                vec![
                    "Features:".into(),
                    " SIZE".into(),
                    "150 not the end".into(),
                    "211-still not".into(),
                    "End".into()
                ]
            )))
        );
        assert!(!p.in_multiline());
        // Round trip of a parsed reply whose middle line starts with another code.
        let r = Reply::multi(250, vec!["a".into(), "226 b".into(), "c".into()]);
        let bytes = r.to_bytes();
        let mut out = None;
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out = p
                .feed_line(line.strip_suffix(b"\r").unwrap_or(line))
                .unwrap();
        }
        assert_eq!(out.unwrap().lines[1], " 226 b");
    }

    #[test]
    fn parse_malformed() {
        let mut p = ReplyParser::new();
        for line in [
            &b""[..],
            b"hello",
            b"22",
            b"2200 x",
            b"600 x",
            b"099 x",
            b"22a x",
            b"\xff\xfe\xfd",
            b"220x",
        ] {
            assert!(p.feed_line(line).is_err(), "{line:?}");
        }
        // Still usable afterwards.
        assert_eq!(p.feed_line(b"221 Bye"), Ok(Some(Reply::new(221, "Bye"))));
    }
}
