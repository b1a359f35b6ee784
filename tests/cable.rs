//! The truthful cable, checked with tshark as the oracle (issue 8): capture times as one
//! interface sees them (every ACK RTT and initial RTT is the cable's round trip), slow start
//! under a bit rate, each impairment alone in a whole session (tshark's analysis flags appear
//! exactly where our comments tell a fault), the README's `--drop` recipes, byte-identical
//! impaired captures, and the CLI's refusals. Needs tshark (required in CI, else skipped).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::{Scratch, demo, smolftp};

/// The files of `tests/cable/`.
mod cable {
    pub mod oracle;
    pub mod sessions;
}
use cable::{oracle, sessions};

use oracle::{Row, have_tshark, rows, where_};

/// A scratch directory with `big.bin` (1 MiB of pseudo-random bytes) to serve.
fn big_root(tag: &str) -> Scratch {
    let dir = Scratch::new(tag);
    std::fs::create_dir_all(dir.path("root")).unwrap();
    std::fs::write(dir.path("root/big.bin"), sessions::content(1 << 20, 9)).unwrap();
    dir
}

/// Serialization time of `len` bytes at `rate` bit/s, seconds.
fn ser(len: u64, rate: Option<f64>) -> f64 {
    rate.map_or(0.0, |r| len as f64 * 8.0 / r)
}

/// Checks every ACK RTT and initial RTT on the data connections of `file` (tapped at `tapped`)
/// against the cable: one-way `delay` seconds, `rate` bit/s.
fn check_rtts(file: &Path, tapped: &str, delay: f64, rate: Option<f64>) {
    let all = rows(file, None);
    // The tapped host's link: when each of its frames has left (frames wait behind earlier
    // ones), from the capture's own send stamps.
    let mut left = BTreeMap::new();
    let mut free = 0.0f64;
    for r in all.iter().filter(|r| r.src == tapped) {
        free = free.max(r.time) + ser(r.ip_len, rate);
        left.insert(r.number, free);
    }
    let by_number: BTreeMap<u64, &Row> = all.iter().map(|r| (r.number, r)).collect();
    let (mut acks, mut irtts) = (0, 0);
    for r in all.iter().filter(|r| r.data_conn()) {
        if let Some(rtt) = r.ack_rtt {
            let f = by_number[&r.acks_frame.expect("ack_rtt without acks_frame")];
            assert_eq!(
                f.src, tapped,
                "frame {}: RTT of a frame the tap did not send",
                r.number
            );
            assert_ne!(
                r.src, tapped,
                "frame {}: RTT measured on an outbound ACK",
                r.number
            );
            let expected = left[&f.number] - f.time + 2.0 * delay + ser(r.ip_len, rate);
            assert!(
                (rtt - expected).abs() < 0.001,
                "{}: frame {} acks frame {} after {rtt:.6} s; the cable says {expected:.6} s",
                file.display(),
                r.number,
                f.number
            );
            acks += 1;
        }
        if let Some(irtt) = r.irtt {
            let expected = 2.0 * delay + ser(52, rate) * 2.0;
            assert!(
                (irtt - expected).abs() < 0.001,
                "{}: frame {}: initial RTT {irtt:.6} s, the cable says {expected:.6} s",
                file.display(),
                r.number
            );
            irtts += 1;
        }
    }
    assert!(
        acks >= 4 && irtts >= 4,
        "{acks} ACK RTTs and {irtts} iRTTs checked: too few"
    );
}

#[test]
fn every_rtt_is_the_cables_round_trip() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-rtt");
    for (tap, ip) in [("server", "10.0.0.1"), ("client", "10.0.0.2")] {
        demo(&dir.0, "d50.pcapng", &["-q", "--delay", "50", "--tap", tap]);
        check_rtts(&dir.path("d50.pcapng"), ip, 0.050, None);
        demo(
            &dir.0,
            "r10.pcapng",
            &["-q", "--delay", "20", "--rate", "10M", "--tap", tap],
        );
        check_rtts(&dir.path("r10.pcapng"), ip, 0.020, Some(10e6));
    }
}

#[test]
fn slow_start_shows_under_a_bit_rate() {
    if !have_tshark() {
        return;
    }
    let dir = big_root("cable-slowstart");
    demo(
        &dir.0,
        "ss.pcapng",
        &[
            "-q", "--rate", "10M", "--delay", "20", "--root", "root", "--file", "big.bin",
        ],
    );
    let data: Vec<Row> = rows(
        &dir.path("ss.pcapng"),
        Some("tcp.dstport == 5002 && tcp.len > 0"),
    );
    let rtt = 0.040;
    let t0 = data[0].time;
    // Bytes sent per round trip since the first data segment.
    let mut rounds = vec![0u64; 8];
    for r in &data {
        let k = ((r.time - t0) / rtt) as usize;
        if k < rounds.len() {
            rounds[k] += r.tcp_len;
        }
    }
    // Slow start: each round at least doubles, until twice a round would pass the 64 KiB
    // receive window.
    let mut doubled = 0;
    for k in 0..rounds.len() - 1 {
        if 2 * rounds[k] > 65_535 {
            break;
        }
        assert!(
            rounds[k + 1] >= 2 * rounds[k],
            "round {} sent {} bytes, round {k} {}: not slow start: {rounds:?}",
            k + 1,
            rounds[k + 1],
            rounds[k]
        );
        doubled += 1;
    }
    assert!(
        doubled >= 4,
        "slow start shown for {doubled} rounds only: {rounds:?}"
    );
}

/// The frames of `file` whose comment tells a fault containing `what`.
fn told(file: &Path, what: &str) -> BTreeSet<u64> {
    where_(file, &format!("frame.comment contains \"{what}\""))
}

#[test]
fn readme_recipe_lost_data_segment_fast_retransmit() {
    if !have_tshark() {
        return;
    }
    let dir = big_root("cable-recipe-data");
    let args = [
        "-q",
        "--root",
        "root",
        "--file",
        "big.bin",
        "--drop",
        "data:30@20>5002",
    ];
    demo(&dir.0, "r.pcapng", &args);
    let file = dir.path("r.pcapng");
    let lost: Vec<u64> = told(&file, "--drop data:30@20>5002").into_iter().collect();
    assert_eq!(lost.len(), 1, "one frame told lost: {lost:?}");
    let all = rows(&file, Some("tcp.port == 5002"));
    let seq = all.iter().find(|r| r.number == lost[0]).unwrap().seq;
    let dup = where_(&file, "tcp.analysis.duplicate_ack && tcp.srcport == 5002");
    let fast = where_(&file, "tcp.analysis.fast_retransmission");
    assert_eq!(fast.len(), 1, "one fast retransmission: {fast:?}");
    let f = *fast.iter().next().unwrap();
    assert_eq!(
        all.iter().find(|r| r.number == f).unwrap().seq,
        seq,
        "retransmitted another segment"
    );
    assert!(
        dup.iter().filter(|n| **n > lost[0] && **n < f).count() >= 3,
        "{dup:?}"
    );
}

#[test]
fn readme_recipe_lost_syn_ack_backs_off() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-recipe-synack");
    demo(
        &dir.0,
        "s.pcapng",
        &["-q", "--drop", "synack:1", "--drop", "synack:2"],
    );
    let file = dir.path("s.pcapng");
    let syns = rows(
        &file,
        Some("tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 21"),
    );
    let times: Vec<f64> = syns.iter().map(|r| r.time - syns[0].time).collect();
    assert_eq!(times.len(), 3, "SYN, then two retransmissions: {times:?}");
    // smoltcp's first RTO is 1 s, then it doubles.
    assert!(
        (times[1] - 1.0).abs() < 0.01 && (times[2] - 3.0).abs() < 0.01,
        "{times:?}"
    );
    assert_eq!(told(&file, "--drop synack").len(), 2);
    let retrans = where_(
        &file,
        "tcp.analysis.retransmission && tcp.flags.syn == 1 && tcp.flags.ack == 0",
    );
    assert_eq!(retrans, syns[1..].iter().map(|r| r.number).collect());
}

#[test]
fn readme_recipe_duplicate_gives_dup_acks() {
    if !have_tshark() {
        return;
    }
    let dir = big_root("cable-recipe-dup");
    let args = [
        "-q",
        "--root",
        "root",
        "--file",
        "big.bin",
        "--duplicate",
        "5",
        "--impair-dir",
        "to-client",
    ];
    demo(&dir.0, "u.pcapng", &args);
    let file = dir.path("u.pcapng");
    let copies = told(&file, "duplicated on the cable after this tap");
    let dup = where_(&file, "tcp.analysis.duplicate_ack && tcp.srcport == 5002");
    assert!(!copies.is_empty() && !dup.is_empty(), "{copies:?} {dup:?}");
    for d in &dup {
        assert!(
            copies.iter().any(|c| c < d),
            "dup ACK {d} before any duplicated frame"
        );
    }
}

#[test]
fn readme_recipe_rate_and_queue_slow_start_then_drops() {
    if !have_tshark() {
        return;
    }
    let dir = big_root("cable-recipe-queue");
    let args = [
        "-q", "--root", "root", "--file", "big.bin", "--rate", "1M", "--queue", "4", "--delay",
        "20",
    ];
    demo(&dir.0, "q.pcapng", &args);
    let file = dir.path("q.pcapng");
    let drops = told(&file, "dropped by the link's full queue");
    // A hole resent during SACK recovery right after other segments is "out of order" to
    // tshark (it came within its reordering threshold), not a "retransmission".
    let retrans = where_(
        &file,
        "(tcp.analysis.retransmission || tcp.analysis.out_of_order) && tcp.srcport == 20",
    );
    assert!(!drops.is_empty(), "no queue drop");
    let first = *drops.iter().next().unwrap();
    assert!(
        retrans.iter().all(|r| *r > first),
        "a retransmission before any drop"
    );
    assert!(
        retrans.len() >= drops.len() / 2,
        "{} drops, {} retransmissions",
        drops.len(),
        retrans.len()
    );
    // Slow start before: more than the initial window went out before the first drop.
    let before = rows(&file, Some("tcp.srcport == 20 && tcp.len > 0"))
        .iter()
        .filter(|r| r.number < first)
        .count();
    assert!(
        before >= 8,
        "only {before} data segments before the first drop"
    );
}

#[test]
fn drop_frame_n_takes_the_capture_numbering() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("cable-frame-n");
    for tap in ["client", "server"] {
        demo(
            &dir.0,
            "f.pcapng",
            &["-q", "--drop", "frame:17", "--tap", tap],
        );
        let told: Vec<u64> = told(&dir.path("f.pcapng"), "--drop frame:17")
            .into_iter()
            .collect();
        assert_eq!(told.len(), 1, "--tap {tap}: {told:?}");
        // The client's frame 17 is its own (lost after the tap); at the server, frame 17
        // would have been the client's ACK: lost before the tap, told on the next frame of
        // its connection.
        match tap {
            "client" => assert_eq!(told[0], 17),
            _ => assert!(told[0] > 17, "{told:?}"),
        }
    }
}

#[test]
fn the_same_impaired_demo_gives_the_same_bytes() {
    let dir = Scratch::new("cable-determinism");
    let imp = [
        "-q",
        "--loss",
        "10",
        "--duplicate",
        "5",
        "--reorder",
        "5",
        "--corrupt",
        "3",
        "--jitter",
        "0.5",
        "--rate",
        "5M",
    ];
    demo(&dir.0, "a.pcapng", &imp);
    demo(&dir.0, "b.pcapng", &imp);
    let mut other = imp.to_vec();
    other.extend_from_slice(&["--seed", "2"]);
    demo(&dir.0, "c.pcapng", &other);
    let read = |n: &str| std::fs::read(dir.path(n)).expect("capture");
    assert_eq!(
        read("a.pcapng"),
        read("b.pcapng"),
        "two impaired runs differ"
    );
    assert_ne!(read("a.pcapng"), read("c.pcapng"), "--seed changed nothing");
}

#[test]
fn cli_refuses_what_cannot_work_and_writes_to_devices() {
    let dir = Scratch::new("cable-cli");
    let fail = |args: &[&str], says: &str| {
        let o = smolftp(&dir.0, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{args:?}: {err}");
    };
    fail(&["demo", "--ipv6", "--mtu", "576"], "1280");
    fail(&["demo", "--queue", "5"], "--queue needs --rate");
    fail(&["demo", "--drop", "dat:1"], "KIND[:N]");
    fail(&["demo", "--loss", "120"], "percentage");
    fail(&["demo", "--rate", "10X"], "bit rate");
    let o = smolftp(&dir.0, &["demo", "-q", "-o", "/dev/null"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A FIFO (as a live Wireshark would read): the capture flows through it whole.
    let fifo = dir.path("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).expect("read the FIFO"))
    };
    let o = smolftp(&dir.0, &["demo", "-q", "-o", fifo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = reader.join().expect("reader");
    assert!(
        bytes.len() > 1000 && bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a],
        "not pcapng"
    );
    let o = smolftp(&dir.0, &["demo", "-q", "-o", "/dev/null", "--loss", "100"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no greeting from the server"),
        "{err}"
    );
    assert!(err.contains("client->server:"), "no summary: {err}");
    let help = String::from_utf8_lossy(&smolftp(&dir.0, &["demo", "--help"]).stdout).into_owned();
    for range in ["576 to 9000", "1024 to 16777216", "0 to 10000"] {
        assert!(help.contains(range), "--help does not say {range}");
    }
}
