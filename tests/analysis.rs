//! The ladder's TCP analysis against tshark's, frame by frame and both ways: every frame once,
//! relative seq/ack/len, the window, and each `tcp.analysis.*` verdict (retransmission, fast
//! retransmission, duplicate ACK #n, zero window, zero-window probe, window update,
//! out-of-order, ...) on the demo, on `demo --window 1024`, on a hand-made capture that holds
//! every kind, and on kernel captures: vsftpd and curl in two network namespaces joined by a
//! veth pair, written by tcpdump as Ethernet and as Linux cooked captures. Needs tshark (and
//! for the kernel captures root, vsftpd, curl, tcpdump): required in CI, skipped elsewhere.

mod common;
mod tunlab;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Scratch, demo};
use smolftp::trace::{self, Frame, LinkType};

fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("SMOLFTP_REQUIRE_PEERS").is_none(),
            "tshark is required here (SMOLFTP_REQUIRE_PEERS is set): apt-get install -y tshark"
        );
        eprintln!("skipping: tshark is not installed");
    }
    ok
}

/// The analysis fields compared, as tshark names them.
const FLAGS: [&str; 11] = [
    "tcp.analysis.retransmission",
    "tcp.analysis.fast_retransmission",
    "tcp.analysis.spurious_retransmission",
    "tcp.analysis.out_of_order",
    "tcp.analysis.duplicate_ack_num",
    "tcp.analysis.zero_window",
    "tcp.analysis.zero_window_probe",
    "tcp.analysis.window_update",
    "tcp.analysis.keep_alive",
    "tcp.analysis.lost_segment",
    "tcp.analysis.window_full",
];

/// One frame as compared: number, seq, ack, len, window, then the FLAGS values ("" when
/// absent, "1" when set, the number for duplicate_ack_num), then the ACK RTT in µs.
type Row = Vec<String>;

fn tshark_rows(file: &Path) -> Vec<Row> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args([
        "-Y",
        "tcp",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.number",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
        "-e",
        "tcp.len",
        "-e",
        "tcp.window_size",
    ]);
    for f in FLAGS {
        cmd.args(["-e", f]);
    }
    cmd.args(["-e", "tcp.analysis.ack_rtt"]);
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut r: Row = l.split('|').map(str::to_string).collect();
            for v in &mut r[5..5 + FLAGS.len()] {
                // tshark prints a set FT_NONE field as nothing-but-present: normalise.
                if v == "True" {
                    *v = "1".into();
                }
            }
            let rtt = r.pop().unwrap_or_default();
            r.push(if rtt.is_empty() {
                String::new()
            } else {
                let s: f64 = rtt.parse().expect("ack_rtt");
                format!("{}", (s * 1e6).round() as u64)
            });
            r
        })
        .collect()
}

fn our_rows(file: &Path) -> Vec<Row> {
    let frames = trace::read_capture(file).expect("read capture");
    let a = trace::analyze(&frames);
    a.entries
        .iter()
        .map(|e| {
            let t = &e.tcp;
            let b = |on: bool| if on { "1".to_string() } else { String::new() };
            let mut r = vec![
                e.frame.to_string(),
                e.rel_seq.to_string(),
                if e.segment.flags.ack {
                    e.rel_ack.to_string()
                } else {
                    "0".into()
                },
                e.segment.len().to_string(),
                t.window.to_string(),
            ];
            r.extend([
                b(t.retransmission || t.spurious_retransmission),
                b(t.fast_retransmission),
                b(t.spurious_retransmission),
                b(t.out_of_order),
                t.dup_ack.map(|(n, _)| n.to_string()).unwrap_or_default(),
                b(t.zero_window),
                b(t.zero_window_probe),
                b(t.window_update),
                b(t.keep_alive),
                b(t.lost_segment),
                b(t.window_full),
            ]);
            r.push(
                t.ack_rtt
                    .map(|(d, _)| d.as_micros().to_string())
                    .unwrap_or_default(),
            );
            r
        })
        .collect()
}

/// Compares both ways and says which field of which frame differs.
fn assert_same_analysis(file: &Path, what: &str) -> Vec<Row> {
    let theirs = tshark_rows(file);
    let ours = our_rows(file);
    let frames: Vec<&String> = ours.iter().map(|r| &r[0]).collect();
    let want: Vec<&String> = theirs.iter().map(|r| &r[0]).collect();
    assert_eq!(
        frames, want,
        "{what}: frames drawn vs frames tshark sees as TCP"
    );
    let names: Vec<&str> = ["frame", "tcp.seq", "tcp.ack", "tcp.len", "tcp.window_size"]
        .into_iter()
        .chain(FLAGS)
        .chain(["tcp.analysis.ack_rtt (us)"])
        .collect();
    for (o, t) in ours.iter().zip(&theirs) {
        for (k, name) in names.iter().enumerate() {
            assert_eq!(
                o[k], t[k],
                "{what}: frame #{} {name}: ours {:?}, tshark {:?}\nours   {o:?}\ntshark {t:?}",
                o[0], o[k], t[k]
            );
        }
    }
    ours
}

#[test]
fn the_demo_analysis_equals_tsharks() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-demo");
    demo(&dir.0, "d.pcapng", &["--quiet"]);
    let rows = assert_same_analysis(&dir.path("d.pcapng"), "demo");
    assert!(rows.len() > 30);
    assert!(
        rows.iter().any(|r| !r[r.len() - 1].is_empty()),
        "no ACK RTT"
    );
}

#[test]
fn the_small_window_demo_has_tsharks_zero_windows_and_window_updates() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-window");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let rows = assert_same_analysis(&dir.path("w.pcapng"), "demo --window 1024");
    let count = |k: usize| rows.iter().filter(|r| r[k] == "1").count();
    assert_eq!(count(5 + 5), 3, "three zero windows");
    assert_eq!(count(5 + 7), 3, "three window updates");
}

/// A hand-made raw-IP capture of one connection that shows every kind: data lost on the way
/// (a hole), three duplicate ACKs, a fast retransmission, an RTO retransmission, an
/// out-of-order segment, a zero window, a zero-window probe, a window update and a keep-alive.
fn every_kind() -> Vec<Frame> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    let (c, s) = (0x0a00_0002u32, 0x0a00_0001u32);
    let mut frames = Vec::new();
    let mut at =
        |ms: u64, from_client: bool, seq: u32, ack: u32, flags: u8, win: u16, len: usize| {
            let (src, dst, sp, dp) = if from_client {
                (c, s, 40000u16, 21u16)
            } else {
                (s, c, 21, 40000)
            };
            let mut p = vec![0x45, 0];
            p.extend_from_slice(&((40 + len) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
            p.extend_from_slice(&src.to_be_bytes());
            p.extend_from_slice(&dst.to_be_bytes());
            p.extend_from_slice(&sp.to_be_bytes());
            p.extend_from_slice(&dp.to_be_bytes());
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&ack.to_be_bytes());
            p.extend_from_slice(&[0x50, flags]);
            p.extend_from_slice(&win.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0]);
            p.extend(std::iter::repeat_n(b'x', len));
            let n = frames.len() as u32 + 1;
            frames.push(Frame {
                number: n,
                time: Duration::from_secs(1_000) + Duration::from_millis(ms),
                link: LinkType::RawIp,
                data: p,
                comment: None,
            });
        };
    let (ci, si) = (1000u32, 5000u32);
    at(0, true, ci, 0, SYN, 8192, 0);
    at(10, false, si, ci + 1, SYN | ACK, 8192, 0);
    at(20, true, ci + 1, si + 1, ACK, 8192, 0);
    // the server sends 4 x 100 bytes; the first is lost before the tap
    let d = si + 1;
    at(30, false, d + 100, ci + 1, ACK, 8192, 100); // hole before it
    at(31, false, d + 200, ci + 1, ACK, 8192, 100);
    at(32, false, d + 300, ci + 1, ACK, 8192, 100);
    at(40, true, ci + 1, d, ACK, 8192, 0); // ACK (not a dup yet)
    at(41, true, ci + 1, d, ACK, 8192, 0); // dup #1
    at(42, true, ci + 1, d, ACK, 8192, 0); // dup #2
    at(43, false, d, ci + 1, ACK, 8192, 100); // fast retransmission
    at(500, false, d + 100, ci + 1, ACK, 8192, 100); // retransmission by timeout
    at(50, true, ci + 1, d + 400, ACK, 8192, 0);
    at(2000, false, d + 300, ci + 1, ACK, 8192, 100); // RTO retransmission (spurious: acked)
    at(2010, false, d + 400, ci + 1, ACK, 8192, 100);
    at(2011, false, d + 600, ci + 1, ACK, 8192, 100); // hole
    at(2012, false, d + 500, ci + 1, ACK, 8192, 100); // out of order (fills it)
    at(2020, true, ci + 1, d + 700, ACK, 0, 0); // zero window
    at(2500, false, d + 700, ci + 1, ACK, 8192, 1); // zero-window probe
    at(2510, true, ci + 1, d + 700, ACK, 0, 0); // probe ACK
    at(2600, true, ci + 1, d + 700, ACK, 4096, 0); // window update
    at(9000, true, ci, d + 700, ACK, 4096, 0); // keep-alive (seq one below next)
    at(9010, false, d + 700, ci + 1, ACK, 8192, 0);
    at(9100, false, d + 700, ci + 1, FIN | ACK, 8192, 0);
    at(9110, true, ci + 1, d + 701, FIN | ACK, 4096, 0);
    at(9120, false, d + 701, ci + 2, ACK, 8192, 0);
    frames
}

/// A classic pcap (raw IP, microseconds) of `frames`.
pub fn raw_pcap(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, 65_535, 101] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for f in frames {
        let len = f.data.len() as u32;
        for word in [f.time.as_secs() as u32, f.time.subsec_micros(), len, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&f.data);
    }
    out
}

#[test]
fn every_kind_is_called_what_tshark_calls_it() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-kinds");
    let file = dir.path("kinds.pcap");
    std::fs::write(&file, raw_pcap(&every_kind())).unwrap();
    let rows = assert_same_analysis(&file, "hand-made capture");
    // Every compared verdict occurs at least once, so the comparison cannot pass vacuously.
    for (k, name) in FLAGS.iter().enumerate() {
        if *name == "tcp.analysis.window_full" {
            continue;
        }
        assert!(
            rows.iter().any(|r| !r[5 + k].is_empty()),
            "the hand-made capture has no {name}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r[5] == "1" && r[6].is_empty() && r[7].is_empty()),
        "no plain retransmission"
    );
    // The time-sequence graph marks them: each data bar's title says what tshark says.
    let o = common::smolftp(
        &dir.0,
        &["graph", "kinds.pcap", "--time-sequence", "ts.svg"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(dir.path("ts.svg")).unwrap();
    for (frame, says) in [
        (4, "after a hole"),
        (10, "fast retransmission"),
        (11, "retransmission"),
        (13, "spurious retransmission"),
        (16, "out of order"),
    ] {
        let title = svg
            .split(&format!("<title>#{frame} "))
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or_else(|| panic!("no bar for #{frame}: {svg}"));
        assert!(title.ends_with(says), "#{frame}: {title}");
    }
    assert_eq!(svg.matches("class=\"dupack\"").count(), 3);
    assert_eq!(svg.matches(">R</text>").count(), 3);
}

/// `smolftp ladder ARGS` in `dir`: its standard output.
fn ladder(dir: &Scratch, args: &[&str]) -> String {
    let out = common::smolftp(&dir.0, &[&["ladder"][..], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The frame numbers of the arrow lines of a ladder, in order.
fn arrow_frames(text: &str) -> Vec<u32> {
    text.lines()
        .filter(|l| l.contains("--") && l.trim_start().starts_with('#'))
        .filter_map(|l| l.trim_start()[1..].split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn timeline_brief_and_conn_views() {
    let dir = Scratch::new("ladder-views");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let n = trace::read_capture(&dir.path("w.pcapng")).unwrap().len() as u32;
    // The timeline: every frame once, in time order, each tagged with its connection.
    let t = ladder(&dir, &["w.pcapng", "--timeline"]);
    assert_eq!(arrow_frames(&t), (1..=n).collect::<Vec<_>>());
    assert!(
        t.contains("  D3   data 10.0.0.1:20 -> 10.0.0.2:5002, for RETR readme.txt"),
        "{t}"
    );
    assert!(t.contains(" C1   :21    <--- DATA"), "{t}");
    assert!(t.contains("        ftp: \"USER anonymous\""), "{t}");
    assert!(
        t.contains("[ZERO WINDOW] ACK") && t.contains("[WINDOW UPDATE] ACK"),
        "{t}"
    );
    // The 150 and the 226 that share a segment are both shown.
    assert!(
        t.contains("ftp: \"150 Opening BINARY mode data connection ...\"\n        ftp: \"226 Transfer complete.\""),
        "{t}"
    );
    // Brief: one line per segment, no filters, notes or comments.
    let b = ladder(&dir, &["w.pcapng", "--timeline", "--brief"]);
    assert_eq!(arrow_frames(&b), (1..=n).collect::<Vec<_>>());
    assert!(!b.contains("filter:") && !b.contains("note:") && !b.contains("comment:"));
    let per_conn = ladder(&dir, &["w.pcapng", "--brief"]);
    assert_eq!(arrow_frames(&per_conn).len(), n as usize);
    assert!(!per_conn.contains("filter:") && !per_conn.contains("note:"));
    assert!(
        per_conn.contains(
            "TCP analysis (as Wireshark's): 3 WINDOW FULL, 3 ZERO WINDOW, 3 WINDOW UPDATE"
        ),
        "{per_conn}"
    );
    // --conn by port and by number pick the same data connection.
    let by_port = ladder(&dir, &["w.pcapng", "--conn", "5002", "--brief"]);
    let by_n = ladder(&dir, &["w.pcapng", "--conn", "3", "--brief"]);
    assert_eq!(
        by_port.lines().skip(3).collect::<Vec<_>>(),
        by_n.lines().skip(3).collect::<Vec<_>>()
    );
    let frames = arrow_frames(&by_port);
    assert!(frames.len() > 10 && !frames.contains(&1), "{by_port}");
    assert!(by_port.contains("=== data connection 10.0.0.1:20 -> 10.0.0.2:5002"));
    assert!(!by_port.contains("=== control"));
    // The active-mode note says so whatever the server's data source port.
    let other = demo(&dir.0, "p.pcapng", &["--data-source-port", "2020"]);
    assert_eq!(
        other
            .matches("active mode: the FTP server opens the data connection from its port 2020")
            .count(),
        2,
        "{other}"
    );
    let o = common::smolftp(&dir.0, &["ladder", "w.pcapng", "--conn", "9999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--conn 9999"));
}

#[test]
fn every_timeline_filter_selects_exactly_its_frame_in_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("ladder-timeline-filters");
    demo(&dir.0, "w.pcapng", &["--quiet", "--window", "1024"]);
    let t = ladder(&dir, &["w.pcapng", "--timeline"]);
    let mut frame = None;
    let mut checked = 0;
    for line in t.lines() {
        if line.contains("--") && line.trim_start().starts_with('#') {
            frame = arrow_frames(line).first().copied();
        } else if let Some(f) = line.trim_start().strip_prefix("filter: ") {
            let out = Command::new("tshark")
                .arg("-r")
                .arg(dir.path("w.pcapng"))
                .args(["-Y", f, "-T", "fields", "-e", "frame.number"])
                .output()
                .expect("tshark");
            let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(Some(got), frame.take().map(|n| n.to_string()), "{f}");
            checked += 1;
        }
    }
    assert_eq!(checked, arrow_frames(&t).len());
}

/// Anonymous active-mode vsftpd on `address` serving `root`; returns the configuration's path.
fn vsftpd_config(dir: &Scratch, root: &Path, address: &str) -> std::path::PathBuf {
    let empty = dir.path("empty");
    std::fs::create_dir_all(&empty).expect("secure_chroot_dir");
    let conf = dir.path("vsftpd.conf");
    let text = format!(
        "listen=YES\nlisten_ipv6=NO\nlisten_address={address}\nlisten_port=21\nbackground=NO\n\
         anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={root}\n\
         write_enable=NO\npasv_enable=YES\nport_enable=YES\nconnect_from_port_20=YES\n\
         secure_chroot_dir={empty}\nseccomp_sandbox=NO\n",
        root = root.display(),
        empty = empty.display(),
    );
    std::fs::write(&conf, text).expect("vsftpd.conf");
    conf
}

/// Starts `tcpdump ARGS -w FILE` in `ns` and waits until it listens.
fn start_tcpdump(
    ns: &tunlab::Netns,
    tcpdump: &Path,
    dir: &Scratch,
    tag: &str,
    args: &[&str],
) -> tunlab::Proc {
    let mut cmd = ns.command(tcpdump);
    cmd.args(["-U", "--immediate-mode", "-B", "16384", "-n", "-s", "0"])
        .args(args)
        .arg("-w")
        .arg(dir.path(&format!("{tag}.pcap")));
    let mut p = ns.spawn(cmd, &dir.0, tag);
    p.wait_for_stderr("listening on", Duration::from_secs(20));
    p
}

#[test]
fn kernel_captures_of_vsftpd_and_curl_read_as_in_tshark() {
    if !have_tshark() {
        return;
    }
    let (Some(vsftpd), Some(curl), Some(tcpdump)) = (
        tunlab::peer("vsftpd"),
        tunlab::peer("curl"),
        tunlab::peer("tcpdump"),
    ) else {
        return;
    };
    let (Some(server_ns), Some(client_ns)) = (tunlab::Netns::new(), tunlab::Netns::new()) else {
        return;
    };
    let dir = Scratch::new("analysis-kernel");
    let root = dir.path("root");
    std::fs::create_dir_all(&root).unwrap();
    tunlab::pattern_file(&root.join("file.bin"), 300_000, 7);
    std::fs::write(root.join("readme.txt"), "kernel capture\n").unwrap();
    // A veth pair between the namespaces: 10.9.0.1 (vsftpd) and 10.9.0.2 (curl).
    server_ns.ok(&[
        "ip",
        "link",
        "add",
        "va",
        "type",
        "veth",
        "peer",
        "name",
        "vb",
        "netns",
        &client_ns.name,
    ]);
    server_ns.ok(&["ip", "addr", "add", "10.9.0.1/24", "dev", "va"]);
    server_ns.ok(&["ip", "link", "set", "va", "up"]);
    client_ns.ok(&["ip", "addr", "add", "10.9.0.2/24", "dev", "vb"]);
    client_ns.ok(&["ip", "link", "set", "vb", "up"]);
    let conf = vsftpd_config(&dir, &root, "10.9.0.1");
    let mut cmd = server_ns.command(&vsftpd);
    cmd.arg(&conf);
    let _daemon = server_ns.spawn(cmd, &dir.0, "vsftpd");
    assert!(
        server_ns.wait_listen(21, Duration::from_secs(10)),
        "vsftpd is not listening"
    );
    let eth = start_tcpdump(&client_ns, &tcpdump, &dir, "eth", &["-i", "vb"]);
    let cooked = start_tcpdump(&client_ns, &tcpdump, &dir, "cooked", &["-i", "any"]);
    let sll1 = start_tcpdump(
        &client_ns,
        &tcpdump,
        &dir,
        "sll1",
        &["-i", "any", "-y", "LINUX_SLL"],
    );
    // Active mode (-P -): a listing and a download on one control connection; then passive.
    let mut cmd = client_ns.command(&curl);
    cmd.args(["-sS", "--max-time", "30", "-P", "-", "-o"])
        .arg(dir.path("list.txt"))
        .arg("ftp://10.9.0.1/")
        .arg("-o")
        .arg(dir.path("got.bin"))
        .arg("ftp://10.9.0.1/file.bin");
    client_ns
        .run(cmd, &dir.0, "curl-active", Duration::from_secs(40))
        .success("curl, active mode");
    let mut cmd = client_ns.command(&curl);
    cmd.args(["-sS", "--max-time", "30", "-o"])
        .arg(dir.path("readme.txt"))
        .arg("ftp://10.9.0.1/readme.txt");
    client_ns
        .run(cmd, &dir.0, "curl-passive", Duration::from_secs(40))
        .success("curl, passive mode");
    std::thread::sleep(Duration::from_millis(300));
    for p in [eth, cooked, sll1] {
        let done = p.interrupt(Duration::from_secs(10));
        eprintln!("{}", done.stderr);
    }
    tunlab::assert_same_file(&dir.path("got.bin"), &root.join("file.bin"));
    for (tag, links) in [
        ("eth", &[LinkType::Ethernet][..]),
        ("cooked", &[LinkType::LinuxSll, LinkType::LinuxSll2][..]),
        ("sll1", &[LinkType::LinuxSll][..]),
    ] {
        let file = dir.path(&format!("{tag}.pcap"));
        let frames = trace::read_capture(&file).expect("read the tcpdump capture");
        assert!(
            links.contains(&frames[0].link),
            "{tag}: {:?}",
            frames[0].link
        );
        let rows = assert_same_analysis(&file, tag);
        assert!(rows.len() > 40, "{tag}: only {} TCP frames", rows.len());
        // Every frame once in the ladder, and each of its filters selects just its frame
        // (checked on the data connections' first frames and the control connection, to keep
        // the number of tshark runs small).
        let text = ladder(&dir, &[&format!("{tag}.pcap"), "--timeline"]);
        let drawn = arrow_frames(&text);
        let want: Vec<u32> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(drawn, want, "{tag}: every TCP frame once, in order");
        assert!(
            text.contains("active mode") || text.contains(" D2 "),
            "{text}"
        );
        assert!(text.contains("for RETR file.bin"), "{text}");
        assert!(
            text.contains("for LIST") || text.contains("for NLST"),
            "{text}"
        );
        assert!(text.contains("for RETR readme.txt"), "{text}");
        // The time-sequence graph of a tcpdump capture: by default the download, one bar per
        // data segment tshark sees on that connection.
        let svg_name = format!("{tag}-ts.svg");
        let out = common::smolftp(
            &dir.0,
            &[
                "graph",
                &format!("{tag}.pcap"),
                "--time-sequence",
                &svg_name,
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = std::fs::read_to_string(dir.path(&svg_name)).unwrap();
        let port: u16 = svg
            .split("time-sequence graph: 10.9.0.1:20 -&gt; 10.9.0.2:")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{tag}: the graph is not of the download: {svg}"));
        let filter = format!(
            "tcp.srcport == 20 && tcp.dstport == {port} && (tcp.len > 0 || tcp.flags.syn == 1 || tcp.flags.fin == 1)"
        );
        let want = Command::new("tshark")
            .arg("-r")
            .arg(&file)
            .args(["-Y", &filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark");
        let want = String::from_utf8_lossy(&want.stdout).lines().count();
        assert_eq!(svg.matches("<g class=\"seg\">").count(), want, "{tag}");
        assert!(want > 3, "{tag}: {want}");
    }
}

#[test]
fn ipv6_passive_demo_and_captures_without_a_syn_number_as_tshark() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-v6-rst");
    demo(&dir.0, "v6.pcapng", &["--quiet", "--ipv6", "--passive"]);
    assert_same_analysis(&dir.path("v6.pcapng"), "demo --ipv6 --passive");
    let t = ladder(&dir, &["v6.pcapng", "--timeline"]);
    assert!(t.contains("[fd00::2]:"), "IPv6 endpoints in brackets: {t}");
    // A SYN answered by RST+ACK, then a connection whose SYN is not in the capture.
    let all = every_kind();
    let syn = all[0].clone();
    let mut rst = all[1].data.clone();
    rst[33] = 0x14; // RST+ACK instead of SYN+ACK
    rst[24..28].copy_from_slice(&0u32.to_be_bytes()); // seq 0, as a stack answering a SYN
    let mut frames = vec![
        syn,
        Frame {
            data: rst,
            ..all[1].clone()
        },
    ];
    for (k, f) in all[3..8].iter().enumerate() {
        let mut f = f.clone();
        f.number = 3 + k as u32;
        // Another client port (40000 -> 40064): a connection seen from its middle.
        let client_port_at = if f.data[20..22] == 40000u16.to_be_bytes() {
            21
        } else {
            23
        };
        f.data[client_port_at] ^= 0x40;
        frames.push(f);
    }
    let file = dir.path("rst.pcap");
    std::fs::write(&file, raw_pcap(&frames)).unwrap();
    let rows = assert_same_analysis(&file, "RST answering a SYN, no-SYN connection");
    assert_eq!(
        &rows[1][1..3],
        ["1", "1"],
        "RST+ACK is seq 1 ack 1 in tshark"
    );
    let text = ladder(&dir, &["rst.pcap"]);
    assert!(
        text.contains("RST+ACK") && text.contains("seq=1 ack=1 len=0"),
        "{text}"
    );
}

#[test]
fn a_cut_classic_pcap_draws_the_frames_tshark_shows() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-cut");
    demo(&dir.0, "x.pcap", &["--quiet", "--format", "pcap"]);
    let whole = std::fs::read(dir.path("x.pcap")).unwrap();
    std::fs::write(dir.path("cut.pcap"), &whole[..5000]).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(dir.path("cut.pcap"))
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark");
    let theirs = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(theirs > 10, "{theirs}");
    let o = common::smolftp(&dir.0, &["ladder", "cut.pcap", "--brief"]);
    assert_eq!(o.status.code(), Some(1), "a cut file still fails");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with(&format!("smolftp ladder: {theirs} frames")),
        "tshark shows {theirs}: {text}"
    );
    assert_eq!(arrow_frames(&text).len(), theirs);
    assert!(
        text.contains("capture cut: ") && text.contains("truncated at byte 5000"),
        "{text}"
    );
}
