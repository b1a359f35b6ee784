//! # Ladder picture: SVG and HTML (analysis layer)
//!
//! Layer: analysis, offline. Job: draw the classified capture as the textbook figure: one
//! vertical line per host (FTP server on the left), one slanted arrow per segment whose slope
//! shows the one-way delay, labelled with its connection, kind, Wireshark's verdicts,
//! seq/ack/len and window; each connection's phases bracketed on the right; the command that
//! opened each data connection; a lost frame (a `fault: lost` comment) as an arrow that stops
//! midway at a cross; each arrow's Wireshark display filter as its tooltip (`<title>`).
//!
//! Hand-written SVG 1.1 (lines, paths, text, markers, `<title>`; no CSS beyond presentation
//! attributes, no scripts, no fonts to fetch) rather than an SVG crate: the markup is a few
//! element kinds, the output must be byte-stable for the golden file, and it must render the
//! same in Firefox, Chromium and Inkscape, which plain presentation attributes guarantee.
//! Every frame gets its own row of fixed height, so a 300-frame session stays legible (a tall
//! picture; the HTML page cuts it into pages of [`PAGE`] frames).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use super::timeline::label;
use super::{Analysis, LadderOptions, Role, View, views};
use crate::trace::filter::wireshark_filter;
use crate::trace::ftptext::{first_line, openings};

/// Frames per page of the HTML ladder.
pub const PAGE: usize = 100;

const ROW: f64 = 46.0;
const TOP: f64 = 112.0;
const LEFT_HOST: f64 = 250.0;
const RIGHT_HOST: f64 = 790.0;
const LANE: f64 = 30.0;

/// Escapes text for XML character data and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push('.'),
            c => out.push(c),
        }
    }
    out
}

/// One drawn frame.
struct Row {
    entry: usize,
    time: Duration,
    lost: bool,
}

/// What the picture needs, computed once for all pages.
struct Layout<'a> {
    a: &'a Analysis,
    views: Vec<View<'a>>,
    rows: Vec<Row>,
    hosts: Vec<IpAddr>,
    /// Lane of each connection's phase bracket (None: not drawn).
    lanes: Vec<Option<usize>>,
    lane_count: usize,
    /// The one-way delay the arrows' slope shows.
    delay: Duration,
    absolute: bool,
}

fn layout<'a>(
    a: &'a Analysis,
    opens: &'a [crate::trace::ftptext::Opening],
    opts: &LadderOptions,
) -> Layout<'a> {
    let views = views(a, opens);
    let picked = |ci: usize| opts.conn.is_none_or(|p| p.picks(a, ci));
    let rows: Vec<Row> = a
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| picked(e.connection))
        .map(|(i, e)| Row {
            entry: i,
            time: e.time,
            lost: e
                .comment
                .as_deref()
                .is_some_and(|c| c.split("; ").any(|p| p.starts_with("fault: lost"))),
        })
        .collect();
    let mut hosts: Vec<IpAddr> = Vec::new();
    for (_, v) in views.iter().enumerate().filter(|(ci, _)| picked(*ci)) {
        for ip in [v.left.ip(), v.right.ip()] {
            if !hosts.contains(&ip) {
                hosts.push(ip);
            }
        }
    }
    // Phase-bracket lanes: a connection takes the first lane free since its first row.
    let mut lane_end: Vec<usize> = Vec::new();
    let mut lanes = vec![None; views.len()];
    for (ci, lane) in lanes.iter_mut().enumerate() {
        let span: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| a.entries[r.entry].connection == ci)
            .map(|(k, _)| k)
            .collect();
        let (Some(&first), Some(&last)) = (span.first(), span.last()) else {
            continue;
        };
        let free = lane_end.iter().position(|&end| end < first);
        let l = free.unwrap_or(lane_end.len());
        if l == lane_end.len() {
            lane_end.push(last);
        } else {
            lane_end[l] = last;
        }
        *lane = Some(l);
    }
    // The slope: half the smallest ACK RTT seen (a round trip is two crossings of the cable).
    let delay = rows
        .iter()
        .filter_map(|r| a.entries[r.entry].tcp.ack_rtt.map(|(d, _)| d))
        .filter(|d| !d.is_zero())
        .min()
        .map(|d| d / 2)
        .unwrap_or_default();
    Layout {
        a,
        views,
        lane_count: lane_end.len(),
        rows,
        hosts,
        lanes,
        delay,
        absolute: opts.absolute,
    }
}

impl Layout<'_> {
    fn width(&self) -> f64 {
        RIGHT_HOST + 60.0 + LANE * self.lane_count as f64 + 20.0
    }

    fn host_x(&self, ip: IpAddr) -> f64 {
        let k = self.hosts.iter().position(|h| *h == ip).unwrap_or(0);
        match self.hosts.len() {
            0 | 1 => LEFT_HOST,
            n => LEFT_HOST + (RIGHT_HOST - LEFT_HOST) * k as f64 / (n - 1) as f64,
        }
    }

    /// Where the arrow of row `k` (sent at its time) ends, for an arrival at `t`: as far down
    /// as `t` lies between this row's time and the next later row's (the slope shows the
    /// delay against the spacing of the frames), kept within 35% to 90% of a row so that
    /// labels stay apart.
    fn end_y(&self, t: Duration, k: usize, first: usize) -> f64 {
        let row_y = |j: usize| TOP + (j - first) as f64 * ROW;
        let here = self.rows[k].time;
        let frac = match self.rows[k + 1..].iter().position(|r| r.time > here) {
            Some(off) => {
                let span = (self.rows[k + 1 + off].time - here).as_secs_f64();
                (t.saturating_sub(here)).as_secs_f64() / span
            }
            None => 0.6,
        };
        row_y(k) + ROW * frac.clamp(0.35, 0.9)
    }

    /// The SVG document of rows `range` (all of them for `--svg`, a page for `--html`).
    fn svg(&self, range: std::ops::Range<usize>, title: &str) -> String {
        let (w, first) = (self.width(), range.start);
        let h = TOP + (range.len() as f64) * ROW + 30.0;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w:.0}\" height=\"{h:.0}\" \
             viewBox=\"0 0 {w:.0} {h:.0}\" font-family=\"monospace\" font-size=\"11\">"
        );
        let _ = writeln!(o, "<title>{}</title>", esc(title));
        o.push_str(
            "<defs><marker id=\"head-b\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" \
             orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0,0 L10,4 L0,8 z\" \
             fill=\"#1f4e9c\"/></marker>\
             <marker id=\"head-g\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" \
             orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0,0 L10,4 L0,8 z\" \
             fill=\"#1d7a2e\"/></marker>\
             <marker id=\"head-k\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" \
             orient=\"auto\" markerUnits=\"userSpaceOnUse\"><path d=\"M0,0 L10,4 L0,8 z\" \
             fill=\"#444444\"/></marker></defs>\n",
        );
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"0\" width=\"{w:.0}\" height=\"{h:.0}\" fill=\"#ffffff\"/>"
        );
        let _ = writeln!(
            o,
            "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>",
            esc(title)
        );
        let _ = writeln!(
            o,
            "<text x=\"10\" y=\"36\" fill=\"#555555\">time (s) since frame #1, {}; hover an arrow for its Wireshark filter</text>",
            if self.absolute {
                "absolute seq/ack"
            } else {
                "relative seq/ack as Wireshark"
            }
        );
        // Host lines and names.
        for &ip in &self.hosts {
            let x = self.host_x(ip);
            let name = self
                .views
                .iter()
                .find_map(|v| {
                    [v.left, v.right]
                        .into_iter()
                        .find(|e| e.ip() == ip)
                        .map(|e| v.side_name(e))
                })
                .unwrap_or("host");
            let _ = writeln!(
                o,
                "<text x=\"{x:.1}\" y=\"60\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\
                 <text x=\"{x:.1}\" y=\"74\" text-anchor=\"middle\">{}</text>\
                 <line x1=\"{x:.1}\" y1=\"80\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#000000\" stroke-width=\"2\"/>",
                esc(name),
                esc(&ip.to_string()),
                h - 10.0
            );
        }
        self.brackets(&mut o, range.clone());
        for k in range {
            self.arrow(&mut o, k, first);
        }
        o.push_str("</svg>\n");
        o
    }

    /// Each connection's phases as brackets in its lane, right of the hosts.
    fn brackets(&self, o: &mut String, range: std::ops::Range<usize>) {
        let first = range.start;
        for (ci, lane) in self.lanes.iter().enumerate() {
            let Some(lane) = lane else { continue };
            let x = RIGHT_HOST + 60.0 + LANE * *lane as f64;
            let (color, _) = colors(self.views[ci].role);
            let mut k = range.start;
            while k < range.end {
                let e = &self.a.entries[self.rows[k].entry];
                if e.connection != ci {
                    k += 1;
                    continue;
                }
                let phase = e.phase;
                let mut end = k;
                for j in k + 1..range.end {
                    let f = &self.a.entries[self.rows[j].entry];
                    if f.connection == ci {
                        if f.phase != phase {
                            break;
                        }
                        end = j;
                    }
                }
                let (y1, y2) = (
                    TOP + (k - first) as f64 * ROW - 8.0,
                    TOP + (end - first) as f64 * ROW + 8.0,
                );
                let mid = (y1 + y2) / 2.0;
                let _ = writeln!(
                    o,
                    "<path d=\"M{:.1},{y1:.1} L{x:.1},{y1:.1} L{x:.1},{y2:.1} L{:.1},{y2:.1}\" fill=\"none\" stroke=\"{color}\"/>\
                     <text x=\"{:.1}\" y=\"{mid:.1}\" transform=\"rotate(90 {:.1} {mid:.1})\" text-anchor=\"middle\" font-size=\"10\" fill=\"{color}\">{}</text>",
                    x - 5.0,
                    x - 5.0,
                    x + 4.0,
                    x + 4.0,
                    e.phase.name()
                );
                k = end + 1;
            }
        }
    }

    fn arrow(&self, o: &mut String, k: usize, first: usize) {
        let r = &self.rows[k];
        let e = &self.a.entries[r.entry];
        let s = &e.segment;
        let v = &self.views[e.connection];
        let (color, marker) = colors(v.role);
        let (x1, x2) = (self.host_x(s.src.ip()), self.host_x(s.dst.ip()));
        let y1 = TOP + (k - first) as f64 * ROW;
        let y2 = self.end_y(r.time + self.delay, k, first);
        let tag = tag(v.role, e.connection);
        let (seq, ack) = if self.absolute {
            (s.seq, s.ack)
        } else {
            (e.rel_seq, e.rel_ack)
        };
        let analysis = !e.tcp.labels().is_empty();
        let text = format!(
            "{tag} {} seq={seq} ack={ack} len={} win={}",
            label(e),
            s.len(),
            e.tcp.window
        );
        let _ = writeln!(
            o,
            "<g id=\"frame-{}\"><title>{}</title>",
            e.frame,
            esc(&wireshark_filter(self.a, r.entry, self.absolute))
        );
        let _ = writeln!(
            o,
            "<text x=\"8\" y=\"{:.1}\" fill=\"#555555\">#{} {}.{:06}</text>",
            y1 + 4.0,
            e.frame,
            e.time.saturating_sub(self.a.start).as_secs(),
            e.time.saturating_sub(self.a.start).subsec_micros()
        );
        let mid_x = (x1 + x2) / 2.0;
        let mid_y = (y1 + y2) / 2.0;
        if r.lost {
            let _ = writeln!(
                o,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{mid_x:.1}\" y2=\"{mid_y:.1}\" stroke=\"#c00000\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>\
                 <path d=\"M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}\" stroke=\"#c00000\" stroke-width=\"2.5\"/>",
                mid_x - 7.0,
                mid_y - 7.0,
                mid_x + 7.0,
                mid_y + 7.0,
                mid_x - 7.0,
                mid_y + 7.0,
                mid_x + 7.0,
                mid_y - 7.0
            );
        } else {
            let _ = writeln!(
                o,
                "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{color}\" stroke-width=\"1.5\" marker-end=\"url(#{marker})\"/>"
            );
        }
        let fill = if analysis || r.lost { "#c00000" } else { color };
        let lost = if r.lost { " LOST" } else { "" };
        let _ = writeln!(
            o,
            "<text x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{fill}\">{}{lost}</text>",
            y1 - 3.0,
            esc(&text)
        );
        if v.role == Role::Control && !s.is_empty() {
            let _ = writeln!(
                o,
                "<text x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-style=\"italic\" fill=\"#000000\">{}</text>",
                y1 - 16.0,
                esc(&first_line(&s.payload))
            );
        }
        if let Some(op) = v.opening
            && s.flags.syn
            && !s.flags.ack
            && v.conn.entries.first() == Some(&r.entry)
        {
            let cmd = op.command.as_deref().unwrap_or("(no command seen)");
            let _ = writeln!(
                o,
                "<text x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"{color}\">{tag}: data connection for {}</text>",
                y1 - 16.0,
                esc(cmd)
            );
        }
        o.push_str("</g>\n");
    }
}

fn colors(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Control => ("#1f4e9c", "head-b"),
        Role::Data => ("#1d7a2e", "head-g"),
        Role::Other => ("#444444", "head-k"),
    }
}

fn tag(role: Role, ci: usize) -> String {
    let letter = match role {
        Role::Control => 'C',
        Role::Data => 'D',
        Role::Other => 'T',
    };
    format!("{letter}{}", ci + 1)
}

/// The ladder of `a` as one SVG 1.1 document.
pub fn ladder_svg(a: &Analysis, opts: &LadderOptions, title: &str) -> String {
    let opens = openings(a);
    let l = layout(a, &opens, opts);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&l.svg(0..l.rows.len(), title));
    out
}

/// The ladder of `a` as one self-contained HTML page (no scripts, no network): the SVG cut
/// into pages of [`PAGE`] frames, each page its own inline `<svg>`.
pub fn ladder_html(a: &Analysis, opts: &LadderOptions, title: &str) -> String {
    let opens = openings(a);
    let l = layout(a, &opens, opts);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>body {{ font-family: sans-serif; margin: 1em; }} h2 {{ font-size: 1em; }} \
         svg {{ display: block; border: 1px solid #ccc; }}</style>\n</head>\n<body>\n<h1>{}</h1>",
        esc(title),
        esc(title)
    );
    let pages = l.rows.len().div_ceil(PAGE).max(1);
    for p in 0..pages {
        let range = p * PAGE..((p + 1) * PAGE).min(l.rows.len());
        if pages > 1 {
            let (a0, a1) = (
                l.rows
                    .get(range.start)
                    .map_or(0, |r| a.entries[r.entry].frame),
                l.rows
                    .get(range.end.saturating_sub(1))
                    .map_or(0, |r| a.entries[r.entry].frame),
            );
            let _ = writeln!(
                out,
                "<h2>page {} of {pages}: frames #{a0} to #{a1}</h2>",
                p + 1
            );
        }
        out.push_str(&l.svg(range, &format!("{title} ({}/{pages})", p + 1)));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests;
