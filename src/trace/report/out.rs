//! The answer key as text for people and JSON for programs (analysis layer).

use std::fmt::Write;

use serde_json::{Value, json};

use super::{ALPHA, BETA, ConnReport};

fn ms(s: f64) -> String {
    format!("{:.3} ms", s * 1000.0)
}

/// The report as a page a person reads; the estimator's rules are stated on it.
pub fn render_text(file: &str, reports: &[ConnReport]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "smolftp report: {file}, {} connections", reports.len());
    let _ = writeln!(
        o,
        "RTT estimator (RFC 6298): first sample R: EstimatedRTT = R, DevRTT = R/2; then \
         DevRTT = (1-{BETA}) DevRTT + {BETA} |EstimatedRTT - R|, EstimatedRTT = (1-{ALPHA}) \
         EstimatedRTT + {ALPHA} R; TimeoutInterval = EstimatedRTT + 4 DevRTT (RFC 6298 raises it \
         to at least 1 s; 1 s before any sample). Karn: no sample from a retransmitted segment."
    );
    for r in reports {
        let _ = writeln!(
            o,
            "\nconnection #{}: client {} -> server {}{}",
            r.number,
            r.client,
            r.server,
            if r.syn_seen {
                ""
            } else {
                " (no SYN captured: the client is the first sender)"
            }
        );
        let _ = writeln!(
            o,
            "  ISNs: client {} (relative 0), server {} (relative 0)",
            r.isn_client, r.isn_server
        );
        for (what, frame, seq, ack) in &r.handshake {
            let _ = writeln!(
                o,
                "  {what:<8} frame {frame}: seq {seq}, ack {ack}{}",
                match what.as_str() {
                    "SYN+ACK" => format!(" (= client ISN + 1 = {})", r.isn_client.wrapping_add(1)),
                    "ACK" => format!(" (= server ISN + 1 = {})", r.isn_server.wrapping_add(1)),
                    _ => String::new(),
                }
            );
        }
        if let Some((open, transfer, mode)) = &r.ftp {
            let _ = writeln!(
                o,
                "  FTP: opened by {open} for {transfer} ({mode} mode, {} -> {})",
                r.client, r.server
            );
        }
        if let Some(s) = r.sender {
            let _ = writeln!(
                o,
                "  data sender {s}; its first {} data segments:",
                r.first.len()
            );
            for d in &r.first {
                let _ = write!(
                    o,
                    "    frame {:>4}: seq {:>7} len {:>5} sent {:.6} s",
                    d.frame, d.rel_seq, d.len, d.sent
                );
                match (d.ack_frame, d.ack_time) {
                    (Some(f), Some(t)) => {
                        let _ = write!(o, ", ACK frame {f} at {t:.6} s");
                    }
                    _ => {
                        let _ = write!(o, ", no ACK of exactly this segment");
                    }
                }
                match d.sample_rtt {
                    Some(x) => {
                        let _ = write!(o, ", SampleRTT {}", ms(x));
                    }
                    None => {
                        let _ = write!(o, ", no SampleRTT");
                    }
                }
                if let Some((cwnd, ssthresh)) = d.cwnd {
                    let f = |v: Option<f64>| v.map_or("inf".into(), |v| format!("{v:.0}"));
                    let _ = write!(o, " [stack: cwnd {} ssthresh {}]", f(cwnd), f(ssthresh));
                }
                o.push('\n');
            }
            for s in &r.rtt {
                let _ = writeln!(
                    o,
                    "    after frame {:>4}: SampleRTT {} EstimatedRTT {} DevRTT {} TimeoutInterval {}",
                    s.frame,
                    ms(s.sample),
                    ms(s.estimated),
                    ms(s.dev),
                    ms(s.timeout)
                );
            }
            if let (Some(st), Some(last)) = (r.stack_srtt_ms, r.rtt.last()) {
                let _ = writeln!(
                    o,
                    "  stack's own srtt {st:.3} ms; estimated from the wire {}",
                    ms(last.estimated)
                );
            }
            let _ = writeln!(
                o,
                "  throughput: {} bytes in {:.6} s (first data to last ACK) = {:.0} bytes/s",
                r.bytes,
                r.duration,
                r.throughput()
            );
        }
        if let Some((lo, hi)) = r.rwnd {
            let _ = writeln!(
                o,
                "  receiver's advertised window: min {lo}, max {hi} bytes; window-limited: {}",
                if r.window_limited { "yes" } else { "no" }
            );
        }
        let _ = writeln!(
            o,
            "  retransmissions {}, fast retransmissions {}, duplicate ACKs {}",
            r.retransmissions, r.fast_retransmissions, r.dup_acks
        );
        for f in &r.fins {
            let _ = writeln!(
                o,
                "  FIN frame {} from {}: {}",
                f.frame,
                f.from,
                if f.piggybacked {
                    "piggybacked on data"
                } else {
                    "alone"
                }
            );
        }
        let _ = writeln!(o, "  release: {}", r.release);
    }
    o
}

/// The report as JSON: `{"file":..,"connections":[..]}`, times in seconds.
pub fn to_json(file: &str, reports: &[ConnReport]) -> Value {
    let conns: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "number": r.number,
                "client": r.client.to_string(),
                "server": r.server.to_string(),
                "syn_seen": r.syn_seen,
                "isn_client": r.isn_client,
                "isn_server": r.isn_server,
                "handshake": r.handshake.iter().map(|(w, f, s, a)| json!({"what": w, "frame": f, "seq": s, "ack": a})).collect::<Vec<_>>(),
                "sender": r.sender.map(|s| s.to_string()),
                "first_segments": r.first.iter().map(|d| json!({
                    "frame": d.frame, "rel_seq": d.rel_seq, "len": d.len, "sent": d.sent,
                    "ack_frame": d.ack_frame, "ack_time": d.ack_time, "sample_rtt": d.sample_rtt,
                    "cwnd": d.cwnd.and_then(|c| c.0), "ssthresh": d.cwnd.and_then(|c| c.1),
                })).collect::<Vec<_>>(),
                "rtt": r.rtt.iter().map(|s| json!({
                    "frame": s.frame, "sample": s.sample, "estimated": s.estimated,
                    "dev": s.dev, "timeout": s.timeout,
                })).collect::<Vec<_>>(),
                "rwnd_min": r.rwnd.map(|w| w.0),
                "rwnd_max": r.rwnd.map(|w| w.1),
                "window_limited": r.window_limited,
                "retransmissions": r.retransmissions,
                "fast_retransmissions": r.fast_retransmissions,
                "dup_acks": r.dup_acks,
                "bytes": r.bytes,
                "duration": r.duration,
                "throughput": r.throughput(),
                "fins": r.fins.iter().map(|f| json!({"frame": f.frame, "from": f.from.to_string(), "piggybacked": f.piggybacked})).collect::<Vec<_>>(),
                "release": r.release,
                "ftp_command": r.ftp.as_ref().map(|f| f.0.clone()),
                "ftp_transfer": r.ftp.as_ref().map(|f| f.1.clone()),
                "ftp_mode": r.ftp.as_ref().map(|f| f.2),
                "stack_srtt_ms": r.stack_srtt_ms,
            })
        })
        .collect();
    json!({"file": file, "alpha": ALPHA, "beta": BETA, "connections": conns})
}
