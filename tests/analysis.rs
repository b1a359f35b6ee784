//! The ladder's TCP analysis against tshark's, frame by frame and both ways: every frame once,
//! relative seq/ack/len, the window, and each `tcp.analysis.*` verdict (retransmission, fast
//! retransmission, duplicate ACK #n, zero window, zero-window probe, window update,
//! out-of-order, ...) on the demo, on `demo --window 1024`, on a hand-made capture that holds
//! every kind, and on kernel captures: vsftpd and curl in two network namespaces joined by a
//! veth pair, written by tcpdump as Ethernet and as Linux cooked captures. Needs tshark (and
//! for the kernel captures root, vsftpd, curl, tcpdump): required in CI, skipped elsewhere.

mod common;
// The one `#[path]` left in tests/: `mod report { mod oracle; }` (as tests/report.rs and
// tests/exercise.rs declare it) compiles here too, but rustfmt then looks for
// tests/analysis/oracle.rs, because a tests/analysis/ folder exists, and `cargo fmt` fails.
#[path = "report/oracle.rs"]
mod oracle;
/// The files of `tests/analysis/`.
mod analysis {
    use super::*;
    pub mod kernel;
    pub mod kinds;
}
use analysis::kinds;
mod tunlab;

use std::path::Path;
use std::process::Command;

use common::{Scratch, demo, have_tshark};
use kinds::{every_kind, raw_pcap};
use smolftp::trace::{self, Frame, LinkType};

/// The analysis fields compared, as tshark names them.
const FLAGS: [&str; 11] = [
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack_num",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.window_update",
    "tcp.analysis.keep_alive",
    "tcp.analysis.lost_segment",
    "tcp.analysis.window_full",
];

/// One frame as compared: number, seq, ack, len, window, then the FLAGS values ("" when
/// absent, "1" when set, the number for duplicate_ack_num), then the ACK RTT in µs.
type Row = Vec<String>;

fn tshark_rows(file: &Path) -> Vec<Row> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args([
        "-Y",
        "tcp",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.number",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
        "-e",
        "tcp.len",
        "-e",
        "tcp.window_size",
    ]);
    for f in FLAGS {
        cmd.args(["-e", f]);
    }
    cmd.args(["-e", "tcp.analysis.ack_rtt"]);
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut r: Row = l.split('|').map(str::to_string).collect();
            for v in &mut r[5..5 + FLAGS.len()] {
                // tshark prints a set FT_NONE field as nothing-but-present: normalise.
                if v == "True" {
                    *v = "1".into();
                }
            }
            let rtt = r.pop().unwrap_or_default();
            r.push(if rtt.is_empty() {
                String::new()
            } else {
                let s: f64 = rtt.parse().expect("ack_rtt");
                format!("{}", (s * 1e6).round() as u64)
            });
            r
        })
        .collect()
}

fn our_rows(file: &Path) -> Vec<Row> {
    let frames = trace::read_capture(file).expect("read capture");
    let a = trace::analyze(&frames);
    a.entries
        .iter()
        .map(|e| {
            let t = &e.tcp;
            let b = |on: bool| if on { "1".to_string() } else { String::new() };
            let mut r = vec![
                e.frame.to_string(),
                e.rel_seq.to_string(),
                if e.segment.flags.ack {
                    e.rel_ack.to_string()
                } else {
                    "0".into()
                },
                e.segment.len().to_string(),
                t.window.to_string(),
            ];
            r.extend([
                b(t.retransmission || t.spurious_retransmission),
                b(t.fast_retransmission),
                b(t.spurious_retransmission),
                b(t.out_of_order),
                t.dup_ack.map(|(n, _)| n.to_string()).unwrap_or_default(),
                b(t.zero_window),
                b(t.zero_window_probe),
                b(t.window_update),
                b(t.keep_alive),
                b(t.lost_segment),
                b(t.window_full),
            ]);
            r.push(
                t.ack_rtt
                    .map(|(d, _)| d.as_micros().to_string())
                    .unwrap_or_default(),
            );
            r
        })
        .collect()
}

/// Compares both ways and says which field of which frame differs.
fn assert_same_analysis(file: &Path, what: &str) -> Vec<Row> {
    let theirs = tshark_rows(file);
    let ours = our_rows(file);
    let frames: Vec<&String> = ours.iter().map(|r| &r[0]).collect();
    let want: Vec<&String> = theirs.iter().map(|r| &r[0]).collect();
    assert_eq!(
        frames, want,
        "{what}: frames drawn vs frames tshark sees as TCP"
    );
    let names: Vec<&str> = ["frame", "tcp.seq", "tcp.ack", "tcp.len", "tcp.window_size"]
        .into_iter()
        .chain(FLAGS)
        .chain(["tcp.analysis.ack_rtt (us)"])
        .collect();
    for (o, t) in ours.iter().zip(&theirs) {
        for (k, name) in names.iter().enumerate() {
            assert_eq!(
                o[k], t[k],
                "{what}: frame #{} {name}: ours {:?}, tshark {:?}\nours   {o:?}\ntshark {t:?}",
                o[0], o[k], t[k]
            );
        }
    }
    ours
}

#[test]
fn the_demo_analysis_equals_tsharks() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-demo");
    demo(&dir.0, "d.pcapng", &["--quiet"]);
    let rows = assert_same_analysis(&dir.path("d.pcapng"), "demo");
    assert!(rows.len() > 30);
    assert!(
        rows.iter().any(|r| !r[r.len() - 1].is_empty()),
        "no ACK RTT"
    );
}

#[test]
fn the_small_window_demo_has_tsharks_zero_windows_and_window_updates() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-window");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let rows = assert_same_analysis(&dir.path("w.pcapng"), "demo --window 1024");
    let count = |k: usize| rows.iter().filter(|r| r[k] == "1").count();
    assert_eq!(count(5 + 5), 3, "three zero windows");
    assert_eq!(count(5 + 7), 3, "three window updates");
}

#[test]
fn lossy_demos_have_tsharks_retransmissions_and_duplicate_acks() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-lossy");
    std::fs::create_dir_all(dir.path("root")).expect("root");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path("root/big.bin"), body).expect("file");
    // Random loss, jitter and a rate (SACK recovery, window updates between duplicate ACKs:
    // Wireshark counts those until the ack number changes), then loss and reordering.
    let runs: [(&str, &[&str]); 2] = [
        (
            "lossy-a",
            &[
                "--loss", "3", "--seed", "5", "--delay", "5", "--rate", "20M", "--jitter", "1",
            ],
        ),
        (
            "lossy-b",
            &[
                "--loss",
                "5",
                "--reorder",
                "3",
                "--duplicate",
                "2",
                "--seed",
                "9",
            ],
        ),
    ];
    for (name, flags) in runs {
        let out = format!("{name}.pcapng");
        let mut args = vec!["--quiet", "--root", "root", "--file", "big.bin"];
        args.extend_from_slice(flags);
        demo(&dir.0, &out, &args);
        let rows = assert_same_analysis(&dir.path(&out), name);
        let flagged = |k: usize| rows.iter().filter(|r| r[k] == "1").count();
        assert!(
            flagged(5) + flagged(6) > 0,
            "{name}: no retransmission at all"
        );
    }
}

/// `smolftp ladder ARGS` in `dir`: its standard output.
fn ladder(dir: &Scratch, args: &[&str]) -> String {
    let out = common::smolftp(&dir.0, &[&["ladder"][..], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The frame numbers of the arrow lines of a ladder, in order.
fn arrow_frames(text: &str) -> Vec<u32> {
    text.lines()
        .filter(|l| l.contains("--") && l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim_start()[1..].split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn timeline_brief_and_conn_views() {
    let dir = Scratch::new("ladder-views");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let n = trace::read_capture(&dir.path("w.pcapng")).unwrap().len() as u32;
    // The timeline: every frame once, in time order, each tagged with its connection.
    let t = ladder(&dir, &["w.pcapng", "--timeline"]);
    assert_eq!(arrow_frames(&t), (1..=n).collect::<Vec<_>>());
    assert!(
        t.contains("  D3   data 10.0.0.1:20 -> 10.0.0.2:5002, for RETR readme.txt"),
        "{t}"
    );
    assert!(t.contains(" C1   :21    <--- DATA"), "{t}");
    assert!(t.contains("        ftp: \"USER anonymous\""), "{t}");
    assert!(
        t.contains("[ZERO WINDOW] ACK") && t.contains("[WINDOW UPDATE] ACK"),
        "{t}"
    );
    // The 150 and the 226 that share a segment are both shown.
    assert!(
        t.contains("ftp: \"150 Opening BINARY mode data connection ...\"\n        ftp: \"226 Transfer complete.\""),
        "{t}"
    );
    // Brief: one line per segment, no filters, notes or comments.
    let b = ladder(&dir, &["w.pcapng", "--timeline", "--brief"]);
    assert_eq!(arrow_frames(&b), (1..=n).collect::<Vec<_>>());
    assert!(!b.contains("filter:") && !b.contains("note:") && !b.contains("comment:"));
    let per_conn = ladder(&dir, &["w.pcapng", "--brief"]);
    assert_eq!(arrow_frames(&per_conn).len(), n as usize);
    assert!(!per_conn.contains("filter:") && !per_conn.contains("note:"));
    assert!(
        per_conn.contains(
            "TCP analysis (as Wireshark's): 3 WINDOW FULL, 3 ZERO WINDOW, 3 WINDOW UPDATE"
        ),
        "{per_conn}"
    );
    // --conn by port and by number pick the same data connection.
    let by_port = ladder(&dir, &["w.pcapng", "--conn", "5002", "--brief"]);
    let by_n = ladder(&dir, &["w.pcapng", "--conn", "3", "--brief"]);
    assert_eq!(
        by_port.lines().skip(3).collect::<Vec<_>>(),
        by_n.lines().skip(3).collect::<Vec<_>>()
    );
    let frames = arrow_frames(&by_port);
    assert!(frames.len() > 10 && !frames.contains(&1), "{by_port}");
    assert!(by_port.contains("=== data connection 10.0.0.1:20 -> 10.0.0.2:5002"));
    assert!(!by_port.contains("=== control"));
    // The active-mode note says so whatever the server's data source port.
    let other = demo(&dir.0, "p.pcapng", &["--data-source-port", "2020"]);
    assert_eq!(
        other
            .matches("active mode: the FTP server opens the data connection from its port 2020")
            .count(),
        2,
        "{other}"
    );
    let o = common::smolftp(&dir.0, &["ladder", "w.pcapng", "--conn", "9999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--conn 9999"));
}

#[test]
fn every_timeline_filter_selects_exactly_its_frame_in_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("ladder-timeline-filters");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let t = ladder(&dir, &["w.pcapng", "--timeline"]);
    let mut frame = None;
    let mut checked = 0;
    for line in t.lines() {
        if line.contains("--") && line.trim_start().starts_with('#') {
            frame = arrow_frames(line).first().copied();
        } else if let Some(f) = line.trim_start().strip_prefix("filter: ") {
            let out = Command::new("tshark")
                .arg("-r")
                .arg(dir.path("w.pcapng"))
                .args(["-Y", f, "-T", "fields", "-e", "frame.number"])
                .output()
                .expect("tshark");
            let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(Some(got), frame.take().map(|n| n.to_string()), "{f}");
            checked += 1;
        }
    }
    assert_eq!(checked, arrow_frames(&t).len());
}

#[test]
fn ipv6_passive_demo_and_captures_without_a_syn_number_as_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-v6-rst");
    demo(&dir.0, "v6.pcapng", &["--quiet", "--ipv6", "--passive"]);
    assert_same_analysis(&dir.path("v6.pcapng"), "demo --ipv6 --passive");
    let t = ladder(&dir, &["v6.pcapng", "--timeline"]);
    assert!(t.contains("[fd00::2]:"), "IPv6 endpoints in brackets: {t}");
    // A SYN answered by RST+ACK, then a connection whose SYN is not in the capture.
    let all = every_kind();
    let syn = all[0].clone();
    let mut rst = all[1].data.clone();
    rst[33] = 0x14; // RST+ACK instead of SYN+ACK
    rst[24..28].copy_from_slice(&0u32.to_be_bytes()); // seq 0, as a stack answering a SYN
    let mut frames = vec![
        syn,
        Frame {
            data: rst,
            ..all[1].clone()
        },
    ];
    for (k, f) in all[3..8].iter().enumerate() {
        let mut f = f.clone();
        f.number = 3 + k as u32;
        // Another client port (40000 -> 40064): a connection seen from its middle.
        let client_port_at = if f.data[20..22] == 40000u16.to_be_bytes() {
            21
        } else {
            23
        };
        f.data[client_port_at] ^= 0x40;
        frames.push(f);
    }
    let file = dir.path("rst.pcap");
    std::fs::write(&file, raw_pcap(&frames)).unwrap();
    let rows = assert_same_analysis(&file, "RST answering a SYN, no-SYN connection");
    assert_eq!(
        &rows[1][1..3],
        ["1", "1"],
        "RST+ACK is seq 1 ack 1 in tshark"
    );
    let text = ladder(&dir, &["rst.pcap"]);
    assert!(
        text.contains("RST+ACK") && text.contains("seq=1 ack=1 len=0"),
        "{text}"
    );
}

#[test]
fn a_cut_classic_pcap_draws_the_frames_tshark_shows() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-cut");
    demo(&dir.0, "x.pcap", &["--quiet", "--format", "pcap"]);
    let whole = std::fs::read(dir.path("x.pcap")).unwrap();
    std::fs::write(dir.path("cut.pcap"), &whole[..5000]).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(dir.path("cut.pcap"))
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark");
    let theirs = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(theirs > 10, "{theirs}");
    let o = common::smolftp(&dir.0, &["ladder", "cut.pcap", "--brief"]);
    assert_eq!(o.status.code(), Some(1), "a cut file still fails");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with(&format!("smolftp ladder: {theirs} frames")),
        "tshark shows {theirs}: {text}"
    );
    assert_eq!(arrow_frames(&text).len(), theirs);
    assert!(
        text.contains("capture cut: ") && text.contains("truncated at byte 5000"),
        "{text}"
    );
}
