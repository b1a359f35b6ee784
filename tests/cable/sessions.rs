//! Each impairment alone in a whole session (RETR and STOR of 256 KiB on the virtual clock,
//! tapped at the server): the files arrive intact, and tshark's analysis flags appear where our
//! comments say a fault acted, and nowhere without impairments.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use smolftp::lab::{self, LabConfig};
use smolftp::link::impair::{ImpairDir, ImpairPlan, Rates};
use smolftp::link::{Format, Recorder};

use super::oracle::{Row, have_tshark, rows, where_};
use crate::common::{RoundTrip, Scratch};

/// Pseudo-random bytes (xorshift64).
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs RETR + STOR of 256 KiB under `rates` in `dir`; asserts both intact; returns the
/// capture's path.
fn session(dir: &Scratch, rates: Rates, impair_dir: ImpairDir) -> std::path::PathBuf {
    let trip = RoundTrip::new(&dir.0, content(256 << 10, 3), content(256 << 10, 4));
    let capture = dir.0.join("s.pcapng");
    let recorder = Recorder::create(&capture, Format::Pcapng).unwrap();
    let mut cfg = LabConfig::default();
    cfg.server.set_writable(true);
    cfg.cable.impair = ImpairPlan {
        rates,
        dir: impair_dir,
        seed: 5,
        ..ImpairPlan::default()
    };
    let steps = trip.steps();
    let run = cfg
        .run(&trip.root, steps, Some(&recorder), lab::virtual_start())
        .expect("lab");
    assert_eq!(trip.failure(&run), None, "{rates:?}");
    capture
}

const FLAGS: &str = "tcp.analysis.retransmission || tcp.analysis.fast_retransmission || \
                     tcp.analysis.duplicate_ack || tcp.analysis.out_of_order || \
                     tcp.analysis.lost_segment || tcp.checksum.status == 0";

/// Every frame tshark flags has a fault told at or before it on its connection.
fn flags_follow_faults(file: &Path, what: &str) {
    let all = rows(file, None);
    let flagged = where_(file, FLAGS);
    assert!(!flagged.is_empty(), "{what}: tshark flags nothing");
    for n in &flagged {
        let r = &all[*n as usize - 1];
        let told = all
            .iter()
            .any(|t| t.number <= r.number && t.stream == r.stream && t.comment.contains("fault: "));
        if !told {
            let _ = fs::copy(
                file,
                std::env::temp_dir().join("smolftp-cable-failed.pcapng"),
            );
        }
        assert!(
            told,
            "{what}: frame {n} flagged by tshark, no fault told before it: {r:?}"
        );
    }
}

fn rates(f: impl FnOnce(&mut Rates)) -> Rates {
    let mut r = Rates::default();
    f(&mut r);
    r
}

fn noted(all: &[Row], what: &str) -> BTreeSet<u64> {
    all.iter()
        .filter(|r| r.comment.contains(what))
        .map(|r| r.number)
        .collect()
}

#[test]
fn without_impairments_tshark_flags_nothing() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-off");
    let file = session(&dir, Rates::default(), ImpairDir::Both);
    assert_eq!(where_(&file, FLAGS), BTreeSet::new());
    assert!(where_(&file, "frame.comment contains \"fault: \"").is_empty());
}

#[test]
fn loss_after_the_tap_is_retransmitted() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-loss-out");
    let file = session(&dir, rates(|r| r.loss = 3.0), ImpairDir::ToClient);
    let all = rows(&file, None);
    let lost = noted(&all, "lost on the cable after this tap");
    assert!(!lost.is_empty());
    for n in &lost {
        let l = &all[*n as usize - 1];
        if l.tcp_len == 0 {
            continue;
        }
        let again = all.iter().any(|r| {
            r.number > l.number && r.stream == l.stream && r.sport == l.sport && r.seq == l.seq
        });
        assert!(again, "lost data frame {n} never sent again");
    }
    let retrans = where_(
        &file,
        "tcp.analysis.retransmission || tcp.analysis.fast_retransmission",
    );
    assert!(!retrans.is_empty());
    flags_follow_faults(&file, "loss to the client");
}

#[test]
fn loss_before_the_tap_is_told_on_the_next_frame() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-loss-in");
    let file = session(&dir, rates(|r| r.loss = 3.0), ImpairDir::ToServer);
    let all = rows(&file, None);
    assert!(!noted(&all, "before this interface saw it").is_empty());
    assert!(
        !where_(&file, "tcp.analysis.lost_segment").is_empty(),
        "no segment missing"
    );
    flags_follow_faults(&file, "loss to the server");
}

#[test]
fn duplicates_before_the_tap_are_marked_and_flagged() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-dup");
    let file = session(&dir, rates(|r| r.duplicate = 3.0), ImpairDir::ToServer);
    let all = rows(&file, None);
    let copies = noted(&all, "a second copy of the frame before");
    assert!(!copies.is_empty());
    let flagged = where_(&file, FLAGS);
    for c in &copies {
        let r = &all[*c as usize - 1];
        // A copy of a pure ACK that acknowledges nothing new is a duplicate ACK; of data, a
        // retransmission; a copy of a window update may pass unflagged.
        if r.tcp_len > 0 {
            assert!(
                flagged.contains(c),
                "copy {c} of a data segment not flagged by tshark"
            );
        }
    }
    flags_follow_faults(&file, "duplication to the server");
}

#[test]
fn reordered_frames_arrive_out_of_order() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-reorder");
    let file = session(&dir, rates(|r| r.reorder = 3.0), ImpairDir::ToServer);
    let all = rows(&file, None);
    let late = noted(&all, "arrives late");
    assert!(!late.is_empty());
    let ooo = where_(
        &file,
        "tcp.analysis.out_of_order || tcp.analysis.retransmission",
    );
    let late_data: Vec<u64> = late
        .iter()
        .copied()
        .filter(|n| all[*n as usize - 1].tcp_len > 0)
        .collect();
    assert!(!late_data.is_empty(), "no data segment held back");
    // TCP sees disorder only where a later segment of the same connection and direction got
    // past the late one (a frame held back behind another connection's is in order for TCP).
    let overtaken: Vec<u64> = late_data
        .iter()
        .copied()
        .filter(|n| {
            let late = &all[*n as usize - 1];
            all[..*n as usize - 1]
                .iter()
                .any(|r| r.stream == late.stream && r.sport == late.sport && r.seq > late.seq)
        })
        .collect();
    eprintln!("late data frames: {late_data:?}; overtaken within their connection: {overtaken:?}");
    assert!(
        !overtaken.is_empty(),
        "no data segment overtaken in its connection"
    );
    for n in &overtaken {
        assert!(
            ooo.contains(n),
            "late data frame {n} not flagged out of order"
        );
    }
    flags_follow_faults(&file, "reordering to the server");
}

#[test]
fn corrupted_frames_have_bad_checksums_exactly_where_told() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-corrupt");
    let file = session(&dir, rates(|r| r.corrupt = 3.0), ImpairDir::ToServer);
    let all = rows(&file, None);
    let told = noted(&all, "corrupted on the cable: bit");
    let bad: BTreeSet<u64> = all
        .iter()
        .filter(|r| r.checksum_bad)
        .map(|r| r.number)
        .collect();
    assert!(!told.is_empty());
    assert_eq!(
        told, bad,
        "bad checksums where no corruption is told, or the reverse"
    );
}
