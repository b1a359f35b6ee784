use smoltcp::phy::{Device, RxToken as _, TxToken as _};
use smoltcp::time::Instant;

use super::*;
use crate::link::wire::{self, WireConfig, WireEnd};

/// An IPv4/TCP frame from `sport` to `dport` with `flags` (TCP flag byte) and `payload` bytes
/// of `fill` (checksums left zero: the middleware does not check them).
fn tcp_frame(sport: u16, dport: u16, flags: u8, payload: usize, fill: u8) -> Vec<u8> {
    let total = 40 + payload;
    let mut f = vec![0u8; total];
    f[0] = 0x45;
    f[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    f[8] = 64;
    f[9] = 6;
    f[12..16].copy_from_slice(&[10, 0, 0, 1]);
    f[16..20].copy_from_slice(&[10, 0, 0, 2]);
    f[20..22].copy_from_slice(&sport.to_be_bytes());
    f[22..24].copy_from_slice(&dport.to_be_bytes());
    f[32] = 5 << 4;
    f[33] = flags;
    f[40..].fill(fill);
    f
}

const ACK: u8 = 0x10;

fn side(dir: usize, f: impl FnOnce(&mut Rates)) -> Side {
    let mut rates = Rates::default();
    f(&mut rates);
    Side { rates, dir }
}

/// An impaired end `a` (outbound `out`, inbound `inb`, `drops`) and a plain end `b`.
fn ends(out: Side, inb: Side, drops: &[&str]) -> (Impair<WireEnd>, WireEnd, Faults) {
    let (a, b) = wire::pair(WireConfig::default());
    let faults = Faults::new(false);
    faults.add_direction("a->b", true);
    faults.add_direction("b->a", false);
    let drops = drops.iter().map(|d| d.parse().unwrap()).collect();
    (
        Impair::new(a, out, inb, drops, 1, faults.clone()),
        b,
        faults,
    )
}

fn send<D: Device>(dev: &mut D, at: Instant, frame: &[u8]) {
    dev.transmit(at)
        .unwrap()
        .consume(frame.len(), |b| b.copy_from_slice(frame));
}

fn drain<D: Device>(dev: &mut D, at: Instant) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while let Some((rx, _)) = dev.receive(at) {
        got.push(rx.consume(|b| b.to_vec()));
    }
    got
}

#[test]
fn loss_of_100_percent_loses_everything_and_counts_it() {
    let (mut a, mut b, faults) = ends(side(0, |r| r.loss = 100.0), side(1, |_| {}), &[]);
    let t = Instant::from_millis(10);
    for i in 0..5 {
        send(&mut a, t, &tcp_frame(20, 5002, ACK, 10, i));
    }
    assert!(drain(&mut b, t).is_empty());
    let (_, s) = &faults.stats()[0];
    assert_eq!((s.sent, s.lost), (5, 5));
}

#[test]
fn a_duplicate_follows_its_original_after_the_gap() {
    let (mut a, mut b, faults) = ends(side(0, |r| r.duplicate = 100.0), side(1, |_| {}), &[]);
    let t = Instant::from_millis(10);
    let frame = tcp_frame(20, 5002, ACK, 10, 7);
    send(&mut a, t, &frame);
    assert_eq!(drain(&mut b, t), vec![frame.clone()]);
    assert_eq!(a.next_arrival(), Some(t + DUPLICATE_GAP));
    // The copy goes out at the device's next call once it is due.
    let later = t + DUPLICATE_GAP;
    assert!(a.receive(later).is_none());
    assert_eq!(drain(&mut b, later), vec![frame]);
    assert_eq!(faults.stats()[0].1.duplicated, 1);
}

#[test]
fn drop_spec_takes_the_nth_matching_segment_inbound() {
    let (mut a, mut b, faults) = ends(side(0, |_| {}), side(1, |_| {}), &["data:2@20>5002"]);
    let t = Instant::from_millis(10);
    send(&mut b, t, &tcp_frame(20, 5002, ACK, 0, 0));
    for i in 1..=3 {
        send(&mut b, t, &tcp_frame(20, 5002, ACK, 100, i));
    }
    let got = drain(&mut a, t);
    let fills: Vec<u8> = got.iter().map(|f| f.last().copied().unwrap_or(0)).collect();
    assert_eq!(fills, [0, 1, 3], "the 2nd data segment should be gone");
    assert_eq!(faults.stats()[1].1.lost, 1);
}

#[test]
fn corruption_flips_one_bit_of_the_tcp_part() {
    let (mut a, mut b, _) = ends(side(0, |_| {}), side(1, |r| r.corrupt = 100.0), &[]);
    let t = Instant::from_millis(10);
    let frame = tcp_frame(20, 5002, ACK, 200, 0x55);
    send(&mut b, t, &frame);
    let got = drain(&mut a, t);
    assert_eq!(got.len(), 1);
    let diff: Vec<usize> = (0..frame.len())
        .filter(|i| got[0][*i] != frame[*i])
        .collect();
    assert_eq!(diff.len(), 1, "{diff:?}");
    assert!(diff[0] >= 20, "the IP header was hit: byte {}", diff[0]);
    assert_eq!((got[0][diff[0]] ^ frame[diff[0]]).count_ones(), 1);
}

#[test]
fn a_reordered_frame_arrives_after_the_next_one() {
    // Seeded: with 50 % some frames are held back; every frame still arrives, and one arrives
    // after a frame sent later.
    let (mut a, mut b, faults) = ends(side(0, |_| {}), side(1, |r| r.reorder = 50.0), &[]);
    let t = Instant::from_millis(10);
    for i in 0..20 {
        send(&mut b, t, &tcp_frame(20, 5002, ACK, 10, i));
    }
    let mut got: Vec<u8> = drain(&mut a, t).iter().map(|f| f[40]).collect();
    got.extend(drain(&mut a, t + HOLD_LIMIT).iter().map(|f| f[40]));
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<u8>>(), "{got:?}");
    assert_ne!(got, sorted, "nothing reordered");
    assert!(faults.stats()[1].1.reordered > 0);
}
