//! The demo capture checked as a student would check it: with tshark. Needs tshark; where the
//! peers are required (`SMOLFTP_REQUIRE_PEERS=1`, set by scripts/test.sh in CI and as root) a
//! missing tshark fails these tests, elsewhere they skip and say why.

mod common;

use std::path::Path;

use common::{Scratch, demo, have_tshark};

/// `tshark -r FILE [-Y FILTER] -T fields -e F...`: one Vec of fields per frame.
fn tshark(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    common::tshark_fields(file, &[], filter, fields)
}

/// The segments between port 20 and `port` as tshark shows them: `>` server to client.
fn flags_sequence(file: &Path, port: u16) -> Vec<String> {
    let filter = format!("tcp.port == 20 && tcp.port == {port}");
    let rows = tshark(
        file,
        Some(&filter),
        &[
            "tcp.srcport",
            "tcp.flags.syn",
            "tcp.flags.ack",
            "tcp.flags.fin",
            "tcp.len",
        ],
    );
    rows.iter()
        .map(|r| {
            let on = |i: usize| r[i] == "1" || r[i] == "True";
            let dir = if r[0] == "20" { '>' } else { '<' };
            let len: usize = r[4].parse().unwrap_or(0);
            let kind = match (on(1), on(2), on(3), len > 0) {
                (true, false, _, _) => "SYN",
                (true, true, _, _) => "SYN+ACK",
                (false, _, true, true) => "DATA+FIN",
                (false, _, true, false) => "FIN+ACK",
                (false, _, false, true) => "DATA",
                (false, _, false, false) => "ACK",
            };
            format!("{dir}{kind}")
        })
        .collect()
}

#[test]
fn tshark_sees_the_seed_sequences_and_port_arguments() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("tshark-seed");
    demo(&dir.0, "demo.pcapng", &["--quiet"]);
    let file = dir.path("demo.pcapng");

    assert_eq!(
        flags_sequence(&file, 5001),
        [
            ">SYN", "<SYN+ACK", ">ACK", ">DATA", "<ACK", ">FIN+ACK", "<ACK", "<FIN+ACK", ">ACK"
        ]
    );
    let retr = flags_sequence(&file, 5002);
    let n = retr.len();
    assert_eq!(&retr[..3], [">SYN", "<SYN+ACK", ">ACK"], "{retr:?}");
    assert_eq!(
        &retr[n - 4..],
        [">DATA+FIN", "<ACK", "<FIN+ACK", ">ACK"],
        "{retr:?}"
    );
    let middle = &retr[3..n - 4];
    assert!(
        middle.iter().all(|k| k == ">DATA" || k == "<ACK"),
        "{retr:?}"
    );
    assert!(
        middle.contains(&"<ACK".to_string()),
        "no client ACK between data: {retr:?}"
    );

    let ports = tshark(
        &file,
        Some("ftp.request.command == \"PORT\""),
        &["ftp.request.arg"],
    );
    assert_eq!(ports, [["10,0,0,2,19,137"], ["10,0,0,2,19,138"]]);
    let retr_cmd = tshark(
        &file,
        Some("ftp.request.command == \"RETR\""),
        &["ftp.request.arg"],
    );
    assert_eq!(retr_cmd, [["readme.txt"]]);
}

#[test]
fn tshark_sees_a_comment_on_every_frame() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("tshark-comments");
    demo(&dir.0, "demo.pcapng", &["--quiet"]);
    let file = dir.path("demo.pcapng");
    let all = tshark(&file, None, &["frame.number"]);
    let commented = tshark(&file, Some("frame.comment"), &["frame.number"]);
    assert!(all.len() > 30);
    assert_eq!(all, commented, "frames without a comment");
    let fin = tshark(
        &file,
        Some("tcp.srcport == 20 && tcp.dstport == 5002 && tcp.flags.fin == 1 && tcp.len > 0"),
        &["frame.comment"],
    );
    assert_eq!(fin.len(), 1, "exactly one DATA+FIN on 20 -> 5002");
    assert!(fin[0][0].contains("FIN piggybacked"), "{:?}", fin[0]);
    assert!(
        fin[0][0].contains("ESTABLISHED -> FIN-WAIT-1"),
        "{:?}",
        fin[0]
    );
}

/// Checks that every `filter:` line of `ladder` selects exactly its frame of `file` in tshark;
/// returns how many were checked.
fn check_ladder_filters(ladder: &str, file: &Path) -> usize {
    let mut frame: Option<String> = None;
    let mut checked = 0;
    for line in ladder.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix('#')
            && let Some(num) = rest.split_whitespace().next()
            && num.chars().all(|c| c.is_ascii_digit())
            && line.contains("--")
        {
            frame = Some(num.to_string());
        } else if let Some(filter) = t.strip_prefix("filter: ") {
            let want = frame.take().expect("a filter line follows an arrow");
            let got = tshark(file, Some(filter), &["frame.number"]);
            assert_eq!(
                got,
                [[want.clone()]],
                "filter {filter:?} should select only #{want}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_ladder_filter_selects_exactly_its_frame_in_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("tshark-filters");
    let ladder = demo(&dir.0, "demo.pcapng", &[]);
    let checked = check_ladder_filters(&ladder, &dir.path("demo.pcapng"));
    assert!(checked > 30, "only {checked} filters found in the ladder");
}

/// Classic pcap (microseconds) of `frames`, each behind a 14-byte Ethernet header, as
/// tcpdump writes on a veth or a real NIC.
fn ethernet_pcap(frames: &[smolftp::trace::Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, 65_535, 1] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for f in frames {
        let ethertype: [u8; 2] = match f.data.first().map(|b| b >> 4) {
            Some(6) => [0x86, 0xDD],
            _ => [0x08, 0x00],
        };
        let mut eth = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        eth.extend_from_slice(&ethertype);
        eth.extend_from_slice(&f.data);
        let len = eth.len() as u32;
        for word in [f.time.as_secs() as u32, f.time.subsec_micros(), len, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&eth);
    }
    out
}

/// IPv6 and passive mode, re-framed as Ethernet: the ladder reads it, and tshark agrees with
/// every filter it prints (ipv6.src/ipv6.dst where addresses are needed).
#[test]
fn an_ipv6_passive_session_in_an_ethernet_capture_reads_as_in_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("tshark-ipv6-eth");
    let raw = demo(&dir.0, "v6.pcapng", &["--ipv6", "--passive", "--quiet"]);
    assert!(raw.is_empty());
    let frames = smolftp::trace::read_capture(&dir.path("v6.pcapng")).expect("read v6.pcapng");
    std::fs::write(dir.path("v6-eth.pcap"), ethernet_pcap(&frames)).unwrap();
    let out = common::smolftp(&dir.0, &["ladder", "v6-eth.pcap"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ladder = String::from_utf8(out.stdout).unwrap();
    assert!(
        ladder.contains(&format!(
            "smolftp ladder: {} frames, 3 TCP connections",
            frames.len()
        )),
        "{ladder}"
    );
    assert!(ladder.contains("FTP server fd00::1"), "{ladder}");
    assert!(ladder.contains("229 Entering Extended Passive Mode (|||50000|)."));
    let checked = check_ladder_filters(&ladder, &dir.path("v6-eth.pcap"));
    assert_eq!(checked, frames.len(), "a filter for every frame");
    // tshark sees the same IPv6 addresses.
    let hosts = tshark(
        &dir.path("v6-eth.pcap"),
        Some("frame.number == 1"),
        &["ipv6.src", "ipv6.dst"],
    );
    assert_eq!(hosts, [["fd00::2", "fd00::1"]]);
}
