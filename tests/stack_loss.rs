//! The stack's "why" under loss, with tshark as the oracle: a test device on the cable drops
//! chosen frames after the capture saw them (as a lossy cable would), and a small receive
//! window keeps flights short. Every frame tshark flags as a retransmission, fast
//! retransmission, duplicate ACK, window update or zero-window probe carries that reason in
//! our comment, and every frame our comment gives such a reason is so flagged (both ways).
//! Reno's reactions show in the comments: a fast retransmission halves the flight into
//! ssthresh (cwnd = ssthresh + 3 MSS); an RTO sets cwnd to one MSS, ssthresh to half the
//! flight, and doubles the timer.

mod common;
/// The files of `tests/stack/`.
mod stack {
    pub mod lossy;
    pub mod view;
}
use stack::view;

use std::path::Path;
use std::time::Duration as StdDuration;

use smolftp::lab::LabConfig;
use stack::lossy::{
    data_segments, lossy_retr, lossy_retr_tapped, nth_data_segment,
    nth_data_segment_and_its_retransmission,
};
use view::{have_tshark, tshark, view};

/// tshark's analysis flag for what our comment's `why` says, if it is one tshark flags.
fn flag_of(why: &str) -> Option<&'static str> {
    if why.starts_with("fast retransmission") {
        Some("fast_retransmission")
    } else if why.contains("retransmission") {
        Some("retransmission")
    } else if why.starts_with("duplicate ACK") {
        Some("duplicate_ack")
    } else if why == "window update" {
        Some("window_update")
    } else if why == "zero-window probe" {
        Some("zero_window_probe")
    } else if why == "keep-alive" {
        Some("keep_alive")
    } else {
        None
    }
}

const FLAGS: [&str; 6] = [
    "fast_retransmission",
    "retransmission",
    "duplicate_ack",
    "window_update",
    "zero_window_probe",
    "keep_alive",
];

/// Compares tshark's flags with our reasons on every frame; returns the reasons seen.
fn agree_both_ways(capture: &Path) -> Vec<(u64, String)> {
    let mut fields = vec!["frame.number".to_string(), "frame.comment".to_string()];
    fields.extend(FLAGS.iter().map(|f| format!("tcp.analysis.{f}")));
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let mut mismatches = Vec::new();
    let mut whys = Vec::new();
    for f in tshark(capture, Some("tcp"), &fields) {
        let number: u64 = f["frame.number"].parse().unwrap();
        let v = view(&f["frame.comment"])
            .unwrap_or_else(|| panic!("frame {number} has no view: {}", f["frame.comment"]));
        // tshark marks a fast retransmission as a retransmission too.
        let mut flagged: Vec<&str> = FLAGS
            .iter()
            .copied()
            .filter(|flag| !f[&format!("tcp.analysis.{flag}")].is_empty())
            .collect();
        if flagged.contains(&"fast_retransmission") {
            flagged.retain(|x| *x != "retransmission");
        }
        let ours: Vec<&str> = flag_of(&v.why).into_iter().collect();
        // RACK resends a lost retransmission of the hole at SND.UNA, where the duplicate
        // ACKs point: tshark counts that a fast retransmission.
        let rack_at_una =
            v.why.starts_with("lost retransmission") && flagged == ["fast_retransmission"];
        if flagged != ours && !rack_at_una {
            mismatches.push(format!(
                "frame {number}: tshark {flagged:?}, ours {ours:?} ({})",
                v.why
            ));
        }
        whys.push((number, v.why));
    }
    assert!(
        mismatches.is_empty(),
        "tshark and our reasons disagree:\n{}",
        mismatches.join("\n")
    );
    whys
}

fn lab(mtu: usize, window: usize) -> LabConfig {
    let mut lab_cfg = LabConfig::default();
    lab_cfg.cable.mtu = mtu;
    lab_cfg.stacks.window = window;
    lab_cfg.cable.delay = StdDuration::from_millis(5);
    lab_cfg
}

/// One data segment lost in a long flight: duplicate ACKs, a fast retransmission (Reno halves
/// the flight into ssthresh and inflates cwnd by the three duplicates), agreed with tshark.
/// The receiver SACKs two segments per duplicate ACK, so two of them start recovery: more
/// than 2 MSS SACKed above the hole make it lost (RFC 6675 IsLost).
#[test]
fn a_lost_segment_gives_dup_acks_and_a_fast_retransmission_as_tshark_sees_them() {
    if !have_tshark() {
        return;
    }
    let dir = common::Scratch::new("stack-fastrtx");
    let mss = 536;
    let capture = lossy_retr(&dir.0, 60_000, lab(576, 65535), nth_data_segment(20));
    let whys = agree_both_ways(&capture);
    let count = |p: &str| whys.iter().filter(|(_, w)| w.starts_with(p)).count();
    assert!(count("duplicate ACK") >= 2, "{whys:?}");
    assert_eq!(count("fast retransmission"), 1, "{whys:?}");
    assert_eq!(count("RTO retransmission"), 0, "{whys:?}");
    let comments = tshark(&capture, Some("tcp.srcport == 20"), &["frame.comment"]);
    let views: Vec<view::View> = comments
        .iter()
        .filter_map(|f| view(&f["frame.comment"]))
        .collect();
    let i = views
        .iter()
        .position(|v| v.why.starts_with("fast retransmission"))
        .unwrap();
    let fr = &views[i];
    let ssthresh = fr.ssthresh.expect("a loss sets ssthresh");
    // The flight when the loss is detected (RFC 5681 (4)): what the fast retransmission's
    // own view shows, since the retransmission adds nothing to it.
    assert_eq!(
        ssthresh,
        (fr.inflight / 2).max(2 * mss),
        "ssthresh = half the flight"
    );
    assert_eq!(
        fr.cwnd,
        Some(ssthresh + 3 * mss),
        "cwnd = ssthresh + 3 MSS (fast recovery)"
    );
}

/// The last segment lost: no duplicate ACKs come, the retransmission timer fires: cwnd falls
/// to one MSS, ssthresh to half the flight, the timer doubles; tshark flags the resent segment.
#[test]
fn a_lost_tail_is_resent_by_the_rto_with_cwnd_one_mss() {
    if !have_tshark() {
        return;
    }
    let dir = common::Scratch::new("stack-rto");
    let mss = 1460;
    // 5 segments: 2 in the first flight, 3 in the second, whose last (DATA+FIN) is lost.
    let capture = lossy_retr(
        &dir.0,
        5 * mss as usize,
        lab(1500, 65535),
        nth_data_segment(5),
    );
    let whys = agree_both_ways(&capture);
    let comments = tshark(&capture, Some("tcp.srcport == 20"), &["frame.comment"]);
    let views: Vec<view::View> = comments
        .iter()
        .filter_map(|f| view(&f["frame.comment"]))
        .collect();
    let i = views
        .iter()
        .position(|v| v.why.starts_with("RTO retransmission #1"))
        .unwrap_or_else(|| panic!("no RTO retransmission in {whys:?}"));
    let (before, rto) = (&views[i - 1], &views[i]);
    assert_eq!(rto.cwnd, Some(mss), "cwnd = 1 MSS after an RTO");
    assert_eq!(
        rto.ssthresh,
        Some((before.inflight / 2).max(2 * mss)),
        "ssthresh = half the flight"
    );
    assert_eq!(rto.rto, 2 * before.rto, "the timer backs off");
    assert!(rto.why.contains("timer backed off to 2 s"), "{}", rto.why);
}

/// A small window (8 KiB) and a lost segment: the receiver's window updates break the run of
/// duplicate ACKs (RFC 5681: a duplicate ACK repeats the window too), so the RTO resends; every
/// duplicate ACK and window update agrees with tshark both ways.
#[test]
fn a_small_window_with_a_loss_agrees_with_tshark_both_ways() {
    if !have_tshark() {
        return;
    }
    let dir = common::Scratch::new("stack-smallwin");
    let capture = lossy_retr(
        &dir.0,
        60_000,
        lab(576, 8 * 1024),
        nth_data_segment_and_its_retransmission(12),
    );
    let whys = agree_both_ways(&capture);
    let has = |p: &str| whys.iter().any(|(_, w)| w.starts_with(p));
    assert!(has("duplicate ACK #1"), "{whys:?}");
    assert!(has("window update"), "{whys:?}");
    assert!(has("RTO retransmission #1"), "{whys:?}");
}

/// Log lines of target `smolftp::tcp`, with the thread that logged them (tests run in threads
/// of their own, and a lab runs in its caller's thread).
struct Lines(std::sync::Mutex<Vec<(std::thread::ThreadId, String)>>);

impl log::Log for Lines {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "smolftp::tcp" && m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let line = r.args().to_string();
            self.0
                .lock()
                .unwrap()
                .push((std::thread::current().id(), line));
        }
    }
    fn flush(&self) {}
}

static LINES: Lines = Lines(std::sync::Mutex::new(Vec::new()));

/// This thread's congestion events (state transitions left out).
fn my_events() -> Vec<String> {
    let me = std::thread::current().id();
    LINES
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, l)| *t == me && !l.ends_with(')'))
        .map(|(_, l)| l.clone())
        .collect()
}

/// `RUST_LOG=smolftp::tcp=info` tells each congestion event with its 4-tuple: fast recovery
/// entered and left, the RTO with its backoff, slow start giving way to congestion avoidance.
#[test]
fn congestion_events_are_logged_with_the_four_tuple() {
    if log::set_logger(&LINES).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let dir = common::Scratch::new("stack-events");
    lossy_retr(&dir.0, 60_000, lab(576, 65535), nth_data_segment(20));
    let events = my_events();
    let tuple = "server: 10.0.0.1:20 -> 10.0.0.2:5001: ";
    let has = |what: &str| {
        events
            .iter()
            .any(|l| l.starts_with(tuple) && l.contains(what))
    };
    assert!(has("fast recovery entered ("), "{events:#?}");
    assert!(has("fast recovery left"), "{events:#?}");
    let dir = common::Scratch::new("stack-events-rto");
    lossy_retr(
        &dir.0,
        60_000,
        lab(576, 8 * 1024),
        nth_data_segment_and_its_retransmission(12),
    );
    let events = my_events();
    let has = |what: &str| {
        events
            .iter()
            .any(|l| l.starts_with(tuple) && l.contains(what))
    };
    assert!(has("RTO #1: timer backed off to 2 s, cwnd "), "{events:#?}");
    assert!(has("slow start -> congestion avoidance"), "{events:#?}");
}

/// The capture tapped at the client: the server's frames are recorded when they arrive, in the
/// client's poll, and the lost one never. Each frame still finds its sender's snapshot (by its
/// header), so every frame has its view, and the fast retransmission says so.
#[test]
fn a_capture_tapped_at_the_receiver_still_gives_every_frame_its_senders_view() {
    if !have_tshark() {
        return;
    }
    let dir = common::Scratch::new("stack-tap-client");
    let capture = lossy_retr_tapped(&dir.0, 60_000, lab(576, 65535), nth_data_segment(20), true);
    let frames = tshark(&capture, Some("tcp"), &["frame.number", "frame.comment"]);
    let mut fast = 0;
    for f in &frames {
        let v = view(&f["frame.comment"]).unwrap_or_else(|| {
            panic!(
                "frame {} has no view: {}",
                f["frame.number"], f["frame.comment"]
            )
        });
        fast += usize::from(v.why.starts_with("fast retransmission"));
    }
    let whys: Vec<String> = frames
        .iter()
        .filter_map(|f| {
            view(&f["frame.comment"]).map(|v| format!("{} {}", f["frame.number"], v.why))
        })
        .collect();
    assert_eq!(fast, 1, "{whys:#?}");
    let lost = tshark(
        &capture,
        Some("tcp.analysis.lost_segment"),
        &["frame.number"],
    );
    assert!(
        !lost.is_empty(),
        "tshark sees the gap the lost segment left"
    );
}

/// A burst of three data segments lost in one window is repaired in one recovery, without an
/// RTO: a fast retransmission, then the two other holes as SACK retransmissions (RFC 6675
/// NextSeg: each is lost, with more than 2 MSS SACKed above it) or, for a hole not yet known
/// lost, a retransmission per partial ACK (NewReno, RFC 6582).
/// tshark: no retransmission comes after an idle gap as long as the minimum RTO (1 s).
#[test]
fn a_burst_of_three_losses_in_one_window_is_repaired_without_an_rto() {
    if !have_tshark() {
        return;
    }
    let dir = common::Scratch::new("stack-burst");
    let capture = lossy_retr(&dir.0, 200_000, lab(576, 65535), data_segments(20..23));
    let whys = agree_both_ways(&capture);
    let count = |p: &str| whys.iter().filter(|(_, w)| w.starts_with(p)).count();
    assert_eq!(count("fast retransmission"), 1, "{whys:?}");
    assert_eq!(
        count("SACK retransmission") + count("partial-ACK retransmission"),
        2,
        "{whys:?}"
    );
    assert_eq!(count("RTO retransmission"), 0, "{whys:?}");
    assert_eq!(retransmissions_after_silence(&capture), 3);
}

/// How many retransmissions (tshark's) the server's data port sent; each must follow less than
/// the minimum RTO (1 s) of silence, or it was an RTO.
fn retransmissions_after_silence(capture: &Path) -> usize {
    let retransmissions = tshark(
        capture,
        Some("tcp.analysis.retransmission && tcp.srcport == 20"),
        &["frame.number", "frame.time_delta"],
    );
    for f in &retransmissions {
        let idle: f64 = f["frame.time_delta"].parse().unwrap();
        assert!(
            idle < 1.0,
            "frame {} is a retransmission after {idle} s of silence: an RTO",
            f["frame.number"]
        );
    }
    retransmissions.len()
}

/// A lost fast retransmission with `--rack`: data sent after it is SACKed, so RACK (RFC 8985
/// 6.2) sends the hole again at once, without the RTO the same loss costs without RACK.
/// tshark agrees with every reason, and no retransmission follows a silence as long as the
/// minimum RTO (1 s).
#[test]
fn with_rack_a_lost_retransmission_is_repaired_without_an_rto() {
    if !have_tshark() {
        return;
    }
    let retr = |dir: &Path, rack: bool| {
        let mut lab = lab(576, 65535);
        lab.stacks.rack = rack;
        lab.stacks.tail_loss_probe = rack;
        let rule = nth_data_segment_and_its_retransmission(20);
        lossy_retr(dir, 200_000, lab, rule)
    };
    let dir = common::Scratch::new("stack-rack");
    let capture = retr(&dir.0, true);
    let whys = agree_both_ways(&capture);
    let count = |p: &str| whys.iter().filter(|(_, w)| w.starts_with(p)).count();
    assert_eq!(count("fast retransmission"), 1, "{whys:?}");
    assert_eq!(count("lost retransmission sent again"), 1, "{whys:?}");
    assert_eq!(count("RTO retransmission"), 0, "{whys:?}");
    assert!(retransmissions_after_silence(&capture) > 0);
    // The same loss without RACK waits for the timer. (tshark calls that RTO retransmission
    // "fast" when a duplicate ACK came within 20 ms before it, so only our reasons count.)
    let dir = common::Scratch::new("stack-norack");
    let capture = retr(&dir.0, false);
    let comments = tshark(&capture, Some("tcp.srcport == 20"), &["frame.comment"]);
    let whys: Vec<String> = comments
        .iter()
        .filter_map(|f| view(&f["frame.comment"]))
        .map(|v| v.why)
        .collect();
    let count = |p: &str| whys.iter().filter(|w| w.starts_with(p)).count();
    assert_eq!(count("RTO retransmission"), 1, "{whys:?}");
    assert_eq!(count("lost retransmission"), 0, "{whys:?}");
}
