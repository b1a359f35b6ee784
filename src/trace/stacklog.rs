//! # Stack log reader (analysis layer)
//!
//! Layer: analysis, offline. Job: read the stack log a run of our own stack writes
//! (`--stack-log FILE`): JSON Lines, one flat object per frame the stack sent, with the
//! fields of the team's contract (`t`, `frame`, `src`, `dst`, `state`, `cwnd`, `ssthresh`,
//! `srtt_ms`, `rttvar_ms`, `rto_ms`, `backoff`, `inflight`, `rwnd`, `adv_wnd`, `dup_acks`,
//! `recovery`, `reason`; `null` where unknown, `ssthresh: null` meaning infinite). Unknown
//! fields are ignored, so the log may grow. Errors name the line and column.

/// A line of a stack log that cannot be read: `FILE:LINE: what`.
#[derive(Debug, thiserror::Error)]
#[error("{name}:{line}: {problem}")]
pub struct StackLogError {
    /// The log's name as the user gave it.
    pub name: String,
    /// The line (from 1).
    pub line: usize,
    /// What is wrong with it.
    #[source]
    pub problem: StackLogProblem,
}

/// What is wrong with a line of a stack log.
#[derive(Debug, thiserror::Error)]
pub enum StackLogProblem {
    /// Not JSON; the column is where the reader stopped.
    #[error("column {column}: {0}", column = .0.column())]
    Json(#[source] serde_json::Error),
    /// JSON, but not an object.
    #[error("column 1: expected an object")]
    NotAnObject,
    /// An object holding objects or arrays.
    #[error("only flat objects are read")]
    NotFlat,
    /// A field the contract requires as a string is missing (or not a string).
    #[error("no \"{0}\" string")]
    NoString(&'static str),
    /// No `t` number.
    #[error("no \"t\" number")]
    NoTime,
}

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

/// Parses a stack log; `name` is used in error messages (`FILE:LINE: column C: ...`). Each line
/// is a flat JSON object (read with serde_json); unknown fields are ignored.
pub fn parse_stack_log(name: &str, text: &str) -> Result<Vec<StackRecord>, StackLogError> {
    use serde_json::Value;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |problem| StackLogError {
            name: name.to_string(),
            line: n + 1,
            problem,
        };
        let o = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(at(StackLogProblem::NotAnObject)),
            Err(e) => return Err(at(StackLogProblem::Json(e))),
        };
        if o.values().any(|v| v.is_object() || v.is_array()) {
            return Err(at(StackLogProblem::NotFlat));
        }
        let num = |k: &str| o.get(k).and_then(Value::as_f64);
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let need = |k: &'static str| text(k).ok_or_else(|| at(StackLogProblem::NoString(k)));
        out.push(StackRecord {
            t: num("t").ok_or_else(|| at(StackLogProblem::NoTime))?,
            // A frame number is a whole number of 32 bits; anything else is not one.
            frame: o
                .get("frame")
                .and_then(Value::as_u64)
                .and_then(|f| u32::try_from(f).ok()),
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
            recovery: o.get("recovery").and_then(Value::as_bool),
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
        let e = parse_stack_log("log", &bad).unwrap_err().to_string();
        assert!(e.starts_with("log:2: column"), "{e}");
        assert!(
            parse_stack_log("log", "{\"src\":\"a\",\"dst\":\"b\"}")
                .unwrap_err()
                .to_string()
                .contains("\"t\"")
        );
        assert!(parse_stack_log("log", "[1,2]").is_err());
        assert!(parse_stack_log("log", "{\"t\":1,\"src\":\"a\",\"dst\":\"b\",\"o\":{}}").is_err());
    }
}
