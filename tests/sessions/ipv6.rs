//! Whole sessions over IPv6 on the in-process cable (server fd00::1, client fd00::2): control
//! and data connections over IPv6, active mode with `EPRT |2|...|` and passive with `EPSV`.

use std::fs;

use smolftp::ftp::client::Step;
use smolftp::lab::LabConfig;

use smolftp::trace;

use super::{assert_ok, assert_session, content, run_recorded, scratch};

/// Sizes: empty, one byte past the MSS, 1 MiB.
const SIZES: [usize; 3] = [0, 1461, 1024 * 1024];

/// LIST, then RETR and STOR of every size; every file must arrive byte-identical.
fn round_trips(tag: &str, passive: bool) {
    let s = scratch(tag);
    let mut steps = vec![Step::List(None)];
    let mut downloads = Vec::new();
    let mut uploads = Vec::new();
    for (i, &size) in SIZES.iter().enumerate() {
        let name = format!("down-{size}.bin");
        let data = content(size, 7 + i as u64);
        fs::write(s.root.join(&name), &data).unwrap();
        let local = s.local.join(&name);
        steps.push(Step::Retr {
            remote: name,
            local: local.clone(),
        });
        downloads.push((local, data));
    }
    for (i, &size) in SIZES.iter().enumerate() {
        let name = format!("up-{size}.bin");
        let data = content(size, 70 + i as u64);
        let local = s.local.join(&name);
        fs::write(&local, &data).unwrap();
        steps.push(Step::Stor {
            local,
            remote: name.clone(),
        });
        uploads.push((s.root.join(&name), data));
    }
    let cfg = {
        let mut lab_cfg = LabConfig::default();
        lab_cfg.stacks.ipv6 = true;
        lab_cfg.client.passive = passive;
        lab_cfg.server.set_writable(true);
        lab_cfg
    };
    let count = steps.len();
    let capture = s.local.join("ipv6.pcapng");
    let run = run_recorded(&cfg, &s.root, steps, &capture);
    assert_session(&run, count);
    // Every frame on the cable is IPv6 (version nibble 6): nothing went over IPv4.
    let frames = trace::read_capture(&capture).expect("cannot read the capture back");
    assert!(!frames.is_empty() && run.frames > 0);
    for f in &frames {
        assert_eq!(
            f.data.first().map(|b| b >> 4),
            Some(6),
            "frame {}",
            f.number
        );
    }
    // The analysis reads IPv6 too: every frame is a TCP segment between the two hosts, and
    // the ladder names both over IPv6.
    let segs = super::segments(&capture);
    assert!(segs.iter().all(|s| s.src.is_ipv6() && s.dst.is_ipv6()));
    let ladder = trace::render(&frames, &trace::LadderOptions::default());
    if std::env::var_os("SMOLFTP_SHOW_LADDER").is_some() {
        println!("{ladder}");
    }
    assert!(
        ladder.contains("fd00::1") && ladder.contains("fd00::2"),
        "{ladder}"
    );
    assert!(!ladder.contains("not IPv4/TCP"), "{ladder}");
    for o in &run.outcomes {
        assert_ok(o, 226);
    }
    let listing =
        String::from_utf8_lossy(run.outcomes[0].listing.as_deref().unwrap_or(&[])).into_owned();
    for size in SIZES {
        assert!(
            listing.contains(&format!("down-{size}.bin")),
            "LIST over IPv6 names every file: {listing}"
        );
    }
    for (file, data) in downloads.iter().chain(&uploads) {
        let got = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(got == *data, "{} differs", file.display());
    }
}

#[test]
fn ipv6_active_eprt_list_retr_stor_round_trip() {
    round_trips("ipv6-active", false);
}

#[test]
fn ipv6_passive_epsv_list_retr_stor_round_trip() {
    round_trips("ipv6-passive", true);
}
