//! The demo as a user runs it: the golden ladder, byte-identical captures, the seed sequences on
//! the data connections (read back with smolftp's own trace layer), the FIN knobs, and the CLI's
//! handling of mistakes.
//!
//! Refresh the golden ladder after an intended change:
//! `UPDATE_GOLDEN=1 cargo test --test demo`, then review `git diff tests/golden`.

mod common;

use common::{Scratch, data_sequence, demo, smolftp};
use smolftp::trace::{self, Segment};

#[test]
fn golden_ladder() {
    let dir = Scratch::new("golden");
    let ladder = demo(&dir.0, "demo.pcapng", &[]);
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/demo-ladder.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &ladder).expect("write golden");
    }
    let expected = std::fs::read_to_string(&golden).expect("tests/golden/demo-ladder.txt");
    assert!(
        ladder == expected,
        "the demo ladder differs from tests/golden/demo-ladder.txt; if the change is intended, \
         run UPDATE_GOLDEN=1 cargo test --test demo and review the diff.\n--- got ---\n{ladder}"
    );
}

#[test]
fn same_flags_same_bytes_other_seed_other_bytes() {
    let dir = Scratch::new("determinism");
    demo(&dir.0, "a.pcapng", &[]);
    demo(&dir.0, "b.pcapng", &[]);
    demo(&dir.0, "c.pcapng", &["--seed", "7"]);
    let read = |n: &str| std::fs::read(dir.path(n)).expect("capture");
    assert!(!read("a.pcapng").is_empty());
    assert_eq!(read("a.pcapng"), read("b.pcapng"), "two runs differ");
    assert_ne!(read("a.pcapng"), read("c.pcapng"), "--seed changed nothing");
}

#[test]
fn seed_sequences_on_the_data_connections() {
    let dir = Scratch::new("seed");
    demo(&dir.0, "demo.pcapng", &["--quiet"]);
    let listing = data_sequence(&dir.path("demo.pcapng"), 5001);
    assert_eq!(
        listing,
        [
            ">SYN", "<SYN+ACK", ">ACK", ">DATA", "<ACK", ">FIN+ACK", "<ACK", "<FIN+ACK", ">ACK"
        ],
        "LIST data connection"
    );
    let file = data_sequence(&dir.path("demo.pcapng"), 5002);
    assert_eq!(
        &file[..3],
        [">SYN", "<SYN+ACK", ">ACK"],
        "RETR handshake: {file:?}"
    );
    assert_eq!(
        &file[file.len() - 4..],
        [">DATA+FIN", "<ACK", "<FIN+ACK", ">ACK"],
        "RETR release: {file:?}"
    );
    let middle = &file[3..file.len() - 4];
    assert!(
        middle.iter().filter(|k| *k == ">DATA").count() >= 2,
        "{file:?}"
    );
    assert!(
        middle.contains(&"<ACK".to_string()),
        "no ACK between data segments: {file:?}"
    );
    assert!(
        middle.iter().all(|k| k == ">DATA" || k == "<ACK"),
        "{file:?}"
    );
}

#[test]
fn every_frame_is_explained() {
    let dir = Scratch::new("comments");
    demo(&dir.0, "demo.pcapng", &["--quiet"]);
    let frames = trace::read_capture(&dir.path("demo.pcapng")).expect("read");
    assert!(frames.len() > 30);
    for f in &frames {
        let c = f.comment.as_deref().unwrap_or("");
        assert!(!c.is_empty(), "frame {} has no comment", f.number);
    }
    let piggy = frames
        .iter()
        .filter_map(|f| f.comment.as_deref())
        .find(|c| c.contains("FIN piggybacked") && c.starts_with("RETR readme.txt"))
        .expect("a comment on the DATA+FIN");
    assert!(
        piggy.contains("10.0.0.1:20 ESTABLISHED -> FIN-WAIT-1"),
        "{piggy}"
    );
    // Payload previews: the file's first segment shows its start; a segment that cuts into a
    // line starts at its first whole word; control lines are shown whole.
    let data: Vec<&str> = frames
        .iter()
        .filter_map(|f| f.comment.as_deref())
        .filter(|c| c.starts_with("RETR readme.txt data connection: data, "))
        .collect();
    assert!(
        data[0].contains(" bytes \"smolftp demo: readme.txt\""),
        "{}",
        data[0]
    );
    assert!(
        data[1].contains(" bytes \"...port 20 to port 5002"),
        "{}",
        data[1]
    );
    assert!(
        frames
            .iter()
            .filter_map(|f| f.comment.as_deref())
            .any(|c| c.contains("bytes \"331 Please specify the password.\"")),
        "the control replies are previewed from their start"
    );
}

#[test]
fn fin_knob_changes_both_transfers() {
    let dir = Scratch::new("fin");
    demo(&dir.0, "sep.pcapng", &["--quiet", "--fin", "separate"]);
    demo(&dir.0, "pig.pcapng", &["--quiet", "--fin", "piggyback"]);
    let sep = data_sequence(&dir.path("sep.pcapng"), 5002);
    assert!(!sep.contains(&">DATA+FIN".to_string()), "{sep:?}");
    assert!(sep.contains(&">FIN+ACK".to_string()), "{sep:?}");
    let pig = data_sequence(&dir.path("pig.pcapng"), 5001);
    assert!(pig.contains(&">DATA+FIN".to_string()), "{pig:?}");
}

#[test]
fn mtu_and_pcap_knobs() {
    let dir = Scratch::new("mtu");
    demo(
        &dir.0,
        "small.pcap",
        &["--quiet", "--mtu", "576", "--format", "pcap"],
    );
    let bytes = std::fs::read(dir.path("small.pcap")).expect("capture");
    let magic = [0xa1, 0xb2, 0xc3, 0xd4];
    let swapped = [0xd4, 0xc3, 0xb2, 0xa1];
    assert!(
        bytes[..4] == magic || bytes[..4] == swapped,
        "not classic pcap: {:x?}",
        &bytes[..4]
    );
    let frames = trace::read_capture(&dir.path("small.pcap")).expect("read");
    let biggest = frames
        .iter()
        .filter_map(|f| Segment::from_frame(f.link, &f.data))
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
    assert_eq!(biggest, 536, "MSS at MTU 576");
}

#[test]
fn cli_mistakes_exit_2_and_bad_captures_exit_1() {
    let dir = Scratch::new("cli");
    let o = smolftp(&dir.0, &["demo", "--mtu", "12"]);
    assert_eq!(o.status.code(), Some(2), "bad --mtu");
    let o = smolftp(&dir.0, &["demo", "--fin", "sideways"]);
    assert_eq!(o.status.code(), Some(2), "bad --fin");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("piggyback"),
        "no hint of the values"
    );
    let o = smolftp(&dir.0, &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    // A bad passive range is a usage mistake, found before any TUN device is opened.
    for (range, says) in [
        ("80-90", "port 80 is privileged"),
        ("50999-50000", "write 50000-50999"),
        ("50000:50999", "expected FIRST-LAST"),
    ] {
        let server = [
            "server",
            "--tun",
            "none0",
            "--ip",
            "10.7.0.2/24",
            "--root",
            ".",
        ];
        let o = smolftp(&dir.0, &[&server[..], &["--passive-ports", range]].concat());
        assert_eq!(o.status.code(), Some(2), "--passive-ports {range}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "--passive-ports {range}: {err}");
    }

    std::fs::write(dir.path("junk.pcap"), b"this is not a capture at all").expect("write");
    let o = smolftp(&dir.0, &["ladder", "junk.pcap"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("junk.pcap") && err.contains("not a pcap"),
        "{err}"
    );

    demo(&dir.0, "whole.pcapng", &["--quiet"]);
    let whole = std::fs::read(dir.path("whole.pcapng")).expect("read");
    std::fs::write(dir.path("cut.pcapng"), &whole[..whole.len() - 50]).expect("write");
    let o = smolftp(&dir.0, &["ladder", "cut.pcapng"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cut.pcapng") && err.contains("truncated"),
        "{err}"
    );
    // The complete frames are drawn all the same, and the ladder says where the file was cut.
    let ladder = String::from_utf8_lossy(&o.stdout);
    assert!(ladder.contains("smolftp ladder: 40 frames"), "{ladder}");
    assert!(ladder.contains("capture cut: "), "{ladder}");

    let o = smolftp(&dir.0, &["ladder", "missing.pcapng"]);
    assert_eq!(o.status.code(), Some(1));

    let o = smolftp(
        &dir.0,
        &["demo", "--quiet", "--out", "no/such/dir/x.pcapng"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no/such/dir/x.pcapng"));
}

/// `-o -` streams the capture to standard output (for `| wireshark -k -i -`): the same bytes
/// as a capture written to a file, and no ladder mixed into them.
#[test]
fn out_dash_writes_the_capture_to_stdout() {
    let dir = Scratch::new("demo-stdout");
    let o = smolftp(&dir.0, &["demo", "-o", "-"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    demo(&dir.0, "file.pcapng", &["--quiet"]);
    let file = std::fs::read(dir.path("file.pcapng")).unwrap();
    assert_eq!(o.stdout, file, "stdout holds exactly the capture");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("41 frames"), "{stderr}");
    assert!(!stderr.contains("not found"), "{stderr}");
}
