//! # Frame explanations
//!
//! Layer: network (bookkeeping for captures). Builds the one-line comment each recorded frame
//! carries (pcapng `opt_comment`, Wireshark's `frame.comment`) from what the host knew when it
//! sent or received the frame: the connection's label, what the segment is, and the TCP state
//! transitions it caused, e.g. `RETR readme.txt data connection: last data segment (1092 bytes),
//! FIN piggybacked; 10.0.0.1:20 ESTABLISHED -> FIN-WAIT-1`. Segment parsing and kinds come from
//! the trace layer, so captures and ladders name things alike.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;
use smoltcp::wire::IpEndpoint;

use crate::link::PendingFrame;
use crate::trace::{Segment, SegmentKind};

/// A TCP state change seen by a host during one poll.
#[derive(Clone, Debug)]
pub struct Transition {
    /// The socket that changed.
    pub handle: SocketHandle,
    /// Its local endpoint, when known.
    pub local: Option<IpEndpoint>,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Already told in a frame's comment.
    pub told: bool,
}

impl Transition {
    /// A move caused by the application (connect, close) whose segment may go out polls later:
    /// it waits for the frame that shows it.
    pub fn awaits_frame(&self) -> bool {
        !self.told && matches!(self.to, State::SynSent | State::FinWait1 | State::LastAck)
    }
}

fn endpoint(addr: std::net::SocketAddr) -> IpEndpoint {
    IpEndpoint::from(addr)
}

/// Whether a segment sent (or received) explains a move from `from` into `to`.
fn explains(kind: SegmentKind, sent: bool, from: State, to: State) -> bool {
    use SegmentKind as K;
    use State as S;
    match (sent, kind) {
        (true, K::Syn) => to == S::SynSent,
        (true, K::SynAck) => to == S::SynReceived,
        (true, K::Fin | K::DataFin) => matches!(to, S::FinWait1 | S::LastAck | S::Closing),
        (true, K::Ack | K::Data) => {
            (from, to) == (S::SynSent, S::Established)
                || matches!(to, S::CloseWait | S::TimeWait | S::Closing)
        }
        (false, K::Syn) => to == S::SynReceived,
        (false, K::SynAck) => to == S::Established,
        (false, K::Ack | K::Data) => {
            matches!(to, S::Established | S::FinWait2 | S::Closed | S::TimeWait)
        }
        (false, K::Fin | K::DataFin) => matches!(to, S::CloseWait | S::TimeWait | S::Closing),
        (_, K::Rst) => to == S::Closed,
        _ => false,
    }
}

/// A short, printable preview of a text payload's first line, if it is text.
fn preview(payload: &[u8]) -> Option<String> {
    // Only the start matters: a line longer than this is cut anyway.
    let head = &payload[..payload.len().min(64)];
    let first = head.split(|&b| b == b'\n').next()?;
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first.is_empty() || !first.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    let text = String::from_utf8_lossy(first);
    Some(if text.len() > 48 {
        format!("\"{}...\"", &text[..45])
    } else {
        format!("\"{text}\"")
    })
}

/// What the segment is, in words.
fn describe(kind: SegmentKind, seg: &Segment<&[u8]>, moves: &[Transition], sent: bool) -> String {
    let len = seg.len();
    let text = || {
        preview(seg.payload)
            .map(|p| format!(" {p}"))
            .unwrap_or_default()
    };
    match kind {
        SegmentKind::Syn if sent => "SYN, opens the connection (active open)".into(),
        SegmentKind::Syn => "SYN: the peer opens a connection".into(),
        SegmentKind::SynAck if sent => "SYN+ACK, accepts the connection".into(),
        SegmentKind::SynAck => "SYN+ACK: the peer accepts the connection".into(),
        SegmentKind::Ack => {
            if moves
                .iter()
                .any(|m| m.from == State::SynSent && m.to == State::Established)
            {
                "ACK of the SYN+ACK: three-way handshake complete".into()
            } else if moves
                .iter()
                .any(|m| matches!(m.to, State::CloseWait | State::TimeWait | State::Closing))
            {
                "ACK of the peer's FIN, in a segment of its own".into()
            } else {
                "ACK".into()
            }
        }
        // smoltcp's keep-alive probe (RFC 1122): one byte already acknowledged, a NUL. Only
        // control connections probe, and FTP commands and replies are text, never a lone NUL.
        SegmentKind::Data if seg.payload == b"\0" => {
            "keep-alive probe: 1 old byte (seq one below the next); a live peer ACKs it".into()
        }
        SegmentKind::Data => format!("data, {len} bytes{}", text()),
        SegmentKind::DataFin => {
            format!("last data segment ({len} bytes), FIN piggybacked{}", text())
        }
        SegmentKind::Fin => {
            if sent {
                "FIN alone, no data: releases this side of the connection".into()
            } else {
                "FIN alone: the peer releases its side".into()
            }
        }
        SegmentKind::Rst => "RST: the connection is reset".into(),
        _ => "TCP segment".into(),
    }
}

/// The comment for one recorded frame. `lookup(local, remote)` names the host's socket with
/// that 4-tuple and its label; `transitions` are the state moves not told yet, and those this
/// frame explains are marked told.
pub fn frame<'t>(
    frame: &PendingFrame,
    lookup: impl Fn(IpEndpoint, IpEndpoint) -> Option<(SocketHandle, &'t str)>,
    transitions: &mut [Transition],
) -> String {
    let Some(seg) = Segment::borrow_ip(&frame.data) else {
        return "not a TCP/IPv4 packet".into();
    };
    let (src, dst) = (endpoint(seg.src), endpoint(seg.dst));
    let kind = SegmentKind::of(&seg);
    let (sent, found) = match lookup(src, dst) {
        Some(found) => (true, Some(found)),
        None => (false, lookup(dst, src)),
    };
    let Some((handle, label)) = found else {
        return format!(
            "{} {src} -> {dst}: no socket of this host holds this connection",
            kind.label(&seg)
        );
    };
    // Most frames (bulk data and its ACKs) change no state: no allocation for them here.
    let mut moves = Vec::new();
    for m in transitions.iter_mut() {
        if m.handle == handle && !m.told && explains(kind, sent, m.from, m.to) {
            m.told = true;
            moves.push(m.clone());
        }
    }
    use std::fmt::Write as _;
    let mut text = String::with_capacity(96);
    text.push_str(label);
    text.push_str(if sent { ": " } else { ": received " });
    if !sent && matches!(kind, SegmentKind::Syn | SegmentKind::SynAck) {
        // "received SYN: the peer ..." reads better without "received".
        text.truncate(text.len() - "received ".len());
    }
    text.push_str(&describe(kind, &seg, &moves, sent));
    for m in &moves {
        let _ = match m.local {
            Some(who) => write!(text, "; {who} {} -> {}", m.from, m.to),
            None => write!(text, "; {} -> {}", m.from, m.to),
        };
    }
    text
}
