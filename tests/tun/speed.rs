//! The fast TUN paths keep the capture exact (issue 12): the plain path with `--no-coalesce`
//! (one frame per write, by the TUN writer thread) records exactly the frames a live tshark sees
//! on the kernel's side of the device, none missing, none doubled (with coalescing, the default,
//! see `coalesce.rs`); `--offload --capture-segments mss` records the wire's
//! MSS-sized frames, which tshark reads with every checksum valid and whose data covers the
//! file exactly once; `--gro` moves the device's NAPI to a thread and still records every
//! segment. Correctness only: no timings.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::tunlab::capture::{Directions, tcp_by_direction};
use super::tunlab::{Netns, Proc, assert_same_file, pattern_file, peer};
use super::{kernel_facing_server_with, run_curl, secs, stop_server};
use crate::common::Scratch;

/// The file these tests download: large enough for long bursts and a deep writer queue.
pub(super) const SIZE: usize = 8 << 20;

/// A root with `file.bin` of [`SIZE`] bytes.
pub(super) fn serve_file(dir: &Scratch) {
    let root = dir.path("root");
    std::fs::create_dir_all(&root).expect("root dir");
    pattern_file(&root.join("file.bin"), SIZE, 0x12_5eed);
}

/// curl downloads file.bin in active mode; the copy must be intact.
fn download(ns: &Netns, curl: &Path, dir: &Scratch) {
    let got = dir.path("got.bin");
    run_curl(
        ns,
        curl,
        dir,
        "curl-retr",
        120,
        &[&"-P", &"-", &"-o", &got, &"ftp://10.7.0.2/file.bin"],
    );
    assert_same_file(&got, &dir.path("root/file.bin"));
}

/// Starts tshark on `dev` writing `file` and waits until it captures.
pub(super) fn start_tshark(
    ns: &Netns,
    tshark: &Path,
    dir: &Scratch,
    dev: &str,
    file: &str,
) -> Proc {
    let mut cmd = ns.command(tshark);
    // A large buffer: under load a small one overflows, and dumpcap drops frames.
    cmd.args(["-q", "-B", "256", "-i", dev, "-w"])
        .arg(dir.path(file));
    let mut sniffer = ns.spawn(cmd, &dir.0, "tshark");
    sniffer.wait_for_stderr("Capturing on", secs(30));
    let deadline = Instant::now() + secs(3);
    while !sniffer.stderr_text().contains("Capture started") && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
    }
    sleep(Duration::from_millis(200));
    sniffer
}

/// `tshark -r CAPTURE OPTIONS -T fields -e FIELD...` with checksum validation on; its lines,
/// each split on tabs.
fn fields(tshark: &Path, capture: &Path, filter: &str, names: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new(tshark);
    cmd.arg("-r").arg(capture);
    cmd.args([
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
    ]);
    cmd.args(["-o", "tcp.analyze_sequence_numbers:TRUE", "-Y", filter]);
    cmd.args(["-T", "fields", "-E", "separator=\t"]);
    for n in names {
        cmd.args(["-e", n]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Panics unless the data segments from port 20 in `capture` cover the file's bytes exactly
/// once, in order (relative sequence numbers 1 to SIZE), each at most `mss` bytes long.
pub(super) fn assert_covers_once(tshark: &Path, capture: &Path, mss: usize, who: &str) {
    let rows = fields(
        tshark,
        capture,
        "tcp.srcport == 20 && tcp.len > 0",
        &["frame.number", "tcp.seq", "tcp.len"],
    );
    let mut next = 1u64;
    for row in &rows {
        let (seq, len): (u64, u64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        assert_eq!(
            seq, next,
            "{who}: frame {} starts at {seq}, the stream is at {next} (a gap, or bytes twice)",
            row[0]
        );
        assert!(
            len as usize <= mss,
            "{who}: frame {} has {len} bytes",
            row[0]
        );
        next += len;
    }
    assert_eq!(
        next - 1,
        SIZE as u64,
        "{who}: the data segments carry the file once"
    );
}

#[test]
fn the_plain_tun_capture_is_frame_by_frame_what_the_kernel_side_saw() {
    let Some(curl) = peer("curl") else { return };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-exact");
    serve_file(&dir);
    let server = kernel_facing_server_with(&ns, &dir, "--no-coalesce --capture server.pcapng");
    let sniffer = start_tshark(&ns, &tshark, &dir, "tun0", "live.pcapng");
    download(&ns, &curl, &dir);
    stop_server(server);
    sleep(Duration::from_millis(300));
    let sniffed = sniffer.interrupt(secs(20)).success("tshark after SIGINT");
    assert!(
        !sniffed.stderr.contains("dropped"),
        "tshark lost frames, the comparison would not hold: {}",
        sniffed.stderr
    );

    let own = tcp_by_direction(&dir.path("server.pcapng"));
    let seen = tcp_by_direction(&dir.path("live.pcapng"));
    let count = |d: &Directions| d.values().map(Vec::len).sum::<usize>();
    assert!(
        count(&own) > SIZE / 1460,
        "server capture: {} frames",
        count(&own)
    );
    assert_eq!(
        own.keys().collect::<Vec<_>>(),
        seen.keys().collect::<Vec<_>>(),
        "the same connections and directions"
    );
    for (dirn, segs) in &own {
        if dirn.0.ip().to_string() != "10.7.0.2" {
            continue;
        }
        // What we sent: tshark sees every frame we write, in order.
        let other = &seen[dirn];
        let differs = (0..segs.len().max(other.len())).find(|&i| segs.get(i) != other.get(i));
        if let Some(i) = differs {
            panic!(
                "{} -> {}: frame {i} of the direction differs: ours {:?}, tshark's {:?} \
                 ({} frames ours, {} tshark's)",
                dirn.0,
                dirn.1,
                segs.get(i),
                other.get(i),
                segs.len(),
                other.len()
            );
        }
    }
    assert_kernels_frames_recorded(&ns, &own, &seen);
    assert_covers_once(&tshark, &dir.path("server.pcapng"), 1460, "server capture");
}

/// Panics unless every frame the kernel sent (from 10.7.0.1) that we recorded is in tshark's
/// capture, in order, and the ones we did not record are exactly the device queue's drops.
pub(super) fn assert_kernels_frames_recorded(ns: &Netns, own: &Directions, seen: &Directions) {
    assert_kernels_frames_recorded_from(ns, own, seen, "10.7.0.1");
}

/// [`assert_kernels_frames_recorded`] with the kernel's address `kernel` (IPv4 or IPv6).
pub(super) fn assert_kernels_frames_recorded_from(
    ns: &Netns,
    own: &Directions,
    seen: &Directions,
    kernel: &str,
) {
    let count = |d: &Directions| {
        d.iter()
            .filter(|(dirn, _)| dirn.0.ip().to_string() == kernel)
            .map(|(_, segs)| segs.len())
            .sum::<usize>()
    };
    for (dirn, segs) in own {
        if dirn.0.ip().to_string() != kernel {
            continue;
        }
        // tshark sees the kernel's frames before the device's queue, which may drop (the
        // kernel counts those drops); we record what we read, once, in order.
        let mut theirs = seen[dirn].iter();
        for (i, seg) in segs.iter().enumerate() {
            assert!(
                theirs.any(|t| t == seg),
                "{} -> {}: our frame {i} of the direction {seg:?} is not (or not in that \
                 order) in tshark's capture",
                dirn.0,
                dirn.1
            );
        }
    }
    let dropped: usize = ns
        .ok(&["cat", "/sys/class/net/tun0/statistics/tx_dropped"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        count(own) + dropped,
        count(seen),
        "frames the kernel sent: ours (+ the device queue's drops) vs tshark's"
    );
}

#[test]
fn the_per_segment_offload_capture_checks_in_tshark_and_covers_the_file_once() {
    let Some(curl) = peer("curl") else { return };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-tso-mss");
    serve_file(&dir);
    let server = kernel_facing_server_with(
        &ns,
        &dir,
        "--offload --capture server.pcapng --capture-segments mss --stack-log server.jsonl",
    );
    download(&ns, &curl, &dir);
    stop_server(server);
    let cap = dir.path("server.pcapng");

    let bad = fields(
        &tshark,
        &cap,
        "ip.checksum.status != 1 || tcp.checksum.status != 1",
        &["frame.number", "ip.checksum.status", "tcp.checksum.status"],
    );
    assert!(
        bad.is_empty(),
        "frames with a bad or unchecked checksum: {bad:?}"
    );
    let good = fields(&tshark, &cap, "tcp.checksum.status == 1", &["frame.number"]);
    assert!(
        good.len() > SIZE / 1460,
        "checksums checked: {}",
        good.len()
    );

    // Frames cut from one send say so, and carry the send's view and a stack log line each.
    let cut = fields(
        &tshark,
        &cap,
        "frame.comment contains \"TSO: frame\"",
        &["frame.number", "frame.comment"],
    );
    assert!(cut.len() > 100, "frames cut from TSO sends: {}", cut.len());
    let log = std::fs::read_to_string(dir.path("server.jsonl")).expect("the stack log");
    for row in &cut {
        assert!(row[1].contains("; cwnd="), "frame {}: {}", row[0], row[1]);
        assert!(
            log.contains(&format!("\"frame\":{},", row[0])),
            "frame {} has no stack log line",
            row[0]
        );
    }
    assert_covers_once(&tshark, &cap, 1460, "per-segment offload capture");
}

#[test]
fn with_gro_the_kernel_takes_frames_in_on_a_napi_thread_and_the_capture_has_every_one() {
    let Some(curl) = peer("curl") else { return };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-gro");
    serve_file(&dir);
    let server = kernel_facing_server_with(&ns, &dir, "--gro --capture server.pcapng");
    let threaded = ns.ok(&["cat", "/sys/class/net/tun0/threaded"]);
    assert_eq!(threaded.trim(), "1", "the device's NAPI runs on a thread");
    download(&ns, &curl, &dir);
    stop_server(server);
    assert_covers_once(&tshark, &dir.path("server.pcapng"), 1460, "--gro capture");
}
