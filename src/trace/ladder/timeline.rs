//! # Timeline ladder and the arrow line (analysis layer)
//!
//! Layer: analysis, offline. Job: the arrow line both ladder views share (kind and
//! Wireshark's analysis verdicts in the arrow, then seq/ack/len, the advertised window and, on
//! an ACK, the RTT of the segment it acknowledges), and the `--timeline` view: every
//! connection in one time-ordered ladder, each arrow tagged with its connection (`C1` control,
//! `D2` data, `T3` other TCP; the number is the one `--conn` takes), the control connection's
//! FTP lines inline.

use std::fmt::Write as _;

use super::{
    Analysis, Entry, LadderOptions, PORT, Role, View, arrow, entry_details, secs, shows_ftp,
};
use crate::trace::ftptext::first_line;

/// The label in the arrow: Wireshark's verdicts in brackets, then the kind, e.g.
/// `[DUP ACK #1] ACK`, `[RETRANSMISSION] DATA`.
pub(super) fn label(e: &Entry) -> String {
    let kind = e.kind.label(&e.segment);
    let verdicts = e.tcp.labels();
    if verdicts.is_empty() {
        kind.to_string()
    } else {
        format!("[{}] {kind}", verdicts.join(", "))
    }
}

/// `:20    --- SYN --------->  :5001   seq=0 ack=0 len=0 win=65535 rtt=1.000ms`
pub(super) fn arrow_and_numbers(v: &View, e: &Entry, opts: &LadderOptions) -> String {
    let s = &e.segment;
    let (seq, ack) = if opts.absolute {
        (s.seq, s.ack)
    } else {
        (e.rel_seq, e.rel_ack)
    };
    let mut line = format!(
        "{:<PORT$}{}  {:<PORT$} seq={seq} ack={ack} len={} win={}",
        format!(":{}", v.left.port()),
        arrow(&label(e), s.src == v.left),
        format!(":{}", v.right.port()),
        s.len(),
        e.tcp.window,
    );
    if let Some((rtt, _)) = e.tcp.ack_rtt {
        let _ = write!(line, " rtt={:.3}ms", rtt.as_secs_f64() * 1e3);
    }
    line
}

/// The connection's tag: `C`, `D` or `T` and its number from 1.
fn tag(v: &View, ci: usize) -> String {
    let letter = match v.role {
        Role::Control => 'C',
        Role::Data => 'D',
        Role::Other => 'T',
    };
    format!("{letter}{}", ci + 1)
}

/// Draws the time-ordered ladder of the picked connections.
pub(super) fn draw(
    out: &mut String,
    a: &Analysis,
    views: &[View],
    opts: &LadderOptions,
    picked: &dyn Fn(usize) -> bool,
) {
    let _ = writeln!(out, "\ntimeline: every connection in time order");
    for (ci, v) in views.iter().enumerate().filter(|(ci, _)| picked(*ci)) {
        let c = v.conn;
        let what = match v.role {
            Role::Control => "control",
            Role::Data => "data",
            Role::Other => "TCP",
        };
        let _ = write!(
            out,
            "  {:<4} {what} {} -> {}",
            tag(v, ci),
            c.initiator,
            c.responder
        );
        if let Some(o) = v.opening {
            let cmd = o.command.as_deref().unwrap_or("(no command seen)");
            let _ = write!(out, ", for {cmd} (after {} in #{})", o.announce, o.frame);
        }
        out.push('\n');
    }
    let mut last_pair = None;
    let mut phases = vec![None; views.len()];
    for (i, e) in a.entries.iter().enumerate() {
        let ci = e.connection;
        if !picked(ci) {
            continue;
        }
        let v = &views[ci];
        let pair = (v.left.ip(), v.right.ip());
        if last_pair != Some(pair) {
            // The arrows start after "#frame time tag " (23 columns).
            let left = format!("{} {}", v.side_name(v.left), v.left.ip());
            let right = format!("{} {}", v.side_name(v.right), v.right.ip());
            let gap = (PORT + super::ARROW + 2).saturating_sub(left.len()).max(2);
            let _ = writeln!(out, "\n{}{left}{}{right}", " ".repeat(23), " ".repeat(gap));
            last_pair = Some(pair);
        }
        if !opts.brief && phases[ci] != Some(e.phase) {
            let _ = writeln!(out, "-- {} {} --", tag(v, ci), e.phase.name());
            phases[ci] = Some(e.phase);
        }
        let s = &e.segment;
        let ftp = shows_ftp(v, e);
        let _ = write!(
            out,
            "{:>6} {:>10} {:<4} {}",
            format!("#{}", e.frame),
            secs(e.time.saturating_sub(a.start)),
            tag(v, ci),
            arrow_and_numbers(v, e, opts)
        );
        if opts.brief {
            if ftp {
                let _ = write!(out, "  {}", first_line(&s.payload));
            }
            out.push('\n');
            continue;
        }
        out.push('\n');
        entry_details(out, a, i, ftp, opts);
    }
}
