//! # virtio-net headers of an offloading TUN device
//!
//! Layer: device (phy). With `--offload` every frame written to the TUN device starts with a
//! `struct virtio_net_hdr`: [`vnet_header`] writes it and completes the frame's TCP checksum,
//! fully for an ordinary segment, as the pseudo-header sum for one the kernel is to cut (TSO).

/// Size of `struct virtio_net_hdr` (without `num_buffers`), the kernel's default.
pub(super) const VNET_HDR: usize = 10;

use crate::link::tso::{fold, sum16};

/// Writes the virtio-net header for an IPv4 or IPv6 `frame` and completes its TCP checksum:
/// the full checksum for an ordinary segment; for one the kernel is to cut (`gso` = the MSS),
/// the pseudo-header sum the kernel completes per segment, as for its own TSO sockets. (smoltcp
/// sends IPv6 without extension headers, so TCP follows the 40-byte header.)
pub(super) fn vnet_header(hdr: &mut [u8], frame: &mut [u8], gso: Option<u16>) {
    hdr.fill(0);
    // IP header length, the pseudo-header's addresses, and the GSO type of the version.
    let (ip_len, addresses, gso_type) = match frame.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(frame[0] & 0x0f) * 4;
            if ihl < 20 || frame.len() < ihl + 20 || frame[9] != 6 {
                return;
            }
            (ihl, 12..20, 1) // VIRTIO_NET_HDR_GSO_TCPV4
        }
        Some(6) if frame.len() >= 60 && frame[6] == 6 => (40, 8..40, 4), // ..._GSO_TCPV6
        _ => return,
    };
    let tcp_len = frame.len() - ip_len;
    let mut pseudo = sum16(&frame[addresses], 6);
    pseudo += tcp_len as u64;
    let check_at = ip_len + 16;
    match gso {
        Some(mss) if tcp_len - 20 > usize::from(mss) => {
            let tcp_hdr = usize::from(frame[ip_len + 12] >> 4) * 4;
            frame[check_at..check_at + 2].copy_from_slice(&fold(pseudo).to_be_bytes());
            hdr[0] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
            hdr[1] = gso_type;
            hdr[2..4].copy_from_slice(&((ip_len + tcp_hdr) as u16).to_le_bytes());
            hdr[4..6].copy_from_slice(&mss.to_le_bytes());
            hdr[6..8].copy_from_slice(&(ip_len as u16).to_le_bytes());
            hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        }
        _ => {
            frame[check_at..check_at + 2].fill(0);
            let sum = fold(sum16(&frame[ip_len..], pseudo));
            frame[check_at..check_at + 2].copy_from_slice(&(!sum).to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::test_frames;

    use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address, TcpControl, TcpRepr, TcpSeqNumber};

    /// An IPv4 or IPv6 PSH+ACK segment from port 20 to 5001 with `payload` and correct
    /// checksums, as smoltcp emits it.
    fn packet_between(src: IpAddress, dst: IpAddress, payload: &[u8]) -> Vec<u8> {
        let tcp = TcpRepr {
            seq_number: TcpSeqNumber(1000),
            ..test_frames::tcp(TcpControl::Psh, payload)
        };
        test_frames::emit(src, dst, &tcp)
    }

    /// An IPv4/TCP packet with `payload` bytes and correct checksums.
    fn packet(payload: &[u8]) -> Vec<u8> {
        let (src, dst) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
        packet_between(src.into(), dst.into(), payload)
    }

    #[test]
    fn an_ordinary_segment_gets_its_full_checksum_and_no_gso() {
        let good = packet(b"hello, odd length");
        let mut frame = good.clone();
        frame[20 + 16] = 0;
        frame[20 + 17] = 0;
        let mut hdr = [0xffu8; VNET_HDR];
        vnet_header(&mut hdr, &mut frame, Some(1460));
        assert_eq!(frame, good, "checksum recomputed as smoltcp computes it");
        assert_eq!(
            hdr, [0; VNET_HDR],
            "no offload for a segment within the MSS"
        );
    }

    #[test]
    fn a_large_segment_is_marked_for_the_kernel_to_cut() {
        let payload = vec![7u8; 4000];
        let mut frame = packet(&payload);
        let mut hdr = [0u8; VNET_HDR];
        vnet_header(&mut hdr, &mut frame, Some(1460));
        assert_eq!(hdr[0], 1, "NEEDS_CSUM");
        assert_eq!(hdr[1], 1, "GSO_TCPV4");
        assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 40, "headers");
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), 1460, "gso_size");
        assert_eq!(u16::from_le_bytes([hdr[6], hdr[7]]), 20, "csum_start");
        assert_eq!(u16::from_le_bytes([hdr[8], hdr[9]]), 16, "csum_offset");
        // The kernel completes the checksum from the pseudo-header sum left in the field:
        // summing the whole segment with it in place gives the full checksum.
        let pseudo = u16::from_be_bytes([frame[36], frame[37]]);
        frame[36] = 0;
        frame[37] = 0;
        let full = !fold(sum16(&frame[20..], u64::from(pseudo)));
        let good = packet(&payload);
        assert_eq!(full.to_be_bytes(), [good[36], good[37]]);
    }

    #[test]
    fn an_ipv6_segment_gets_its_full_checksum_and_a_large_one_gso_tcpv6() {
        let (src, dst) = (
            Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 2),
            Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 1),
        );
        let v6 = |payload: &[u8]| packet_between(src.into(), dst.into(), payload);
        let good = v6(b"over IPv6, odd");
        let mut frame = good.clone();
        frame[40 + 16..40 + 18].fill(0);
        let mut hdr = [0xffu8; VNET_HDR];
        vnet_header(&mut hdr, &mut frame, Some(1440));
        assert_eq!(frame, good, "checksum recomputed as smoltcp computes it");
        assert_eq!(hdr, [0; VNET_HDR]);

        let payload = vec![9u8; 3000];
        let mut frame = v6(&payload);
        vnet_header(&mut hdr, &mut frame, Some(1440));
        assert_eq!(&hdr[..2], &[1, 4], "NEEDS_CSUM, GSO_TCPV6");
        assert_eq!(u16::from_le_bytes([hdr[6], hdr[7]]), 40, "csum_start");
        let pseudo = u16::from_be_bytes([frame[56], frame[57]]);
        frame[56..58].fill(0);
        let full = !fold(sum16(&frame[40..], u64::from(pseudo)));
        let good = v6(&payload);
        assert_eq!(full.to_be_bytes(), [good[56], good[57]]);
    }
}
