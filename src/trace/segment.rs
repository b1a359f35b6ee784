//! # TCP segments (analysis layer)
//!
//! Layer: analysis, offline. Job: strip the link-layer header of a captured frame and parse
//! its IP and TCP headers into a [`Segment`]. Pure functions over byte slices; anything
//! that is not an unfragmented IPv4/TCP packet with consistent lengths, or an IPv6 packet
//! whose extension headers (if any) lead to TCP, yields `None`. Checksums are not verified
//! (captures taken on the sending host often carry offloaded, unfilled checksums).
//!
//! The IP and TCP headers are read through `smoltcp::wire`'s checked views (`Ipv4Packet`,
//! `Ipv6Packet`, `Ipv6ExtHeader`, `Ipv6FragmentHeader`, `TcpPacket`, `TcpOption`), the code
//! that parses every packet our own stack receives. Read here by hand, because smoltcp cannot
//! express them in our build, are only fixed offsets: the link-layer headers (smoltcp's
//! `EthernetFrame` needs its `medium-ethernet` feature, which would compile Ethernet into the
//! stack we ship, and it knows no 802.1Q tag, Linux cooked capture or BSD loopback header) and
//! the length of an IPv6 authentication header (counted in 4-octet units where
//! `Ipv6ExtHeader` counts 8; smoltcp's `IpSecAuthHeaderPacket` needs `proto-ipsec-ah`).

use std::net::{IpAddr, SocketAddr};

use smoltcp::wire::{
    IpProtocol, Ipv4Packet, Ipv6ExtHeader, Ipv6FragmentHeader, Ipv6Packet, TcpOption, TcpPacket,
};

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
    Some(u32::from_be_bytes(*b.get(off..)?.first_chunk()?))
}

/// The shift count of the window scale option among TCP `options`, if present before the end
/// of the list.
fn window_scale(mut options: &[u8]) -> Option<u8> {
    // Each round takes at least one byte: the loop ends within options.len() rounds.
    while !options.is_empty() {
        options = match TcpOption::parse(options) {
            Ok((_, TcpOption::WindowScale(shift))) => return Some(shift),
            Ok((_, TcpOption::EndOfList)) => return None,
            Ok((rest, _)) => rest,
            // An option smoltcp refuses (a known kind with the wrong length) is passed over by
            // its length octet, as Wireshark does; one shorter than two octets ends the list.
            Err(_) => {
                let len = usize::from(*options.get(1)?);
                if len < 2 {
                    return None;
                }
                options.get(len..)?
            }
        };
    }
    None
}

impl<'a> Segment<&'a [u8]> {
    /// Parses an IPv4 packet carrying TCP without copying its payload. Returns `None` for other
    /// protocols, IPv6, fragments, and headers or lengths that do not fit the bytes.
    pub fn borrow_ipv4(packet: &'a [u8]) -> Option<Segment<&'a [u8]>> {
        let ip = Ipv4Packet::new_checked(packet).ok()?;
        let whole = !ip.more_frags() && ip.frag_offset() == 0;
        if ip.version() != 4 || !whole || ip.next_header() != IpProtocol::Tcp {
            return None;
        }
        let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
        Segment::borrow_tcp(src, dst, ip.payload())
    }

    /// Parses an IPv6 packet carrying TCP without copying its payload, after any hop-by-hop,
    /// routing, destination-options or authentication headers, and a fragment header only when
    /// the packet is whole (offset 0, no more fragments); `None` for anything else.
    pub fn borrow_ipv6(packet: &'a [u8]) -> Option<Segment<&'a [u8]>> {
        let ip = Ipv6Packet::new_checked(packet).ok()?;
        if ip.version() != 6 {
            return None;
        }
        let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
        let (mut next, mut rest) = (ip.next_header(), ip.payload());
        // A chain longer than this is not a real packet.
        for _ in 0..8 {
            let len = match next {
                IpProtocol::Tcp => return Segment::borrow_tcp(src, dst, rest),
                IpProtocol::HopByHop | IpProtocol::Ipv6Route | IpProtocol::Ipv6Opts => {
                    let ext = Ipv6ExtHeader::new_checked(rest).ok()?;
                    8 + 8 * usize::from(ext.header_len())
                }
                // Eight octets whatever its reserved second octet holds; only an atomic
                // fragment (offset 0, no more to come) holds the whole segment.
                IpProtocol::Ipv6Frag => {
                    let frag = Ipv6FragmentHeader::new_checked(rest.get(2..8)?).ok()?;
                    if frag.more_frags() || frag.frag_offset() != 0 {
                        return None;
                    }
                    8
                }
                // Authentication header: length in 4-octet units, minus 2.
                IpProtocol::IpSecAh => (usize::from(*rest.get(1)?) + 2) * 4,
                _ => return None,
            };
            // Every extension header starts with the next header's protocol number.
            next = IpProtocol::from(*rest.first()?);
            rest = rest.get(len..)?;
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
        // Checked: the fixed header is there and the data offset is at least 20 and fits.
        let tcp = TcpPacket::new_checked(tcp).ok()?;
        Some(Segment {
            src: SocketAddr::new(src_ip, tcp.src_port()),
            dst: SocketAddr::new(dst_ip, tcp.dst_port()),
            seq: tcp.seq_number().0.cast_unsigned(),
            ack: tcp.ack_number().0.cast_unsigned(),
            flags: Flags {
                syn: tcp.syn(),
                ack: tcp.ack(),
                fin: tcp.fin(),
                rst: tcp.rst(),
                psh: tcp.psh(),
                urg: tcp.urg(),
            },
            window: tcp.window_len(),
            wscale: window_scale(tcp.options()),
            payload: tcp.payload(),
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

    /// `sample()` with the TCP `options` (a multiple of four bytes) before the payload.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let p = sample();
        let mut q = [&p[..40], options, &p[40..]].concat();
        q[3] += options.len() as u8;
        q[32] += (options.len() as u8 / 4) << 4;
        q
    }

    #[test]
    fn window_scale_option() {
        let wscale = |options: &[u8]| Segment::from_ipv4(&with_options(options)).map(|s| s.wscale);
        // MSS 1460, NOP, window scale 7: found after the others.
        assert_eq!(wscale(&[2, 4, 5, 180, 1, 3, 3, 7]), Some(Some(7)));
        assert_eq!(
            Segment::from_ipv4(&with_options(&[1, 3, 3, 7])).map(|s| s.payload),
            Some(b"hello".to_vec())
        );
        // An option of a known kind with the wrong length is passed over by its length octet,
        // as Wireshark does: here a 5-octet MSS, a 4-octet SACK-permitted.
        assert_eq!(wscale(&[2, 5, 5, 180, 1, 3, 3, 7]), Some(Some(7)));
        assert_eq!(wscale(&[4, 4, 0, 0, 3, 3, 7, 0]), Some(Some(7)));
        // None after the end of the list, a length beyond the options or shorter than two
        // octets; the segment stays.
        assert_eq!(wscale(&[0, 3, 3, 7]), Some(None));
        assert_eq!(wscale(&[2, 9, 5, 180, 1, 3, 3, 7]), Some(None));
        assert_eq!(wscale(&[2, 0, 1, 1, 1, 3, 3, 7]), Some(None));
        assert_eq!(wscale(&[]), Some(None));
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
        // A fragment header is eight octets even when its reserved octet is not zero.
        let mut odd = atomic.clone();
        odd[1] = 3;
        let p = ipv6_packet(&[(44, odd)]);
        assert!(Segment::from_frame(LinkType::RawIp, &p).is_some());
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
