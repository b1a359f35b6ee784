//! # Time-sequence and cwnd graphs (analysis layer)
//!
//! Layer: analysis, offline. Job: the two graphs congestion control is taught with, as SVG
//! 1.1. The Stevens/tcptrace time-sequence graph of one connection from any capture: each
//! data segment as a vertical bar from its sequence number to its end at its time, the ACK
//! line and the receive-window line of the other side, retransmissions, out-of-order segments,
//! holes (a segment not captured) and frames lost on the cable (`fault: lost` comments)
//! marked. And, from our own stack's log (see [`super::stacklog`]), cwnd, ssthresh and bytes
//! in flight over time, with slow start, congestion avoidance and fast recovery shaded and
//! RTOs marked. One connection: the largest transfer unless `--conn` picks another.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::classify::{Analysis, Entry};
use super::ladder::ConnPick;
use super::plot::{Plot, esc};
use super::stacklog::StackRecord;

/// Why a graph cannot be drawn.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The capture (or `--conn`'s pick of it) has no TCP connection.
    #[error("the capture holds no TCP connection to draw")]
    NoConnection,
    /// The stack log has no records of the connection's data sender.
    #[error("the stack log has no records of {from} -> {to}; it holds: {}", holds_text(.holds))]
    NoRecords {
        /// The data sender.
        from: SocketAddr,
        /// Its peer.
        to: SocketAddr,
        /// The `src -> dst` pairs the log holds, sorted, each once.
        holds: Vec<String>,
    },
}

fn holds_text(holds: &[String]) -> String {
    if holds.is_empty() {
        "nothing".to_string()
    } else {
        holds.join(", ")
    }
}

/// The connection a graph draws: among those `pick` selects (all by default), the one that
/// carries the most payload in one direction.
pub fn pick_connection(a: &Analysis, pick: Option<ConnPick>) -> Result<usize, GraphError> {
    (0..a.connections.len())
        .filter(|&c| pick.is_none_or(|p| p.picks(a, c)))
        .max_by_key(|&c| {
            let (s, _) = sender(a, c);
            (bytes_from(a, c, s), std::cmp::Reverse(c))
        })
        .ok_or(GraphError::NoConnection)
}

fn bytes_from(a: &Analysis, c: usize, from: SocketAddr) -> usize {
    a.connections[c]
        .entries
        .iter()
        .map(|&i| &a.entries[i].segment)
        .filter(|s| s.src == from)
        .map(|s| s.len())
        .sum()
}

/// The side of connection `c` that sends more payload (the initiator on a tie), and the other.
pub fn sender(a: &Analysis, c: usize) -> (SocketAddr, SocketAddr) {
    let conn = &a.connections[c];
    let (i, r) = (conn.initiator, conn.responder);
    if bytes_from(a, c, r) > bytes_from(a, c, i) {
        (r, i)
    } else {
        (i, r)
    }
}

fn rel_time(a: &Analysis, e: &Entry) -> f64 {
    e.time.saturating_sub(a.start).as_secs_f64()
}

fn lost(e: &Entry) -> bool {
    e.comment
        .as_deref()
        .is_some_and(|c| c.split("; ").any(|p| p.starts_with("fault: lost")))
}

/// A step line through `points` (each value holds until the next point).
fn steps(plot: &Plot, points: &[(f64, f64)], end: f64) -> String {
    let mut d = String::new();
    for (k, &(t, v)) in points.iter().enumerate() {
        let next = points.get(k + 1).map_or(end, |p| p.0);
        let _ = write!(
            d,
            "{}{:.1},{:.1} {:.1},{:.1} ",
            if k == 0 { "M" } else { "L" },
            plot.x(t),
            plot.y(v),
            plot.x(next),
            plot.y(v)
        );
    }
    d.trim_end().to_string()
}

/// The time-sequence graph of connection `c` of `a`.
pub fn time_sequence_svg(a: &Analysis, c: usize) -> String {
    let (from, to) = sender(a, c);
    let conn = &a.connections[c];
    let entries: Vec<&Entry> = conn.entries.iter().map(|&i| &a.entries[i]).collect();
    let data: Vec<&Entry> = entries
        .iter()
        .copied()
        .filter(|e| {
            e.segment.src == from
                && (!e.segment.is_empty() || e.segment.flags.syn || e.segment.flags.fin)
        })
        .collect();
    let acks: Vec<(f64, f64)> = entries
        .iter()
        .filter(|e| e.segment.src == to && e.segment.flags.ack)
        .map(|e| (rel_time(a, e), f64::from(e.rel_ack)))
        .collect();
    let wins: Vec<(f64, f64)> = entries
        .iter()
        .filter(|e| e.segment.src == to && e.segment.flags.ack)
        .map(|e| {
            (
                rel_time(a, e),
                f64::from(e.rel_ack) + f64::from(e.tcp.window),
            )
        })
        .collect();
    let times = entries.iter().map(|e| rel_time(a, e));
    let ys = data
        .iter()
        .map(|e| f64::from(e.rel_seq) + e.segment.len() as f64)
        .chain(wins.iter().map(|p| p.1))
        .collect::<Vec<_>>();
    let plot = Plot::fit(times.clone(), ys.iter().copied());
    let end = times.fold(0.0, f64::max);
    let title = format!("time-sequence graph: {from} -> {to}");
    let mut o = plot.open(
        &title,
        "time (s) since frame #1",
        "relative sequence number (bytes)",
    );
    o.push_str(&plot.legend(&[
        ("#1f4e9c", "data segment"),
        ("#c00000", "retransmission / lost"),
        ("#e08000", "out of order"),
        ("#1d7a2e", "ACK"),
        ("#999999", "ACK + receive window"),
    ]));
    let _ = writeln!(
        o,
        "<path id=\"rwnd\" d=\"{}\" fill=\"none\" stroke=\"#999999\" stroke-width=\"1\"/>",
        steps(&plot, &wins, end)
    );
    let _ = writeln!(
        o,
        "<path id=\"acks\" d=\"{}\" fill=\"none\" stroke=\"#1d7a2e\" stroke-width=\"1.5\"/>",
        steps(&plot, &acks, end)
    );
    for e in entries
        .iter()
        .filter(|e| e.segment.src == to && e.tcp.dup_ack.is_some())
    {
        let (x, y) = (plot.x(rel_time(a, e)), plot.y(f64::from(e.rel_ack)));
        let _ = writeln!(
            o,
            "<g class=\"dupack\"><title>#{} duplicate ACK #{} of {}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"none\" stroke=\"#1d7a2e\"/></g>",
            e.frame,
            e.tcp.dup_ack.map_or(0, |d| d.0),
            e.rel_ack
        );
    }
    for e in &data {
        let t = rel_time(a, e);
        let (seq, len) = (f64::from(e.rel_seq), e.segment.len() as f64);
        let (x, y1, y2) = (plot.x(t), plot.y(seq), plot.y(seq + len.max(1.0)));
        let tc = &e.tcp;
        let color = if lost(e) || tc.retransmission || tc.spurious_retransmission {
            "#c00000"
        } else if tc.out_of_order {
            "#e08000"
        } else {
            "#1f4e9c"
        };
        let mut what = String::new();
        for (on, word) in [
            (
                tc.retransmission && !tc.fast_retransmission,
                " retransmission",
            ),
            (tc.fast_retransmission, " fast retransmission"),
            (tc.spurious_retransmission, " spurious retransmission"),
            (tc.out_of_order, " out of order"),
            (tc.lost_segment, " after a hole"),
            (lost(e), " lost on the cable"),
        ] {
            if on {
                what.push_str(word);
            }
        }
        let _ = write!(
            o,
            "<g class=\"seg\"><title>#{} t={t:.6} seq={} len={}{what}</title>\
             <line x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{x:.1}\" y2=\"{y2:.1}\" stroke=\"{color}\" stroke-width=\"1.5\"/>\
             <line x1=\"{:.1}\" y1=\"{y2:.1}\" x2=\"{:.1}\" y2=\"{y2:.1}\" stroke=\"{color}\"/>",
            e.frame,
            e.rel_seq,
            e.segment.len(),
            x - 3.0,
            x + 3.0
        );
        if tc.retransmission || tc.spurious_retransmission {
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c00000\" font-weight=\"bold\">R</text>",
                x + 4.0,
                y2 - 2.0
            );
        }
        if lost(e) {
            let _ = write!(
                o,
                "<path d=\"M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}\" stroke=\"#c00000\" stroke-width=\"2\"/>",
                x - 4.0,
                y2 - 4.0,
                x + 4.0,
                y2 + 4.0,
                x - 4.0,
                y2 + 4.0,
                x + 4.0,
                y2 - 4.0
            );
        }
        if tc.lost_segment {
            // The hole: bytes the capture never saw before this segment.
            let _ = write!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c00000\">hole</text>",
                x - 30.0,
                y1 + 4.0
            );
        }
        o.push_str("</g>\n");
    }
    o.push_str("</svg>\n");
    o
}

/// The records of `log` sent from `from` to `to`, or an error listing what the log holds.
pub fn records_of(
    log: &[StackRecord],
    from: SocketAddr,
    to: SocketAddr,
) -> Result<Vec<&StackRecord>, GraphError> {
    let (f, t) = (from.to_string(), to.to_string());
    let mine: Vec<&StackRecord> = log.iter().filter(|r| r.src == f && r.dst == t).collect();
    if mine.is_empty() {
        let mut pairs: Vec<String> = log
            .iter()
            .map(|r| format!("{} -> {}", r.src, r.dst))
            .collect();
        pairs.dedup();
        pairs.sort();
        pairs.dedup();
        return Err(GraphError::NoRecords {
            from,
            to,
            holds: pairs,
        });
    }
    Ok(mine)
}

/// What the sender was doing, for the shaded bands.
fn phase(r: &StackRecord) -> &'static str {
    match (r.recovery, r.cwnd, r.ssthresh) {
        (Some(true), _, _) => "fast recovery",
        (_, Some(c), Some(s)) if c >= s => "congestion avoidance",
        (_, Some(_), _) => "slow start",
        _ => "",
    }
}

/// The cwnd graph of the data sender of connection `c`, from our stack's log.
pub fn cwnd_svg(log: &[StackRecord], a: &Analysis, c: usize) -> Result<String, GraphError> {
    let (from, to) = sender(a, c);
    let recs = records_of(log, from, to)?;
    let xs = recs.iter().map(|r| r.t);
    let ys: Vec<f64> = recs
        .iter()
        .flat_map(|r| [r.cwnd, r.ssthresh, r.inflight])
        .flatten()
        .collect();
    let plot = Plot::fit(xs.clone(), ys.iter().copied());
    let end = xs.fold(0.0, f64::max);
    let mut o = plot.open(
        &format!("congestion window: {from} -> {to} (our stack's log)"),
        "time (s) since frame #1",
        "bytes",
    );
    o.push_str(&plot.legend(&[
        ("#1f4e9c", "cwnd"),
        ("#e08000", "ssthresh"),
        ("#1d7a2e", "bytes in flight"),
        ("#dbe9f7", "slow start"),
        ("#e3f2df", "congestion avoidance"),
        ("#f7dede", "fast recovery"),
        ("#c00000", "RTO"),
    ]));
    // Shaded phases: runs of records in one phase, each up to the next record.
    let mut k = 0;
    while k < recs.len() {
        let p = phase(recs[k]);
        let mut j = k;
        while j + 1 < recs.len() && phase(recs[j + 1]) == p {
            j += 1;
        }
        let (t0, t1) = (recs[k].t, recs.get(j + 1).map_or(end, |r| r.t));
        let fill = match p {
            "fast recovery" => "#f7dede",
            "congestion avoidance" => "#e3f2df",
            "slow start" => "#dbe9f7",
            _ => "none",
        };
        let (x0, x1) = (plot.x(t0), plot.x(t1));
        let _ = writeln!(
            o,
            "<rect class=\"phase\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>{p}</title></rect>",
            plot.top(),
            (x1 - x0).max(0.5),
            plot.bottom() - plot.top()
        );
        if x1 - x0 > 90.0 {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555555\">{p}</text>",
                (x0 + x1) / 2.0,
                plot.top() + 14.0
            );
        }
        k = j + 1;
    }
    let series = |get: &dyn Fn(&StackRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        recs.iter().filter_map(|r| Some((r.t, get(r)?))).collect()
    };
    for (id, color, dash, pts) in [
        ("inflight", "#1d7a2e", "", series(&|r| r.inflight)),
        (
            "ssthresh",
            "#e08000",
            " stroke-dasharray=\"6,3\"",
            series(&|r| r.ssthresh),
        ),
        ("cwnd", "#1f4e9c", "", series(&|r| r.cwnd)),
    ] {
        let _ = writeln!(
            o,
            "<path id=\"{id}\" d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
            steps(&plot, &pts, end)
        );
    }
    o.push_str("<g id=\"cwnd-points\">\n");
    for r in &recs {
        if let Some(cwnd) = r.cwnd {
            let _ = writeln!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"#1f4e9c\"><title>t={} cwnd={cwnd} ssthresh={} inflight={} frame={} {}</title></circle>",
                plot.x(r.t),
                plot.y(cwnd),
                r.t,
                r.ssthresh.map_or("inf".to_string(), |s| s.to_string()),
                r.inflight.map_or("?".to_string(), |s| s.to_string()),
                r.frame.map_or("?".to_string(), |f| f.to_string()),
                esc(r.reason.as_deref().unwrap_or(""))
            );
        }
    }
    o.push_str("</g>\n");
    // RTOs: where the back-off grows, or the log says so.
    let mut backoff = 0.0;
    for r in &recs {
        let b = r.backoff.unwrap_or(0.0);
        let said = r
            .reason
            .as_deref()
            .is_some_and(|s| s.contains("RTO") || s.contains("timeout"));
        if b > backoff || said {
            let x = plot.x(r.t);
            let _ = writeln!(
                o,
                "<g class=\"rto\"><title>RTO at t={}</title><line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#c00000\" stroke-dasharray=\"3,3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c00000\">RTO</text></g>",
                r.t,
                plot.top(),
                plot.bottom(),
                x + 3.0,
                plot.top() + 28.0
            );
        }
        backoff = b;
    }
    o.push_str("</svg>\n");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::analyze;

    /// The words a graph that cannot be drawn was told in before the type existed.
    #[test]
    fn errors_keep_their_words() {
        let a = analyze(&[]);
        assert_eq!(
            pick_connection(&a, None).unwrap_err().to_string(),
            "the capture holds no TCP connection to draw"
        );
        let (from, to) = (
            "10.0.0.1:20".parse().unwrap(),
            "10.0.0.2:5002".parse().unwrap(),
        );
        assert_eq!(
            records_of(&[], from, to).unwrap_err().to_string(),
            "the stack log has no records of 10.0.0.1:20 -> 10.0.0.2:5002; it holds: nothing"
        );
        let log = [StackRecord {
            src: "a".into(),
            dst: "b".into(),
            ..StackRecord::default()
        }];
        assert_eq!(
            records_of(&log, from, to).unwrap_err().to_string(),
            "the stack log has no records of 10.0.0.1:20 -> 10.0.0.2:5002; it holds: a -> b"
        );
    }
}
