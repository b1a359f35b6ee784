//! # Ladder diagram (analysis layer)
//!
//! Layer: analysis, offline. Job: draw the classified capture as a plain-ASCII ladder
//! (sequence) diagram, one connection after another: FTP server on the left, client on the
//! right, one arrow per segment with its kind, numbers and a Wireshark filter that selects
//! it, phase sub-headings and teaching notes. Output is deterministic: it depends only on
//! the frames.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::classify::{Analysis, Connection, Entry, Phase, SegmentKind, analyze};
use super::filter::wireshark_filter;
use super::ftptext::{Opening, ftp_lines, openings};
use super::read::Frame;

/// How to draw the ladder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LadderOptions {
    /// Show raw sequence/acknowledgment numbers (and `tcp.seq_raw` in filters) instead of
    /// Wireshark's relative ones.
    pub absolute: bool,
    /// All connections in one time-ordered ladder, each arrow tagged with its connection,
    /// instead of one connection after another.
    pub timeline: bool,
    /// One line per segment: no notes, filters, comments or FTP lines of their own.
    pub brief: bool,
    /// Draw only the connections this picks (see [`ConnPick`]).
    pub conn: Option<ConnPick>,
}

const PREFIX: usize = 19;
const PORT: usize = 7;
const ARROW: usize = 34;
const WRAP: usize = 96;

/// What a connection is, for headings and notes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Control,
    Data,
    Other,
}

/// A connection prepared for drawing.
struct View<'a> {
    conn: &'a Connection,
    left: SocketAddr,
    right: SocketAddr,
    role: Role,
    ftp: bool,
    opening: Option<&'a Opening>,
}

impl View<'_> {
    fn side_name(&self, end: SocketAddr) -> &'static str {
        match (self.ftp, end == self.left) {
            (true, true) => "FTP server",
            (true, false) => "FTP client",
            (false, _) if end == self.conn.responder => "TCP server",
            (false, _) => "TCP client",
        }
    }
}

/// Renders the ladder diagram of a capture.
pub fn render(frames: &[Frame], opts: &LadderOptions) -> String {
    render_analysis(&analyze(frames), opts)
}

/// Renders an already classified capture.
pub fn render_analysis(a: &Analysis, opts: &LadderOptions) -> String {
    let mut out = String::new();
    let numbers = if opts.absolute {
        "absolute (raw) seq/ack numbers"
    } else {
        "relative seq/ack numbers, as Wireshark shows them"
    };
    let _ = writeln!(
        out,
        "smolftp ladder: {} frames, {} TCP connections\ntimes in seconds since frame #1; {numbers}",
        a.frames,
        a.connections.len()
    );
    let opens = openings(a);
    let views = views(a, &opens);
    let picked = |ci: usize| opts.conn.is_none_or(|p| p.picks(a, ci));
    if let Some(p) = opts.conn {
        let _ = writeln!(
            out,
            "showing {}",
            match p {
                ConnPick::Port(port) => format!("the connections with port {port}"),
                ConnPick::Nth(k) => format!("connection {k}"),
            }
        );
    }
    if opts.timeline {
        timeline::draw(&mut out, a, &views, opts, &picked);
        summary(&mut out, a, &views, &picked);
        return out;
    }
    let mut last_pair = None;
    for (ci, v) in views.iter().enumerate() {
        if !picked(ci) {
            continue;
        }
        let pair = (v.left.ip(), v.right.ip(), v.ftp);
        if last_pair != Some(pair) {
            host_header(&mut out, v);
            last_pair = Some(pair);
        }
        draw_connection(&mut out, a, v, ci, &opens, opts);
    }
    summary(&mut out, a, &views, &picked);
    out
}

fn views<'a>(a: &'a Analysis, opens: &'a [Opening]) -> Vec<View<'a>> {
    let servers: BTreeSet<IpAddr> = a
        .connections
        .iter()
        .flat_map(|c| [c.initiator, c.responder])
        .filter(|s| s.port() == 21)
        .map(|s| s.ip())
        .collect();
    let mut used = vec![false; opens.len()];
    a.connections
        .iter()
        .map(|c| {
            let (i, r) = (c.initiator, c.responder);
            let pick = |test: &dyn Fn(SocketAddr) -> bool| match (test(i), test(r)) {
                (true, false) => Some((i, r)),
                (false, true) => Some((r, i)),
                _ => None,
            };
            let by_21 = pick(&|s| s.port() == 21);
            let by_ip = pick(&|s| servers.contains(&s.ip()));
            let by_20 = pick(&|s| s.port() == 20);
            let (left, right) = by_21.or(by_ip).or(by_20).unwrap_or((r, i));
            let first_frame = c.entries.first().map(|&e| a.entries[e].frame).unwrap_or(0);
            let opening = if by_21.is_some() {
                None
            } else {
                opens
                    .iter()
                    .enumerate()
                    .find(|(k, o)| {
                        !used[*k] && o.frame < first_frame && (o.addr == i || o.addr == r)
                    })
                    .map(|(k, o)| {
                        used[k] = true;
                        o
                    })
            };
            let role = if by_21.is_some() {
                Role::Control
            } else if by_20.is_some() || opening.is_some() {
                Role::Data
            } else {
                Role::Other
            };
            View {
                conn: c,
                left,
                right,
                role,
                ftp: role != Role::Other || by_ip.is_some(),
                opening,
            }
        })
        .collect()
}

fn host_header(out: &mut String, v: &View) {
    let left = format!("{} {}", v.side_name(v.left), v.left.ip());
    let right = format!("{} {}", v.side_name(v.right), v.right.ip());
    let gap = (PREFIX + PORT + ARROW + 2).saturating_sub(PREFIX + left.len());
    let _ = writeln!(
        out,
        "\n{}{left}{}{right}",
        " ".repeat(PREFIX),
        " ".repeat(gap.max(2))
    );
}

fn note(out: &mut String, text: &str) {
    let mut line = String::from("  note:");
    for word in text.split(' ') {
        if line.len() + 1 + word.len() > WRAP && line.len() > 8 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("       ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

fn secs(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn arrow(label: &str, left_to_right: bool) -> String {
    let mut s = String::new();
    if left_to_right {
        s.push_str(&format!("--- {label} "));
        while s.len() < ARROW - 1 {
            s.push('-');
        }
        s.push('>');
    } else {
        s.push_str(&format!("<--- {label} "));
        while s.len() < ARROW {
            s.push('-');
        }
    }
    s
}

fn draw_connection(
    out: &mut String,
    a: &Analysis,
    v: &View,
    ci: usize,
    opens: &[Opening],
    opts: &LadderOptions,
) {
    let c = v.conn;
    let name = match v.role {
        Role::Control => "control connection",
        Role::Data => "data connection",
        Role::Other => "TCP connection",
    };
    let _ = writeln!(out, "\n=== {name} {} -> {}", c.initiator, c.responder);
    if let Some(o) = v.opening {
        let cmd = o.command.as_deref().unwrap_or("(no command seen)");
        let _ = writeln!(
            out,
            "    opened for: {cmd} (after {} in #{})",
            o.announce, o.frame
        );
    }
    for o in opens.iter().filter(|o| o.control == ci) {
        let cmd = o.command.as_deref().unwrap_or("(no command seen)");
        let _ = writeln!(
            out,
            "    #{} {} -> data connection for {cmd}",
            o.frame, o.announce
        );
    }
    let mut phase: Option<Phase> = None;
    let mut fin_seen = false;
    let mut data_from: BTreeSet<SocketAddr> = BTreeSet::new();
    for &i in &c.entries {
        let e = &a.entries[i];
        let s = &e.segment;
        if phase != Some(e.phase) {
            let _ = writeln!(out, "-- {} --", e.phase.name());
            phase = Some(e.phase);
        }
        let _ = writeln!(
            out,
            "{:>6} {:>10}  {}",
            format!("#{}", e.frame),
            secs(e.time.saturating_sub(a.start)),
            timeline::arrow_and_numbers(v, e, opts)
        );
        if opts.brief {
            continue;
        }
        entry_details(out, a, i, shows_ftp(v, e), opts);
        entry_notes(out, v, e, &mut fin_seen, &data_from);
        if !s.is_empty() {
            data_from.insert(s.src);
        }
    }
    if opts.brief {
        return;
    }
    if let Some(text) = release_note(a, c) {
        note(out, &text);
    }
}

/// True when the FTP lines of `e` are told under its arrow: a control segment with data
/// (keep-alive probes carry a stale byte, not a line).
fn shows_ftp(v: &View, e: &Entry) -> bool {
    v.role == Role::Control && !e.segment.is_empty() && e.kind != SegmentKind::KeepAlive
}

/// The lines under the arrow of entry `i`: its FTP lines (when `ftp`), its display filter and
/// its comment.
fn entry_details(out: &mut String, a: &Analysis, i: usize, ftp: bool, opts: &LadderOptions) {
    let e = &a.entries[i];
    if ftp {
        for line in ftp_lines(&e.segment.payload) {
            let _ = writeln!(out, "        ftp: {line}");
        }
    }
    let _ = writeln!(
        out,
        "        filter: {}",
        wireshark_filter(a, i, opts.absolute)
    );
    if let Some(comment) = &e.comment {
        let _ = writeln!(out, "        comment: {comment}");
    }
}

fn entry_notes(
    out: &mut String,
    v: &View,
    e: &Entry,
    fin_seen: &mut bool,
    data_from: &BTreeSet<SocketAddr>,
) {
    let s = &e.segment;
    let c = v.conn;
    // Active mode: the FTP server (drawn on the left) opens a data connection, from port 20
    // or whatever its data source port is.
    if e.kind == SegmentKind::Syn && v.role == Role::Data && s.src == v.left && s.src == c.initiator
    {
        let named = match v.opening {
            Some(o) if o.announce.to_ascii_uppercase().starts_with("PORT") => "named in PORT",
            Some(_) => "announced",
            None => "named",
        };
        note(
            out,
            &format!(
                "active mode: the FTP server opens the data connection from its port {} to the \
                 port the client {named} ({}).",
                s.src.port(),
                s.dst.port()
            ),
        );
        note(
            out,
            &format!(
                "Wireshark calls {} the \"server\" port of this TCP connection because it \
                 received the SYN, although it belongs to the FTP client.",
                s.dst
            ),
        );
    }
    if e.kind.has_fin() && !*fin_seen {
        *fin_seen = true;
        note(
            out,
            &format!(
                "{} ({}) closes first: active close",
                s.src,
                v.side_name(s.src)
            ),
        );
    }
    if e.kind == SegmentKind::DataFin {
        note(out, "the FIN is piggybacked on the last data segment");
    }
    if e.kind == SegmentKind::Fin && data_from.contains(&s.src) {
        note(
            out,
            "the FIN travels alone, in its own segment after the data",
        );
    }
}

/// True if `ack` acknowledges sequence space up to `end` (modulo 2^32).
fn covers(ack: u32, end: u32) -> bool {
    (ack.wrapping_sub(end) as i32) >= 0
}

fn release_note(a: &Analysis, c: &Connection) -> Option<String> {
    let rel: Vec<&Entry> = c
        .entries
        .iter()
        .map(|&i| &a.entries[i])
        .filter(|e| e.phase == Phase::Release)
        .collect();
    if rel.is_empty() {
        return None;
    }
    if rel.iter().any(|e| e.kind == SegmentKind::Rst) {
        return Some("reset: a RST aborts the connection instead of a FIN exchange".into());
    }
    let (n1, fin1) = rel.iter().enumerate().find(|(_, e)| e.kind.has_fin())?;
    let closer = fin1.segment.src;
    let end1 = fin1.segment.seq.wrapping_add(fin1.segment.len() as u32 + 1);
    let Some((n2, fin2)) = rel
        .iter()
        .enumerate()
        .skip(n1 + 1)
        .find(|(_, e)| e.kind.has_fin() && e.segment.src != closer)
    else {
        return Some(format!(
            "half-close: only {closer} sent a FIN in this capture"
        ));
    };
    let acks_first = |e: &Entry| e.segment.flags.ack && covers(e.segment.ack, end1);
    let separate = rel[n1 + 1..n2]
        .iter()
        .any(|e| e.segment.src != closer && acks_first(e));
    let end2 = fin2.segment.seq.wrapping_add(fin2.segment.len() as u32 + 1);
    let last_ack = rel[n2 + 1..]
        .iter()
        .any(|e| e.segment.src == closer && e.segment.flags.ack && covers(e.segment.ack, end2));
    let tail = if last_ack {
        ""
    } else {
        " (the last ACK is not in the capture)"
    };
    let text = if separate {
        "four-segment release (FIN, ACK, FIN, ACK)"
    } else if acks_first(fin2) {
        "three-segment release (FIN, FIN+ACK, ACK): the second FIN also acknowledges the first"
    } else {
        "simultaneous close: both FINs were sent before either was acknowledged"
    };
    Some(format!("{text}{tail}"))
}

fn summary(out: &mut String, a: &Analysis, views: &[View], picked: &dyn Fn(usize) -> bool) {
    let _ = writeln!(
        out,
        "\nsummary: {} frames, {} TCP segments, {} connections",
        a.frames,
        a.entries.len(),
        a.connections.len()
    );
    for (ci, v) in views.iter().enumerate() {
        if !picked(ci) {
            continue;
        }
        let c = v.conn;
        let bytes = |from: SocketAddr| -> usize {
            c.entries
                .iter()
                .map(|&i| &a.entries[i].segment)
                .filter(|s| s.src == from)
                .map(|s| s.len())
                .sum()
        };
        let name = match v.role {
            Role::Control => "control",
            Role::Data => "data",
            Role::Other => "TCP",
        };
        let _ = writeln!(
            out,
            "  {name} {} -> {}: {} segments, {} bytes {} -> {}, {} bytes back",
            c.initiator,
            c.responder,
            c.entries.len(),
            bytes(c.initiator),
            v.side_name(c.initiator),
            v.side_name(c.responder),
            bytes(c.responder),
        );
    }
    // Wireshark's verdicts, counted ("DUP ACK #2" counts as a DUP ACK).
    let mut counts: Vec<(String, usize)> = Vec::new();
    for e in a.entries.iter().filter(|e| picked(e.connection)) {
        for l in e.tcp.labels() {
            let name = l.split(" #").next().unwrap_or(&l).to_string();
            match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, k)) => *k += 1,
                None => counts.push((name, 1)),
            }
        }
    }
    if !counts.is_empty() {
        let list: Vec<String> = counts.iter().map(|(n, k)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "TCP analysis (as Wireshark's): {}", list.join(", "));
    }
    if !a.skipped.is_empty() {
        let mut list: Vec<String> = a.skipped.iter().take(10).map(|n| format!("#{n}")).collect();
        if a.skipped.len() > 10 {
            list.push("...".into());
        }
        let _ = writeln!(
            out,
            "{} frames are not IPv4/TCP and are not drawn: {}",
            a.skipped.len(),
            list.join(", ")
        );
    }
}

mod pick;
pub mod svg;
mod timeline;

pub use pick::{ConnPick, PickError};

#[cfg(test)]
mod tests;
