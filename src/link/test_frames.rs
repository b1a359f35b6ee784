//! # Test frames
//!
//! Layer: device (phy), unit tests only. TCP segments as smoltcp emits them (correct checksums;
//! IPv4 with id 0 and DF), for the tests of the TSO cutter, the virtio-net headers, the TUN
//! coalescer and the demultiplexer, which all take such frames apart.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, IpProtocol, IpRepr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber};

/// A segment from port 20 to 5001 with `control` and `payload`, acknowledging 7 with a window
/// of 512, at sequence number 0: change the fields a test needs with `..tcp(...)`.
pub(crate) fn tcp(control: TcpControl, payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        src_port: 20,
        dst_port: 5001,
        control,
        seq_number: TcpSeqNumber(0),
        ack_number: Some(TcpSeqNumber(7)),
        window_len: 512,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    }
}

/// `tcp` from `src` to `dst` in an IPv4 or IPv6 packet (hop limit 64), checksums filled in.
pub(crate) fn emit(src: IpAddress, dst: IpAddress, tcp: &TcpRepr) -> Vec<u8> {
    let ip = IpRepr::new(src, dst, IpProtocol::Tcp, tcp.buffer_len(), 64);
    let mut buf = vec![0; ip.header_len() + tcp.buffer_len()];
    let caps = ChecksumCapabilities::default();
    ip.emit(&mut buf[..], &caps);
    let mut packet = TcpPacket::new_unchecked(&mut buf[ip.header_len()..]);
    tcp.emit(&mut packet, &src, &dst, &caps);
    buf
}
