//! # Frame explanations
//!
//! Layer: network (bookkeeping for captures). Builds the one-line comment each recorded frame
//! carries (pcapng `opt_comment`, Wireshark's `frame.comment`) from what the host knew when it
//! sent or received the frame: the connection's label, what the segment is, and the TCP state
//! transitions it caused, e.g. `RETR readme.txt data connection: last data segment (1092 bytes),
//! FIN piggybacked; 10.0.0.1:20 ESTABLISHED -> FIN-WAIT-1`. Segment parsing and kinds come from
//! the trace layer, so captures and ladders name things alike.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::net::host::SocketHandle;
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

/// The first line of a text payload, if it is text: up to 64 bytes looked at, one trailing CR
/// dropped, printable ASCII only. One pass that stops at the first byte that is not printable,
/// so binary data costs a byte or two.
fn preview_line(payload: &[u8]) -> Option<&str> {
    // Only the start matters: a line longer than this is cut anyway.
    let head = &payload[..payload.len().min(64)];
    let n = head
        .iter()
        .take_while(|b| (0x20..0x7f).contains(*b))
        .count();
    // The printable run must be the whole first line: it ends the head, or a LF, or a CR that
    // ends the line (before a LF or at the end of the head).
    let line_ends = match head.get(n) {
        None | Some(b'\n') => true,
        Some(b'\r') => matches!(head.get(n + 1), None | Some(b'\n')),
        Some(_) => false,
    };
    if n == 0 || !line_ends {
        return None;
    }
    // Printable ASCII: every byte is a char.
    std::str::from_utf8(&head[..n]).ok()
}

/// Where each stream this host sends stands: the next byte it will send and whether that byte
/// starts a line, from its own SYN or SYN+ACK and data. A segment that cuts into a line (the
/// second segment of a file) has its preview start at its first whole word, after `...`.
#[derive(Debug, Default)]
pub struct Streams(HashMap<(SocketAddr, SocketAddr), (u32, bool)>);

impl Streams {
    /// Whether the text of `seg`, sent by this host, starts inside a line (`false` when unknown,
    /// e.g. a retransmission or after binary data); and remembers where the stream goes on.
    fn cuts_in(&mut self, seg: &Segment<&[u8]>) -> bool {
        let Some((next, line_start)) = self.0.get_mut(&(seg.src, seg.dst)) else {
            return false;
        };
        let cuts = *next == seg.seq && !*line_start;
        if *next == seg.seq {
            *next = seg.seq.wrapping_add(seg.payload.len() as u32);
            *line_start = seg.payload.last() == Some(&b'\n');
        }
        cuts
    }

    /// Forgets both streams of the connection between `a` and `b`.
    pub fn forget(&mut self, a: SocketAddr, b: SocketAddr) {
        self.0.remove(&(a, b));
        self.0.remove(&(b, a));
    }
}

/// Appends the preview of a first line, ` "like this"`, cut to 45 bytes and `...` when longer
/// than 48; `cut_in`: the segment starts mid-stream, so the preview starts at its first whole
/// word, after `...`.
fn push_preview(text: &mut String, line: Option<&str>, cut_in: bool) {
    let Some(mut line) = line else {
        return;
    };
    text.push_str(" \"");
    if cut_in && let Some(space) = line.find(' ').filter(|&i| i + 1 < line.len()) {
        text.push_str("...");
        line = &line[space + 1..];
    }
    if line.len() > 48 {
        text.push_str(&line[..45]);
        text.push_str("...");
    } else {
        text.push_str(line);
    }
    text.push('"');
}

/// Appends `n` in decimal, without the formatting machinery (this runs once per frame).
fn push_decimal(text: &mut String, n: usize) {
    if n >= 10 {
        push_decimal(text, n / 10);
    }
    text.push(char::from(b'0' + (n % 10) as u8));
}

/// Appends what the segment is, in words.
fn describe(
    text: &mut String,
    kind: SegmentKind,
    seg: &Segment<&[u8]>,
    (preview, cut_in): (Option<&str>, bool),
    moves: &[Transition],
    sent: bool,
) {
    let words = match kind {
        SegmentKind::Syn if sent => "SYN, opens the connection (active open)",
        SegmentKind::Syn => "SYN: the peer opens a connection",
        SegmentKind::SynAck if sent => "SYN+ACK, accepts the connection",
        SegmentKind::SynAck => "SYN+ACK: the peer accepts the connection",
        SegmentKind::Ack => {
            if moves
                .iter()
                .any(|m| m.from == State::SynSent && m.to == State::Established)
            {
                "ACK of the SYN+ACK: three-way handshake complete"
            } else if moves
                .iter()
                .any(|m| matches!(m.to, State::CloseWait | State::TimeWait | State::Closing))
            {
                "ACK of the peer's FIN, in a segment of its own"
            } else {
                "ACK"
            }
        }
        // smoltcp's keep-alive probe (RFC 1122): one byte already acknowledged, a NUL. Only
        // control connections probe, and FTP commands and replies are text, never a lone NUL.
        SegmentKind::Data if seg.payload == b"\0" => {
            "keep-alive probe: 1 old byte (seq one below the next); a live peer ACKs it"
        }
        SegmentKind::Data => {
            text.push_str("data, ");
            push_decimal(text, seg.len());
            text.push_str(" bytes");
            push_preview(text, preview, cut_in);
            return;
        }
        SegmentKind::DataFin => {
            text.push_str("last data segment (");
            push_decimal(text, seg.len());
            text.push_str(" bytes), FIN piggybacked");
            push_preview(text, preview, cut_in);
            return;
        }
        SegmentKind::Fin if sent => "FIN alone, no data: releases this side of the connection",
        SegmentKind::Fin => "FIN alone: the peer releases its side",
        SegmentKind::Rst => "RST: the connection is reset",
        _ => "TCP segment",
    };
    text.push_str(words);
}

/// What the comment of a plain frame (data that is neither text nor a keep-alive probe, or an
/// ACK, telling no state change) depends on: equal keys, equal comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlainKey {
    handle: SocketHandle,
    sent: bool,
    kind: SegmentKind,
    len: usize,
}

/// What the comment left by the previous call of [`frame`] says, when it is the comment of a
/// plain frame. A bulk transfer is thousands of frames with one same comment ("data, 1460
/// bytes"): they keep it instead of writing it again.
#[derive(Debug, Default)]
pub struct Previous(Option<PlainKey>);

/// Leaves the comment for one recorded frame in `text`, which holds the comment of the
/// previous frame given with `previous` (or is empty, with a new `previous`). `lookup(local,
/// remote)` names the host's socket with that 4-tuple and its label; `transitions` are the
/// state moves not told yet, and those this frame explains are marked told.
pub fn frame<'t>(
    frame: &PendingFrame,
    lookup: impl Fn(IpEndpoint, IpEndpoint) -> Option<(SocketHandle, &'t str)>,
    transitions: &mut [Transition],
    streams: &mut Streams,
    previous: &mut Previous,
    text: &mut String,
) {
    let seg = Segment::borrow_ip(frame.data);
    parsed(seg.as_ref(), lookup, transitions, streams, previous, text);
}

/// [`frame`] for a frame its caller parsed already (`None`: not TCP).
pub fn parsed<'t>(
    seg: Option<&Segment<&[u8]>>,
    lookup: impl Fn(IpEndpoint, IpEndpoint) -> Option<(SocketHandle, &'t str)>,
    transitions: &mut [Transition],
    streams: &mut Streams,
    previous: &mut Previous,
    text: &mut String,
) {
    use std::fmt::Write as _;
    let Some(seg) = seg else {
        *previous = Previous(None);
        text.clear();
        text.push_str("not a TCP/IP packet");
        return;
    };
    let (src, dst) = (endpoint(seg.src), endpoint(seg.dst));
    let kind = SegmentKind::of(seg);
    let (sent, found) = match lookup(src, dst) {
        Some(found) => (true, Some(found)),
        None => (false, lookup(dst, src)),
    };
    if sent && seg.flags.syn {
        streams
            .0
            .insert((seg.src, seg.dst), (seg.seq.wrapping_add(1), true));
    }
    let Some((handle, label)) = found else {
        *previous = Previous(None);
        text.clear();
        let _ = write!(
            text,
            "{} {src} -> {dst}: no socket of this host holds this connection",
            kind.label(seg)
        );
        return;
    };
    // Most frames (bulk data and its ACKs) change no state: no allocation for them here.
    let mut moves = Vec::new();
    for m in transitions.iter_mut() {
        if m.handle == handle && !m.told && explains(kind, sent, m.from, m.to) {
            m.told = true;
            moves.push(m.clone());
        }
    }
    let preview = match kind {
        SegmentKind::Data | SegmentKind::DataFin => preview_line(seg.payload),
        _ => None,
    };
    // Only text segments (those with a preview) are followed: bulk binary data costs no
    // lookup, and a stream whose place is lost is simply previewed from the segment's start.
    let cut_in = sent && preview.is_some() && streams.cuts_in(seg);
    let plain = moves.is_empty()
        && match kind {
            SegmentKind::Ack => true,
            SegmentKind::Data => preview.is_none() && seg.payload != b"\0",
            _ => false,
        };
    let key = PlainKey {
        handle,
        sent,
        kind,
        len: seg.len(),
    };
    if plain && previous.0 == Some(key) {
        // `text` says it already.
        return;
    }
    *previous = Previous(plain.then_some(key));
    text.clear();
    text.push_str(label);
    // "received SYN: the peer ..." reads better without "received".
    if sent || matches!(kind, SegmentKind::Syn | SegmentKind::SynAck) {
        text.push_str(": ");
    } else {
        text.push_str(": received ");
    }
    describe(text, kind, seg, (preview, cut_in), &moves, sent);
    for m in &moves {
        let _ = match m.local {
            Some(who) => write!(text, "; {who} {} -> {}", m.from, m.to),
            None => write!(text, "; {} -> {}", m.from, m.to),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The preview as first written: split at the first LF, drop one CR, all printable.
    fn preview_reference(payload: &[u8]) -> String {
        let head = &payload[..payload.len().min(64)];
        let Some(first) = head.split(|&b| b == b'\n').next() else {
            return String::new();
        };
        let first = first.strip_suffix(b"\r").unwrap_or(first);
        if first.is_empty() || !first.iter().all(|b| (0x20..0x7f).contains(b)) {
            return String::new();
        }
        let text = String::from_utf8_lossy(first);
        if text.len() > 48 {
            format!(" \"{}...\"", &text[..45])
        } else {
            format!(" \"{text}\"")
        }
    }

    #[test]
    fn the_preview_keeps_its_rules() {
        let long = [b'a'; 70];
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"\r\n".to_vec(),
            b"\r".to_vec(),
            b"220 ready\r\n".to_vec(),
            b"QUIT\r\n".to_vec(),
            b"abc\rdef\r\n".to_vec(),
            b"abc\r\r\n".to_vec(),
            b"abc\r".to_vec(),
            b"abc\tdef\n".to_vec(),
            b"\0".to_vec(),
            b"caf\xc3\xa9\n".to_vec(),
            long[..48].to_vec(),
            long[..49].to_vec(),
            long.to_vec(),
        ];
        for n in [62, 63, 64, 65] {
            let mut line = vec![b'x'; n];
            line.extend_from_slice(b"\r\n");
            cases.push(line);
            let mut cut = vec![b'y'; 63];
            cut.push(b'\r');
            cut.extend(std::iter::repeat_n(b'z', n - 62));
            cases.push(cut);
        }
        for case in cases {
            let mut text = String::new();
            push_preview(&mut text, preview_line(&case), false);
            assert_eq!(text, preview_reference(&case), "payload {case:?}");
        }
    }

    #[test]
    fn decimals_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 1460, 65535, usize::MAX] {
            let mut text = String::from("x");
            push_decimal(&mut text, n);
            assert_eq!(text, format!("x{n}"));
        }
    }
}
