//! # Coalescing a run of TCP segments into one GSO frame
//!
//! Layer: device (phy). What a NIC's GRO does to frames off a wire, done to the frames we write
//! to a TUN device: a run of consecutive frames of one TCP flow, cut from one stream at one size,
//! is handed to the kernel as one frame with a virtio-net GSO header. The kernel's TCP then takes
//! the run in as one buffer, as it takes a GRO-merged one, instead of running its whole receive
//! path once per segment inside our `write(2)`. Were the kernel to forward the frame instead, it
//! would cut it back into the very segments it was made of (GSO).
//!
//! [`Seg::of`] reads what the rules need of a frame, [`Run`] decides which frames join, and
//! [`Run::header`] writes the merged frame's virtio-net, IP and TCP headers; the payloads stay
//! where smoltcp built them (the writer hands them to `writev(2)`). Nothing here does I/O.
//!
//! The rules, so that cutting the merged frame at `gso_size` gives back each frame exactly:
//! - IPv4 or IPv6 carrying TCP, no IP fragments, no IPv6 extension headers;
//! - the same IP header but for length, checksum and (IPv4) id, and the same TCP header but for
//!   sequence number, checksum and PSH: addresses, ports, ack, window, options, TTL, TOS;
//! - contiguous sequence numbers; ACK set, no SYN, FIN, RST, URG, ECE or CWR;
//! - every payload as long as the first (`gso_size`), except a shorter last one;
//! - PSH only on the last one (GSO puts it on the last segment only);
//! - IPv4 ids counting up by one (as GSO numbers them), or all equal with DF set: smoltcp sends
//!   every datagram with id 0 and DF, and RFC 6864 gives the id of such an atomic datagram no
//!   meaning (Linux's GRO merges them too). A forwarded merged frame would be cut with ids
//!   counting up from the first; a locally delivered one is never cut;
//! - at most 65 535 bytes in all, and at most [`MAX_SEGS`] segments.

use crate::link::tso::{fold, sum16};

/// Segments merged into one frame at most.
pub(super) const MAX_SEGS: usize = 64;
/// Largest merged frame (the IPv4 total length field; for IPv6 the same bound keeps it simple).
pub(super) const MAX_FRAME: usize = 65_535;

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// What the merge rules need of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seg {
    v4: bool,
    /// IP header length.
    ip_len: usize,
    /// IP and TCP headers' length: the payload starts here.
    pub(super) hdr_len: usize,
    seq: u32,
    /// TCP payload length.
    pub(super) payload: usize,
    psh: bool,
    /// IPv4 identification (0 for IPv6).
    id: u16,
    /// IPv4 don't-fragment flag.
    df: bool,
}

impl Seg {
    /// Reads `frame` (a raw IP packet) if it could be part of a merged frame at all: TCP with a
    /// payload, ACK and at most PSH besides, not an IP fragment, its lengths consistent.
    pub(super) fn of(frame: &[u8]) -> Option<Seg> {
        let (v4, ip_len, id, df) = match frame.first()? >> 4 {
            4 => {
                let ihl = usize::from(frame[0] & 0x0f) * 4;
                if ihl < 20 || frame.len() < ihl + 20 || frame[9] != 6 {
                    return None;
                }
                let total = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
                let frag = u16::from_be_bytes([frame[6], frame[7]]);
                // MF set or a fragment offset: a fragment, never merged.
                if total != frame.len() || frag & 0x3fff != 0 {
                    return None;
                }
                let id = u16::from_be_bytes([frame[4], frame[5]]);
                (true, ihl, id, frag & 0x4000 != 0)
            }
            6 => {
                if frame.len() < 60 || frame[6] != 6 {
                    return None;
                }
                let payload = usize::from(u16::from_be_bytes([frame[4], frame[5]]));
                if payload + 40 != frame.len() {
                    return None;
                }
                (false, 40, 0, false)
            }
            _ => return None,
        };
        let tcp = &frame[ip_len..];
        let tcp_hdr = usize::from(tcp[12] >> 4) * 4;
        let flags = tcp[13];
        if tcp_hdr < 20 || tcp.len() <= tcp_hdr || flags & !PSH != ACK {
            return None;
        }
        Some(Seg {
            v4,
            ip_len,
            hdr_len: ip_len + tcp_hdr,
            seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
            payload: tcp.len() - tcp_hdr,
            psh: flags & PSH != 0,
            id,
            df,
        })
    }
}

/// A run of frames being merged: its first frame's [`Seg`], its last one's, and its size.
#[derive(Clone, Copy, Debug)]
pub(super) struct Run {
    first: Seg,
    last: Seg,
    /// Frames in the run.
    pub(super) count: usize,
    /// Payload bytes in the run.
    payload: usize,
    /// The IPv4 ids are all equal (decided by the second frame).
    fixed_id: Option<bool>,
}

impl Run {
    /// A run of the one frame `first`.
    pub(super) fn new(first: Seg) -> Run {
        Run {
            first,
            last: first,
            count: 1,
            payload: first.payload,
            fixed_id: None,
        }
    }

    /// Adds `next` (read from `next_frame`) to the run if it may follow the run's last frame,
    /// the run's first frame being `first_frame`; says whether it did.
    pub(super) fn join(&mut self, first_frame: &[u8], next_frame: &[u8], next: Seg) -> bool {
        let (f, last) = (&self.first, &self.last);
        let gso = f.payload;
        // The run ends at PSH, at a shorter segment, or at the limits.
        if last.psh || last.payload < gso || next.payload > gso || self.count >= MAX_SEGS {
            return false;
        }
        if f.hdr_len + self.payload + next.payload > MAX_FRAME {
            return false;
        }
        if next.v4 != f.v4 || next.ip_len != f.ip_len || next.hdr_len != f.hdr_len {
            return false;
        }
        if next.seq != last.seq.wrapping_add(last.payload as u32) {
            return false;
        }
        let fixed_id = if f.v4 {
            let fixed = if next.id == last.id && next.df && last.df {
                true
            } else if next.id == last.id.wrapping_add(1) {
                false
            } else {
                return false;
            };
            if self.fixed_id.is_some_and(|was| was != fixed) {
                return false;
            }
            Some(fixed)
        } else {
            None
        };
        if !same_headers(first_frame, next_frame, f) {
            return false;
        }
        self.fixed_id = fixed_id;
        self.last = next;
        self.count += 1;
        self.payload += next.payload;
        true
    }

    /// The headers' length of every frame in the run: each one's payload starts here.
    pub(super) fn hdr_len(&self) -> usize {
        self.first.hdr_len
    }

    /// Writes into `out` the merged frame's headers, to be followed by every frame's payload:
    /// the virtio-net header (GSO at the first payload's size, the checksum left to the kernel
    /// from the pseudo-header sum), then the first frame's IP and TCP headers with the total
    /// length, the IPv4 checksum, the pseudo-header sum and the last frame's PSH.
    pub(super) fn header(&self, first_frame: &[u8], out: &mut Vec<u8>) {
        let f = &self.first;
        let total = f.hdr_len + self.payload;
        let gso_type: u8 = if f.v4 { 1 } else { 4 }; // VIRTIO_NET_HDR_GSO_TCPV4 / _TCPV6
        out.clear();
        out.push(1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
        out.push(gso_type);
        out.extend_from_slice(&(f.hdr_len as u16).to_le_bytes());
        out.extend_from_slice(&(f.payload as u16).to_le_bytes());
        out.extend_from_slice(&(f.ip_len as u16).to_le_bytes()); // csum_start
        out.extend_from_slice(&16u16.to_le_bytes()); // csum_offset
        let start = out.len();
        out.extend_from_slice(&first_frame[..f.hdr_len]);
        let h = &mut out[start..];
        let addresses = if f.v4 {
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[10..12].fill(0);
            let sum = !fold(sum16(&h[..f.ip_len], 0));
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            12..20
        } else {
            h[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
            8..40
        };
        let tcp = f.ip_len;
        if self.last.psh {
            h[tcp + 13] |= PSH;
        }
        let pseudo = sum16(&h[addresses], 6 + (total - f.ip_len) as u64);
        h[tcp + 16..tcp + 18].copy_from_slice(&fold(pseudo).to_be_bytes());
    }
}

/// Whether `next`'s IP and TCP headers equal `first`'s but for what changes along a run: IP
/// length, id and checksum, TCP sequence number, checksum and PSH.
fn same_headers(first: &[u8], next: &[u8], f: &Seg) -> bool {
    let ip = f.ip_len;
    let ip_same = if f.v4 {
        // Version, IHL, TOS | flags, fragment offset, TTL, protocol | addresses, options.
        first[..2] == next[..2] && first[6..10] == next[6..10] && first[12..ip] == next[12..ip]
    } else {
        // Version, traffic class, flow label | next header, hop limit, addresses.
        first[..4] == next[..4] && first[6..40] == next[6..40]
    };
    let (a, b) = (&first[ip..f.hdr_len], &next[ip..f.hdr_len]);
    // Ports | ack, data offset | flags but PSH | window | urgent pointer, options.
    ip_same
        && a[..4] == b[..4]
        && a[8..13] == b[8..13]
        && a[13] & !PSH == b[13] & !PSH
        && a[14..16] == b[14..16]
        && a[18..] == b[18..]
}

#[cfg(test)]
pub(super) mod tests;
