//! Words and lines of the stack view: the comment part (`cwnd=... rwnd=...; why: ...`), the
//! stack log's JSON line, the reason in words, and the congestion events between snapshots.

use std::fmt::Write as _;

use smoltcp::socket::tcp::{SendReason, TcpInfo};
use smoltcp::time::Duration;

use super::Sent;

fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

/// `4 s`, `1.5 s` or `200 ms`.
fn human(d: Duration) -> String {
    let millis = d.total_millis();
    if millis >= 1000 && millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else if millis >= 1000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{millis} ms")
    }
}

/// Appends `n` in decimal, without the formatting machinery.
#[cfg(test)]
fn push_num(text: &mut String, n: u64) {
    text.push_str(itoa::Buffer::new().format(n));
}

/// Appends a duration in milliseconds with one decimal, e.g. `2.0ms`.
#[cfg(test)]
fn push_ms(text: &mut String, d: Duration) {
    let mut line = Line::new();
    line.ms(d);
    text.push_str(line.as_str());
}

/// The longest view before its reason: 7 numbers of up to 20 digits and the words between.
const LINE: usize = 256;

/// The numbers and words of a view before its reason, laid out on the stack and copied into
/// the comment at once (this runs for nearly every frame: one growth check and one copy
/// instead of one per piece).
struct Line {
    bytes: [u8; LINE],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line {
            bytes: [0; LINE],
            len: 0,
        }
    }

    /// Appends ASCII `words`.
    fn put(&mut self, words: &str) {
        let end = self.len + words.len();
        self.bytes[self.len..end].copy_from_slice(words.as_bytes());
        self.len = end;
    }

    /// Appends `n` in decimal, as `Display` writes it.
    fn num(&mut self, n: u64) {
        self.put(itoa::Buffer::new().format(n));
    }

    /// Appends a duration in milliseconds with one decimal, e.g. `2.0ms` (rounded half up on
    /// the microseconds, as `{:.1}` of the milliseconds rounds them).
    fn ms(&mut self, d: Duration) {
        let tenths = (d.total_micros() + 50) / 100;
        self.num(tenths / 10);
        let end = self.len + 4;
        self.bytes[self.len..end].copy_from_slice(&[b'.', b'0' + (tenths % 10) as u8, b'm', b's']);
        self.len = end;
    }

    /// The text laid out (ASCII only: the words and digits put).
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Why a segment was sent, in words; `ack` is its acknowledgement number, relative to the
/// peer's ISN, when known.
pub fn reason_words(info: &TcpInfo, ack: Option<u32>) -> String {
    let mut text = String::new();
    push_reason(&mut text, info, ack);
    text
}

/// Appends [`reason_words`].
fn push_reason(text: &mut String, info: &TcpInfo, ack: Option<u32>) {
    let mut backed_off = |n: u8, what: &str| {
        let _ = write!(text, "{what} #{n}, timer backed off to {}", human(info.rto));
    };
    let words = match info.last_sent {
        None => "unknown",
        Some(reason) => match reason {
            SendReason::Syn => "SYN (active open)",
            SendReason::SynRetransmission(n) => return backed_off(n, "SYN retransmission"),
            SendReason::SynAck => "SYN+ACK (passive open)",
            SendReason::SynAckRetransmission(n) => {
                return backed_off(n, "SYN+ACK retransmission");
            }
            SendReason::NewData => "new data",
            SendReason::Fin => "FIN (no more data)",
            SendReason::RtoRetransmission(n) => return backed_off(n, "RTO retransmission"),
            SendReason::Retransmission => "retransmission (go-back-N after an RTO)",
            SendReason::FastRetransmission => "fast retransmission after 3 duplicate ACKs",
            SendReason::TailLossProbe => {
                "tail loss probe (RFC 8985): no ACK for 2 RTTs, one segment to draw one"
            }
            SendReason::SackRetransmission => {
                "SACK retransmission (RFC 6675): a hole below data the peer has"
            }
            SendReason::LostRetransmission => {
                "lost retransmission sent again (RACK, RFC 8985): data sent after it was SACKed"
            }
            SendReason::PartialAckRetransmission => {
                "partial-ACK retransmission (NewReno, RFC 6582): the next hole, still in recovery"
            }
            SendReason::ZeroWindowProbe => "zero-window probe",
            SendReason::WindowUpdate => "window update",
            SendReason::KeepAlive => "keep-alive",
            SendReason::AckImmediate => "pure ACK, immediate",
            SendReason::AckDelayed => "pure ACK, delayed (delayed-ACK timer)",
            SendReason::DuplicateAck(n) => {
                let _ = match ack {
                    Some(ack) => write!(text, "duplicate ACK #{n} for seq {ack}"),
                    None => write!(text, "duplicate ACK #{n}"),
                };
                return;
            }
            SendReason::Rst => "RST",
            SendReason::ChallengeAck => {
                "challenge ACK (RFC 5961): an RST or SYN that may be a blind attacker's guess"
            }
            _ => {
                let _ = write!(text, "{reason:?}");
                return;
            }
        },
    };
    text.push_str(words);
}

/// Appends `cwnd=... rwnd=...; why: ...` (the contract of frame comments): [`push_head`],
/// the bytes in flight, [`push_tail`].
pub fn push_view(text: &mut String, info: &TcpInfo, ack: Option<u32>) {
    push_head(text, info);
    push_count(text, info.bytes_in_flight);
    push_tail(text, info, ack);
}

/// Appends the view up to the bytes in flight: `cwnd=... ssthresh=... srtt=... rttvar=...
/// rto=...ms inflight=` (the same for many frames in a row: a sender's every segment of an RTT).
pub(super) fn push_head(text: &mut String, info: &TcpInfo) {
    let mut line = Line::new();
    line.put("cwnd=");
    match info.cwnd {
        Some(cwnd) => line.num(cwnd as u64),
        None => line.put("none"),
    }
    line.put(" ssthresh=");
    match (info.cwnd, info.ssthresh) {
        (_, Some(s)) => line.num(s as u64),
        (Some(_), None) => line.put("inf"),
        (None, None) => line.put("none"),
    }
    match (info.srtt, info.rttvar) {
        (Some(srtt), Some(rttvar)) => {
            line.put(" srtt=");
            line.ms(srtt);
            line.put(" rttvar=");
            line.ms(rttvar);
        }
        _ => line.put(" srtt=- rttvar=-"),
    }
    line.put(" rto=");
    line.num(info.rto.total_millis());
    line.put("ms inflight=");
    text.push_str(line.as_str());
}

/// Appends a count in decimal, as `Display` writes it.
pub(super) fn push_count(text: &mut String, n: usize) {
    text.push_str(itoa::Buffer::new().format(n));
}

/// Appends the view after the bytes in flight: ` rwnd=...; why: ...`.
pub(super) fn push_tail(text: &mut String, info: &TcpInfo, ack: Option<u32>) {
    text.push_str(" rwnd=");
    push_count(text, info.peer_window);
    text.push_str("; why: ");
    push_reason(text, info, ack);
}

fn json_opt<T: std::fmt::Display>(text: &mut String, value: Option<T>) {
    match value {
        Some(v) => {
            let _ = write!(text, "{v}");
        }
        None => text.push_str("null"),
    }
}

/// Writes `text` as a JSON string (quotes and escapes).
fn json_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The stack log line of one frame.
pub fn json_line(sent: &Sent) -> String {
    let info = sent.info;
    let mut s = String::with_capacity(320);
    let _ = write!(s, "{{\"t\":{:.6},\"frame\":", sent.t);
    json_opt(&mut s, sent.frame);
    s.push_str(",\"src\":");
    json_str(&mut s, &sent.src.to_string());
    s.push_str(",\"dst\":");
    json_str(&mut s, &sent.dst.to_string());
    s.push_str(",\"state\":");
    json_str(&mut s, &info.state.to_string());
    s.push_str(",\"cwnd\":");
    json_opt(&mut s, info.cwnd);
    s.push_str(",\"ssthresh\":");
    json_opt(&mut s, info.ssthresh);
    s.push_str(",\"srtt_ms\":");
    json_opt(&mut s, info.srtt.map(|d| format!("{:.1}", ms(d))));
    s.push_str(",\"rttvar_ms\":");
    json_opt(&mut s, info.rttvar.map(|d| format!("{:.1}", ms(d))));
    let _ = write!(
        s,
        ",\"rto_ms\":{},\"backoff\":{},\"inflight\":{},\"rwnd\":{},\"adv_wnd\":{},\"dup_acks\":{},\"recovery\":{},\"reason\":",
        info.rto.total_millis(),
        info.rto_backoff,
        info.bytes_in_flight,
        info.peer_window,
        info.advertised_window,
        info.dup_acks,
        info.in_fast_recovery
    );
    json_str(&mut s, &reason_words(info, sent.ack));
    s.push_str("}\n");
    s
}

/// The congestion events between two snapshots of one socket, in words.
pub fn congestion_events(before: &TcpInfo, after: &TcpInfo) -> Vec<String> {
    let mut events = Vec::new();
    let cwnd = |i: &TcpInfo| i.cwnd.map_or("none".to_string(), |c| c.to_string());
    let ssthresh = |i: &TcpInfo| i.ssthresh.map_or("inf".to_string(), |c| c.to_string());
    if after.rto_backoff > before.rto_backoff {
        events.push(format!(
            "RTO #{}: timer backed off to {}, cwnd {} -> {}, ssthresh {}",
            after.rto_backoff,
            human(after.rto),
            cwnd(before),
            cwnd(after),
            ssthresh(after)
        ));
    }
    if after.in_fast_recovery && !before.in_fast_recovery {
        events.push(format!(
            "fast recovery entered ({} duplicate ACKs received): cwnd {} -> {}, ssthresh {}",
            after.dup_acks,
            cwnd(before),
            cwnd(after),
            ssthresh(after)
        ));
    }
    if before.in_fast_recovery && !after.in_fast_recovery && after.rto_backoff == 0 {
        events.push(format!(
            "fast recovery left: cwnd {} -> {}",
            cwnd(before),
            cwnd(after)
        ));
    }
    if let (Some(b), Some(a), Some(s)) = (before.cwnd, after.cwnd, after.ssthresh)
        && b < s
        && a >= s
        && !after.in_fast_recovery
        && !before.in_fast_recovery
    {
        events.push(format!(
            "slow start -> congestion avoidance: cwnd {a} reached ssthresh {s}"
        ));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::socket::tcp::{self, State};

    /// A snapshot to change: that of a fresh socket.
    fn info() -> TcpInfo {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        );
        socket.tcp_info()
    }

    #[test]
    fn the_view_follows_the_comment_contract() {
        let mut i = info();
        i.cwnd = Some(5840);
        i.srtt = Some(Duration::from_millis(2));
        i.rttvar = Some(Duration::from_millis(1));
        i.bytes_in_flight = 2920;
        i.peer_window = 65535;
        i.last_sent = Some(SendReason::NewData);
        let mut text = String::new();
        push_view(&mut text, &i, None);
        assert_eq!(
            text,
            "cwnd=5840 ssthresh=inf srtt=2.0ms rttvar=1.0ms rto=1000ms inflight=2920 rwnd=65535; why: new data"
        );
        i.cwnd = None;
        i.srtt = None;
        i.last_sent = Some(SendReason::DuplicateAck(2));
        text.clear();
        push_view(&mut text, &i, Some(4381));
        assert_eq!(
            text,
            "cwnd=none ssthresh=none srtt=- rttvar=- rto=1000ms inflight=2920 rwnd=65535; why: duplicate ACK #2 for seq 4381"
        );
    }

    /// The Wireshark post-dissector (wireshark/smolftp.lua) reads the keys of the view in the
    /// order written here: the two may not drift.
    #[test]
    fn the_lua_dissector_knows_every_key_of_the_view() {
        let lua = include_str!("../../../wireshark/smolftp.lua");
        let mut text = String::new();
        push_view(&mut text, &info(), None);
        let (view, why) = text.split_once("; ").expect("view; why");
        let keys: Vec<&str> = view
            .split(' ')
            .map(|kv| kv.split_once('=').expect("key=value").0)
            .collect();
        let table = lua
            .split_once("local VIEW_KEYS = {")
            .and_then(|(_, rest)| rest.split_once("\n}"))
            .expect("VIEW_KEYS table in smolftp.lua")
            .0;
        let lua_keys: Vec<&str> = table
            .lines()
            .filter_map(|l| l.trim().strip_prefix("{ \"")?.split('"').next())
            .collect();
        assert_eq!(keys, lua_keys, "view keys vs smolftp.lua VIEW_KEYS");
        assert!(why.starts_with("why: "));
        assert!(lua.contains("local WHY_PREFIX = \"why: \""));
        assert!(lua.contains("local VIEW_PREFIX = \"cwnd=\""));
        assert!(lua.contains("local FAULT_PREFIX = \"fault: \""));
        assert!(lua.contains("local SEP = \"; \""));
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 1460, 65535, u64::MAX] {
            let mut text = String::new();
            push_num(&mut text, n);
            assert_eq!(text, n.to_string());
        }
        for (micros, shown) in [
            (0, "0.0ms"),
            (2000, "2.0ms"),
            (1250, "1.3ms"),
            (999_949, "999.9ms"),
        ] {
            let mut text = String::new();
            push_ms(&mut text, Duration::from_micros(micros));
            assert_eq!(text, shown);
        }
    }

    #[test]
    fn the_stack_log_line_follows_the_json_contract() {
        let mut i = info();
        i.state = State::Established;
        i.cwnd = Some(5840);
        i.rto = Duration::from_millis(4000);
        i.rto_backoff = 2;
        i.last_sent = Some(SendReason::RtoRetransmission(2));
        let line = json_line(&Sent {
            t: 0.012345,
            frame: Some(17),
            src: "10.0.0.1:20".parse().unwrap(),
            dst: "[fd00::2]:5002".parse().unwrap(),
            ack: Some(1),
            info: &i,
        });
        assert_eq!(
            line,
            "{\"t\":0.012345,\"frame\":17,\"src\":\"10.0.0.1:20\",\"dst\":\"[fd00::2]:5002\",\
             \"state\":\"ESTABLISHED\",\"cwnd\":5840,\"ssthresh\":null,\"srtt_ms\":null,\
             \"rttvar_ms\":null,\"rto_ms\":4000,\"backoff\":2,\"inflight\":0,\"rwnd\":0,\
             \"adv_wnd\":0,\"dup_acks\":0,\"recovery\":false,\
             \"reason\":\"RTO retransmission #2, timer backed off to 4 s\"}\n"
        );
    }

    #[test]
    fn congestion_events_are_told_between_snapshots() {
        let mut before = info();
        before.cwnd = Some(2920);
        before.ssthresh = Some(4380);
        let mut after = before;
        after.cwnd = Some(4380);
        assert_eq!(
            congestion_events(&before, &after),
            ["slow start -> congestion avoidance: cwnd 4380 reached ssthresh 4380"]
        );
        after.in_fast_recovery = true;
        after.dup_acks = 3;
        assert_eq!(
            congestion_events(&before, &after),
            ["fast recovery entered (3 duplicate ACKs received): cwnd 2920 -> 4380, ssthresh 4380"]
        );
        assert_eq!(
            congestion_events(&after, &before),
            ["fast recovery left: cwnd 4380 -> 2920"]
        );
        let mut rto = before;
        rto.rto_backoff = 1;
        rto.rto = Duration::from_millis(2000);
        rto.cwnd = Some(1460);
        assert_eq!(
            congestion_events(&before, &rto),
            ["RTO #1: timer backed off to 2 s, cwnd 2920 -> 1460, ssthresh 4380"]
        );
        assert!(congestion_events(&before, &before).is_empty());
    }
}
