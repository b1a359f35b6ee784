//! The merge rules: what merges, what must not, and that the kernel's cut (GSO, as
//! [`crate::link::tso::cut`] does it) gives back every frame of a merged run exactly.

use super::*;
use crate::link::test_frames;
use crate::link::tso;
use smoltcp::wire::{IpAddress, Ipv4Address, Ipv6Address, TcpControl, TcpRepr, TcpSeqNumber};

const VNET: usize = 10;

fn v4() -> (IpAddress, IpAddress) {
    (
        Ipv4Address::new(10, 7, 0, 2).into(),
        Ipv4Address::new(10, 7, 0, 1).into(),
    )
}

fn v6() -> (IpAddress, IpAddress) {
    (
        Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 2).into(),
        Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 1).into(),
    )
}

/// A segment from port 20 to 5002 at `seq` with `len` payload bytes (a pattern that tells the
/// bytes apart) and `control`, as smoltcp emits it (IPv4: id 0, DF).
fn seg_between(ends: (IpAddress, IpAddress), seq: u32, len: usize, control: TcpControl) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (seq as usize + i) as u8).collect();
    let tcp = TcpRepr {
        dst_port: 5002,
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: Some(TcpSeqNumber(77)),
        window_len: 4096,
        ..test_frames::tcp(control, &payload)
    };
    test_frames::emit(ends.0, ends.1, &tcp)
}

/// [`seg_between`] over IPv4 (the writer's tests use it too).
pub(in crate::link::tun) fn seg(seq: u32, len: usize, control: TcpControl) -> Vec<u8> {
    seg_between(v4(), seq, len, control)
}

/// Sets an IPv4 frame's id (and its header checksum).
fn with_id(mut frame: Vec<u8>, id: u16) -> Vec<u8> {
    frame[4..6].copy_from_slice(&id.to_be_bytes());
    tso::fill_checksum(&mut frame);
    frame
}

/// Runs the rules over `frames` as the writer does: how many frames each run takes.
fn runs(frames: &[Vec<u8>]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let mut n = 1;
        if let Some(first) = Seg::of(&frames[i]) {
            let mut run = Run::new(first);
            while let Some(next) = frames.get(i + n).and_then(|f| Seg::of(f)) {
                if !run.join(&frames[i], &frames[i + n], next) {
                    break;
                }
                n += 1;
            }
            assert_eq!(run.count, n);
        }
        out.push(n);
        i += n;
    }
    out
}

/// Merges `frames` (one run) as the writer does, then cuts the result as the kernel's GSO would:
/// the virtio-net header and the pieces.
fn merge_and_cut(frames: &[Vec<u8>]) -> ([u8; VNET], Vec<Vec<u8>>) {
    let mut run = Run::new(Seg::of(&frames[0]).unwrap());
    for f in &frames[1..] {
        assert!(run.join(&frames[0], f, Seg::of(f).unwrap()), "joins");
    }
    let mut merged = Vec::new();
    run.header(&frames[0], &mut merged);
    for f in frames {
        merged.extend_from_slice(&f[Seg::of(f).unwrap().hdr_len..]);
    }
    let vnet: [u8; VNET] = merged[..VNET].try_into().unwrap();
    let frame = &merged[VNET..];
    // The IPv4 header checksum of the merged frame is complete; the kernel checks it.
    if frame[0] >> 4 == 4 {
        assert_eq!(fold(sum16(&frame[..20], 0)), 0xffff, "IPv4 header checksum");
    }
    let gso = usize::from(u16::from_le_bytes([vnet[4], vnet[5]]));
    let mut pieces = Vec::new();
    let mut scratch = Vec::new();
    tso::cut(frame, gso, &mut scratch, |_, p| pieces.push(p.to_vec()));
    (vnet, pieces)
}

#[test]
fn full_segments_and_a_shorter_psh_last_merge_and_cut_back_to_themselves() {
    let frames: Vec<Vec<u8>> = (0..5u32)
        .map(|i| with_id(seg(1000 + i * 1448, 1448, TcpControl::None), 300 + i as u16))
        .chain([with_id(seg(1000 + 5 * 1448, 100, TcpControl::Psh), 305)])
        .collect();
    assert_eq!(runs(&frames), [6]);
    let (vnet, pieces) = merge_and_cut(&frames);
    assert_eq!(vnet[0], 1, "NEEDS_CSUM");
    assert_eq!(vnet[1], 1, "GSO_TCPV4");
    assert_eq!(u16::from_le_bytes([vnet[2], vnet[3]]), 40, "hdr_len");
    assert_eq!(u16::from_le_bytes([vnet[4], vnet[5]]), 1448, "gso_size");
    assert_eq!(u16::from_le_bytes([vnet[6], vnet[7]]), 20, "csum_start");
    assert_eq!(u16::from_le_bytes([vnet[8], vnet[9]]), 16, "csum_offset");
    assert_eq!(pieces, frames, "GSO gives back every frame, byte for byte");
}

#[test]
fn smoltcps_frames_with_id_0_and_df_merge_and_come_back_but_for_the_id() {
    let frames: Vec<Vec<u8>> = (0..4u32)
        .map(|i| seg(1 + i * 1460, 1460, TcpControl::None))
        .collect();
    assert!(frames.iter().all(|f| f[4..6] == [0, 0] && f[6] & 0x40 != 0));
    assert_eq!(runs(&frames), [4]);
    let (_, pieces) = merge_and_cut(&frames);
    assert_eq!(pieces.len(), 4);
    for (i, (p, f)) in pieces.iter().zip(&frames).enumerate() {
        assert_eq!(
            u16::from_be_bytes([p[4], p[5]]),
            i as u16,
            "GSO counts ids up"
        );
        let strip = |b: &[u8]| [&b[..4], &b[6..10], &b[12..]].concat();
        assert_eq!(
            strip(p),
            strip(f),
            "frame {i} but for id and header checksum"
        );
    }
}

#[test]
fn ipv6_runs_merge_as_gso_tcpv6_and_cut_back_to_themselves() {
    let frames: Vec<Vec<u8>> = (0..3u32)
        .map(|i| seg_between(v6(), 9 + i * 1440, 1440, TcpControl::None))
        .chain([seg_between(v6(), 9 + 3 * 1440, 7, TcpControl::None)])
        .collect();
    assert_eq!(runs(&frames), [4]);
    let (vnet, pieces) = merge_and_cut(&frames);
    assert_eq!(&vnet[..2], &[1, 4], "NEEDS_CSUM, GSO_TCPV6");
    assert_eq!(u16::from_le_bytes([vnet[6], vnet[7]]), 40, "csum_start");
    assert_eq!(pieces, frames);
}

#[test]
fn a_run_ends_at_psh_at_a_shorter_segment_and_at_a_longer_one() {
    let s = |seq, len, c| seg(seq, len, c);
    // PSH ends the run it closes; a shorter one ends its run; a longer one starts a new run.
    let frames = vec![
        s(0, 1000, TcpControl::None),
        s(1000, 1000, TcpControl::Psh),
        s(2000, 1000, TcpControl::None),
        s(3000, 500, TcpControl::None),
        s(3500, 500, TcpControl::None),
        s(4000, 1000, TcpControl::None),
        s(5000, 1000, TcpControl::None),
    ];
    assert_eq!(runs(&frames), [2, 2, 1, 2]);
}

#[test]
fn gaps_other_flows_and_changed_headers_are_not_merged() {
    let base = || seg(0, 1000, TcpControl::None);
    let next = || seg(1000, 1000, TcpControl::None);
    assert_eq!(runs(&[base(), next()]), [2], "the control case merges");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a gap in the sequence", seg(1001, 1000, TcpControl::None)),
        ("a resent segment", seg(0, 1000, TcpControl::None)),
        ("another flow", {
            let mut f = next();
            f[20 + 1] = 21; // source port 21
            tso::fill_checksum(&mut f);
            f
        }),
        ("another ack", {
            let mut f = next();
            f[20 + 11] ^= 1;
            tso::fill_checksum(&mut f);
            f
        }),
        ("another window", {
            let mut f = next();
            f[20 + 15] ^= 1;
            tso::fill_checksum(&mut f);
            f
        }),
        ("another TTL", {
            let mut f = next();
            f[8] = 63;
            tso::fill_checksum(&mut f);
            f
        }),
        ("an id neither equal nor next", with_id(next(), 5)),
        ("FIN", seg(1000, 1000, TcpControl::Fin)),
        ("RST", seg(1000, 1000, TcpControl::Rst)),
        ("no payload", seg(1000, 0, TcpControl::None)),
        (
            "IPv6 after IPv4",
            seg_between(v6(), 1000, 1000, TcpControl::None),
        ),
    ];
    for (what, second) in cases {
        assert_eq!(runs(&[base(), second]), [1, 1], "{what}");
    }
    // Ids: 0, 0 (fixed) then 1 (counting) do not mix.
    let mixed = [
        with_id(base(), 0),
        with_id(next(), 0),
        with_id(seg(2000, 1000, TcpControl::None), 1),
    ];
    assert_eq!(runs(&mixed), [2, 1]);
    // Equal ids need DF.
    let mut no_df = vec![base(), next()];
    for f in &mut no_df {
        f[6] &= !0x40;
        tso::fill_checksum(f);
    }
    assert_eq!(runs(&no_df), [1, 1]);
    // Fragments and SYNs are never a run's first frame either.
    assert_eq!(Seg::of(&seg(0, 10, TcpControl::Syn)), None);
    let mut frag = base();
    frag[6] |= 0x20; // more fragments
    assert_eq!(Seg::of(&frag), None);
    assert_eq!(Seg::of(&base()[..30]), None, "a cut-off frame");
    assert_eq!(Seg::of(&[]), None);
}

#[test]
fn a_run_stops_at_64_kib_and_at_the_segment_limit() {
    let big: Vec<Vec<u8>> = (0..50u32)
        .map(|i| seg(i * 1460, 1460, TcpControl::None))
        .collect();
    // 40 + 44 * 1460 = 64 280 bytes; one more would pass 65 535.
    assert_eq!(runs(&big), [44, 6]);
    let small: Vec<Vec<u8>> = (0..70u32)
        .map(|i| seg(i * 100, 100, TcpControl::None))
        .collect();
    assert_eq!(runs(&small), [MAX_SEGS, 70 - MAX_SEGS]);
}
