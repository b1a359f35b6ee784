//! Loss recovery on the in-process cable (issue 16): many seeds of a session with a RETR and a
//! STOR of 1 MiB at `--loss 10` both ways must all arrive intact, within a bound in simulated
//! time. `SMOLFTP_RECOVERY_SEEDS=N` runs N seeds (default 100), `SMOLFTP_RECOVERY_FIRST=S`
//! starts at seed S, `SMOLFTP_RECOVERY_MIN_RTO=MS` sets the stacks' minimum RTO (default
//! 1000, the RFC's), `SMOLFTP_RECOVERY_TLP=1` turns tail loss probes on and
//! `SMOLFTP_RECOVERY_RACK=1` RACK (with tail loss probes).

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

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The bound on one session's simulated time, from the frames the cable lost in it. A loss that
/// fast retransmit (RFC 5681), a partial ACK (RFC 6582) or early retransmit (RFC 5827) repairs
/// costs about one RTT (2 ms here); one that needs the timer costs an RTO, at least `min_rto`
/// (RFC 6298 2.4), doubled for each loss of the same segment in a row (5.5): at 10 % loss a
/// timer-repaired loss costs on average min_rto x (1 + 2 x 0.1 + 4 x 0.01 + ...) < 1.3 x min_rto.
/// Allowing every lost frame (data or ACK) 2 x min_rto, plus 10 s for the session's own
/// exchanges, bounds a TCP that never stalls beyond its timer.
fn bound(lost: u64, min_rto: Duration) -> Duration {
    min_rto * 2 * lost as u32 + Duration::from_secs(10)
}

#[test]
fn sessions_at_ten_percent_loss_both_ways_complete_intact() {
    let seeds = env("SMOLFTP_RECOVERY_SEEDS", 100);
    let first = env("SMOLFTP_RECOVERY_FIRST", 1);
    let min_rto = Duration::from_millis(env("SMOLFTP_RECOVERY_MIN_RTO", 1000));
    let dir = Scratch::new("recovery");
    let trip = RoundTrip::new(&dir.0, content(1 << 20, 1), content(1 << 20, 2));
    let mut times = Vec::new();
    let mut lost = 0u64;
    let mut failures = Vec::new();
    for seed in first..first + seeds {
        let cfg = {
            let mut lab_cfg = LabConfig::default();
            lab_cfg.stacks.seed = seed;
            lab_cfg.server.set_writable(true);
            lab_cfg.limits.run = Duration::from_secs(3600);
            lab_cfg.client.timeout = Some(Duration::from_secs(900));
            lab_cfg.stacks.timeout = Duration::from_secs(900);
            lab_cfg.stacks.min_rto = Some(min_rto);
            let rack = std::env::var_os("SMOLFTP_RECOVERY_RACK").is_some();
            lab_cfg.stacks.tail_loss_probe =
                std::env::var_os("SMOLFTP_RECOVERY_TLP").is_some() || rack;
            lab_cfg.stacks.rack = rack;
            lab_cfg.cable.impair = ImpairPlan {
                rates: Rates {
                    loss: 10.0,
                    ..Rates::default()
                },
                seed,
                ..ImpairPlan::default()
            };
            lab_cfg
        };
        let steps = trip.steps();
        // SMOLFTP_RECOVERY_CAPTURE=DIR keeps DIR/recovery-SEED.pcapng and .jsonl (stack log).
        let kept = std::env::var_os("SMOLFTP_RECOVERY_CAPTURE").map(std::path::PathBuf::from);
        let recorder = kept.as_ref().map(|d| {
            Recorder::create(&d.join(format!("recovery-{seed}.pcapng")), Format::Pcapng)
                .expect("cannot create the capture")
        });
        let cfg = {
            let mut lab_cfg = cfg;
            lab_cfg.stacks.stack_log = kept
                .as_ref()
                .map(|d| d.join(format!("recovery-{seed}.jsonl")));
            lab_cfg
        };
        let run = cfg
            .run(&trip.root, steps, recorder.as_ref(), lab::virtual_start())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let run_lost: u64 = run.link.iter().map(|(_, s)| s.lost).sum();
        let failure = if let Some(f) = trip.failure(&run) {
            Some(f)
        } else if run.elapsed > bound(run_lost, min_rto) {
            Some(format!(
                "took {:.3} s, over the bound of {:.0} s for {run_lost} lost frames",
                run.elapsed.as_secs_f64(),
                bound(run_lost, min_rto).as_secs_f64()
            ))
        } else {
            None
        };
        if let Some(f) = failure {
            eprintln!("recovery: seed {seed}: {f}");
            failures.push((seed, f));
        }
        lost += run_lost;
        times.push((run.elapsed, seed, run_lost));
    }
    times.sort();
    let (slowest, slowest_seed, slowest_lost) = times.last().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).map(|t| t.0).unwrap_or_default();
    eprintln!(
        "recovery: {} of {seeds} seeds intact at 10 % loss both ways (min RTO {} ms), {lost} \
         frames lost; simulated session time median {:.3} s, slowest {:.3} s (seed \
         {slowest_seed}, {slowest_lost} frames lost, bound {:.0} s)",
        seeds - failures.len() as u64,
        min_rto.as_millis(),
        median.as_secs_f64(),
        slowest.as_secs_f64(),
        bound(slowest_lost, min_rto).as_secs_f64()
    );
    assert!(lost > seeds * 100, "the cable hardly lost anything: {lost}");
    assert!(
        failures.is_empty(),
        "{} seeds failed: {failures:?}",
        failures.len()
    );
}

/// The control connection outlives a long lossy transfer with the default timeouts (60 s):
/// its keep-alive probes (every timeout / 6 of quiet) and their answers may be lost at 10 %,
/// so one probe per timeout (as every timeout / 2 gave) was not enough and the control
/// connection of seeds 2, 4 and 9 timed out during their transfers ("control connection
/// closed by the server"). Sessions may still fail in other ways (a data connection silent
/// beyond the client's 60 s): this test is about the control connection only.
#[test]
fn the_control_connection_outlives_a_long_lossy_transfer() {
    let dir = Scratch::new("recovery-control");
    let trip = RoundTrip::new(&dir.0, content(1 << 20, 1), content(1 << 20, 2));
    let mut closed = Vec::new();
    for seed in 1..=10 {
        let cfg = {
            let mut lab_cfg = LabConfig::default();
            lab_cfg.stacks.seed = seed;
            lab_cfg.server.set_writable(true);
            lab_cfg.limits.run = Duration::from_secs(3600);
            lab_cfg.cable.impair = ImpairPlan {
                rates: Rates {
                    loss: 10.0,
                    ..Rates::default()
                },
                seed,
                ..ImpairPlan::default()
            };
            lab_cfg
        };
        let steps = trip.steps();
        let run = cfg
            .run(&trip.root, steps, None, lab::virtual_start())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if let Some(e) = run.error.filter(|e| e.contains("control connection")) {
            closed.push((seed, e));
        }
    }
    assert!(closed.is_empty(), "control connections lost: {closed:?}");
}
