//! Coalescing on the plain TUN path (the default; issue 12): the kernel takes each run of our
//! segments as one frame, as a NIC's GRO would merge them, and the capture still records every
//! segment smoltcp sent, once. A live tshark on the kernel's side of the device sees merged
//! frames, each of which must be exactly a run of consecutive frames of our capture (same
//! sequence numbers, same acks, the same payload bytes), none of ours missing, none doubled.
//! Correctness only: no timings.

use std::thread::sleep;
use std::time::Duration;

use super::ipv6::ipv6_tun;
use super::speed::{
    SIZE, assert_covers_once, assert_kernels_frames_recorded_from, serve_file, start_tshark,
};
use super::tunlab::capture::{SegmentBytes, tcp_by_direction, tcp_payloads_by_direction};
use super::tunlab::{Netns, assert_same_file, peer};
use super::{kernel_facing_server_with, run_curl, secs, start_server, stop_server};
use crate::common::Scratch;

/// Panics unless `kernels` (what tshark saw of one direction we sent) is `ours` with runs of
/// consecutive frames merged: returns how many of the kernel's frames were merged ones, and how
/// many of our frames they held.
pub fn assert_runs_of_ours(
    what: &str,
    ours: &[SegmentBytes],
    kernels: &[SegmentBytes],
) -> (usize, usize) {
    let mut next = ours.iter().enumerate();
    let (mut merged, mut in_merged) = (0, 0);
    for (j, (kind, seq, ack, payload)) in kernels.iter().enumerate() {
        let Some((i, first)) = next.next() else {
            panic!("{what}: the kernel's frame {j} ({kind} seq {seq}) is not in our capture");
        };
        assert_eq!(
            (first.0, first.1, first.2),
            (*kind, *seq, *ack),
            "{what}: the kernel's frame {j} does not start with our frame {i}"
        );
        let mut bytes = first.3.clone();
        let mut n = 1;
        while bytes.len() < payload.len() {
            let Some((i, f)) = next.next() else {
                panic!("{what}: the kernel's frame {j} goes past the end of our capture");
            };
            let want_seq = seq.wrapping_add(bytes.len() as u32);
            assert_eq!(
                (f.0, f.1, f.2),
                (*kind, want_seq, *ack),
                "{what}: our frame {i} does not continue the run of the kernel's frame {j}"
            );
            bytes.extend_from_slice(&f.3);
            n += 1;
        }
        assert_eq!(
            bytes.len(),
            payload.len(),
            "{what}: the kernel's frame {j} ends inside our frame (run of {n})"
        );
        assert!(
            bytes == *payload,
            "{what}: the kernel's frame {j} carries other bytes than our run of {n}"
        );
        if n > 1 {
            merged += 1;
            in_merged += n;
        }
    }
    let left = next.count();
    assert_eq!(
        left, 0,
        "{what}: {left} frames of ours the kernel never saw"
    );
    (merged, in_merged)
}

/// curl downloads [`SIZE`] bytes over IPv4 (or IPv6) from the server, coalescing (the
/// default), with tshark on the kernel's side of the device; the two captures must agree run
/// for run, and the kernel's frames to us frame for frame.
fn the_kernel_side_sees_runs_of_our_capture(v6: bool) {
    let Some(curl) = peer("curl") else { return };
    let Some(tshark) = peer("tshark") else { return };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new(if v6 { "tun-coalesce6" } else { "tun-coalesce" });
    serve_file(&dir);
    let (ours, kernel, url, mss) = if v6 {
        ("fd00:7::2", "fd00:7::1", "ftp://[fd00:7::2]/file.bin", 1440)
    } else {
        ("10.7.0.2", "10.7.0.1", "ftp://10.7.0.2/file.bin", 1460)
    };
    let server = if v6 {
        ipv6_tun(&ns);
        let flags = "--tun tun0 --ip 10.7.0.2/24 --ip6 fd00:7::2/64 --root root \
                     --capture server.pcapng";
        start_server(&ns, &dir, flags)
    } else {
        kernel_facing_server_with(&ns, &dir, "--capture server.pcapng")
    };
    let sniffer = start_tshark(&ns, &tshark, &dir, "tun0", "live.pcapng");
    let got = dir.path("got.bin");
    let family = if v6 { "-6" } else { "-4" };
    run_curl(
        &ns,
        &curl,
        &dir,
        "curl-retr",
        120,
        &[&"-g", &family, &"-P", &"-", &"-o", &got, &url],
    );
    assert_same_file(&got, &dir.path("root/file.bin"));
    stop_server(server);
    sleep(Duration::from_millis(300));
    let sniffed = sniffer.interrupt(secs(20)).success("tshark after SIGINT");
    assert!(
        !sniffed.stderr.contains("dropped"),
        "tshark lost frames, the comparison would not hold: {}",
        sniffed.stderr
    );

    let own = tcp_payloads_by_direction(&dir.path("server.pcapng"));
    let seen = tcp_payloads_by_direction(&dir.path("live.pcapng"));
    assert_eq!(
        own.keys().collect::<Vec<_>>(),
        seen.keys().collect::<Vec<_>>(),
        "the same connections and directions"
    );
    let (mut merged, mut in_merged, mut sent) = (0, 0, 0);
    for (dirn, segs) in &own {
        if dirn.0.ip().to_string() != ours {
            continue;
        }
        let what = format!("{} -> {}", dirn.0, dirn.1);
        let (m, n) = assert_runs_of_ours(&what, segs, &seen[dirn]);
        merged += m;
        in_merged += n;
        sent += segs.len();
    }
    assert!(sent > SIZE / mss, "server capture: {sent} frames sent");
    // Coalescing is on: most of the file went to the kernel in merged frames.
    assert!(
        merged > 0 && in_merged > sent / 2,
        "{merged} merged frames held {in_merged} of our {sent} frames"
    );
    let own = tcp_by_direction(&dir.path("server.pcapng"));
    let seen = tcp_by_direction(&dir.path("live.pcapng"));
    assert_kernels_frames_recorded_from(&ns, &own, &seen, kernel);
    assert_covers_once(&tshark, &dir.path("server.pcapng"), mss, "server capture");
}

#[test]
fn with_coalescing_each_frame_the_kernel_saw_is_a_run_of_consecutive_frames_of_our_capture() {
    the_kernel_side_sees_runs_of_our_capture(false);
}

#[test]
fn with_coalescing_over_ipv6_each_frame_the_kernel_saw_is_a_run_of_our_capture() {
    the_kernel_side_sees_runs_of_our_capture(true);
}

/// A persistent device keeps the virtio-net header size another program gave it (a VM tool,
/// say); smolftp sets its own, so coalescing (and `--offload`) still carry every byte.
#[test]
fn a_device_left_with_another_virtio_header_size_still_carries_the_download() {
    let Some(curl) = peer("curl") else { return };
    let Some(python) = peer("python3") else {
        return;
    };
    let Some(ns) = Netns::new() else { return };
    let dir = Scratch::new("tun-vnet-size");
    serve_file(&dir);
    ns.tun("tun0", "10.7.0.1/24");
    let script = r#"
import fcntl, os, struct
TUNSETIFF, TUNSETVNETHDRSZ = 0x400454ca, 0x400454d8
IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x0001, 0x1000, 0x4000
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"tun0", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", 12))
os.close(fd)
"#;
    let mut cmd = ns.command(&python);
    cmd.args(["-c", script]);
    ns.run(cmd, &dir.0, "vnet-size", secs(10))
        .success("leave tun0 with 12-byte virtio-net headers");
    for flags in ["", "--offload"] {
        let server = start_server(
            &ns,
            &dir,
            &format!("--tun tun0 --ip 10.7.0.2/24 --root root {flags}"),
        );
        let got = dir.path("got.bin");
        let _ = std::fs::remove_file(&got);
        run_curl(
            &ns,
            &curl,
            &dir,
            "curl-retr",
            60,
            &[&"-P", &"-", &"-o", &got, &"ftp://10.7.0.2/file.bin"],
        );
        assert_same_file(&got, &dir.path("root/file.bin"));
        stop_server(server);
    }
}
