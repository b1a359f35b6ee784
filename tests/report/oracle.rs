//! `smolftp report --json` against tshark, connection by connection: ISNs, the handshake,
//! relative numbers, SampleRTTs (`tcp.analysis.ack_rtt`, Karn's rule applied here from
//! tshark's own fields), EstimatedRTT/DevRTT recomputed here from those samples, windows,
//! retransmission and duplicate-ACK counts, throughput. Shared by tests/report.rs and the
//! kernel captures of tests/analysis.rs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One TCP frame as tshark dissects it.
#[derive(Debug, Clone)]
pub struct T {
    pub frame: u32,
    pub time: f64,
    pub stream: u32,
    pub src: String,
    pub dst: String,
    pub seq: u32,
    pub ack: u32,
    pub seq_raw: u32,
    pub ack_raw: u32,
    pub len: u32,
    pub syn: bool,
    pub ackf: bool,
    pub window: u32,
    pub retrans: bool,
    pub fast: bool,
    pub dup: bool,
    pub ack_rtt: Option<f64>,
    pub acks_frame: Option<u32>,
}

const FIELDS: [&str; 22] = [
    "frame.number",
    "frame.time_relative",
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "tcp.seq",
    "tcp.ack",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.len",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.window_size",
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.duplicate_ack",
    "tcp.analysis.ack_rtt",
    "tcp.analysis.acks_frame",
];

/// Every TCP frame of `file` as tshark sees it.
pub fn tshark_frames(file: &Path) -> Vec<T> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=|"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let r: Vec<&str> = l.split('|').collect();
            let n = |i: usize| r[i].parse::<u32>().unwrap_or(0);
            let on = |i: usize| !r[i].is_empty() && r[i] != "0" && r[i] != "False";
            let addr = |ip4: &str, ip6: &str, port: &str| {
                if ip4.is_empty() {
                    format!("[{ip6}]:{port}")
                } else {
                    format!("{ip4}:{port}")
                }
            };
            T {
                frame: n(0),
                time: r[1].parse().unwrap(),
                stream: n(2),
                src: addr(r[3], r[4], r[5]),
                dst: addr(r[6], r[7], r[8]),
                seq: n(9),
                ack: n(10),
                seq_raw: n(11),
                ack_raw: n(12),
                len: n(13),
                syn: on(14),
                ackf: on(15),
                window: n(16),
                retrans: on(17),
                fast: on(18),
                dup: on(19),
                ack_rtt: r[20].parse().ok(),
                acks_frame: r[21].parse().ok(),
            }
        })
        .collect()
}

/// `smolftp report FILE --json`, parsed.
pub fn report_json(file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_smolftp"))
        .args(["report", "--json"])
        .arg(file)
        .output()
        .expect("run smolftp report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report --json is JSON")
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: report {a} vs tshark {b}");
}

/// Checks every connection of the report of `file` against tshark; returns the report.
pub fn assert_report_matches_tshark(file: &Path, what: &str) -> Value {
    let all = tshark_frames(file);
    let report = report_json(file);
    let mut streams: BTreeMap<u32, Vec<&T>> = BTreeMap::new();
    for t in &all {
        streams.entry(t.stream).or_default().push(t);
    }
    let conns = report["connections"].as_array().expect("connections");
    assert_eq!(
        conns.len(),
        streams.len(),
        "{what}: one connection per tcp.stream"
    );
    for (c, (stream, ts)) in conns.iter().zip(&streams) {
        let what = format!("{what}, tcp.stream {stream}");
        let syn = ts.iter().find(|t| t.syn && !t.ackf).expect("a SYN");
        let synack = ts.iter().find(|t| t.syn && t.ackf).expect("a SYN+ACK");
        assert_eq!(c["client"], syn.src.as_str(), "{what}: client");
        assert_eq!(c["server"], syn.dst.as_str(), "{what}: server");
        assert_eq!(c["isn_client"], syn.seq_raw, "{what}: client ISN");
        assert_eq!(c["isn_server"], synack.seq_raw, "{what}: server ISN");
        let hs = c["handshake"].as_array().unwrap();
        assert_eq!(hs[0]["frame"], syn.frame, "{what}");
        assert_eq!(hs[1]["frame"], synack.frame, "{what}");
        assert_eq!(hs[1]["ack"], synack.ack_raw, "{what}");
        assert_eq!(synack.ack_raw, syn.seq_raw.wrapping_add(1), "{what}");
        // The sender: the side with the most payload.
        let bytes_from = |who: &str| {
            ts.iter()
                .filter(|t| t.src == who)
                .map(|t| t.len as u64)
                .sum::<u64>()
        };
        let (cb, sb) = (bytes_from(&syn.src), bytes_from(&syn.dst));
        let sender = if cb >= sb { &syn.src } else { &syn.dst };
        if cb + sb == 0 {
            assert!(c["sender"].is_null(), "{what}");
            continue;
        }
        assert_eq!(c["sender"], sender.as_str(), "{what}: sender");
        let data: Vec<&&T> = ts
            .iter()
            .filter(|t| &t.src == sender && t.len > 0)
            .collect();
        // Karn's rule, from tshark's fields: no sample from a segment sent more than once.
        let karn = |d: &T| d.retrans || data.iter().filter(|x| x.seq_raw == d.seq_raw).count() > 1;
        // tshark names the ACK (acks_frame) but gives no ack_rtt when it is zero: no sample.
        let sample_of = |d: &T| -> Option<(u32, f64)> {
            let acker = ts.iter().find(|t| t.acks_frame == Some(d.frame))?;
            (!karn(d)).then_some(())?;
            acker.ack_rtt.map(|r| (acker.frame, r))
        };
        let first = c["first_segments"].as_array().unwrap();
        assert_eq!(first.len(), data.len().min(6), "{what}");
        for (j, d) in first.iter().zip(&data) {
            assert_eq!(j["frame"], d.frame, "{what}");
            assert_eq!(
                j["rel_seq"], d.seq,
                "{what}: relative seq of frame {}",
                d.frame
            );
            assert_eq!(j["len"], d.len, "{what}");
            close(
                j["sent"].as_f64().unwrap(),
                d.time,
                1e-6,
                &format!("{what}: sent"),
            );
            match sample_of(d) {
                Some((_, r)) => close(
                    j["sample_rtt"].as_f64().expect("a sample"),
                    r,
                    1e-6,
                    &format!("{what}: SampleRTT of frame {}", d.frame),
                ),
                None => assert!(
                    j["sample_rtt"].is_null(),
                    "{what}: frame {} gives no sample",
                    d.frame
                ),
            }
        }
        // EstimatedRTT and DevRTT recomputed here (RFC 6298, alpha 1/8, beta 1/4).
        let mut samples: Vec<(u32, f64)> = data.iter().filter_map(|d| sample_of(d)).collect();
        samples.sort_by_key(|s| s.0);
        let rtt = c["rtt"].as_array().unwrap();
        assert_eq!(rtt.len(), samples.len(), "{what}: RTT samples");
        let (mut est, mut dev) = (0.0f64, 0.0f64);
        for (k, ((_, r), step)) in samples.iter().zip(rtt).enumerate() {
            if k == 0 {
                est = *r;
                dev = r / 2.0;
            } else {
                dev = 0.75 * dev + 0.25 * (est - r).abs();
                est = 0.875 * est + 0.125 * r;
            }
            close(
                step["sample"].as_f64().unwrap(),
                *r,
                1e-6,
                &format!("{what}: sample {k}"),
            );
            close(
                step["estimated"].as_f64().unwrap(),
                est,
                1e-5,
                &format!("{what}: EstimatedRTT {k}"),
            );
            close(
                step["dev"].as_f64().unwrap(),
                dev,
                1e-5,
                &format!("{what}: DevRTT {k}"),
            );
            close(
                step["timeout"].as_f64().unwrap(),
                est + 4.0 * dev,
                1e-5,
                &format!("{what}: TimeoutInterval {k}"),
            );
        }
        // Windows the receiver advertised (after its SYN).
        let wins: Vec<u32> = ts
            .iter()
            .filter(|t| &t.src != sender && !t.syn)
            .map(|t| t.window)
            .collect();
        if let (Some(lo), Some(hi)) = (wins.iter().min(), wins.iter().max()) {
            assert_eq!(c["rwnd_min"], *lo, "{what}: smallest window");
            assert_eq!(c["rwnd_max"], *hi, "{what}: largest window");
        }
        assert_eq!(
            c["retransmissions"],
            ts.iter().filter(|t| t.retrans).count(),
            "{what}: retransmissions"
        );
        assert_eq!(
            c["fast_retransmissions"],
            ts.iter().filter(|t| t.fast).count(),
            "{what}: fast retransmissions"
        );
        assert_eq!(
            c["dup_acks"],
            ts.iter().filter(|t| t.dup).count(),
            "{what}: duplicate ACKs"
        );
        // Throughput: bytes from the first data byte to the highest, over first data to the
        // first ACK that covers them all.
        let lo = data.iter().map(|d| d.seq).min().unwrap();
        let hi = data.iter().map(|d| d.seq + d.len).max().unwrap();
        assert_eq!(c["bytes"], hi - lo, "{what}: bytes");
        let t_end = ts
            .iter()
            .find(|t| &t.src != sender && t.ackf && t.ack >= hi)
            .map(|t| t.time);
        if let Some(end) = t_end {
            close(
                c["duration"].as_f64().unwrap(),
                end - data[0].time,
                2e-6,
                &format!("{what}: duration"),
            );
        }
    }
    report
}
