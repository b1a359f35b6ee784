//! # Stack log reader (analysis layer)
//!
//! Layer: analysis, offline. Job: read the stack log a run of our own stack writes
//! (`--stack-log FILE`): JSON Lines, one flat object per frame the stack sent, with the
//! fields of the team's contract (`t`, `frame`, `src`, `dst`, `state`, `cwnd`, `ssthresh`,
//! `srtt_ms`, `rttvar_ms`, `rto_ms`, `backoff`, `inflight`, `rwnd`, `adv_wnd`, `dup_acks`,
//! `recovery`, `reason`; `null` where unknown, `ssthresh: null` meaning infinite). Unknown
//! fields are ignored, so the log may grow. A small hand-written parser for flat objects:
//! the log needs no more of JSON, and errors name the line and column.

use std::collections::BTreeMap;

/// One line of the stack log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StackRecord {
    /// Seconds since the capture's first frame.
    pub t: f64,
    /// Frame number in the capture (1-based), if known.
    pub frame: Option<u32>,
    /// Sender, as `10.0.0.1:20` or `[fd00::1]:20`.
    pub src: String,
    /// Receiver.
    pub dst: String,
    /// TCP state of the sending socket.
    pub state: Option<String>,
    /// Congestion window, bytes.
    pub cwnd: Option<f64>,
    /// Slow-start threshold, bytes (`None`: infinite or unknown).
    pub ssthresh: Option<f64>,
    /// Smoothed RTT, ms.
    pub srtt_ms: Option<f64>,
    /// Retransmission timeout, ms.
    pub rto_ms: Option<f64>,
    /// RTO back-off count (above 0 after a timeout).
    pub backoff: Option<f64>,
    /// Bytes in flight.
    pub inflight: Option<f64>,
    /// The peer's receive window, bytes.
    pub rwnd: Option<f64>,
    /// Duplicate ACKs counted.
    pub dup_acks: Option<f64>,
    /// In fast recovery.
    pub recovery: Option<bool>,
    /// Why the segment was sent, in words.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn err(&self, what: &str) -> String {
        format!("column {}: {what}", self.at + 1)
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", b as char)))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        // Each step consumes at least one byte.
        loop {
            match self.s.get(self.at) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    let c = *self
                        .s
                        .get(self.at + 1)
                        .ok_or_else(|| self.err("bad escape"))?;
                    self.at += 2;
                    match c {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' | b'f' => {}
                        b'u' => {
                            let hex = self
                                .s
                                .get(self.at..self.at + 4)
                                .ok_or_else(|| self.err("bad \\u"))?;
                            let code = u32::from_str_radix(&String::from_utf8_lossy(hex), 16)
                                .map_err(|_| self.err("bad \\u"))?;
                            self.at += 4;
                            let ch = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(ch.to_string().as_bytes());
                        }
                        other => out.push(other),
                    }
                }
                Some(&b) => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        let rest = &self.s[self.at.min(self.s.len())..];
        for (word, v) in [
            (&b"null"[..], Value::Null),
            (b"true", Value::Bool(true)),
            (b"false", Value::Bool(false)),
        ] {
            if rest.starts_with(word) {
                self.at += word.len();
                return Ok(v);
            }
        }
        if rest.first() == Some(&b'"') {
            return self.string().map(Value::Str);
        }
        let n = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            .count();
        let text = std::str::from_utf8(&rest[..n]).unwrap_or("");
        let v: f64 = text
            .parse()
            .map_err(|_| self.err("expected a number, string, true, false or null"))?;
        self.at += n;
        Ok(Value::Num(v))
    }

    fn object(&mut self) -> Result<BTreeMap<String, Value>, String> {
        let mut out = BTreeMap::new();
        self.eat(b'{')?;
        self.ws();
        if self.s.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(out);
        }
        // Each round consumes a key and a value: bounded by the line's length.
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            let v = self.value()?;
            out.insert(key, v);
            self.ws();
            match self.s.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    break;
                }
                _ => return Err(self.err("expected ',' or '}' (only flat objects are read)")),
            }
        }
        self.ws();
        if self.at != self.s.len() {
            return Err(self.err("text after the object"));
        }
        Ok(out)
    }
}

/// Parses a stack log; `name` is used in error messages (`FILE:LINE: column C: ...`).
pub fn parse_stack_log(name: &str, text: &str) -> Result<Vec<StackRecord>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: String| format!("{name}:{}: {e}", n + 1);
        let mut p = Parser {
            s: line.as_bytes(),
            at: 0,
        };
        let o = p.object().map_err(at)?;
        let num = |k: &str| match o.get(k) {
            Some(Value::Num(v)) => Some(*v),
            _ => None,
        };
        let text = |k: &str| match o.get(k) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let need = |k: &str| text(k).ok_or_else(|| at(format!("no \"{k}\" string")));
        out.push(StackRecord {
            t: num("t").ok_or_else(|| at("no \"t\" number".into()))?,
            frame: num("frame").map(|f| f as u32),
            src: need("src")?,
            dst: need("dst")?,
            state: text("state"),
            cwnd: num("cwnd"),
            ssthresh: num("ssthresh"),
            srtt_ms: num("srtt_ms"),
            rto_ms: num("rto_ms"),
            backoff: num("backoff"),
            inflight: num("inflight"),
            rwnd: num("rwnd"),
            dup_acks: num("dup_acks"),
            recovery: match o.get("recovery") {
                Some(Value::Bool(b)) => Some(*b),
                _ => None,
            },
            reason: text("reason"),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_line_and_says_where_a_line_is_wrong() {
        let line = r#"{"t":0.012345,"frame":17,"src":"10.0.0.1:20","dst":"10.0.0.2:5002","state":"ESTABLISHED","cwnd":5840,"ssthresh":null,"srtt_ms":2.0,"rttvar_ms":1.0,"rto_ms":1000,"backoff":0,"inflight":2920,"rwnd":65535,"adv_wnd":65535,"dup_acks":0,"recovery":false,"reason":"new data \"x\""}"#;
        let r = parse_stack_log("log", line).expect("parse");
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(
            (r.t, r.frame, r.cwnd, r.ssthresh),
            (0.012345, Some(17), Some(5840.0), None)
        );
        assert_eq!(
            (r.src.as_str(), r.dst.as_str()),
            ("10.0.0.1:20", "10.0.0.2:5002")
        );
        assert_eq!(r.recovery, Some(false));
        assert_eq!(r.reason.as_deref(), Some("new data \"x\""));
        let bad = format!("{line}\n{{\"t\":1,\"src\":\"a\"");
        let e = parse_stack_log("log", &bad).unwrap_err();
        assert!(e.starts_with("log:2: column"), "{e}");
        assert!(
            parse_stack_log("log", "{\"src\":\"a\",\"dst\":\"b\"}")
                .unwrap_err()
                .contains("\"t\"")
        );
        assert!(parse_stack_log("log", "[1,2]").is_err());
        assert!(parse_stack_log("log", "{\"t\":1,\"src\":\"a\",\"dst\":\"b\",\"o\":{}}").is_err());
    }
}
