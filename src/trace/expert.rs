//! # TCP sequence analysis as Wireshark does it (analysis layer)
//!
//! Layer: analysis, offline. Job: give each classified segment the verdicts of Wireshark's
//! TCP analysis (`tcp.analysis.*`): retransmission, fast retransmission, spurious
//! retransmission, out-of-order, duplicate ACK #n, zero window, zero-window probe, window
//! update, window full, keep-alive, previous segment not captured, ACKed unseen segment; the
//! ACK's RTT (`tcp.analysis.ack_rtt`) and the advertised window after scaling
//! (`tcp.window_size`). The rules, their order and their per-direction state follow
//! `tcp_analyze_sequence_number` in Wireshark's `epan/dissectors/packet-tcp.c` (4.0), so that
//! tshark is the oracle: the tests compare both frame by frame.

use std::time::Duration;

use super::classify::Analysis;
use super::segment::Segment;

/// Wireshark's TCP analysis verdicts for one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpAnalysis {
    /// `tcp.analysis.retransmission`.
    pub retransmission: bool,
    /// `tcp.analysis.fast_retransmission` (a retransmission after two or more duplicate ACKs).
    pub fast_retransmission: bool,
    /// `tcp.analysis.spurious_retransmission`: data the receiver had already acknowledged.
    pub spurious_retransmission: bool,
    /// `tcp.analysis.out_of_order`.
    pub out_of_order: bool,
    /// `tcp.analysis.duplicate_ack_num`: this is the n-th duplicate of the ACK in frame
    /// `tcp.analysis.duplicate_ack_frame`: `(n, frame)`.
    pub dup_ack: Option<(u32, u32)>,
    /// `tcp.analysis.zero_window`: the sender advertises a window of 0.
    pub zero_window: bool,
    /// `tcp.analysis.zero_window_probe`.
    pub zero_window_probe: bool,
    /// `tcp.analysis.zero_window_probe_ack`.
    pub zero_window_probe_ack: bool,
    /// `tcp.analysis.window_update`.
    pub window_update: bool,
    /// `tcp.analysis.window_full`: the segment fills the receiver's advertised window.
    pub window_full: bool,
    /// `tcp.analysis.keep_alive`.
    pub keep_alive: bool,
    /// `tcp.analysis.keep_alive_ack`.
    pub keep_alive_ack: bool,
    /// `tcp.analysis.lost_segment`: a gap before this segment ("previous segment not captured").
    pub lost_segment: bool,
    /// `tcp.analysis.ack_lost_segment`: acknowledges data the capture does not hold.
    pub ack_lost_segment: bool,
    /// `tcp.analysis.ack_rtt` and `tcp.analysis.acks_frame`: the time since the segment this
    /// ACK acknowledges exactly, and that segment's frame.
    pub ack_rtt: Option<(Duration, u32)>,
    /// `tcp.window_size`: the advertised window, scaled when both SYNs carried a window scale
    /// option.
    pub window: u32,
}

impl TcpAnalysis {
    /// The words the ladder puts in front of the segment's kind, most telling first, as
    /// Wireshark's Info column does: e.g. `["DUP ACK #2"]`, `["RETRANSMISSION"]`.
    pub fn labels(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |on: bool, s: &str| {
            if on {
                out.push(s.to_string());
            }
        };
        push(self.lost_segment, "PREVIOUS SEGMENT NOT CAPTURED");
        push(self.ack_lost_segment, "ACKED UNSEEN SEGMENT");
        push(self.spurious_retransmission, "SPURIOUS RETRANSMISSION");
        push(self.fast_retransmission, "FAST RETRANSMISSION");
        push(
            self.retransmission && !self.fast_retransmission,
            "RETRANSMISSION",
        );
        push(self.out_of_order, "OUT-OF-ORDER");
        push(self.zero_window_probe, "ZERO-WINDOW PROBE");
        push(self.zero_window_probe_ack, "ZERO-WINDOW PROBE ACK");
        push(self.zero_window, "ZERO WINDOW");
        push(self.window_update, "WINDOW UPDATE");
        push(self.window_full, "WINDOW FULL");
        push(self.keep_alive_ack, "KEEP-ALIVE ACK");
        if let Some((n, _)) = self.dup_ack {
            out.push(format!("DUP ACK #{n}"));
        }
        out
    }
}

/// A segment sent and not yet acknowledged (Wireshark's `tcp_unacked_t`).
#[derive(Clone, Copy)]
struct Unacked {
    frame: u32,
    seq: u32,
    next: u32,
    time: Duration,
}

/// Per-direction state (Wireshark's `tcp_flow_t` and its `tcp_analyze_seq_flow_info_t`);
/// sequence numbers are raw, and 0 means "not seen yet", as in Wireshark.
#[derive(Clone, Default)]
struct Flow {
    next_seq: u32,
    next_seq_time: Duration,
    max_seq_to_be_acked: u32,
    last_ack: u32,
    last_ack_time: Duration,
    window: Option<u32>,
    dup_acks: u32,
    last_non_dup_ack: u32,
    last_flags: TcpAnalysis,
    segments: Vec<Unacked>,
    wscale: Option<u8>,
    syn_seen: bool,
}

/// Wireshark keeps at most this many unacknowledged segments per direction.
const MAX_UNACKED: usize = 10_000;

fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
fn gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}
fn le(a: u32, b: u32) -> bool {
    !gt(a, b)
}

/// Runs the analysis over every connection of `a` and stores each verdict in its entry.
pub fn annotate(a: &mut Analysis) {
    for c in 0..a.connections.len() {
        let idx = a.connections[c].entries.clone();
        let initiator = a.connections[c].initiator;
        let mut flows = [Flow::default(), Flow::default()];
        // Wireshark's iRTT: from the (latest) SYN to the first ACK without SYN after it.
        let mut syn_time: Option<Duration> = None;
        let mut first_rtt: Option<Duration> = None;
        for i in idx {
            let (time, frame) = (a.entries[i].time, a.entries[i].frame);
            let s = &a.entries[i].segment;
            let d = usize::from(s.src != initiator);
            if s.flags.syn {
                flows[d].syn_seen = true;
                flows[d].wscale = s.wscale;
                if !s.flags.ack {
                    syn_time = Some(time);
                }
            } else if s.flags.ack && first_rtt.is_none() {
                first_rtt = syn_time.map(|t| time.saturating_sub(t));
            }
            let scaled = |f: &Flow, g: &Flow| {
                f.syn_seen && g.syn_seen && f.wscale.is_some() && g.wscale.is_some()
            };
            let window = if !s.flags.syn && scaled(&flows[d], &flows[1 - d]) {
                u32::from(s.window) << flows[d].wscale.unwrap_or(0).min(14)
            } else {
                u32::from(s.window)
            };
            let (fwd, rev) = if d == 0 {
                let (x, y) = flows.split_at_mut(1);
                (&mut x[0], &mut y[0])
            } else {
                let (x, y) = flows.split_at_mut(1);
                (&mut y[0], &mut x[0])
            };
            let mut t = analyze_segment(s, window, time, frame, fwd, rev, first_rtt);
            t.window = window;
            a.entries[i].tcp = t;
        }
    }
}

/// Wireshark's `tcp_analyze_sequence_number` for one segment of direction `fwd`.
#[allow(clippy::too_many_arguments)]
fn analyze_segment(
    s: &Segment,
    window: u32,
    now: Duration,
    frame: u32,
    fwd: &mut Flow,
    rev: &mut Flow,
    first_rtt: Option<Duration>,
) -> TcpAnalysis {
    let mut t = TcpAnalysis::default();
    let f = s.flags;
    let (seq, ack) = (s.seq, s.ack);
    let seglen = s.len() as u32;
    let sfr = f.syn || f.fin || f.rst;
    'fwd: {
        // ZERO WINDOW PROBE: one byte at the next sequence number while the peer's window is 0.
        if seglen == 1 && seq == fwd.next_seq && rev.window == Some(0) {
            t.zero_window_probe = true;
            break 'fwd;
        }
        // ZERO WINDOW
        if window == 0 && !sfr {
            t.zero_window = true;
        }
        // LOST SEGMENT: a hole before this segment.
        if fwd.next_seq != 0 && gt(seq, fwd.next_seq) && !f.rst {
            t.lost_segment = true;
        }
        // KEEP ALIVE: 0 or 1 byte at one below the next sequence number.
        if seglen <= 1 && seq == fwd.next_seq.wrapping_sub(1) && !sfr {
            t.keep_alive = true;
        }
        // WINDOW UPDATE: same seq and ack as before, a new window.
        if seglen == 0
            && window != 0
            && Some(window) != fwd.window
            && seq == fwd.next_seq
            && ack == fwd.last_ack
            && !sfr
        {
            t.window_update = true;
        }
        // WINDOW FULL: the segment ends exactly at the right edge of the peer's window.
        // (Windows are kept scaled; Wireshark needs the peer's SYN to know its scale.)
        if seglen > 0
            && rev.syn_seen
            && rev
                .window
                .is_some_and(|w| seq.wrapping_add(seglen) == rev.last_ack.wrapping_add(w))
            && !sfr
        {
            t.window_full = true;
        }
        let same = seglen == 0
            && Some(window) == fwd.window
            && seq == fwd.next_seq
            && ack == fwd.last_ack
            && !sfr;
        // KEEP ALIVE ACK
        if same && rev.last_flags.keep_alive {
            t.keep_alive_ack = true;
            break 'fwd;
        }
        // ZERO WINDOW PROBE ACK
        if same && window == 0 && rev.last_flags.zero_window_probe {
            t.zero_window_probe_ack = true;
            break 'fwd;
        }
        // DUPLICATE ACK
        if same && window != 0 {
            fwd.dup_acks += 1;
            t.dup_ack = Some((fwd.dup_acks, fwd.last_non_dup_ack));
        }
    }
    // Wireshark counts duplicate ACKs until the ack number changes: a window update with the
    // same ack leaves the count (packet-tcp.c, `finished_fwd`).
    if ack != fwd.last_ack {
        fwd.last_non_dup_ack = frame;
        fwd.dup_acks = 0;
    }
    // ACKED LOST PACKET: acknowledges beyond what the other side was seen to send.
    if rev.max_seq_to_be_acked != 0 && gt(ack, rev.max_seq_to_be_acked) && f.ack {
        t.ack_lost_segment = true;
        rev.max_seq_to_be_acked = rev.next_seq;
    }
    // RETRANSMISSION / FAST RETRANSMISSION / OUT-OF-ORDER / SPURIOUS
    if (seglen > 0 || f.syn || f.fin) && fwd.next_seq != 0 && lt(seq, fwd.next_seq) && !t.keep_alive
    {
        let since_dup = now.saturating_sub(rev.last_ack_time);
        let since_next = now.saturating_sub(fwd.next_seq_time);
        let ooo = first_rtt
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_millis(3));
        let end = seq
            .wrapping_add(seglen)
            .wrapping_add(u32::from(f.syn || f.fin));
        if since_dup < Duration::from_millis(20) && rev.dup_acks >= 2 && rev.last_ack == seq {
            t.fast_retransmission = true;
            t.retransmission = true;
        } else if since_next < ooo && fwd.next_seq != end {
            t.out_of_order = true;
        } else if seglen > 0 && rev.last_ack != 0 && le(seq.wrapping_add(seglen), rev.last_ack) {
            t.spurious_retransmission = true;
        } else {
            t.retransmission = true;
        }
    }
    // Remember the segment, the highest sequence number and this ack/window.
    let mut next = seq.wrapping_add(seglen);
    if f.syn || f.fin {
        next = next.wrapping_add(1);
    }
    if (seglen > 0 || f.syn || f.fin) && fwd.segments.len() < MAX_UNACKED {
        fwd.segments.insert(
            0,
            Unacked {
                frame,
                seq,
                next,
                time: now,
            },
        );
    }
    if (gt(next, fwd.next_seq) || fwd.next_seq == 0) && !t.zero_window_probe {
        fwd.next_seq = next;
        fwd.next_seq_time = now;
    }
    if (seq == fwd.max_seq_to_be_acked || fwd.max_seq_to_be_acked == 0) && !t.zero_window_probe {
        fwd.max_seq_to_be_acked = fwd.next_seq;
    }
    fwd.window = Some(window);
    fwd.last_ack = ack;
    fwd.last_ack_time = now;
    fwd.last_flags = t.clone();
    // Which of the other side's segments this acknowledges: the RTT of an exact match.
    if f.ack {
        let mut k = 0;
        while k < rev.segments.len() {
            let u = rev.segments[k];
            if ack == u.next {
                // Wireshark shows no RTT of zero (an answer stamped with its question's time,
                // as a tap on the answering host sees a SYN+ACK).
                let rtt = now.saturating_sub(u.time);
                t.ack_rtt = (!rtt.is_zero()).then_some((rtt, u.frame));
            } else if gt(ack, u.seq) && le(ack, u.next) {
                rev.segments[k].seq = ack;
                k += 1;
                continue;
            } else if gt(u.next, ack) {
                k += 1;
                continue;
            }
            rev.segments.remove(k);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::classify::analyze;
    use crate::trace::read::Frame;
    use crate::trace::testutil::*;

    /// One scripted frame: ms, from the client, seq, ack, flags, window, length, verdicts.
    type Step = (u64, bool, u32, u32, u8, u16, usize, &'static str);

    /// The hand-made connection of tests/analysis.rs, with the verdicts tshark 4.0 gives each
    /// frame (checked there against tshark itself; here so that it runs without tshark).
    #[test]
    fn verdicts_of_a_connection_with_every_kind() {
        let (c, s) = (sa("10.0.0.2:40000"), sa("10.0.0.1:21"));
        let (ci, d) = (1000u32, 5001u32);
        #[rustfmt::skip]
        let script: &[Step] = &[
            (0, true, ci, 0, SYN, 8192, 0, ""),
            (10, false, d - 1, ci + 1, SYN | ACK, 8192, 0, ""),
            (20, true, ci + 1, d, ACK, 8192, 0, ""),
            (30, false, d + 100, ci + 1, ACK, 8192, 100, "PREVIOUS SEGMENT NOT CAPTURED"),
            (31, false, d + 200, ci + 1, ACK, 8192, 100, ""),
            (32, false, d + 300, ci + 1, ACK, 8192, 100, ""),
            (40, true, ci + 1, d, ACK, 8192, 0, "DUP ACK #1"),
            (41, true, ci + 1, d, ACK, 8192, 0, "DUP ACK #2"),
            (42, true, ci + 1, d, ACK, 8192, 0, "DUP ACK #3"),
            (43, false, d, ci + 1, ACK, 8192, 100, "FAST RETRANSMISSION"),
            (500, false, d + 100, ci + 1, ACK, 8192, 100, "RETRANSMISSION"),
            (510, true, ci + 1, d + 400, ACK, 8192, 0, ""),
            (2000, false, d + 300, ci + 1, ACK, 8192, 100, "SPURIOUS RETRANSMISSION"),
            (2010, false, d + 400, ci + 1, ACK, 8192, 100, ""),
            (2011, false, d + 600, ci + 1, ACK, 8192, 100, "PREVIOUS SEGMENT NOT CAPTURED"),
            (2012, false, d + 500, ci + 1, ACK, 8192, 100, "OUT-OF-ORDER"),
            (2020, true, ci + 1, d + 700, ACK, 0, 0, "ZERO WINDOW"),
            (2500, false, d + 700, ci + 1, ACK, 8192, 1, "ZERO-WINDOW PROBE"),
            (2510, true, ci + 1, d + 700, ACK, 0, 0, "ZERO-WINDOW PROBE ACK, ZERO WINDOW"),
            (2600, true, ci + 1, d + 700, ACK, 4096, 0, "WINDOW UPDATE"),
            (9000, true, ci, d + 700, ACK, 4096, 0, ""),
            (9010, false, d + 700, ci + 1, ACK, 8192, 0, "KEEP-ALIVE ACK"),
        ];
        let frames: Vec<Frame> = script
            .iter()
            .enumerate()
            .map(|(i, &(ms, from_c, seq, ack, flags, win, len, _))| {
                let (src, dst) = if from_c { (c, s) } else { (s, c) };
                let mut data = tcp_packet(src, dst, seq, ack, flags, &vec![b'x'; len]);
                data[34..36].copy_from_slice(&win.to_be_bytes());
                raw_frame(i, Duration::from_millis(ms), data)
            })
            .collect();
        let a = analyze(&frames);
        for (e, want) in a.entries.iter().zip(script) {
            assert_eq!(e.tcp.labels().join(", "), want.7, "frame #{}", e.frame);
        }
        // The keep-alive is the segment's kind; the dup ACKs name the ACK they repeat.
        assert!(a.entries[20].tcp.keep_alive);
        assert_eq!(
            a.entries[7].tcp.dup_ack,
            Some((2, 3)),
            "tshark: Dup ACK 3#2"
        );
        // RTT of the ACK of the handshake, and the window as sent.
        assert_eq!(
            a.entries[2].tcp.ack_rtt,
            Some((Duration::from_millis(10), 2))
        );
        assert_eq!(a.entries[16].tcp.window, 0);
    }
}
