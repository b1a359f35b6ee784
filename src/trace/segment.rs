//! # TCP segments (analysis layer)
//!
//! Layer: analysis, offline. Job: strip the link-layer header of a captured frame and parse
//! its IP and TCP headers into a [`Segment`]. Pure functions over byte slices; anything
//! that is not an unfragmented IPv4/TCP packet with consistent lengths (or, in raw-IP
//! captures, an IPv6 packet whose fixed header is followed by TCP) yields `None`.
//! Checksums are not verified (captures taken on the sending host often carry offloaded,
//! unfilled checksums).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::read::LinkType;

/// The TCP control flags of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// SYN: synchronise sequence numbers.
    pub syn: bool,
    /// ACK: the acknowledgment field is significant.
    pub ack: bool,
    /// FIN: no more data from the sender.
    pub fin: bool,
    /// RST: reset the connection.
    pub rst: bool,
    /// PSH: push function.
    pub psh: bool,
    /// URG: the urgent pointer is significant.
    pub urg: bool,
}

impl Flags {
    /// Decodes the low six flag bits of the TCP header's flags byte.
    pub fn from_bits(bits: u8) -> Flags {
        Flags {
            fin: bits & 0x01 != 0,
            syn: bits & 0x02 != 0,
            rst: bits & 0x04 != 0,
            psh: bits & 0x08 != 0,
            ack: bits & 0x10 != 0,
            urg: bits & 0x20 != 0,
        }
    }
}

/// One IPv4/TCP or IPv6/TCP segment as captured. The payload is owned (`Vec<u8>`, the default) or
/// borrowed from the packet (`&[u8]`, see [`Segment::borrow_ipv4`]) where copying it would
/// cost too much, as in the capture's per-frame path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment<P = Vec<u8>> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Raw (absolute) sequence number.
    pub seq: u32,
    /// Raw (absolute) acknowledgment number.
    pub ack: u32,
    /// Control flags.
    pub flags: Flags,
    /// Advertised receive window (unscaled).
    pub window: u16,
    /// The shift count of a window scale option (RFC 7323), when the header carries one.
    pub wscale: Option<u8>,
    /// TCP payload bytes.
    pub payload: P,
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(off)?, *b.get(off + 1)?]))
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(off)?,
        *b.get(off + 1)?,
        *b.get(off + 2)?,
        *b.get(off + 3)?,
    ]))
}

/// The shift count of the window scale option (kind 3) among TCP `options`, if present.
fn window_scale(options: &[u8]) -> Option<u8> {
    let mut off = 0;
    // Each option is at least one byte: the loop ends within options.len() steps.
    while let Some(&kind) = options.get(off) {
        match kind {
            0 => return None,
            1 => off += 1,
            _ => {
                let len = usize::from(*options.get(off + 1)?);
                if kind == 3 && len == 3 {
                    return options.get(off + 2).copied();
                }
                if len < 2 {
                    return None;
                }
                off += len;
            }
        }
    }
    None
}

impl<'a> Segment<&'a [u8]> {
    /// Parses an IPv4 packet carrying TCP without copying its payload. Returns `None` for other
    /// protocols, IPv6, fragments, and headers or lengths that do not fit the bytes.
    pub fn borrow_ipv4(packet: &'a [u8]) -> Option<Segment<&'a [u8]>> {
        // A packet shorter than the fixed header fails one of the checks below anyway; taking
        // the header as an array once spares a bounds check per field (this runs per frame).
        let ip: &[u8; 20] = packet.first_chunk()?;
        if ip[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if ihl < 20 || total < ihl || total > packet.len() {
            return None;
        }
        let fragment = u16::from_be_bytes([ip[6], ip[7]]);
        if fragment & 0x3FFF != 0 || ip[9] != 6 {
            return None;
        }
        let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        Segment::borrow_tcp(src_ip.into(), dst_ip.into(), &packet[ihl..total])
    }

    /// Parses an IPv6 packet carrying TCP without copying its payload, after any hop-by-hop,
    /// routing, destination-options or authentication headers, and a fragment header only when
    /// the packet is whole (offset 0, no more fragments); `None` for anything else.
    pub fn borrow_ipv6(packet: &'a [u8]) -> Option<Segment<&'a [u8]>> {
        if *packet.first()? >> 4 != 6 {
            return None;
        }
        let total = 40 + usize::from(be16(packet, 4)?);
        let ip6 = |off: usize| -> Option<Ipv6Addr> {
            let bytes: [u8; 16] = packet.get(off..off + 16)?.try_into().ok()?;
            Some(Ipv6Addr::from(bytes))
        };
        let (src, dst) = (ip6(8)?, ip6(24)?);
        let (mut next, mut off) = (*packet.get(6)?, 40);
        // A chain longer than this is not a real packet.
        for _ in 0..8 {
            let len = match next {
                6 => return Segment::borrow_tcp(src.into(), dst.into(), packet.get(off..total)?),
                // Hop-by-hop, routing, destination options: length in 8-octet units.
                0 | 43 | 60 => (usize::from(*packet.get(off + 1)?) + 1) * 8,
                // Fragment: only an atomic one (offset 0, M flag clear) holds the whole segment.
                44 => {
                    if be16(packet, off + 2)? & 0xFFF9 != 0 {
                        return None;
                    }
                    8
                }
                // Authentication header: length in 4-octet units, minus 2.
                51 => (usize::from(*packet.get(off + 1)?) + 2) * 4,
                _ => return None,
            };
            next = *packet.get(off)?;
            off += len;
        }
        None
    }

    /// Parses an IPv4 or IPv6 packet carrying TCP (see [`Segment::borrow_ipv4`] and
    /// [`Segment::borrow_ipv6`]).
    pub fn borrow_ip(packet: &'a [u8]) -> Option<Segment<&'a [u8]>> {
        match *packet.first()? >> 4 {
            4 => Segment::borrow_ipv4(packet),
            6 => Segment::borrow_ipv6(packet),
            _ => None,
        }
    }

    /// The TCP header and payload `tcp` between `src_ip` and `dst_ip`.
    fn borrow_tcp(src_ip: IpAddr, dst_ip: IpAddr, tcp: &'a [u8]) -> Option<Segment<&'a [u8]>> {
        // A data offset of at least 20 that fits: the fixed header is there.
        let h: &[u8; 20] = tcp.first_chunk()?;
        let data_offset = usize::from(h[12] >> 4) * 4;
        if data_offset < 20 || data_offset > tcp.len() {
            return None;
        }
        let word = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Some(Segment {
            src: SocketAddr::new(src_ip, u16::from_be_bytes([h[0], h[1]])),
            dst: SocketAddr::new(dst_ip, u16::from_be_bytes([h[2], h[3]])),
            seq: word(4),
            ack: word(8),
            flags: Flags::from_bits(h[13]),
            window: u16::from_be_bytes([h[14], h[15]]),
            wscale: window_scale(&tcp[20..data_offset]),
            payload: &tcp[data_offset..],
        })
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Segment {
        Segment {
            src: self.src,
            dst: self.dst,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            wscale: self.wscale,
            payload: self.payload.to_vec(),
        }
    }
}

impl Segment {
    /// Parses an IPv4 packet carrying TCP. Returns `None` for other protocols, IPv6,
    /// fragments, and headers or lengths that do not fit the bytes.
    pub fn from_ipv4(packet: &[u8]) -> Option<Segment> {
        Segment::borrow_ipv4(packet).map(|s| s.to_owned())
    }

    /// Strips the link-layer header named by `link` (Ethernet with at most one 802.1Q/802.1ad
    /// tag, Linux SLL/SLL2, BSD null/loop) and parses the IPv4/TCP or IPv6/TCP packet inside.
    pub fn from_frame(link: LinkType, data: &[u8]) -> Option<Segment> {
        const IPV4: u16 = 0x0800;
        const IPV6: u16 = 0x86DD;
        let is_ip = |ethertype: u16| ethertype == IPV4 || ethertype == IPV6;
        let ip = match link {
            LinkType::RawIp => return Segment::borrow_ip(data).map(|s| s.to_owned()),
            LinkType::Ethernet => {
                let mut ethertype = be16(data, 12)?;
                let mut off = 14;
                if ethertype == 0x8100 || ethertype == 0x88A8 {
                    ethertype = be16(data, 16)?;
                    off = 18;
                }
                if !is_ip(ethertype) {
                    return None;
                }
                data.get(off..)?
            }
            LinkType::LinuxSll => {
                if !is_ip(be16(data, 14)?) {
                    return None;
                }
                data.get(16..)?
            }
            LinkType::LinuxSll2 => {
                if !is_ip(be16(data, 0)?) {
                    return None;
                }
                data.get(20..)?
            }
            LinkType::Null | LinkType::Loop => {
                // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (the BSDs),
                // in the byte order of the machine that wrote the file.
                let family = be32(data, 0)?;
                let known = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
                if !known(family) && !known(family.swap_bytes()) {
                    return None;
                }
                data.get(4..)?
            }
        };
        // The IP version says which, whatever the link layer claimed.
        Segment::borrow_ip(ip).map(|s| s.to_owned())
    }
}

impl<P: AsRef<[u8]>> Segment<P> {
    /// Payload length in bytes (Wireshark's `tcp.len`).
    pub fn len(&self) -> usize {
        self.payload.as_ref().len()
    }

    /// True when the segment carries no payload.
    pub fn is_empty(&self) -> bool {
        self.payload.as_ref().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::testutil::*;

    fn sample() -> Vec<u8> {
        tcp_packet(
            sa("10.0.0.1:20"),
            sa("10.0.0.2:5001"),
            7,
            9,
            ACK | PSH,
            b"hello",
        )
    }

    #[test]
    fn parses_ipv4_tcp() {
        let s = Segment::from_ipv4(&sample()).expect("segment");
        assert_eq!(s.src, std::net::SocketAddr::V4(sa("10.0.0.1:20")));
        assert_eq!(s.dst, std::net::SocketAddr::V4(sa("10.0.0.2:5001")));
        assert_eq!((s.seq, s.ack, s.len()), (7, 9, 5));
        assert!(s.flags.ack && s.flags.psh && !s.flags.syn && !s.flags.fin);
        assert_eq!(s.payload, b"hello");
    }

    #[test]
    fn rejects_non_tcp_fragments_and_bad_lengths() {
        let p = sample();
        let mut udp = p.clone();
        udp[9] = 17;
        assert!(Segment::from_ipv4(&udp).is_none());
        let mut frag = p.clone();
        frag[6] = 0x20; // MF
        assert!(Segment::from_ipv4(&frag).is_none());
        let mut v6 = p.clone();
        v6[0] = 0x60;
        assert!(Segment::from_ipv4(&v6).is_none());
        assert!(Segment::from_ipv4(&p[..p.len() - 1]).is_none());
        let mut doff = p.clone();
        doff[20 + 12] = 0xF0;
        assert!(Segment::from_ipv4(&doff).is_none());
        for cut in 0..p.len() {
            let _ = Segment::from_ipv4(&p[..cut]);
        }
        // trailing link padding is ignored thanks to the IP total length
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(Segment::from_ipv4(&padded).map(|s| s.len()), Some(5));
    }

    #[test]
    fn strips_link_headers() {
        let p = sample();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        eth.extend_from_slice(&p);
        assert!(Segment::from_frame(LinkType::Ethernet, &eth).is_some());
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&p);
        assert!(Segment::from_frame(LinkType::LinuxSll, &sll).is_some());
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&p);
        assert!(Segment::from_frame(LinkType::LinuxSll2, &sll2).is_some());
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&p);
        assert!(Segment::from_frame(LinkType::Null, &null).is_some());
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&p);
        assert!(Segment::from_frame(LinkType::Loop, &lo).is_some());
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&p);
        assert!(Segment::from_frame(LinkType::Ethernet, &arp).is_none());
        assert!(Segment::from_frame(LinkType::Ethernet, &[]).is_none());
    }

    #[test]
    fn ipv6_tcp_in_raw_ip() {
        let mut p = vec![0x60, 0, 0, 0, 0, 24, 6, 64];
        let src: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
        let dst: std::net::Ipv6Addr = "fd00::2".parse().unwrap();
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        // TCP: 20 -> 5001, seq 7, ack 9, header 20 bytes, PSH+ACK, window 100, then 4 bytes.
        p.extend_from_slice(&[
            0, 20, 0x13, 0x89, 0, 0, 0, 7, 0, 0, 0, 9, 0x50, 0x18, 0, 100,
        ]);
        p.extend_from_slice(&[0, 0, 0, 0, b'd', b'a', b't', b'a']);
        let s = Segment::from_frame(LinkType::RawIp, &p).expect("an IPv6/TCP segment");
        assert_eq!(s.src, "[fd00::1]:20".parse().unwrap());
        assert_eq!(s.dst, "[fd00::2]:5001".parse().unwrap());
        assert_eq!((s.seq, s.ack, s.window), (7, 9, 100));
        assert!(s.flags.psh && s.flags.ack && !s.flags.syn);
        assert_eq!(s.payload, b"data");
        // A truncated payload length, another next header: not a segment.
        assert!(Segment::from_frame(LinkType::RawIp, &p[..50]).is_none());
        p[6] = 17;
        assert!(Segment::from_frame(LinkType::RawIp, &p).is_none());
    }

    /// The IPv6 packet of `ipv6_tcp_in_raw_ip` (fd00::1:20 -> fd00::2:5001, "data"), with
    /// `ext` (next-header byte, bytes) headers in front of TCP.
    fn ipv6_packet(ext: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let tcp: Vec<u8> = [
            &[
                0, 20, 0x13, 0x89, 0, 0, 0, 7, 0, 0, 0, 9, 0x50, 0x18, 0, 100,
            ][..],
            &[0, 0, 0, 0, b'd', b'a', b't', b'a'],
        ]
        .concat();
        let mut chain = Vec::new();
        let first = ext.first().map_or(6, |(kind, _)| *kind);
        for (i, (_, bytes)) in ext.iter().enumerate() {
            let mut h = bytes.clone();
            h[0] = ext.get(i + 1).map_or(6, |(kind, _)| *kind);
            chain.extend_from_slice(&h);
        }
        let len = (chain.len() + tcp.len()) as u16;
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[first, 64]);
        p.extend_from_slice(&"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&chain);
        p.extend_from_slice(&tcp);
        p
    }

    #[test]
    fn ipv6_behind_link_headers_and_extension_headers() {
        let p = ipv6_packet(&[]);
        let data = |frame: &[u8], link| Segment::from_frame(link, frame).map(|s| s.payload);
        let framed = |head: &[u8]| [head, &p[..]].concat();
        let eth = framed(&[[0u8; 12].as_slice(), &[0x86, 0xDD]].concat());
        assert_eq!(
            data(&eth, LinkType::Ethernet).as_deref(),
            Some(&b"data"[..])
        );
        let vlan = framed(&[[0u8; 12].as_slice(), &[0x81, 0, 0, 5, 0x86, 0xDD]].concat());
        assert_eq!(
            data(&vlan, LinkType::Ethernet).as_deref(),
            Some(&b"data"[..])
        );
        let sll = framed(&[[0u8; 14].as_slice(), &[0x86, 0xDD]].concat());
        assert_eq!(
            data(&sll, LinkType::LinuxSll).as_deref(),
            Some(&b"data"[..])
        );
        let sll2 = framed(&[[0x86, 0xDD].as_slice(), &[0u8; 18]].concat());
        assert_eq!(
            data(&sll2, LinkType::LinuxSll2).as_deref(),
            Some(&b"data"[..])
        );
        for family in [10u32, 24, 28, 30] {
            let null = framed(&family.to_le_bytes());
            assert_eq!(data(&null, LinkType::Null).as_deref(), Some(&b"data"[..]));
        }
        // Hop-by-hop (8 bytes), destination options (16 bytes), an atomic fragment, AH (12
        // bytes): TCP is found behind them all.
        let hop = vec![0, 0, 1, 4, 0, 0, 0, 0];
        let dest = vec![0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let atomic = vec![0, 0, 0, 0, 0, 0, 0, 42];
        let ah = vec![0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2];
        let chained = ipv6_packet(&[(0, hop), (60, dest), (44, atomic.clone()), (51, ah)]);
        let seg = Segment::from_frame(LinkType::RawIp, &chained).expect("TCP behind the chain");
        assert_eq!((seg.src.port(), seg.payload.as_slice()), (20, &b"data"[..]));
        // A real fragment (more to come, or a later piece) holds no whole segment.
        for frag in [[0u8, 0, 0, 1], [0, 0, 0x05, 0x00]] {
            let mut h = atomic.clone();
            h[2..4].copy_from_slice(&frag[2..4]);
            let p = ipv6_packet(&[(44, h)]);
            assert!(Segment::from_frame(LinkType::RawIp, &p).is_none());
        }
        // Not IP at all behind the link header.
        let arp = framed(&[[0u8; 12].as_slice(), &[0x08, 0x06]].concat());
        assert!(Segment::from_frame(LinkType::Ethernet, &arp).is_none());
        // Every cut of the chained packet is refused or parsed, never a panic.
        for cut in 0..chained.len() {
            let _ = Segment::from_frame(LinkType::RawIp, &chained[..cut]);
        }
    }
}
