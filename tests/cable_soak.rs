//! Soak of the impaired cable on the virtual clock: many seeds of `--loss 5 --duplicate 2
//! --reorder 2 --corrupt 1`, each a whole session with a RETR and a STOR of 256 KiB; every file
//! must arrive byte-identical and no session may hang (each is bounded in simulated time). The
//! slowest simulated session is printed. `SMOLFTP_SOAK_SEEDS=N` runs N seeds instead of 100
//! (scripts/soak.sh runs 1000).

mod common;

use std::time::Duration;

use common::{RoundTrip, Scratch};
use smolftp::lab::{self, LabConfig};
use smolftp::link::impair::{ImpairPlan, Rates};
use smolftp::link::{Format, Recorder};

/// Pseudo-random bytes (xorshift64).
fn content(len: usize, seed: u64) -> Vec<u8> {
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

#[test]
fn impaired_sessions_complete_intact() {
    let seeds: u64 = std::env::var("SMOLFTP_SOAK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let first: u64 = std::env::var("SMOLFTP_SOAK_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    // Every session is recorded (the capture's fault notes are exercised too), into the
    // scratch directory, or, with SMOLFTP_SOAK_CAPTURE=DIR, kept as DIR/soak-SEED.pcapng.
    let captures = std::env::var_os("SMOLFTP_SOAK_CAPTURE").map(std::path::PathBuf::from);
    let dir = Scratch::new("soak");
    let trip = RoundTrip::new(&dir.0, content(256 * 1024, 1), content(256 * 1024, 2));
    let mut slowest = (Duration::ZERO, 0);
    let mut faults = 0u64;
    let mut failures = Vec::new();
    for seed in first..first + seeds {
        let mut cfg = LabConfig::default();
        cfg.stacks.seed = seed;
        cfg.server.set_writable(true);
        cfg.limits.run = Duration::from_secs(3600);
        // smoltcp backs its retransmissions off up to 60 s (Karn: a backed-off RTO stays
        // until a segment sent once is acknowledged): a run of losses can be silent longer
        // than the usual minute. The session must still end, intact.
        cfg.client.timeout = Some(Duration::from_secs(900));
        cfg.stacks.timeout = Duration::from_secs(900);
        cfg.cable.impair = ImpairPlan {
            rates: Rates {
                loss: 5.0,
                duplicate: 2.0,
                reorder: 2.0,
                corrupt: 1.0,
            },
            seed,
            ..ImpairPlan::default()
        };
        let steps = trip.steps();
        let capture = match &captures {
            Some(d) => d.join(format!("soak-{seed}.pcapng")),
            None => dir.0.join("soak.pcapng"),
        };
        let recorder =
            Recorder::create(&capture, Format::Pcapng).expect("cannot create the capture");
        let run = cfg
            .run(&trip.root, steps, Some(&recorder), lab::virtual_start())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        // Every seed runs; the failures are listed at the end.
        let failure = trip.failure(&run);
        if let Some(f) = failure {
            eprintln!(
                "soak: seed {seed} failed after {:.3} s: {f}",
                run.elapsed.as_secs_f64()
            );
            failures.push((seed, f));
        }
        faults += run
            .link
            .iter()
            .map(|(_, s)| s.lost + s.duplicated + s.reordered + s.corrupted)
            .sum::<u64>();
        if run.elapsed > slowest.0 {
            slowest = (run.elapsed, seed);
        }
    }
    assert!(
        faults > seeds * 10,
        "the cable hardly impaired anything: {faults} faults"
    );
    eprintln!(
        "soak: {} of {seeds} seeds intact, {faults} faults; slowest simulated session {:.3} s \
         (seed {})",
        seeds - failures.len() as u64,
        slowest.0.as_secs_f64(),
        slowest.1
    );
    assert!(
        failures.is_empty(),
        "{} seeds failed (replay one: SMOLFTP_SOAK_FIRST=SEED SMOLFTP_SOAK_SEEDS=1 \
         SMOLFTP_SOAK_CAPTURE=DIR): {failures:?}",
        failures.len()
    );
}
