//! Test helpers (tests only): hand-built IPv4/TCP packets, a synthetic active-mode FTP
//! session as in SEED.md, and pcap/pcapng writers into temporary files.

use std::borrow::Cow;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Frame `i + 1` (0-based `i`), raw IP, at `time`, without a comment.
pub fn raw_frame(i: usize, time: Duration, data: Vec<u8>) -> crate::trace::Frame {
    crate::trace::Frame {
        number: u32::try_from(i + 1).expect("a test frame number fits"),
        time,
        link: crate::trace::LinkType::RawIp,
        data,
        comment: None,
    }
}

pub fn sa(s: &str) -> SocketAddrV4 {
    s.parse().expect("socket address")
}

fn checksum(data: &[u8], mut sum: u32) -> u16 {
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// A valid IPv4+TCP packet with both checksums.
pub fn tcp_packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let tcp_len = 20 + payload.len();
    let mut tcp = Vec::with_capacity(tcp_len);
    tcp.extend_from_slice(&src.port().to_be_bytes());
    tcp.extend_from_slice(&dst.port().to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.ip().octets());
    pseudo.extend_from_slice(&dst.ip().octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp_len as u16).to_be_bytes());
    pseudo.extend_from_slice(&tcp);
    let c = checksum(&pseudo, 0);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());

    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&src.ip().octets());
    ip.extend_from_slice(&dst.ip().octets());
    let c = checksum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&tcp);
    ip
}

/// One packet of a synthetic capture.
#[derive(Clone, Debug)]
pub struct Pkt {
    pub data: Vec<u8>,
    pub time: Duration,
    pub comment: Option<String>,
}

/// Builds consistent segments of one TCP connection between `a` and `b`.
pub struct Conn {
    pub a: SocketAddrV4,
    pub b: SocketAddrV4,
    next_a: u32,
    next_b: u32,
}

impl Conn {
    pub fn new(a: &str, b: &str, isn_a: u32, isn_b: u32) -> Conn {
        Conn {
            a: sa(a),
            b: sa(b),
            next_a: isn_a,
            next_b: isn_b,
        }
    }

    /// A segment from `a` (if `from_a`) or from `b`.
    pub fn seg(&mut self, from_a: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst, seq, ack) = if from_a {
            (self.a, self.b, self.next_a, self.next_b)
        } else {
            (self.b, self.a, self.next_b, self.next_a)
        };
        let ack = if flags & ACK != 0 { ack } else { 0 };
        let advance = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if from_a {
            self.next_a = self.next_a.wrapping_add(advance);
        } else {
            self.next_b = self.next_b.wrapping_add(advance);
        }
        tcp_packet(src, dst, seq, ack, flags, payload)
    }
}

/// The SEED.md session: control on 21, LIST over 20->5001 (lone FIN, four-segment release),
/// RETR readme.txt over 20->5002 (DATA+FIN), then QUIT.
pub fn ftp_session() -> Vec<Pkt> {
    let mut out: Vec<(Vec<u8>, Option<&str>)> = Vec::new();
    // a = client, b = server
    let mut c = Conn::new("10.0.0.2:49152", "10.0.0.1:21", 1000, 5000);
    let (cl, sv) = (true, false);
    out.push((c.seg(cl, SYN, b""), Some("control connection opens")));
    out.push((c.seg(sv, SYN | ACK, b""), None));
    out.push((c.seg(cl, ACK, b""), None));
    for (from, text) in [
        (sv, "220 smolftp ready\r\n"),
        (cl, "USER anonymous\r\n"),
        (sv, "331 Password required\r\n"),
        (cl, "PASS guest\r\n"),
        (sv, "230 Logged in\r\n"),
        (cl, "PORT 10,0,0,2,19,137\r\n"),
        (sv, "200 PORT command successful\r\n"),
        (cl, "LIST\r\n"),
        (
            sv,
            "150 Opening ASCII mode data connection for file list\r\n",
        ),
    ] {
        out.push((c.seg(from, ACK | PSH, text.as_bytes()), None));
    }
    // data connection 1: a = server:20, b = client:5001
    let mut d = Conn::new("10.0.0.1:20", "10.0.0.2:5001", 7000, 9000);
    out.push((d.seg(true, SYN, b""), None));
    out.push((d.seg(false, SYN | ACK, b""), None));
    out.push((d.seg(true, ACK, b""), None));
    let listing = b"-rw-r--r-- 1 ftp ftp 1234 Jan 1 00:00 readme.txt\r\n";
    out.push((d.seg(true, ACK | PSH, listing), None));
    out.push((d.seg(false, ACK, b""), None));
    out.push((d.seg(true, FIN | ACK, b""), Some("FIN alone")));
    out.push((d.seg(false, ACK, b""), None));
    out.push((d.seg(false, FIN | ACK, b""), None));
    out.push((d.seg(true, ACK, b""), None));
    for (from, text) in [
        (sv, "226 Transfer complete\r\n"),
        (cl, "PORT 10,0,0,2,19,138\r\n"),
        (sv, "200 PORT command successful\r\n"),
        (cl, "RETR readme.txt\r\n"),
        (
            sv,
            "150 Opening BINARY mode data connection for readme.txt (1234 bytes)\r\n",
        ),
    ] {
        out.push((c.seg(from, ACK | PSH, text.as_bytes()), None));
    }
    // data connection 2 wraps its sequence space
    let mut d = Conn::new("10.0.0.1:20", "10.0.0.2:5002", 0xFFFF_FFF0, 3);
    out.push((d.seg(true, SYN, b""), None));
    out.push((d.seg(false, SYN | ACK, b""), None));
    out.push((d.seg(true, ACK, b""), None));
    out.push((d.seg(true, ACK, &[b'x'; 100]), None));
    out.push((d.seg(false, ACK, b""), None));
    out.push((d.seg(true, ACK | PSH, &[b'x'; 100]), None));
    out.push((d.seg(false, ACK, b""), None));
    out.push((
        d.seg(true, FIN | ACK | PSH, &[b'y'; 34]),
        Some("last data + FIN"),
    ));
    out.push((d.seg(false, ACK, b""), None));
    out.push((d.seg(false, FIN | ACK, b""), None));
    out.push((d.seg(true, ACK, b""), None));
    for (from, text) in [
        (sv, "226 Transfer complete\r\n"),
        (cl, "QUIT\r\n"),
        (
            sv,
            "221-Goodbye.\r\n Thanks for using smolftp\r\n221 Bye\r\n",
        ),
    ] {
        out.push((c.seg(from, ACK | PSH, text.as_bytes()), None));
    }
    out.push((c.seg(sv, FIN | ACK, b""), None));
    out.push((c.seg(cl, ACK, b""), None));
    out.push((c.seg(cl, FIN | ACK, b""), None));
    out.push((c.seg(sv, ACK, b""), None));
    out.into_iter()
        .enumerate()
        .map(|(i, (data, comment))| Pkt {
            data,
            // 1 ms apart, with a nanosecond tail to check timestamp resolution
            time: Duration::new(1_700_000_000, 0) + Duration::from_nanos(i as u64 * 1_000_007),
            comment: comment.map(str::to_string),
        })
        .collect()
}

/// A temporary file removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str) -> TempFile {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let file = format!("smolftp-trace-{}-{n}-{name}", std::process::id());
        TempFile(std::env::temp_dir().join(file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// pcapng, raw IP (101), nanosecond timestamps (if_tsresol = 9), EPB comments.
pub fn write_pcapng(path: &Path, pkts: &[Pkt]) {
    write_pcapng_link(path, pkts, DataLink::RAW);
}

/// pcapng with the given link type for the single interface.
pub fn write_pcapng_link(path: &Path, pkts: &[Pkt], link: DataLink) {
    let file = std::fs::File::create(path).expect("create");
    let mut w = PcapNgWriter::new(file).expect("writer");
    let mut idb = InterfaceDescriptionBlock::new(link, 65535);
    idb.options.push(InterfaceDescriptionOption::IfTsResol(9));
    w.write_pcapng_block(idb).expect("idb");
    for p in pkts {
        let mut options = Vec::new();
        if let Some(c) = &p.comment {
            options.push(EnhancedPacketOption::Comment(Cow::Owned(c.clone())));
        }
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: p.time,
            original_len: p.data.len() as u32,
            data: Cow::Borrowed(&p.data),
            options,
        };
        w.write_pcapng_block(epb).expect("epb");
    }
}

/// Classic pcap, Ethernet (1), microseconds, 14-byte Ethernet header in front of each packet.
pub fn write_pcap_ethernet(path: &Path, pkts: &[Pkt]) {
    let file = std::fs::File::create(path).expect("create");
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(file, header).expect("writer");
    for p in pkts {
        let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        frame.extend_from_slice(&p.data);
        let packet = PcapPacket::new(p.time, frame.len() as u32, &frame);
        w.write_packet(&packet).expect("packet");
    }
}
