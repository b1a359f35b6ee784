//! Tests of capture reading: round trips through pcap-file writers, hand-built pcapng
//! variants, and every kind of broken file.

use super::*;
use crate::trace::testutil::*;

#[test]
fn pcapng_roundtrip_with_comments_and_nanoseconds() {
    let pkts = ftp_session();
    let f = TempFile::new("rt.pcapng");
    write_pcapng(&f.0, &pkts);
    let frames = read_capture(&f.0).expect("read");
    assert_eq!(frames.len(), pkts.len());
    assert_eq!(frames[0].number, 1);
    assert_eq!(frames[0].link, LinkType::RawIp);
    assert_eq!(frames[0].data, pkts[0].data);
    assert_eq!(frames[3].time, pkts[3].time);
    assert_eq!(frames[3].time.subsec_nanos() % 1000, 21);
    let commented: Vec<_> = frames.iter().filter(|f| f.comment.is_some()).collect();
    assert!(!commented.is_empty());
    assert_eq!(
        frames[0].comment.as_deref(),
        Some("control connection opens")
    );
}

#[test]
fn pcap_ethernet_roundtrip() {
    let pkts = ftp_session();
    let f = TempFile::new("eth.pcap");
    write_pcap_ethernet(&f.0, &pkts);
    let frames = read_capture(&f.0).expect("read");
    assert_eq!(frames.len(), pkts.len());
    assert_eq!(frames[1].link, LinkType::Ethernet);
    assert_eq!(&frames[1].data[14..], &pkts[1].data[..]);
    // classic pcap is microseconds
    assert_eq!(frames[3].time.as_micros(), pkts[3].time.as_micros());
}

#[test]
fn big_endian_nanosecond_pcap() {
    let mut b = Vec::new();
    b.extend_from_slice(&0xA1B2_3C4Du32.to_be_bytes());
    b.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    b.extend_from_slice(&101u32.to_be_bytes());
    b.extend_from_slice(&5u32.to_be_bytes());
    b.extend_from_slice(&123u32.to_be_bytes());
    b.extend_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&2u32.to_be_bytes());
    b.extend_from_slice(&[0x45, 0]);
    let frames = parse_capture("be.pcap", &b).expect("parse");
    assert_eq!(frames[0].time, Duration::new(5, 123));
    assert_eq!(frames[0].data, vec![0x45, 0]);
}

#[test]
fn tsresol_variants() {
    assert_eq!(pcapng_time(1_500_000, 6, 0), Duration::from_millis(1500));
    assert_eq!(pcapng_time(1_500, 3, 10), Duration::from_millis(11_500));
    assert_eq!(pcapng_time(3, 0x81, 0), Duration::from_millis(1500));
    assert_eq!(pcapng_time(u64::MAX, 0x7F, 0), Duration::ZERO);
    assert_eq!(pcapng_time(u64::MAX, 0xFF, 0), Duration::ZERO);
}

#[test]
fn errors_name_the_file() {
    let e = read_capture(Path::new("/nonexistent/capture.pcap")).unwrap_err();
    assert_eq!(e.to_string(), "/nonexistent/capture.pcap: file not found");

    let e = parse_capture("capture.pcap", b"hello world, not a capture").unwrap_err();
    assert_eq!(
        e.to_string(),
        "capture.pcap: not a pcap or pcapng file (magic 0x68656c6c)"
    );
    let e = parse_capture("x.pcap", b"").unwrap_err();
    assert!(e.to_string().starts_with("x.pcap: empty file"), "{e}");
    let e = parse_capture("x.pcap", b"ab").unwrap_err();
    assert!(e.to_string().contains("not a pcap or pcapng file"), "{e}");
}

#[test]
fn empty_and_garbage_files_on_disk() {
    let f = TempFile::new("empty.pcap");
    std::fs::write(&f.0, b"").expect("write");
    let e = read_capture(&f.0).unwrap_err();
    assert!(e.to_string().contains("empty file"));
    assert!(e.to_string().starts_with(&f.0.display().to_string()));
    let g = TempFile::new("garbage.pcapng");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&g.0, &garbage).expect("write");
    let e = read_capture(&g.0).unwrap_err();
    assert!(
        e.to_string()
            .contains("not a pcap or pcapng file (magic 0x"),
        "{e}"
    );
}

#[test]
fn truncated_files_report_byte_and_frame() {
    let pkts = ftp_session();
    for (name, write) in [
        ("tr.pcapng", write_pcapng as fn(&Path, &[Pkt])),
        ("tr.pcap", write_pcap_ethernet as fn(&Path, &[Pkt])),
    ] {
        let f = TempFile::new(name);
        write(&f.0, &pkts);
        let full = std::fs::read(&f.0).expect("read");
        // every prefix must give frames or an error, never a panic
        for cut in 0..full.len() {
            let _ = parse_capture(name, &full[..cut]);
        }
        let cut = full.len() - 10;
        std::fs::write(&f.0, &full[..cut]).expect("write");
        let e = read_capture(&f.0).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with(&f.0.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("truncated at byte {cut}")), "{msg}");
        assert!(msg.contains(&format!("frame {}", pkts.len())), "{msg}");
    }
}

#[test]
fn unsupported_link_type() {
    let mut b = Vec::new();
    b.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
    b.extend_from_slice(&105u32.to_le_bytes());
    let e = parse_capture("x.pcap", &b).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.pcap: link type 105 (IEEE 802.11) is not supported; smolftp reads raw IP, \
         Ethernet, BSD loopback and Linux cooked captures"
    );
    let f = TempFile::new("wifi.pcapng");
    write_pcapng_link(&f.0, &ftp_session()[..1], pcap_file::DataLink::IEEE802_11);
    let e = read_capture(&f.0).unwrap_err();
    assert!(e.to_string().contains("link type 105 (IEEE 802.11)"), "{e}");
}

#[test]
fn corrupted_bytes_never_panic() {
    let pkts = ftp_session();
    let f = TempFile::new("fuzz.pcapng");
    write_pcapng(&f.0, &pkts);
    let full = std::fs::read(&f.0).expect("read");
    let mut x = 12345u32;
    for _ in 0..2000 {
        let mut b = full.clone();
        for _ in 0..4 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (x as usize >> 8) % b.len();
            b[i] = (x >> 24) as u8;
        }
        if let Ok(frames) = parse_capture("fuzz", &b) {
            let _ = crate::trace::render(&frames, &crate::trace::LadderOptions::default());
        }
    }
}

/// A pcapng block in big-endian (`big`) or little-endian byte order.
fn block(kind: u32, body: &[u8], big: bool) -> Vec<u8> {
    let bytes = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut padded = body.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let total = bytes((padded.len() + 12) as u32);
    [&bytes(kind)[..], &total, &padded, &total].concat()
}

/// A pcapng block in big-endian byte order.
fn be_block(kind: u32, body: &[u8]) -> Vec<u8> {
    block(kind, body, true)
}

/// A pcapng block in little-endian byte order.
fn le_block(kind: u32, body: &[u8]) -> Vec<u8> {
    block(kind, body, false)
}

#[test]
fn big_endian_pcapng_with_spb_pb_unknown_blocks_and_sll() {
    let ip = tcp_packet(sa("10.0.0.1:20"), sa("10.0.0.2:5001"), 1, 0, SYN, b"");
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    sll.extend_from_slice(&ip);
    let mut file = Vec::new();
    // SHB: byte-order magic, version 1.0, section length -1
    let mut shb = 0x1A2B_3C4Du32.to_be_bytes().to_vec();
    shb.extend_from_slice(&[0, 1, 0, 0]);
    shb.extend_from_slice(&[0xFF; 8]);
    file.extend(be_block(SHB, &shb));
    // IDB: Linux SLL, if_tsresol = 3 (milliseconds)
    let mut idb = vec![0, 113, 0, 0, 0, 0, 0xFF, 0xFF];
    idb.extend_from_slice(&[0, 9, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0]);
    file.extend(be_block(IDB, &idb));
    file.extend(be_block(0x0000_0BAD, b"unknown block, skipped"));
    // obsolete Packet Block with a comment, time 2500 ms
    let mut pb = vec![0, 0, 0, 0];
    pb.extend_from_slice(&0u32.to_be_bytes());
    pb.extend_from_slice(&2500u32.to_be_bytes());
    pb.extend_from_slice(&(sll.len() as u32).to_be_bytes());
    pb.extend_from_slice(&(sll.len() as u32).to_be_bytes());
    pb.extend_from_slice(&sll);
    while !pb.len().is_multiple_of(4) {
        pb.push(0);
    }
    pb.extend_from_slice(&[0, 1, 0, 2, b'h', b'i', 0, 0, 0, 0, 0, 0]);
    file.extend(be_block(PB, &pb));
    // Simple Packet Block: no timestamp, interface 0
    let mut spb = (sll.len() as u32).to_be_bytes().to_vec();
    spb.extend_from_slice(&sll);
    file.extend(be_block(SPB, &spb));
    let frames = parse_capture("be.pcapng", &file).expect("parse");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].link, LinkType::LinuxSll);
    assert_eq!(frames[0].time, Duration::from_millis(2500));
    assert_eq!(frames[0].comment.as_deref(), Some("hi"));
    assert_eq!(frames[1].number, 2);
    assert_eq!(frames[1].data, sll);
    assert_eq!(frames[1].time, frames[0].time);
    let seg = crate::trace::Segment::from_frame(frames[1].link, &frames[1].data);
    assert_eq!(
        seg.map(|s| s.dst),
        Some(std::net::SocketAddr::V4(sa("10.0.0.2:5001")))
    );

    // a packet before any interface description is reported, not a panic
    let mut bad = file[..be_block(SHB, &shb).len()].to_vec();
    bad.extend(be_block(SPB, &spb));
    let e = parse_capture("noif.pcapng", &bad).unwrap_err();
    assert!(
        e.to_string()
            .contains("refers to interface 0, but 0 are described"),
        "{e}"
    );
}

/// The body of a little-endian EPB on interface `if_id` at `units`, with its comments.
fn le_epb(if_id: u32, units: u64, data: &[u8], comments: &[&str]) -> Vec<u8> {
    let mut epb = if_id.to_le_bytes().to_vec();
    epb.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(units as u32).to_le_bytes());
    epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
    epb.extend_from_slice(&(data.len() as u32 + 100).to_le_bytes());
    epb.extend_from_slice(data);
    while !epb.len().is_multiple_of(4) {
        epb.push(0);
    }
    for c in comments {
        epb.extend_from_slice(&1u16.to_le_bytes());
        epb.extend_from_slice(&(c.len() as u16).to_le_bytes());
        epb.extend_from_slice(c.as_bytes());
        while !epb.len().is_multiple_of(4) {
            epb.push(0);
        }
    }
    if !comments.is_empty() {
        epb.extend_from_slice(&[0; 4]);
    }
    epb
}

/// A little-endian section with interfaces raw IP (ns) and Ethernet (2^-10 s, offset 100 s),
/// and one commented frame on each.
fn two_interface_section() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ip = tcp_packet(sa("10.0.0.1:20"), sa("10.0.0.2:5001"), 1, 0, SYN, b"");
    let mut eth = vec![0u8; 12];
    eth.extend_from_slice(&[0x08, 0x00]);
    eth.extend_from_slice(&ip);
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&[0xFF; 8]);
    let mut file = le_block(SHB, &shb);
    let mut raw = vec![101, 0, 0, 0, 0, 0, 0, 0];
    raw.extend_from_slice(&[9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
    file.extend(le_block(IDB, &raw));
    let mut ether = vec![1, 0, 0, 0, 0, 0, 0, 0];
    ether.extend_from_slice(&[9, 0, 1, 0, 0x8A, 0, 0, 0]);
    ether.extend_from_slice(&[14, 0, 8, 0]);
    ether.extend_from_slice(&100i64.to_le_bytes());
    ether.extend_from_slice(&[0, 0, 0, 0]);
    file.extend(le_block(IDB, &ether));
    file.extend(le_block(
        EPB,
        &le_epb(1, 3 * 1024 + 512, &eth, &["on eth", "second"]),
    ));
    file.extend(le_block(EPB, &le_epb(0, 7_000_000_123, &ip, &["on raw"])));
    (file, ip, eth)
}

#[test]
fn pcapng_with_two_interfaces_each_with_its_own_resolution_and_link() {
    let (file, ip, eth) = two_interface_section();
    let frames = parse_capture("two.pcapng", &file).expect("parse");
    assert_eq!(frames.len(), 2);
    // Interface 1: 2^-10 s units, 3.5 s plus the 100 s offset; Ethernet; the original length
    // (100 bytes more than captured) does not matter.
    assert_eq!(frames[0].link, LinkType::Ethernet);
    assert_eq!(frames[0].time, Duration::from_millis(103_500));
    assert_eq!(frames[0].data, eth);
    // Two opt_comment options, joined.
    assert_eq!(frames[0].comment.as_deref(), Some("on eth; second"));
    // Interface 0: nanoseconds, no offset; raw IP.
    assert_eq!(frames[1].link, LinkType::RawIp);
    assert_eq!(frames[1].time, Duration::new(7, 123));
    assert_eq!(frames[1].data, ip);
    assert_eq!(frames[1].comment.as_deref(), Some("on raw"));
    assert_eq!(frames[1].number, 2);
}

#[test]
fn big_endian_if_tsoffset_is_read_in_the_sections_byte_order() {
    let mut shb = 0x1A2B_3C4Du32.to_be_bytes().to_vec();
    shb.extend_from_slice(&[0, 1, 0, 0]);
    shb.extend_from_slice(&[0xFF; 8]);
    let mut file = be_block(SHB, &shb);
    // Raw IP, microseconds, if_tsoffset 1000 s (big-endian, as the whole section).
    let mut idb = vec![0, 101, 0, 0, 0, 0, 0xFF, 0xFF];
    idb.extend_from_slice(&[0, 14, 0, 8]);
    idb.extend_from_slice(&1000i64.to_be_bytes());
    idb.extend_from_slice(&[0, 0, 0, 0]);
    file.extend(be_block(IDB, &idb));
    let mut epb = vec![0, 0, 0, 0, 0, 0, 0, 0];
    epb.extend_from_slice(&2_000_001u32.to_be_bytes());
    epb.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 2, 0x45, 0, 0, 0]);
    file.extend(be_block(EPB, &epb));
    let frames = parse_capture("be-offset.pcapng", &file).expect("parse");
    assert_eq!(frames[0].time, Duration::new(1002, 1000));
    assert_eq!(frames[0].data, vec![0x45, 0]);
}

#[test]
fn a_cut_or_malformed_last_block_keeps_the_complete_frames() {
    let (file, ..) = two_interface_section();
    // Cut inside the last block: the first frame, and where the second was cut.
    let cut = file.len() - 7;
    let (frames, e) = parse_capture_partial("cut.pcapng", &file[..cut]).expect("some frames");
    assert_eq!(frames.len(), 1);
    let last = file.len() - le_block(EPB, &le_epb(0, 0, &[0; 40], &["on raw"])).len();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!(
            "cut.pcapng: truncated at byte {cut}: frame 2 (from byte {last}) is incomplete"
        ))
    );
    // Cut inside the last block's trailing length: still cut (the reader before pcap-parser
    // took such a block for whole).
    let (frames, e) = parse_capture_partial("cut.pcapng", &file[..file.len() - 2]).unwrap();
    assert_eq!(frames.len(), 1);
    let msg = e.expect("cut").to_string();
    assert!(msg.contains("frame 2 (from byte"), "{msg}");
    // A last block whose trailing length disagrees with its length is malformed, as
    // Wireshark says too.
    let mut bad = file.clone();
    let n = bad.len();
    bad[n - 4] ^= 4;
    let (frames, e) = parse_capture_partial("bad.pcapng", &bad).expect("some frames");
    assert_eq!(frames.len(), 1);
    let msg = e.expect("an error").to_string();
    assert!(
        msg.contains(&format!(
            "malformed at byte {last}: frame 2: its trailing length"
        )),
        "{msg}"
    );
    // A captured length beyond the block.
    let mut over = file.clone();
    over[last + 20] = 0xF0;
    let e = parse_capture("over.pcapng", &over).unwrap_err().to_string();
    assert!(
        e.ends_with("frame 2: captured length exceeds the block"),
        "{e}"
    );
}

#[test]
fn pcap_records_longer_than_the_snapshot_length_are_read() {
    // tcpdump -s 64: the records keep 64 bytes of longer packets.
    let mut b = 0xA1B2_C3D4u32.to_le_bytes().to_vec();
    b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&64u32.to_le_bytes());
    b.extend_from_slice(&101u32.to_le_bytes());
    for (sec, usec) in [(1u32, 5u32), (2, 999_999)] {
        b.extend_from_slice(&sec.to_le_bytes());
        b.extend_from_slice(&usec.to_le_bytes());
        b.extend_from_slice(&64u32.to_le_bytes());
        b.extend_from_slice(&1500u32.to_le_bytes());
        b.extend_from_slice(&[0x45; 64]);
    }
    let frames = parse_capture("snap.pcap", &b).expect("parse");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].time, Duration::new(2, 999_999_000));
    assert_eq!(frames[1].data.len(), 64);
    // The second record cut: the first frame and where the second was cut.
    let (frames, e) = parse_capture_partial("snap.pcap", &b[..b.len() - 1]).expect("frames");
    assert_eq!(frames.len(), 1);
    let msg = e.expect("cut").to_string();
    assert!(
        msg.contains("frame 2 (from byte 104) is incomplete"),
        "{msg}"
    );
}
