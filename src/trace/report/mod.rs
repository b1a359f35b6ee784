//! # Answer keys of the classic TCP lab questions (analysis layer)
//!
//! Layer: analysis, offline. Job: from any capture (ours or tcpdump's) and, when given, our
//! stack log, compute per connection the answers of Kurose-Ross's Wireshark TCP lab and of the
//! seed's FTP walkthrough: the 4-tuple and Wireshark's client, raw and relative ISNs, the
//! handshake, the first six data segments with their SampleRTT (Karn's rule), EstimatedRTT,
//! DevRTT and TimeoutInterval after each sample (RFC 6298: alpha 1/8, beta 1/4), advertised
//! windows, retransmissions, duplicate ACKs, throughput, the release and, for FTP, which command
//! opened each data connection. Every number comes from [`Analysis`] (Wireshark's own rules,
//! see [`super::expert`]), so tshark is the oracle. [`render_text`] is for people,
//! [`to_json`] for programs (`smolftp exercise` writes it as the key).

use std::net::SocketAddr;

use super::classify::{Analysis, Connection};
use super::stacklog::StackRecord;

/// The RTT estimator's gains (RFC 6298 2.3), as the page states them.
pub const ALPHA: f64 = 0.125;
/// See [`ALPHA`].
pub const BETA: f64 = 0.25;
/// Data segments listed per connection (Kurose-Ross asks for the first six).
pub const FIRST_SEGMENTS: usize = 6;

/// One data segment of the connection's sender, with its ACK and RTT sample.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSegment {
    /// Its frame.
    pub frame: u32,
    /// Relative sequence number.
    pub rel_seq: u32,
    /// Payload bytes.
    pub len: usize,
    /// Send time, seconds since the capture's first frame.
    pub sent: f64,
    /// The frame that acknowledges exactly this segment (Wireshark's `tcp.analysis.acks_frame`).
    pub ack_frame: Option<u32>,
    /// Its time.
    pub ack_time: Option<f64>,
    /// The RTT sample, seconds; `None` when unacknowledged exactly or (Karn) retransmitted.
    pub sample_rtt: Option<f64>,
    /// The sender's cwnd and ssthresh from the stack log when this segment left.
    pub cwnd: Option<(Option<f64>, Option<f64>)>,
}

/// EstimatedRTT, DevRTT and TimeoutInterval after one sample, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RttStep {
    /// The frame whose RTT was sampled.
    pub frame: u32,
    /// The sample.
    pub sample: f64,
    /// EstimatedRTT after it.
    pub estimated: f64,
    /// DevRTT after it.
    pub dev: f64,
    /// TimeoutInterval = EstimatedRTT + 4 DevRTT (RFC 6298 then raises it to at least 1 s).
    pub timeout: f64,
}

/// A FIN and how it travelled.
#[derive(Clone, Debug, PartialEq)]
pub struct FinInfo {
    /// Its frame.
    pub frame: u32,
    /// Who sent it.
    pub from: SocketAddr,
    /// Whether it rode on data (`DATA+FIN`) rather than alone.
    pub piggybacked: bool,
}

/// The answers for one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnReport {
    /// 1-based number, as the ladder's `#N`.
    pub number: usize,
    /// Wireshark's client (sent the SYN) and server.
    pub client: SocketAddr,
    /// See [`ConnReport::client`].
    pub server: SocketAddr,
    /// Whether the SYN is in the capture (else the ISNs are the first seen numbers).
    pub syn_seen: bool,
    /// Raw ISNs, client's and server's (relative ones are 0 by definition).
    pub isn_client: u32,
    /// See [`ConnReport::isn_client`].
    pub isn_server: u32,
    /// Frames of SYN, SYN+ACK and the handshake's ACK, with their raw seq and ack.
    pub handshake: Vec<(String, u32, u32, u32)>,
    /// The side that sent the most payload.
    pub sender: Option<SocketAddr>,
    /// Its first [`FIRST_SEGMENTS`] data segments.
    pub first: Vec<DataSegment>,
    /// The estimator after each of the sender's RTT samples, in order.
    pub rtt: Vec<RttStep>,
    /// Smallest and largest window the receiver advertised (scaled), bytes.
    pub rwnd: Option<(u32, u32)>,
    /// Whether the sender filled the advertised window or met a zero window.
    pub window_limited: bool,
    /// Retransmissions (all kinds), fast retransmissions, duplicate ACKs.
    pub retransmissions: usize,
    /// See [`ConnReport::retransmissions`].
    pub fast_retransmissions: usize,
    /// See [`ConnReport::retransmissions`].
    pub dup_acks: usize,
    /// Sender's bytes, and the time from its first data segment to the last ACK, seconds.
    pub bytes: u64,
    /// See [`ConnReport::bytes`].
    pub duration: f64,
    /// The FINs.
    pub fins: Vec<FinInfo>,
    /// `four-segment`, `three-segment`, or what was seen (`half`, `none`, `reset`).
    pub release: String,
    /// For an FTP data connection: the command that opened it, the transfer, the mode.
    pub ftp: Option<(String, String, &'static str)>,
    /// The stack's last srtt for the sender, ms, from the stack log.
    pub stack_srtt_ms: Option<f64>,
}

impl ConnReport {
    /// Throughput, bytes per second (0 without data or time).
    pub fn throughput(&self) -> f64 {
        if self.duration > 0.0 {
            self.bytes as f64 / self.duration
        } else {
            0.0
        }
    }
}

/// RFC 6298's estimator over `samples` (seconds): the first sets SRTT = R, RTTVAR = R/2; each
/// later one RTTVAR = (1-beta) RTTVAR + beta |SRTT - R|, then SRTT = (1-alpha) SRTT + alpha R.
pub fn estimate(samples: &[(u32, f64)]) -> Vec<RttStep> {
    let mut out: Vec<RttStep> = Vec::new();
    for &(frame, r) in samples {
        let (estimated, dev) = match out.last() {
            None => (r, r / 2.0),
            Some(p) => (
                (1.0 - ALPHA) * p.estimated + ALPHA * r,
                (1.0 - BETA) * p.dev + BETA * (p.estimated - r).abs(),
            ),
        };
        out.push(RttStep {
            frame,
            sample: r,
            estimated,
            dev,
            timeout: estimated + 4.0 * dev,
        });
    }
    out
}

/// Computes the answers for every connection of `a`; `log` adds the stack's view.
pub fn report(a: &Analysis, log: Option<&[StackRecord]>) -> Vec<ConnReport> {
    let commands = control_commands(a);
    a.connections
        .iter()
        .enumerate()
        .map(|(i, c)| connection(a, i, c, log, &commands))
        .collect()
}

fn secs(a: &Analysis, t: std::time::Duration) -> f64 {
    t.saturating_sub(a.start).as_secs_f64()
}

fn connection(
    a: &Analysis,
    i: usize,
    c: &Connection,
    log: Option<&[StackRecord]>,
    commands: &[(u32, String)],
) -> ConnReport {
    let es: Vec<_> = c.entries.iter().map(|&e| &a.entries[e]).collect();
    let mut handshake = Vec::new();
    for e in &es {
        let f = e.segment.flags;
        let what = if f.syn && !f.ack {
            "SYN"
        } else if f.syn {
            "SYN+ACK"
        } else if handshake.len() == 2 && f.ack && c.from_initiator(&e.segment) {
            "ACK"
        } else {
            continue;
        };
        if handshake
            .iter()
            .any(|(w, ..): &(String, u32, u32, u32)| w == what)
        {
            continue;
        }
        handshake.push((what.to_string(), e.frame, e.segment.seq, e.segment.ack));
        if handshake.len() == 3 {
            break;
        }
    }
    // The sender: the side with the most payload.
    let sent = |from_init: bool| -> usize {
        es.iter()
            .filter(|e| c.from_initiator(&e.segment) == from_init)
            .map(|e| e.segment.len())
            .sum()
    };
    let (si, sr) = (sent(true), sent(false));
    let sender = match (si, sr) {
        (0, 0) => None,
        _ if si >= sr => Some(c.initiator),
        _ => Some(c.responder),
    };
    let mut first = Vec::new();
    let mut samples = Vec::new();
    let (mut lo, mut hi) = (None::<u32>, 0u32);
    let (mut t0, mut t_end) = (None::<f64>, None::<f64>);
    if let Some(s) = sender {
        let data: Vec<_> = es
            .iter()
            .filter(|e| e.segment.src == s && !e.segment.is_empty())
            .collect();
        // Karn: a sequence range sent twice gives no sample.
        let sent_twice = |seq: u32| data.iter().filter(|e| e.segment.seq == seq).count() > 1;
        for e in &data {
            let rel = e.rel_seq;
            lo = Some(lo.map_or(rel, |l: u32| l.min(rel)));
            hi = hi.max(rel.wrapping_add(e.segment.len() as u32));
            t0.get_or_insert(secs(a, e.time));
            let acker = es
                .iter()
                .find(|x| x.tcp.ack_rtt.is_some_and(|(_, f)| f == e.frame));
            let karn = resent(&e.tcp) || sent_twice(e.segment.seq);
            // A zero RTT (the ACK left as the segment arrived: a tap on the receiver) is no
            // sample, and tshark shows none.
            let sample = acker
                .filter(|_| !karn)
                .and_then(|x| x.tcp.ack_rtt)
                .filter(|(d, _)| !d.is_zero())
                .map(|(d, _)| d.as_secs_f64());
            if let (Some(r), Some(x)) = (sample, acker) {
                samples.push((x.frame, e.frame, r));
            }
            if first.len() < FIRST_SEGMENTS {
                first.push(DataSegment {
                    frame: e.frame,
                    rel_seq: rel,
                    len: e.segment.len(),
                    sent: secs(a, e.time),
                    ack_frame: acker.map(|x| x.frame),
                    ack_time: acker.map(|x| secs(a, x.time)),
                    sample_rtt: sample,
                    cwnd: log.and_then(|l| {
                        l.iter()
                            .find(|r| r.frame == Some(e.frame))
                            .map(|r| (r.cwnd, r.ssthresh))
                    }),
                });
            }
        }
        // The last ACK: the first from the receiver that covers everything sent.
        let isn = if s == c.initiator {
            c.isn_initiator
        } else {
            c.isn_responder
        };
        let top = isn.wrapping_add(hi);
        t_end = es
            .iter()
            .find(|x| {
                x.segment.src != s
                    && x.segment.flags.ack
                    && (x.segment.ack.wrapping_sub(top) as i32) >= 0
            })
            .map(|x| secs(a, x.time));
    }
    samples.sort_by_key(|&(ack, ..)| ack);
    let rtt = estimate(&samples.iter().map(|&(_, f, r)| (f, r)).collect::<Vec<_>>());
    let receiver_windows: Vec<u32> = es
        .iter()
        .filter(|e| Some(e.segment.src) != sender && !e.segment.flags.syn)
        .map(|e| e.tcp.window)
        .collect();
    let rwnd = receiver_windows
        .iter()
        .min()
        .map(|&m| (m, *receiver_windows.iter().max().unwrap_or(&m)));
    let fins: Vec<FinInfo> = es
        .iter()
        .filter(|e| e.segment.flags.fin && !resent(&e.tcp))
        .map(|e| FinInfo {
            frame: e.frame,
            from: e.segment.src,
            piggybacked: !e.segment.is_empty(),
        })
        .collect();
    ConnReport {
        number: i + 1,
        client: c.initiator,
        server: c.responder,
        syn_seen: c.syn_seen,
        isn_client: c.isn_initiator,
        isn_server: c.isn_responder,
        handshake,
        sender,
        first,
        rtt,
        rwnd,
        window_limited: es.iter().any(|e| e.tcp.window_full || e.tcp.zero_window),
        retransmissions: es.iter().filter(|e| resent(&e.tcp)).count(),
        fast_retransmissions: es.iter().filter(|e| e.tcp.fast_retransmission).count(),
        dup_acks: es.iter().filter(|e| e.tcp.dup_ack.is_some()).count(),
        bytes: lo.map_or(0, |l| u64::from(hi.wrapping_sub(l))),
        duration: match (t0, t_end) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0.0,
        },
        release: release(&es, &fins),
        fins,
        ftp: ftp_opening(a, c, commands),
        stack_srtt_ms: sender.and_then(|s| {
            log?.iter()
                .rev()
                .find(|r| r.src == s.to_string() && r.dst == other(c, s).to_string())
                .and_then(|r| r.srtt_ms)
        }),
    }
}

/// Wireshark's `tcp.analysis.retransmission`, which fast and spurious ones carry too.
fn resent(t: &super::TcpAnalysis) -> bool {
    t.retransmission || t.fast_retransmission || t.spurious_retransmission
}

fn other(c: &Connection, s: SocketAddr) -> SocketAddr {
    if s == c.initiator {
        c.responder
    } else {
        c.initiator
    }
}

/// Four segments (FIN, ACK, FIN, ACK) or three (FIN, FIN+ACK, ACK).
fn release(es: &[&super::classify::Entry], fins: &[FinInfo]) -> String {
    if es.iter().any(|e| e.segment.flags.rst) {
        return "reset".into();
    }
    let (Some(f1), Some(f2)) = (fins.first(), fins.get(1)) else {
        return if fins.is_empty() { "none" } else { "half" }.into();
    };
    // Anything from the second FIN's sender between the two FINs that acknowledges the first?
    let first_end = es
        .iter()
        .find(|e| e.frame == f1.frame)
        .map(|e| {
            e.segment
                .seq
                .wrapping_add(e.segment.len() as u32)
                .wrapping_add(1)
        })
        .unwrap_or(0);
    let acked_alone = es.iter().any(|e| {
        e.frame > f1.frame
            && e.frame < f2.frame
            && e.segment.src == f2.from
            && e.segment.flags.ack
            && e.segment.ack == first_end
    });
    if acked_alone {
        "four-segment"
    } else {
        "three-segment"
    }
    .into()
}

/// FTP commands on control connections (port 21), with the frame that carried them.
fn control_commands(a: &Analysis) -> Vec<(u32, String)> {
    a.entries
        .iter()
        .filter(|e| e.segment.dst.port() == 21 && !e.segment.is_empty() && !resent(&e.tcp))
        .flat_map(|e| {
            String::from_utf8_lossy(&e.segment.payload)
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .map(|l| (e.frame, l))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// For a data connection: the command that announced it (PORT, EPRT, PASV, EPSV), the transfer
/// command after it, and the mode.
fn ftp_opening(
    a: &Analysis,
    c: &Connection,
    commands: &[(u32, String)],
) -> Option<(String, String, &'static str)> {
    if c.initiator.port() == 21 || c.responder.port() == 21 || commands.is_empty() {
        return None;
    }
    let start = a.entries[*c.entries.first()?].frame;
    let verb = |l: &str| {
        l.split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase()
    };
    let open = commands.iter().rev().find(|(f, l)| {
        *f < start && ["PORT", "EPRT", "PASV", "EPSV"].contains(&verb(l).as_str())
    })?;
    let transfer = commands
        .iter()
        .find(|(f, l)| {
            *f > open.0 && ["LIST", "NLST", "RETR", "STOR", "MLSD"].contains(&verb(l).as_str())
        })
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    let mode = if ["PORT", "EPRT"].contains(&verb(&open.1).as_str()) {
        "active"
    } else {
        "passive"
    };
    Some((open.1.clone(), transfer, mode))
}

mod out;
pub use out::{render_text, to_json};

/// Why `smolftp report` could not report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The capture cannot be read.
    #[error(transparent)]
    Trace(#[from] super::TraceError),
    /// The stack log cannot be read from disk.
    #[error("cannot read the stack log {}: {source}", .path.display())]
    ReadStackLog {
        /// The log.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line of the stack log cannot be read.
    #[error(transparent)]
    StackLog(#[from] super::stacklog::StackLogError),
    /// `--conn` picks nothing.
    #[error(transparent)]
    Pick(#[from] super::PickError),
    /// The JSON could not be made.
    #[error("cannot write JSON: {0}")]
    Json(#[source] serde_json::Error),
}

/// `smolftp report`: reads `file` (and the stack log), keeps the connections `conn` picks
/// (a port or `#N`), and renders text or, with `json`, pretty JSON.
pub fn report_file(
    file: &std::path::Path,
    conn: Option<&str>,
    stack_log: Option<&std::path::Path>,
    json: bool,
) -> Result<String, ReportError> {
    let frames = super::read_capture(file)?;
    let a = super::analyze(&frames);
    let log = match stack_log {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ReportError::ReadStackLog {
                path: p.to_path_buf(),
                source,
            })?;
            Some(super::stacklog::parse_stack_log(
                &p.display().to_string(),
                &text,
            )?)
        }
        None => None,
    };
    let mut all = report(&a, log.as_deref());
    if let Some(text) = conn {
        let pick = super::ConnPick::parse(text, &a)?;
        all.retain(|r| pick.picks(&a, r.number - 1));
    }
    let name = file.display().to_string();
    Ok(if json {
        let mut s =
            serde_json::to_string_pretty(&to_json(&name, &all)).map_err(ReportError::Json)?;
        s.push('\n');
        s
    } else {
        render_text(&name, &all)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimator_follows_rfc_6298_by_hand() {
        let steps = estimate(&[(1, 0.100), (2, 0.200), (3, 0.100)]);
        // First: R, R/2, R + 4 R/2.
        assert_eq!((steps[0].estimated, steps[0].dev), (0.100, 0.050));
        assert!((steps[0].timeout - 0.300).abs() < 1e-12);
        // Second: DevRTT uses the old EstimatedRTT: 0.75*0.05 + 0.25*0.1 = 0.0625; then
        // EstimatedRTT = 0.875*0.1 + 0.125*0.2 = 0.1125.
        assert!((steps[1].dev - 0.0625).abs() < 1e-12);
        assert!((steps[1].estimated - 0.1125).abs() < 1e-12);
        // Third: 0.75*0.0625 + 0.25*0.0125 = 0.05; 0.875*0.1125 + 0.0125 = 0.1109375.
        assert!((steps[2].dev - 0.05).abs() < 1e-12);
        assert!((steps[2].estimated - 0.1109375).abs() < 1e-12);
        assert_eq!(steps[2].frame, 3);
        assert!(estimate(&[]).is_empty());
    }
}
