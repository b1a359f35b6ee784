//! # Segment classification (analysis layer)
//!
//! Layer: analysis, offline. Job: name each segment's kind (SYN, SYN+ACK, ACK, DATA,
//! DATA+FIN, FIN, RST), group segments into connections by 4-tuple, find each connection's
//! initiator and per-direction ISN (for Wireshark-style relative numbers), and assign each
//! segment its phase: establishment, transfer or release. Works on [`Frame`]s only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::expert::{TcpAnalysis, annotate};
use super::read::Frame;
use super::segment::Segment;

/// What a segment does, as the ladder labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentKind {
    /// SYN without ACK: opens a connection.
    Syn,
    /// SYN with ACK: the answer to a SYN.
    SynAck,
    /// No payload, ACK set, no SYN/FIN/RST.
    Ack,
    /// Payload without FIN.
    Data,
    /// Payload with FIN: the FIN piggybacked on the last data.
    DataFin,
    /// A keep-alive probe: one byte (or none) at one below the sender's next sequence number,
    /// already acknowledged, to make a quiet peer answer with an ACK (RFC 1122 4.2.3.6). Told
    /// apart from data only with the connection's history (see [`analyze`]), as Wireshark does.
    KeepAlive,
    /// FIN without payload (labelled FIN+ACK when ACK is set).
    Fin,
    /// RST (labelled RST+ACK when ACK is set).
    Rst,
    /// Anything else (e.g. no flags at all).
    Other,
}

impl SegmentKind {
    /// Classifies one segment.
    pub fn of<P: AsRef<[u8]>>(seg: &Segment<P>) -> SegmentKind {
        let f = seg.flags;
        match () {
            _ if f.rst => SegmentKind::Rst,
            _ if f.syn && f.ack => SegmentKind::SynAck,
            _ if f.syn => SegmentKind::Syn,
            _ if f.fin && !seg.is_empty() => SegmentKind::DataFin,
            _ if f.fin => SegmentKind::Fin,
            _ if !seg.is_empty() => SegmentKind::Data,
            _ if f.ack => SegmentKind::Ack,
            _ => SegmentKind::Other,
        }
    }

    /// The label drawn in the arrow: "SYN", "SYN+ACK", "ACK", "DATA", "DATA+FIN",
    /// "FIN+ACK" or "FIN", "RST+ACK" or "RST", "OTHER".
    pub fn label<P>(&self, seg: &Segment<P>) -> &'static str {
        match self {
            SegmentKind::Syn => "SYN",
            SegmentKind::SynAck => "SYN+ACK",
            SegmentKind::Ack => "ACK",
            SegmentKind::Data => "DATA",
            SegmentKind::DataFin => "DATA+FIN",
            SegmentKind::KeepAlive => "KEEP-ALIVE",
            SegmentKind::Fin if seg.flags.ack => "FIN+ACK",
            SegmentKind::Fin => "FIN",
            SegmentKind::Rst if seg.flags.ack => "RST+ACK",
            SegmentKind::Rst => "RST",
            SegmentKind::Other => "OTHER",
        }
    }

    /// True for FIN and DATA+FIN.
    pub fn has_fin(&self) -> bool {
        matches!(self, SegmentKind::Fin | SegmentKind::DataFin)
    }
}

/// The phase of a connection a segment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// SYN, SYN+ACK and the initiator's first pure ACK after them.
    Establishment,
    /// Everything between establishment and the first FIN or RST.
    Transfer,
    /// The first FIN (or RST) of the connection and everything after it.
    Release,
}

impl Phase {
    /// Lower-case name used in sub-headings.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Establishment => "establishment",
            Phase::Transfer => "transfer",
            Phase::Release => "release",
        }
    }
}

/// One TCP segment of the capture with everything the ladder needs.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Frame number (1-based).
    pub frame: u32,
    /// Capture time since the epoch.
    pub time: Duration,
    /// The capture comment of the frame.
    pub comment: Option<String>,
    /// The parsed segment.
    pub segment: Segment,
    /// Index into [`Analysis::connections`].
    pub connection: usize,
    /// Its kind.
    pub kind: SegmentKind,
    /// Its phase within the connection.
    pub phase: Phase,
    /// Relative sequence number (seq minus the ISN of the sender's direction).
    pub rel_seq: u32,
    /// Relative acknowledgment number (ack minus the ISN of the other direction; 0 without ACK).
    pub rel_ack: u32,
    /// Wireshark's TCP analysis of this segment (retransmission, duplicate ACK, window, RTT).
    pub tcp: TcpAnalysis,
}

/// One TCP connection: a 4-tuple from its SYN (or first segment) on.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The side that sent the first SYN (or, without SYN, the first segment).
    pub initiator: SocketAddr,
    /// The other side (Wireshark's "server" of this TCP connection when a SYN was seen).
    pub responder: SocketAddr,
    /// Whether a SYN from the initiator is in the capture.
    pub syn_seen: bool,
    /// ISN of the initiator's direction.
    pub isn_initiator: u32,
    /// ISN of the responder's direction.
    pub isn_responder: u32,
    /// Indices into [`Analysis::entries`], in capture order.
    pub entries: Vec<usize>,
}

impl Connection {
    /// True if `seg` was sent by the initiator.
    pub fn from_initiator(&self, seg: &Segment) -> bool {
        seg.src == self.initiator
    }
}

/// A classified capture.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Number of frames in the capture.
    pub frames: usize,
    /// Time of the first frame (the zero of relative times).
    pub start: Duration,
    /// Every TCP segment (over IPv4 or IPv6), in capture order.
    pub entries: Vec<Entry>,
    /// Connections in order of their first frame.
    pub connections: Vec<Connection>,
    /// Frame numbers that are not TCP over IPv4 or IPv6.
    pub skipped: Vec<u32>,
}

/// Per-connection bookkeeping while grouping.
struct Open {
    closing: bool,
    syn_seq: Option<u32>,
    /// Per sender: the sequence number after the last byte it sent (SYN and FIN count).
    next_seq: Vec<(SocketAddr, u32)>,
}

impl Open {
    /// Whether `seg` from its sender is a keep-alive probe (seq one below that sender's next,
    /// at most one byte, no SYN/FIN/RST); then records what `seg` sends.
    fn keep_alive(&mut self, seg: &Segment) -> bool {
        let f = seg.flags;
        let len = seg.len() as u32;
        let end = seg
            .seq
            .wrapping_add(len)
            .wrapping_add(u32::from(f.syn) + u32::from(f.fin));
        let slot = self.next_seq.iter_mut().find(|(who, _)| *who == seg.src);
        let probe = !f.syn
            && !f.fin
            && !f.rst
            && len <= 1
            && slot
                .as_ref()
                .is_some_and(|(_, next)| seg.seq == next.wrapping_sub(1));
        match slot {
            // Sequence numbers wrap: "after" is a signed difference.
            Some((_, next)) if (end.wrapping_sub(*next) as i32) > 0 => *next = end,
            Some(_) => {}
            None => self.next_seq.push((seg.src, end)),
        }
        probe
    }
}

/// Parses, groups and classifies every frame.
pub fn analyze(frames: &[Frame]) -> Analysis {
    let mut a = Analysis {
        frames: frames.len(),
        start: frames.first().map(|f| f.time).unwrap_or_default(),
        ..Analysis::default()
    };
    let mut by_key: BTreeMap<(SocketAddr, SocketAddr), usize> = BTreeMap::new();
    let mut open: Vec<Open> = Vec::new();
    for f in frames {
        let Some(seg) = Segment::from_frame(f.link, &f.data) else {
            a.skipped.push(f.number);
            continue;
        };
        let kind = SegmentKind::of(&seg);
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let reuse = by_key.get(&key).copied().filter(|&c| {
            // a fresh SYN on a closing 4-tuple starts a new connection
            let o = &open[c];
            !(kind == SegmentKind::Syn && o.closing && o.syn_seq != Some(seg.seq))
        });
        let conn = reuse.unwrap_or_else(|| {
            a.connections.push(Connection {
                initiator: seg.src,
                responder: seg.dst,
                syn_seen: false,
                isn_initiator: 0,
                isn_responder: 0,
                entries: Vec::new(),
            });
            open.push(Open {
                closing: false,
                syn_seq: None,
                next_seq: Vec::new(),
            });
            by_key.insert(key, a.connections.len() - 1);
            a.connections.len() - 1
        });
        let o = &mut open[conn];
        let kind = if o.keep_alive(&seg) {
            SegmentKind::KeepAlive
        } else {
            kind
        };
        if kind == SegmentKind::Syn && o.syn_seq.is_none() {
            o.syn_seq = Some(seg.seq);
        }
        o.closing |= kind.has_fin() || kind == SegmentKind::Rst;
        a.connections[conn].entries.push(a.entries.len());
        a.entries.push(Entry {
            frame: f.number,
            time: f.time,
            comment: f.comment.clone(),
            segment: seg,
            connection: conn,
            kind,
            phase: Phase::Transfer,
            rel_seq: 0,
            rel_ack: 0,
            tcp: TcpAnalysis::default(),
        });
    }
    for c in 0..a.connections.len() {
        finish_connection(&mut a, c);
    }
    annotate(&mut a);
    a
}

/// Fills in initiator, ISNs, relative numbers and phases of connection `c`.
fn finish_connection(a: &mut Analysis, c: usize) {
    let idx = a.connections[c].entries.clone();
    let segs: Vec<(&Segment, SegmentKind)> = idx
        .iter()
        .map(|&i| (&a.entries[i].segment, a.entries[i].kind))
        .collect();
    let Some(first) = segs.first() else { return };
    let syn = segs.iter().find(|(_, k)| *k == SegmentKind::Syn);
    let synack = segs.iter().find(|(_, k)| *k == SegmentKind::SynAck);
    let (initiator, responder) = match (syn, synack) {
        (Some((s, _)), _) => (s.src, s.dst),
        (None, Some((s, _))) => (s.dst, s.src),
        _ => (first.0.src, first.0.dst),
    };
    let isn = |side: SocketAddr| -> u32 {
        let own = segs.iter().filter(|(s, _)| s.src == side);
        if let Some((s, _)) = own.clone().find(|(s, _)| s.flags.syn) {
            return s.seq;
        }
        if let Some((s, _)) = own.clone().next() {
            return s.seq;
        }
        segs.iter()
            .find(|(s, _)| s.dst == side && s.flags.ack)
            .map(|(s, _)| s.ack)
            .unwrap_or(0)
    };
    let (isn_i, isn_r) = (isn(initiator), isn(responder));
    let syn_seen = syn.is_some();
    let mut phases = Vec::with_capacity(segs.len());
    let mut releasing = false;
    let mut synack_seen = false;
    let mut third_ack_done = false;
    for (s, k) in &segs {
        let from_init = s.src == initiator;
        let phase = match k {
            _ if releasing => Phase::Release,
            SegmentKind::Fin | SegmentKind::DataFin | SegmentKind::Rst => {
                releasing = true;
                Phase::Release
            }
            SegmentKind::Syn => Phase::Establishment,
            SegmentKind::SynAck => {
                synack_seen = true;
                Phase::Establishment
            }
            SegmentKind::Ack if synack_seen && !third_ack_done && from_init => {
                third_ack_done = true;
                Phase::Establishment
            }
            _ => {
                if synack_seen && from_init {
                    third_ack_done = true;
                }
                Phase::Transfer
            }
        };
        phases.push(phase);
    }
    // Relative numbers as Wireshark computes them, frame by frame: a direction's base is its
    // SYN's sequence number or, when its first segment is not a SYN, that segment's sequence
    // number minus one (so a RST answering a SYN shows seq 1); an ACK sets the other
    // direction's base to ack - 1 while that direction has sent nothing yet.
    let (mut base_i, mut base_r): (Option<u32>, Option<u32>) = (None, None);
    for (n, &i) in idx.iter().enumerate() {
        let e = &mut a.entries[i];
        let s = &e.segment;
        let (own, other) = if s.src == initiator {
            (&mut base_i, &mut base_r)
        } else {
            (&mut base_r, &mut base_i)
        };
        if s.flags.syn {
            *own = Some(s.seq);
        } else if own.is_none() {
            *own = Some(s.seq.wrapping_sub(1));
        }
        if s.flags.ack && other.is_none() {
            *other = Some(s.ack.wrapping_sub(1));
        }
        e.rel_seq = s.seq.wrapping_sub(own.unwrap_or(0));
        e.rel_ack = if s.flags.ack {
            s.ack.wrapping_sub(other.unwrap_or(0))
        } else {
            0
        };
        e.phase = phases[n];
    }
    let conn = &mut a.connections[c];
    conn.initiator = initiator;
    conn.responder = responder;
    conn.syn_seen = syn_seen;
    conn.isn_initiator = isn_i;
    conn.isn_responder = isn_r;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::testutil::*;

    fn frames(pkts: &[Vec<u8>]) -> Vec<Frame> {
        pkts.iter()
            .enumerate()
            .map(|(i, d)| raw_frame(i, Duration::from_millis(i as u64), d.clone()))
            .collect()
    }

    #[test]
    fn session_kinds_phases_and_relative_numbers() {
        let pkts: Vec<Vec<u8>> = ftp_session().into_iter().map(|p| p.data).collect();
        let a = analyze(&frames(&pkts));
        assert_eq!(a.connections.len(), 3);
        assert!(a.skipped.is_empty());
        let data1 = &a.connections[1];
        assert_eq!(data1.initiator, std::net::SocketAddr::V4(sa("10.0.0.1:20")));
        assert_eq!(
            data1.responder,
            std::net::SocketAddr::V4(sa("10.0.0.2:5001"))
        );
        let kinds: Vec<_> = data1
            .entries
            .iter()
            .map(|&i| a.entries[i].kind.label(&a.entries[i].segment))
            .collect();
        assert_eq!(
            kinds,
            [
                "SYN", "SYN+ACK", "ACK", "DATA", "ACK", "FIN+ACK", "ACK", "FIN+ACK", "ACK"
            ]
        );
        let phases: Vec<_> = data1.entries.iter().map(|&i| a.entries[i].phase).collect();
        use Phase::*;
        assert_eq!(
            phases,
            [
                Establishment,
                Establishment,
                Establishment,
                Transfer,
                Transfer,
                Release,
                Release,
                Release,
                Release
            ]
        );
        let nums: Vec<_> = data1
            .entries
            .iter()
            .map(|&i| (a.entries[i].rel_seq, a.entries[i].rel_ack))
            .collect();
        assert_eq!(&nums[..4], &[(0, 0), (0, 1), (1, 1), (1, 1)]);
        // data connection 2 wraps past 2^32 and still counts from 0
        let data2 = &a.connections[2];
        let last = &a.entries[data2.entries[data2.entries.len() - 1]];
        assert_eq!((last.rel_seq, last.rel_ack), (236, 2));
        assert_eq!(last.segment.seq, 0xFFFF_FFF0u32.wrapping_add(236));
        let df = &a.entries[data2.entries[7]];
        assert_eq!(df.kind, SegmentKind::DataFin);
        assert_eq!(df.kind.label(&df.segment), "DATA+FIN");
    }

    #[test]
    fn keep_alive_probes_are_told_from_data_by_their_sequence_number() {
        let mut c = Conn::new("10.0.0.2:49152", "10.0.0.1:21", 0xFFFF_FFFE, 7000);
        let mut pkts = vec![
            c.seg(true, SYN, b""),
            c.seg(false, SYN | ACK, b""),
            c.seg(true, ACK, b""),
            c.seg(true, ACK | PSH, b"PWD\r\n"),
            c.seg(false, ACK | PSH, b"257 \"/\"\r\n"),
        ];
        // The probe: one old byte, at the client's next sequence number minus one (across the
        // 2^32 wrap here), then the server's ACK of it.
        let next = 0xFFFF_FFFEu32.wrapping_add(1 + 5);
        pkts.push(tcp_packet(
            c.a,
            c.b,
            next.wrapping_sub(1),
            7000 + 1 + 9,
            ACK,
            b"\0",
        ));
        pkts.push(c.seg(false, ACK, b""));
        // A one-byte command at the next sequence number is data.
        pkts.push(c.seg(true, ACK | PSH, b"X"));
        let a = analyze(&frames(&pkts));
        let kinds: Vec<_> = a.entries.iter().map(|e| e.kind.label(&e.segment)).collect();
        assert_eq!(
            kinds,
            [
                "SYN",
                "SYN+ACK",
                "ACK",
                "DATA",
                "DATA",
                "KEEP-ALIVE",
                "ACK",
                "DATA"
            ]
        );
        // Its filter selects it alone.
        let f = crate::trace::wireshark_filter(&a, 5, false);
        let hits = crate::trace::filter::matching_frames(&f, &a).unwrap();
        assert_eq!(hits, [6], "{f}");
    }

    #[test]
    fn no_syn_counts_from_one_as_wireshark_and_rst_is_release() {
        let mut c = Conn::new("10.0.0.5:4000", "10.0.0.6:80", 500, 800);
        let pkts = vec![
            c.seg(true, ACK, b"abc"),
            c.seg(false, ACK, b""),
            c.seg(false, RST | ACK, b""),
        ];
        let a = analyze(&frames(&pkts));
        assert_eq!(
            a.connections[0].initiator,
            std::net::SocketAddr::V4(sa("10.0.0.5:4000"))
        );
        let e: Vec<_> = a.entries.iter().map(|e| (e.rel_seq, e.rel_ack)).collect();
        // As tshark 4.0 numbers a capture that starts mid-connection: a direction's first
        // segment without SYN is seq 1, and the first ACK makes the other direction's base.
        assert_eq!(e, [(1, 1), (1, 4), (1, 4)]);
        assert_eq!(a.entries[2].phase, Phase::Release);
        assert_eq!(a.entries[2].kind.label(&a.entries[2].segment), "RST+ACK");
        assert_eq!(a.entries[0].phase, Phase::Transfer);
    }

    #[test]
    fn port_reuse_after_close_is_a_new_connection() {
        let mut c = Conn::new("10.0.0.1:20", "10.0.0.2:5001", 1, 2);
        let mut pkts = vec![c.seg(true, SYN, b""), c.seg(false, RST | ACK, b"")];
        let mut c = Conn::new("10.0.0.1:20", "10.0.0.2:5001", 100, 200);
        pkts.push(c.seg(true, SYN, b""));
        let a = analyze(&frames(&pkts));
        assert_eq!(a.connections.len(), 2);
    }
}
