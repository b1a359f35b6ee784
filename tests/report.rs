//! `smolftp report` with tshark as the oracle, on the demo with and without impairments (the
//! kernel captures are checked in tests/analysis.rs), and its FTP and release answers. Needs
//! tshark: required in CI (`SMOLFTP_REQUIRE_PEERS`), skipped elsewhere.

mod common;
/// The files of `tests/report/`.
mod report {
    pub mod oracle;
}
use report::oracle;

use common::{Scratch, demo, have_tshark};

#[test]
fn the_demo_report_agrees_with_tshark_and_tells_the_seed_story() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("report-demo");
    demo(&dir.0, "d.pcapng", &["-q"]);
    let r = oracle::assert_report_matches_tshark(&dir.path("d.pcapng"), "demo");
    let c = r["connections"].as_array().unwrap();
    assert_eq!(c.len(), 3);
    assert_eq!(c[1]["ftp_command"], "PORT 10,0,0,2,19,137");
    assert_eq!(c[1]["ftp_transfer"], "LIST");
    assert_eq!(c[2]["ftp_transfer"], "RETR readme.txt");
    assert_eq!(c[2]["ftp_mode"], "active");
    assert_eq!(c[2]["bytes"], 3686);
    assert_eq!(c[2]["fins"][0]["piggybacked"], true, "DATA+FIN");
    assert_eq!(c[2]["release"], "four-segment");
    // QUIT: the server's 221 carries its FIN, the client's FIN carries the ACK of it.
    assert_eq!(c[0]["release"], "three-segment");
    assert_eq!(c[0]["fins"][0]["from"], "10.0.0.1:21");
    assert_eq!(c[0]["fins"][0]["piggybacked"], true);
    assert_eq!(
        c[1]["fins"][0]["piggybacked"], false,
        "the listing's FIN goes alone"
    );
    assert_eq!(c[2]["retransmissions"], 0);
}

#[test]
fn impaired_demos_report_as_tshark_counts() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("report-impaired");
    std::fs::create_dir_all(dir.path("root")).unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path("root/big.bin"), body).unwrap();
    let big = ["-q", "--root", "root", "--file", "big.bin"];
    // A lost data segment: one fast retransmission, duplicate ACKs, Karn's rule.
    let mut args = big.to_vec();
    args.extend(["--drop", "data:30@20>5002"]);
    demo(&dir.0, "fast.pcapng", &args);
    let r = oracle::assert_report_matches_tshark(&dir.path("fast.pcapng"), "--drop data:30");
    let retr = &r["connections"][2];
    assert_eq!(retr["fast_retransmissions"], 1, "{retr}");
    assert!(retr["dup_acks"].as_u64().unwrap() >= 3, "{retr}");
    // Random loss both ways, delay and a rate: RTO retransmissions, RTT samples that vary.
    let mut args = big.to_vec();
    args.extend([
        "--loss", "3", "--seed", "5", "--delay", "5", "--rate", "20M", "--jitter", "1",
    ]);
    demo(&dir.0, "lossy.pcapng", &args);
    let r = oracle::assert_report_matches_tshark(&dir.path("lossy.pcapng"), "--loss 3");
    let retr = &r["connections"][2];
    assert!(retr["retransmissions"].as_u64().unwrap() > 0, "{retr}");
    // A small window: the sender is window-limited; a passive IPv6 session.
    demo(&dir.0, "win.pcapng", &["-q", "--window", "1024"]);
    let r = oracle::assert_report_matches_tshark(&dir.path("win.pcapng"), "--window 1024");
    assert_eq!(r["connections"][2]["window_limited"], true);
    // Tapped at the client: its ACKs leave as the data arrives, a zero RTT, which tshark
    // does not show and the report takes as no sample.
    demo(&dir.0, "tap.pcapng", &["-q", "--tap", "client"]);
    let r = oracle::assert_report_matches_tshark(&dir.path("tap.pcapng"), "--tap client");
    assert_eq!(r["connections"][2]["rtt"].as_array().unwrap().len(), 0);
    demo(&dir.0, "v6.pcapng", &["-q", "--passive", "--ipv6"]);
    let r = oracle::assert_report_matches_tshark(&dir.path("v6.pcapng"), "--passive --ipv6");
    assert_eq!(r["connections"][2]["ftp_mode"], "passive");
}

#[test]
fn report_text_states_the_estimator_and_reads_the_stack_log() {
    let dir = Scratch::new("report-text");
    demo(&dir.0, "d.pcapng", &["-q", "--stack-log", "d.jsonl"]);
    let out = common::smolftp(
        &dir.0,
        &[
            "report",
            "d.pcapng",
            "--conn",
            "5002",
            "--stack-log",
            "d.jsonl",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("RFC 6298"), "{text}");
    assert!(text.contains("connection #3"), "{text}");
    assert!(!text.contains("connection #1:"), "{text}");
    assert!(text.contains("[stack: cwnd 2920 ssthresh inf]"), "{text}");
    assert!(text.contains("stack's own srtt"), "{text}");
    assert!(
        text.contains("FIN frame 34 from 10.0.0.1:20: piggybacked on data"),
        "{text}"
    );
    let bad = common::smolftp(&dir.0, &["report", "missing.pcapng"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing.pcapng"));
}
