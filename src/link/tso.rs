//! # TSO on paper: one large send as the frames a NIC puts on the wire
//!
//! Layer: device middleware support (phy). With `--offload` the stack hands the kernel TCP
//! segments of up to 64 KiB and the kernel cuts them to the MSS (TSO, done in software for a TUN
//! device). [`cut`] does the same cut for the capture (`--capture-segments mss`), so that a lab
//! gets the offload's speed and still sees every segment of the wire: the same rules as Linux's
//! `tcp_gso_segment` and `inet_gso_segment` (payload split in MSS-sized pieces, each piece with
//! a copy of the headers and its options; sequence numbers advanced by the bytes before it;
//! FIN and PSH only on the last piece, CWR only on the first; IPv4 total length and header
//! checksum per piece, the identification counting up from the large segment's; IPv6 payload
//! length per piece; every TCP checksum complete). [`fill_checksum`] completes the TCP checksum
//! of a frame that is not cut (offload leaves it to the kernel), so the whole capture checks.

/// A frame of the capture cut from one TSO send ([`cut`]): which piece it is and what the send
/// was, so that the stack's view of the send can be told on each piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsoPiece {
    /// Its place among the pieces, from 0.
    pub index: usize,
    /// How many pieces the send made.
    pub count: usize,
    /// The send's sequence number (that of the first piece).
    pub seq: u32,
    /// The send's payload, bytes.
    pub payload: usize,
    /// The MSS it was cut to.
    pub mss: usize,
}

impl std::fmt::Display for TsoPiece {
    /// The note in the frame's comment.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TSO: frame {} of {} cut from one send of {} bytes (MSS {})",
            self.index + 1,
            self.count,
            self.payload,
            self.mss
        )
    }
}

/// TCP flags that only the last piece keeps (FIN, PSH) and that only the first keeps (CWR).
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// Where a TCP/IP frame's headers are.
struct Layout {
    /// IP header length (20+ for IPv4, 40 for IPv6).
    ip: usize,
    /// TCP header length with options.
    tcp: usize,
    v4: bool,
}

fn layout(frame: &[u8]) -> Option<Layout> {
    let (ip, v4) = match frame.first()? >> 4 {
        4 => {
            let ihl = usize::from(frame[0] & 0x0f) * 4;
            if ihl < 20 || frame.len() < ihl || frame[9] != 6 {
                return None;
            }
            (ihl, true)
        }
        // smoltcp sends IPv6 without extension headers: TCP follows the fixed header.
        6 if frame.len() >= 40 && frame[6] == 6 => (40, false),
        _ => return None,
    };
    let tcp = usize::from(*frame.get(ip + 12)? >> 4) * 4;
    if tcp < 20 || frame.len() < ip + tcp {
        return None;
    }
    Some(Layout { ip, tcp, v4 })
}

/// Ones'-complement sum of 16-bit big-endian words (RFC 1071), not complemented; eight bytes at
/// a time (the sum of 32-bit words folds to the same 16-bit sum).
pub(crate) fn sum16(data: &[u8], mut acc: u64) -> u64 {
    let mut wide = data.chunks_exact(8);
    for c in &mut wide {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut chunks = wide.remainder().chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a ones'-complement sum of [`sum16`] to 16 bits.
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Recomputes the IPv4 header checksum and the TCP checksum of `frame`, laid out as `l`.
fn checksums(frame: &mut [u8], l: &Layout) {
    let tcp_len = frame.len() - l.ip;
    let pseudo = if l.v4 {
        frame[10..12].fill(0);
        let sum = !fold(sum16(&frame[..l.ip], 0));
        frame[10..12].copy_from_slice(&sum.to_be_bytes());
        sum16(&frame[12..20], 6 + tcp_len as u64)
    } else {
        sum16(&frame[8..40], 6 + tcp_len as u64)
    };
    let at = l.ip + 16;
    frame[at..at + 2].fill(0);
    let sum = !fold(sum16(&frame[l.ip..], pseudo));
    frame[at..at + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Completes the TCP checksum (and the IPv4 header checksum) of `frame` in place, as the kernel
/// does for a segment it sends whole. Anything but TCP over IPv4 or IPv6 is left alone.
pub fn fill_checksum(frame: &mut [u8]) {
    if let Some(l) = layout(frame) {
        checksums(frame, &l);
    }
}

/// Completes the TCP checksum of a received `frame` when the sender left it partial (the
/// pseudo-header sum that checksum offload leaves for the device to finish, as the kernel does
/// for frames it hands a TUN device with offloads on). A complete checksum, right or wrong (a
/// frame corrupted on the way), is left as it is: the capture does not hide damage.
pub fn fill_partial_checksum(frame: &mut [u8]) {
    let Some(l) = layout(frame) else {
        return;
    };
    let tcp_len = (frame.len() - l.ip) as u64;
    let addresses = if l.v4 { &frame[12..20] } else { &frame[8..40] };
    let partial = fold(sum16(addresses, 6 + tcp_len));
    let at = l.ip + 16;
    if frame[at..at + 2] == partial.to_be_bytes() {
        checksums(frame, &l);
    }
}

/// How many frames [`cut`] makes of `frame` with `mss`: 1 when it is not TCP or fits.
pub fn pieces(frame: &[u8], mss: usize) -> usize {
    match layout(frame) {
        Some(l) if mss > 0 => (frame.len() - l.ip - l.tcp).div_ceil(mss).max(1),
        _ => 1,
    }
}

/// Cuts the TCP segment `frame` into frames of at most `mss` payload bytes, as TSO does, and
/// hands each to `each` (built in `scratch`) with what piece it is. A frame that is not TCP is
/// handed over as it is; one whose payload fits, whole, with its checksums completed. Returns
/// the number of frames handed over.
pub fn cut(
    frame: &[u8],
    mss: usize,
    scratch: &mut Vec<u8>,
    mut each: impl FnMut(TsoPiece, &[u8]),
) -> usize {
    let Some(l) = layout(frame) else {
        let piece = TsoPiece {
            index: 0,
            count: 1,
            seq: 0,
            payload: 0,
            mss,
        };
        each(piece, frame);
        return 1;
    };
    let head = l.ip + l.tcp;
    let payload = &frame[head..];
    let n = pieces(frame, mss);
    let seq = u32::from_be_bytes([
        frame[l.ip + 4],
        frame[l.ip + 5],
        frame[l.ip + 6],
        frame[l.ip + 7],
    ]);
    let id = u16::from_be_bytes([frame[4], frame[5]]);
    let flags = frame[l.ip + 13];
    let chunk = if n == 1 { payload.len() } else { mss };
    for i in 0..n {
        let part = &payload[(i * chunk).min(payload.len())..((i + 1) * chunk).min(payload.len())];
        scratch.clear();
        scratch.extend_from_slice(&frame[..head]);
        scratch.extend_from_slice(part);
        let total = scratch.len();
        if l.v4 {
            scratch[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            scratch[4..6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
        } else {
            scratch[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        }
        let s = seq.wrapping_add((i * chunk) as u32);
        scratch[l.ip + 4..l.ip + 8].copy_from_slice(&s.to_be_bytes());
        let mut f = flags;
        if i + 1 < n {
            f &= !(FIN | PSH);
        }
        if i > 0 {
            f &= !CWR;
        }
        scratch[l.ip + 13] = f;
        checksums(scratch, &l);
        let piece = TsoPiece {
            index: i,
            count: n,
            seq,
            payload: payload.len(),
            mss,
        };
        each(piece, scratch);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::test_frames;

    use smoltcp::wire::{
        IpAddress, Ipv4Address, Ipv4Packet, Ipv6Address, TcpControl, TcpPacket, TcpRepr,
        TcpSeqNumber,
    };

    /// A TCP segment from port 20 to 5001 with `payload`, `control` and correct checksums.
    fn segment(src: IpAddress, dst: IpAddress, control: TcpControl, payload: &[u8]) -> Vec<u8> {
        let tcp = TcpRepr {
            seq_number: TcpSeqNumber(4_000_000_000u32 as i32),
            ..test_frames::tcp(control, payload)
        };
        test_frames::emit(src, dst, &tcp)
    }

    fn v4() -> (IpAddress, IpAddress) {
        (
            Ipv4Address::new(10, 0, 0, 1).into(),
            Ipv4Address::new(10, 0, 0, 2).into(),
        )
    }

    #[test]
    fn a_large_segment_is_cut_into_mss_frames_that_cover_it_once() {
        let (src, dst) = v4();
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let big = segment(src, dst, TcpControl::Fin, &payload);
        let ip_id = u16::from_be_bytes([big[4], big[5]]);
        let mut frames = Vec::new();
        let n = cut(&big, 1460, &mut Vec::new(), |p, f| {
            frames.push((p.index, f.to_vec()))
        });
        assert_eq!(n, 7);
        assert_eq!(pieces(&big, 1460), 7);
        let mut joined = Vec::new();
        for (i, f) in &frames {
            let ip = Ipv4Packet::new_checked(&f[..]).expect("IPv4");
            assert!(ip.verify_checksum(), "frame {i}: IP checksum");
            assert_eq!(usize::from(ip.total_len()), f.len());
            assert_eq!(
                ip.ident(),
                ip_id.wrapping_add(*i as u16),
                "frame {i}: IP id"
            );
            let tcp = TcpPacket::new_checked(ip.payload()).expect("TCP");
            assert!(tcp.verify_checksum(&src, &dst), "frame {i}: TCP checksum");
            let expect_seq = TcpSeqNumber(4_000_000_000u32.wrapping_add(*i as u32 * 1460) as i32);
            assert_eq!(
                tcp.seq_number(),
                expect_seq,
                "frame {i}: seq (wraps past 2^32)"
            );
            assert_eq!(tcp.fin(), *i == 6, "frame {i}: FIN only on the last");
            assert!(tcp.ack(), "frame {i}: ACK on all");
            assert!(tcp.payload().len() <= 1460);
            joined.extend_from_slice(tcp.payload());
        }
        assert_eq!(
            joined, payload,
            "the pieces cover the payload exactly once, in order"
        );
    }

    #[test]
    fn a_segment_that_fits_gets_its_checksum_completed_and_stays_whole() {
        let (src, dst) = v4();
        let good = segment(src, dst, TcpControl::Psh, b"short, odd length");
        let mut broken = good.clone();
        broken[20 + 16..20 + 18].fill(0);
        let mut frames = Vec::new();
        assert_eq!(
            cut(&broken, 1460, &mut Vec::new(), |_, f| frames
                .push(f.to_vec())),
            1
        );
        assert_eq!(frames, vec![good.clone()]);
        fill_checksum(&mut broken);
        assert_eq!(broken, good);
    }

    #[test]
    fn ipv6_segments_are_cut_with_their_payload_length() {
        let src = Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 2).into();
        let dst = Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 1).into();
        let payload = vec![5u8; 3000];
        let big = segment(src, dst, TcpControl::Psh, &payload);
        let mut frames = Vec::new();
        cut(&big, 1440, &mut Vec::new(), |_, f| frames.push(f.to_vec()));
        assert_eq!(frames.len(), 3);
        for (i, f) in frames.iter().enumerate() {
            let plen = usize::from(u16::from_be_bytes([f[4], f[5]]));
            assert_eq!(plen + 40, f.len());
            let tcp = TcpPacket::new_checked(&f[40..]).unwrap();
            assert!(tcp.verify_checksum(&src, &dst));
            assert_eq!(tcp.psh(), i == 2, "PSH only on the last");
        }
    }

    #[test]
    fn the_wide_sum_is_the_rfc_1071_sum() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 37 % 256) as u8).collect();
        for len in [0, 1, 2, 7, 8, 9, 15, 16, 17, 1000, 1001] {
            let mut narrow = 0u64;
            for c in data[..len].chunks(2) {
                narrow += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            assert_eq!(fold(sum16(&data[..len], 0)), fold(narrow), "{len} bytes");
        }
    }

    #[test]
    fn a_partial_checksum_is_completed_and_a_wrong_one_kept() {
        let (src, dst) = v4();
        let good = segment(src, dst, TcpControl::Psh, b"from the kernel");
        let mut partial = good.clone();
        let pseudo = fold(sum16(&good[12..20], 6 + (good.len() - 20) as u64));
        partial[36..38].copy_from_slice(&pseudo.to_be_bytes());
        fill_partial_checksum(&mut partial);
        assert_eq!(partial, good, "completed as the sender would have");
        let mut damaged = good.clone();
        damaged[45] ^= 0x10;
        let kept = damaged.clone();
        fill_partial_checksum(&mut damaged);
        assert_eq!(
            damaged, kept,
            "a corrupted frame keeps its (now wrong) checksum"
        );
    }

    #[test]
    fn frames_that_are_not_tcp_are_left_alone() {
        let junk = vec![
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let mut frames = Vec::new();
        cut(&junk, 1460, &mut Vec::new(), |_, f| frames.push(f.to_vec()));
        assert_eq!(frames, vec![junk.clone()]);
        let mut same = junk.clone();
        fill_checksum(&mut same);
        assert_eq!(same, junk);
        cut(&[], 1460, &mut Vec::new(), |_, f| assert!(f.is_empty()));
    }
}
