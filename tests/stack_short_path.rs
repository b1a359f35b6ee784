//! Loss recovery on a short path (a round trip of a fraction of a millisecond, as through the
//! TUN relay), on the in-process cable with a test device that loses chosen frames after the
//! capture saw them. tshark is the oracle for what a frame is (a retransmission); our stack
//! view says why it was sent and what cwnd was.
//!
//! - A flight whose ACKs are all lost is repaired by a tail loss probe after about 2 ms, not
//!   after a 10 ms floor (30 round trips of this path), and the probe's late ACK gives no RTT
//!   sample (SRTT stays below a millisecond).
//! - With `--byte-counting`, congestion avoidance grows cwnd by one MSS per window of bytes
//!   acknowledged (RFC 5681 3.1) even though the receiver acknowledges several segments at once.

mod common;
/// The files of `tests/stack/`.
mod stack {
    pub mod lossy;
    pub mod view;
}

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration as StdDuration;

use smolftp::lab::LabConfig;
use smolftp::trace::Segment;
use stack::lossy::{Rule, lossy_retr, lossy_retr_both, nth_data_segment};
use view::{have_tshark, tshark, view};

use stack::view;

/// A lab on a cable of 100 us each way, with tail loss probes and Linux's RTO floor.
fn short_path() -> LabConfig {
    let mut lab = LabConfig::default();
    lab.cable.delay = StdDuration::from_micros(100);
    lab.stacks.tail_loss_probe = true;
    lab.stacks.min_rto = Some(StdDuration::from_millis(200));
    lab
}

/// Rules that lose every ACK the client sends on the data connection from its `from`th
/// (from 1) until the server sends a segment below the highest it sent (the probe): a flight
/// whose ACKs are all lost.
fn acks_lost_until_a_probe(from: usize) -> (Rule, Rule) {
    let probed = Rc::new(Cell::new(false));
    let highest = Rc::new(Cell::new(None::<u32>));
    let seen_probe = probed.clone();
    let server: Rule = Rc::new(RefCell::new(move |frame: &[u8]| {
        if let Some(seg) = Segment::borrow_ip(frame)
            && seg.src.port() == 20
            && !seg.payload.is_empty()
        {
            let end = seg.seq.wrapping_add(seg.payload.len() as u32);
            match highest.get() {
                Some(h) if (end.wrapping_sub(h) as i32) <= 0 => probed.set(true),
                _ => highest.set(Some(end)),
            }
        }
        false
    }));
    let mut acks = 0;
    let client: Rule = Rc::new(RefCell::new(move |frame: &[u8]| {
        let Some(seg) = Segment::borrow_ip(frame) else {
            return false;
        };
        if seg.dst.port() != 20 || !seg.payload.is_empty() || seen_probe.get() {
            return false;
        }
        acks += 1;
        acks >= from
    }));
    (server, client)
}

/// (frame number, time, comment) of the server's data-connection frames.
fn server_frames(capture: &std::path::Path) -> Vec<(u64, f64, String)> {
    tshark(
        capture,
        Some("tcp.srcport == 20"),
        &["frame.number", "frame.time_relative", "frame.comment"],
    )
    .into_iter()
    .map(|f| {
        (
            f["frame.number"].parse().unwrap(),
            f["frame.time_relative"].parse().unwrap(),
            f["frame.comment"].clone(),
        )
    })
    .collect()
}

#[test]
fn a_flight_whose_acks_are_lost_is_probed_after_2_ms_not_10() {
    if !have_tshark() {
        return;
    }
    let dir = common::Scratch::new("short-path-probe");
    let (server, client) = acks_lost_until_a_probe(20);
    let capture = lossy_retr_both(&dir.0, 200_000, short_path(), server, client);
    let frames = server_frames(&capture);
    let i = frames
        .iter()
        .position(|(_, _, c)| c.contains("why: tail loss probe"))
        .unwrap_or_else(|| panic!("no probe: {frames:?}"));
    let (probe, at, _) = &frames[i];
    let (_, before, _) = &frames[i - 1];
    let silence = at - before;
    // The path's SRTT rounds to 0 ms: the probe timeout is its 2 ms floor (Linux: 2 x SRTT
    // + 2 ms), where the old 10 ms floor left the link idle for 50 round trips.
    assert!(
        (0.0015..0.005).contains(&silence),
        "the probe (frame {probe}) came {silence:.4} s after the last segment"
    );
    // tshark calls the probe a retransmission (it resends the flight's last segment).
    let flagged = tshark(
        &capture,
        Some(&format!(
            "frame.number == {probe} && tcp.analysis.retransmission"
        )),
        &["frame.number"],
    );
    assert_eq!(
        flagged.len(),
        1,
        "tshark does not see frame {probe} as a retransmission"
    );
    // Karn: the probe's ACK, late by the probe timeout, acknowledges the timed segment too;
    // no sample from it, so SRTT stays below a millisecond.
    let srtt_after = frames[i + 1..]
        .iter()
        .filter_map(|(_, _, c)| view(c))
        .take(40)
        .filter_map(|v| v.srtt)
        .fold(0.0, f64::max);
    assert!(
        srtt_after < 1.0,
        "SRTT rose to {srtt_after} ms after the probe"
    );
    assert!(
        !frames.iter().any(|(_, _, c)| c.contains("why: RTO")),
        "an RTO was needed"
    );
}

/// cwnd of the server's new-data segments in congestion avoidance (after the recovery from
/// one lost segment), in order, and ssthresh.
fn cwnd_in_congestion_avoidance(byte_counting: bool) -> (Vec<u64>, u64) {
    let dir = common::Scratch::new(if byte_counting {
        "short-path-abc"
    } else {
        "short-path-no-abc"
    });
    let mut lab = short_path();
    lab.stacks.byte_counting = byte_counting;
    let capture = lossy_retr(&dir.0, 1_000_000, lab, nth_data_segment(30));
    let views: Vec<view::View> = server_frames(&capture)
        .iter()
        .filter_map(|(_, _, c)| view(c))
        .collect();
    // Recovery ends with the last retransmission; congestion avoidance follows.
    let last_rtx = views
        .iter()
        .rposition(|v| v.why.contains("retransmission"))
        .expect("the lost segment was retransmitted");
    let mut cwnds = Vec::new();
    let mut ssthresh = 0;
    // Fast recovery ends when cwnd deflates to ssthresh (RFC 6582).
    let deflated = last_rtx
        + views[last_rtx..]
            .iter()
            .position(|v| matches!((v.cwnd, v.ssthresh), (Some(c), Some(s)) if c < s + 1460))
            .expect("recovery ends");
    for v in &views[deflated..] {
        if let (Some(cwnd), Some(s)) = (v.cwnd, v.ssthresh)
            && v.why == "new data"
        {
            ssthresh = s;
            cwnds.push(cwnd);
        }
    }
    (cwnds, ssthresh)
}

#[test]
fn byte_counting_grows_cwnd_one_mss_per_window_acknowledged() {
    if !have_tshark() {
        return;
    }
    let mss = 1460;
    let (cwnds, ssthresh) = cwnd_in_congestion_avoidance(true);
    assert!(
        cwnds.len() > 100,
        "too little congestion avoidance: {cwnds:?}"
    );
    let steps: Vec<i64> = cwnds
        .windows(2)
        .map(|w| w[1] as i64 - w[0] as i64)
        .filter(|&d| d != 0)
        .collect();
    assert!(
        steps.iter().all(|&d| d == mss as i64),
        "cwnd grew by other than one MSS: {steps:?}"
    );
    // About one MSS per round trip: from ssthresh, many whole segments by the end.
    let grown = cwnds.last().unwrap() - ssthresh;
    assert!(grown >= 10 * mss, "cwnd grew by {grown} bytes only");

    // Per-ACK growth (MSS * MSS / cwnd per ACK) with the same losses: less, in pieces.
    let (per_ack, ssthresh) = cwnd_in_congestion_avoidance(false);
    let grown_per_ack = per_ack.last().unwrap() - ssthresh;
    assert!(
        grown_per_ack < grown,
        "per-ACK growth {grown_per_ack} >= byte counting {grown}"
    );
}
