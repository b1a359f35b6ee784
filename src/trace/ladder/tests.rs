//! Tests of the ladder: the SEED.md session end to end through pcapng and pcap files.

use super::*;
use crate::trace::filter::matching_frames;
use crate::trace::read::read_capture;
use crate::trace::testutil::*;

fn session_ladder(absolute: bool) -> String {
    let f = TempFile::new("ladder.pcapng");
    write_pcapng(&f.0, &ftp_session());
    let frames = read_capture(&f.0).expect("read");
    render(
        &frames,
        &LadderOptions {
            absolute,
            ..LadderOptions::default()
        },
    )
}

/// The arrow labels of the lines of one connection section, in order.
fn labels(section: &str) -> Vec<&str> {
    section
        .lines()
        .filter(|l| l.trim_start().starts_with('#') && l.contains("---"))
        .filter_map(|l| {
            let body = l.split("---").nth(1)?;
            body.split_whitespace().next()
        })
        .collect()
}

fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text.find(heading).expect("heading present");
    let rest = &text[start..];
    let end = rest[3..].find("\n===").map(|e| e + 3).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn data_connections_match_the_figure() {
    let text = session_ladder(false);
    let list = section(&text, "=== data connection 10.0.0.1:20 -> 10.0.0.2:5001");
    assert_eq!(
        labels(list),
        [
            "SYN", "SYN+ACK", "ACK", "DATA", "ACK", "FIN+ACK", "ACK", "FIN+ACK", "ACK"
        ]
    );
    assert!(list.contains("opened for: LIST (after PORT 10,0,0,2,19,137 in #9)"));
    assert!(list.contains("note: the FIN travels alone"));
    assert!(!list.contains("piggybacked"));
    assert!(list.contains("note: four-segment release (FIN, ACK, FIN, ACK)"));
    assert!(list.contains("note: 10.0.0.1:20 (FTP server) closes first: active close"));
    assert!(list.contains("note: active mode: the FTP server opens the data connection"));
    assert!(list.contains("Wireshark calls 10.0.0.2:5001 the \"server\" port"));
    assert!(list.contains("comment: FIN alone"));
    let e = list.find("-- establishment --").expect("est");
    let t = list.find("-- transfer --").expect("transfer");
    let r = list.find("-- release --").expect("release");
    assert!(e < t && t < r);
    assert!(list.contains(
        ":20    --- SYN ------------------------->  :5001   seq=0 ack=0 len=0 win=65535\n        \
         filter: tcp.srcport == 20 && tcp.dstport == 5001 && tcp.flags.syn == 1 && \
         tcp.flags.ack == 0"
    ));
    assert!(list.contains(
        ":20    <--- SYN+ACK ---------------------  :5001   seq=0 ack=1 len=0 win=65535 rtt=1.000ms"
    ));

    let retr = section(&text, "=== data connection 10.0.0.1:20 -> 10.0.0.2:5002");
    assert_eq!(
        labels(retr),
        [
            "SYN", "SYN+ACK", "ACK", "DATA", "ACK", "DATA", "ACK", "DATA+FIN", "ACK", "FIN+ACK",
            "ACK"
        ]
    );
    assert!(retr.contains("opened for: RETR readme.txt"));
    assert!(retr.contains("note: the FIN is piggybacked on the last data segment"));
    assert!(!retr.contains("travels alone"));
    assert!(retr.contains("--- DATA+FIN -------------------->  :5002   seq=201 ack=1 len=34"));
    assert!(retr.contains("seq=236 ack=2 len=0"));
    assert!(retr.contains("four-segment release"));
}

#[test]
fn control_connection_shows_ftp_text_and_order() {
    let text = session_ladder(false);
    let ctl = section(
        &text,
        "=== control connection 10.0.0.2:49152 -> 10.0.0.1:21",
    );
    let cmds = [
        "ftp: \"220 smolftp ready\"",
        "ftp: \"USER anonymous\"",
        "ftp: \"PASS guest\"",
        "ftp: \"PORT 10,0,0,2,19,137\"",
        "ftp: \"LIST\"",
        "ftp: \"RETR readme.txt\"",
        "ftp: \"221-Goodbye.\"\n        ftp: \" Thanks for using smolftp\"",
    ];
    let mut last = 0;
    for c in cmds {
        let at = ctl.find(c).unwrap_or_else(|| panic!("missing {c}"));
        assert!(at > last, "{c} out of order");
        last = at;
    }
    assert!(ctl.contains("#23 PORT 10,0,0,2,19,138 -> data connection for RETR readme.txt"));
    assert!(ctl.contains("comment: control connection opens"));
    // header: FTP server on the left, client on the right, control connection first
    let header = text
        .lines()
        .find(|l| l.contains("FTP server 10.0.0.1"))
        .expect("header");
    assert!(header.find("FTP server").expect("s") < header.find("FTP client").expect("c"));
    assert!(text.find("=== control").expect("c") < text.find("=== data").expect("d"));
    assert!(text.contains("summary: 44 frames, 44 TCP segments, 3 connections"));
    assert!(text.contains("data 10.0.0.1:20 -> 10.0.0.2:5002: 11 segments, 234 bytes"));
    assert!(!text.contains("not IPv4/TCP"));
}

#[test]
fn every_drawn_filter_selects_exactly_its_frame() {
    let f = TempFile::new("filters.pcap");
    write_pcap_ethernet(&f.0, &ftp_session());
    let frames = read_capture(&f.0).expect("read");
    let analysis = analyze(&frames);
    for absolute in [false, true] {
        let text = render_analysis(
            &analysis,
            &LadderOptions {
                absolute,
                ..LadderOptions::default()
            },
        );
        let mut frame = 0u32;
        let mut checked = 0;
        for line in text.lines() {
            let t = line.trim_start();
            if t.starts_with('#') && t.contains("---") {
                let num = t[1..].split_whitespace().next().unwrap_or("0");
                frame = num.parse().expect("frame number");
            } else if let Some(filter) = t.strip_prefix("filter: ") {
                assert_eq!(
                    matching_frames(filter, &analysis),
                    Ok(vec![frame]),
                    "{filter}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 44);
    }
}

#[test]
fn absolute_numbers() {
    let text = session_ladder(true);
    assert!(text.contains("absolute (raw) seq/ack numbers"));
    // SYN of the 5002 connection: ISN 0xFFFFFFF0; its DATA+FIN wraps past zero
    assert!(text.contains(&format!("seq={} ack=0 len=0", 0xFFFF_FFF0u32)));
    assert!(text.contains(&format!(
        "seq={} ack=4 len=34",
        0xFFFF_FFF0u32.wrapping_add(201)
    )));
    assert!(text.contains("tcp.seq_raw == "));
    assert!(!text.contains("tcp.seq == "));
    let rel = session_ladder(false);
    assert!(rel.contains("tcp.seq == ") && !rel.contains("tcp.seq_raw"));
}

#[test]
fn three_segment_release_reset_and_non_tcp_frames() {
    let mut c = Conn::new("10.0.0.9:40000", "10.0.0.8:8080", 10, 20);
    let mut r = Conn::new("10.0.0.9:40001", "10.0.0.8:8081", 30, 40);
    let pkts = vec![
        c.seg(true, SYN, b""),
        c.seg(false, SYN | ACK, b""),
        c.seg(true, ACK, b""),
        c.seg(true, FIN | ACK, b""),
        c.seg(false, FIN | ACK, b""),
        c.seg(true, ACK, b""),
        vec![0x60, 0, 0, 0],
        r.seg(true, SYN, b""),
        r.seg(false, RST | ACK, b""),
    ];
    let frames: Vec<Frame> = pkts
        .into_iter()
        .enumerate()
        .map(|(i, data)| raw_frame(i, Duration::from_millis(i as u64 * 3), data))
        .collect();
    let text = render(&frames, &LadderOptions::default());
    assert!(text.contains("=== TCP connection 10.0.0.9:40000 -> 10.0.0.8:8080"));
    assert!(text.contains("TCP server 10.0.0.8"));
    assert!(text.contains("note: three-segment release"));
    assert!(text.contains("note: 10.0.0.9:40000 (TCP client) closes first: active close"));
    assert!(text.contains("RST+ACK"));
    assert!(text.contains("note: reset"));
    assert!(text.contains("1 frames are not IPv4/TCP and are not drawn: #7"));
    assert!(!text.contains("active mode"));
    // the server (SYN receiver) is on the left: the SYN arrow points left
    assert!(text.contains(":8080  <--- SYN"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("    #9   0.024000  :8081"))
    );
    assert!(
        text.lines()
            .all(|l| l.len() <= 120 || l.contains("filter: "))
    );
    assert_eq!(text, render(&frames, &LadderOptions::default()));
}
