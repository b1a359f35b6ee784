//! The stack's own view (issue 9), checked from the outside: the initial window in whole
//! segments at three MTUs, slow start growing cwnd by one MSS per ACK, srtt/rttvar/rto following
//! RFC 6298 from the RTT samples tshark measures, and a deterministic stack log. The loss cases
//! (fast retransmission, RTO, duplicate ACKs: tshark agreeing with our "why" both ways) are in
//! tests/stack_loss.rs.

mod common;
/// The files of `tests/stack/`.
mod stack {
    pub mod view;
}
use stack::view;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Scratch, demo};
use view::{View, have_tshark, tshark, view};

/// Serves a file of `len` bytes from `dir/root/f.bin`.
fn root_with_file(dir: &Scratch, len: usize) {
    let root = dir.path("root");
    std::fs::create_dir_all(&root).unwrap();
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("f.bin"), bytes).unwrap();
}

/// The frames of the RETR data connection (port 20 <-> 5002), in order: (frame number, from
/// the server, payload length, FIN, ack number, comment).
type Row = (u64, bool, usize, bool, u64, String);

fn retr_rows(capture: &Path) -> Vec<Row> {
    tshark(
        capture,
        Some("tcp.port == 20 && tcp.port == 5002"),
        &[
            "frame.number",
            "tcp.srcport",
            "tcp.len",
            "tcp.flags.fin",
            "tcp.ack",
            "frame.comment",
        ],
    )
    .into_iter()
    .map(|f| {
        (
            f["frame.number"].parse().unwrap(),
            f["tcp.srcport"] == "20",
            f["tcp.len"].parse().unwrap(),
            matches!(f["tcp.flags.fin"].as_str(), "1" | "True"),
            f["tcp.ack"].parse().unwrap_or(0),
            f.get("frame.comment").cloned().unwrap_or_default(),
        )
    })
    .collect()
}

/// `--mtu 576/1500/9000`, a file of 20 segments: every data segment is one whole MSS, and the
/// first flight (before the client's first ACK) is the initial window.
#[test]
fn initial_window_is_whole_segments_at_three_mtus() {
    if !have_tshark() {
        return;
    }
    // The first flight is also bounded by the peer's window, which a SYN+ACK cannot scale
    // (65535 bytes): at MTU 9000 that is 7 segments.
    for (mtu, iw) in [(576, 2), (1500, 2), (1500, 4), (9000, 2), (9000, 7)] {
        let dir = Scratch::new(&format!("iw-{mtu}-{iw}"));
        let mss = mtu - 40;
        root_with_file(&dir, 20 * mss);
        let (mtu_s, iw_s) = (mtu.to_string(), iw.to_string());
        demo(
            &dir.0,
            "c.pcapng",
            &[
                "-q",
                "--mtu",
                &mtu_s,
                "--root",
                "root",
                "--file",
                "f.bin",
                "--window",
                "1048576",
                "--initial-window",
                &iw_s,
            ],
        );
        let rows = retr_rows(&dir.path("c.pcapng"));
        let data: Vec<&Row> = rows.iter().filter(|r| r.1 && r.2 > 0).collect();
        let sizes: Vec<usize> = data.iter().map(|r| r.2).collect();
        assert_eq!(
            sizes,
            vec![mss; 20],
            "MTU {mtu}: 20 whole segments, no runt"
        );
        let first = rows.iter().position(|r| r.1 && r.2 > 0).unwrap();
        let flight = rows[first..].iter().take_while(|r| r.1 && r.2 > 0).count();
        assert_eq!(
            flight, iw,
            "MTU {mtu}: the first flight is the initial window"
        );
        let v = view(&data[0].5).expect("the first data segment has a stack view");
        assert_eq!(
            v.cwnd,
            Some((iw * mss) as u64),
            "MTU {mtu}: cwnd = IW x MSS"
        );
        assert_eq!(v.ssthresh, None);
    }
}

/// Slow start (Reno): every ACK of new data grows cwnd by min(acked, MSS) (RFC 5681 3.1), as
/// the server's next frame tells.
#[test]
fn slow_start_grows_cwnd_by_the_bytes_each_ack_acknowledges() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("slowstart");
    let mss = 1460u64;
    root_with_file(&dir, 40 * mss as usize);
    demo(
        &dir.0,
        "c.pcapng",
        &[
            "-q", "--root", "root", "--file", "f.bin", "--window", "1048576",
        ],
    );
    let rows = retr_rows(&dir.path("c.pcapng"));
    let mut last: Option<(u64, View)> = None;
    let mut acked = 0u64;
    let mut highest_ack = 0u64;
    let mut checked = 0;
    for (number, from_server, len, fin, ack, comment) in &rows {
        if !from_server {
            if *ack > highest_ack && highest_ack > 0 {
                acked += (*ack - highest_ack).min(mss);
            }
            highest_ack = highest_ack.max(*ack);
            continue;
        }
        if highest_ack == 0 || *len == 0 || *fin {
            continue;
        }
        let v = view(comment).unwrap_or_else(|| panic!("frame {number} has no view"));
        if let Some((_, before)) = &last {
            assert_eq!(v.ssthresh, None, "no loss, so slow start throughout");
            assert_eq!(
                v.cwnd.unwrap(),
                before.cwnd.unwrap() + acked,
                "frame {number}: cwnd grew by the bytes newly acknowledged, at most one MSS per ACK"
            );
            checked += usize::from(acked > 0);
        }
        acked = 0;
        last = Some((*number, v));
    }
    assert!(checked >= 5, "only {checked} growth steps seen");
    let (_, v) = last.unwrap();
    assert!(v.cwnd.unwrap() >= 7 * mss, "cwnd grew to {:?}", v.cwnd);
}

/// Per connection: the server's (srtt, rttvar) in its last frame, and the ACK RTTs (ms) that
/// tshark measured since.
type Estimate = (Option<(f64, f64)>, Vec<f64>);

/// RFC 6298 at the granularity of smoltcp's clock (1 ms): srtt' = 7/8 srtt + 1/8 R, rttvar' =
/// 3/4 rttvar + 1/4 |srtt - R| (the first sample: srtt = R, rttvar = R/2), rto = max(1 s,
/// srtt + max(5 ms, 4 rttvar)). R comes from tshark's `tcp.analysis.ack_rtt` of the ACKs that reached
/// the server between two of its frames: the capture is the server's interface, so they are
/// the RTTs its stack measured. Once on a cable with a fixed delay (the control connection's
/// delayed ACKs vary the samples), once with `--jitter`.
#[test]
fn srtt_rttvar_rto_follow_rfc_6298_from_tshark_samples() {
    if !have_tshark() {
        return;
    }
    // The control connection's delayed ACKs vary the RTT; so does a cable with jitter.
    let runs: [(&str, &[&str]); 2] = [
        ("rfc6298", &["-q", "--delay", "3"]),
        (
            "rfc6298-jitter",
            &["-q", "--delay", "5", "--jitter", "2", "--seed", "4"],
        ),
    ];
    for (tag, flags) in runs {
        let dir = Scratch::new(tag);
        demo(&dir.0, "c.pcapng", flags);
        let frames = tshark(
            &dir.path("c.pcapng"),
            Some("tcp"),
            &[
                "frame.number",
                "tcp.stream",
                "ip.src",
                "tcp.analysis.ack_rtt",
                "frame.comment",
            ],
        );
        // Per server connection: (srtt, rttvar) before, and the ACK RTTs seen since.
        let mut state: BTreeMap<String, Estimate> = BTreeMap::new();
        let mut samples = 0;
        for f in &frames {
            let stream = f["tcp.stream"].clone();
            let entry = state.entry(stream).or_default();
            if f["ip.src"] != "10.0.0.1" {
                if let Ok(rtt) = f
                    .get("tcp.analysis.ack_rtt")
                    .map_or("", |s| s)
                    .parse::<f64>()
                {
                    entry.1.push(rtt * 1000.0);
                }
                continue;
            }
            let v = view(&f["frame.comment"]).expect("every server frame has a view");
            let (Some(srtt), Some(rttvar)) = (v.srtt, v.rttvar) else {
                assert_eq!(v.rto, 1000, "before any sample, the RTO is 1 s");
                continue;
            };
            let expected_rto = ((srtt + (4.0 * rttvar).max(5.0)) as u64).clamp(1000, 60_000);
            assert_eq!(v.rto, expected_rto, "frame {}: rto", f["frame.number"]);
            let before = entry.0.replace((srtt, rttvar));
            let seen = std::mem::take(&mut entry.1);
            if before == Some((srtt, rttvar)) {
                continue;
            }
            // A sample was taken since the last frame: one of the ACKs seen explains it.
            let explains = |r: f64| match before {
                None => srtt == r && rttvar == (r as u64 / 2) as f64,
                Some((s, v)) => {
                    srtt == ((7.0 * s + r) / 8.0).ceil()
                        && rttvar == ((3.0 * v + (s - r).abs()) / 4.0).ceil()
                }
            };
            // The capture is stamped as the server's interface sees it: tshark's RTT is the
            // stack's, to the stack's millisecond clock.
            let off = 0.0;
            let ok = seen.iter().any(|rtt| {
                [-1.0, 0.0, 1.0]
                    .iter()
                    .any(|g| explains((rtt + off + g).round()))
            });
            assert!(
                ok,
                "frame {}: srtt {srtt} rttvar {rttvar} (before {before:?}) follows from none of the \
             samples {seen:?} (+{off} ms)",
                f["frame.number"]
            );
            samples += 1;
        }
        assert!(samples >= 4, "{tag}: only {samples} RTT samples checked");
    }
}

/// The same demo twice gives the same capture and the same stack log, byte for byte; the log
/// has one line per frame sent, numbered as in the capture.
#[test]
fn the_stack_log_is_deterministic_and_numbered_like_the_capture() {
    let dir = Scratch::new("stacklog");
    demo(&dir.0, "a.pcapng", &["-q", "--stack-log", "a.jsonl"]);
    demo(&dir.0, "b.pcapng", &["-q", "--stack-log", "b.jsonl"]);
    let a = std::fs::read_to_string(dir.path("a.jsonl")).unwrap();
    assert_eq!(a, std::fs::read_to_string(dir.path("b.jsonl")).unwrap());
    assert_eq!(
        std::fs::read(dir.path("a.pcapng")).unwrap(),
        std::fs::read(dir.path("b.pcapng")).unwrap()
    );
    let frames = smolftp::trace::read_capture(&dir.path("a.pcapng")).unwrap();
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(
        lines.len(),
        frames.len(),
        "every frame of the demo is sent by a stack we own"
    );
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        assert!(line.contains(&format!("\"frame\":{},", i + 1)), "{line}");
        for key in [
            "\"t\":",
            "\"src\":",
            "\"dst\":",
            "\"state\":",
            "\"cwnd\":",
            "\"ssthresh\":",
            "\"srtt_ms\":",
            "\"rttvar_ms\":",
            "\"rto_ms\":",
            "\"backoff\":",
            "\"inflight\":",
            "\"rwnd\":",
            "\"adv_wnd\":",
            "\"dup_acks\":",
            "\"recovery\":",
            "\"reason\":",
        ] {
            assert!(line.contains(key), "{key} missing in {line}");
        }
    }
}
