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

/// A pcapng block in big-endian byte order.
fn be_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut padded = body.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let total = (padded.len() + 12) as u32;
    let mut b = kind.to_be_bytes().to_vec();
    b.extend_from_slice(&total.to_be_bytes());
    b.extend_from_slice(&padded);
    b.extend_from_slice(&total.to_be_bytes());
    b
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
