//! # Benchmark: RETR throughput over the cable
//!
//! Layer: application. `smolftp bench` serves one large file and downloads it with RETR between
//! the two hosts of a [`crate::lab`], on the real clock, with the capture off and then on, and
//! reports the rates. The download goes to `/dev/null` (the byte count is checked), so the figure
//! is the stacks' and the capture's, not the disk's.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ftp::client::Step;
use crate::lab::{LabConfig, RunError};
use crate::link::{Format, Recorder};
use crate::net::sim::Clock;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// File size, bytes.
    pub size: u64,
    /// IP MTU of the cable.
    pub mtu: usize,
    /// Socket buffers of the data connection, bytes.
    pub buffer: usize,
    /// Where the file and the capture go (a scratch directory is made inside).
    pub dir: PathBuf,
    /// Runs of each kind; the best is kept.
    pub runs: u32,
    /// Where the capture goes (default: inside `dir`); `/dev/null` measures the capture's CPU
    /// cost without the file system's.
    pub capture: Option<PathBuf>,
}

/// One measurement.
#[derive(Clone, Debug)]
pub struct Measure {
    /// Wall time of the whole session (login to QUIT).
    pub elapsed: Duration,
    /// Frames recorded (0 with the capture off).
    pub frames: u64,
    /// Size of the capture file, bytes.
    pub capture_bytes: u64,
}

impl Measure {
    /// Rate in Gbit/s for `size` bytes.
    pub fn gbps(&self, size: u64) -> f64 {
        size as f64 * 8.0 / self.elapsed.as_secs_f64() / 1e9
    }
}

/// A new, empty scratch directory inside `parent`, removed when dropped.
fn scratch_in(parent: &Path, tag: &str) -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("smolftp-{tag}-"))
        .tempdir_in(parent)
}

/// Writes `size` bytes of a fixed pseudo-random pattern to `path`.
fn make_file(path: &Path, size: u64) -> std::io::Result<()> {
    let mut chunk = vec![0u8; 1 << 20];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for b in chunk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // The low byte of each xorshift state, truncated on purpose.
        *b = x as u8;
    }
    let mut file = std::io::BufWriter::new(fs::File::create(path)?);
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    // Written back before the runs, not during them.
    file.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn once(opts: &BenchOptions, root: &Path, capture: Option<&Path>) -> Result<Measure, RunError> {
    let mut lab = LabConfig::default();
    lab.cable.mtu = opts.mtu;
    lab.cable.delay = Duration::ZERO;
    lab.stacks.window = opts.buffer;
    lab.stacks.send_buffer = opts.buffer;
    lab.limits.run = Duration::from_secs(600);
    let steps = vec![Step::Retr {
        remote: "big.bin".into(),
        local: PathBuf::from("/dev/null"),
    }];
    let recorder = match capture {
        Some(path) => Some(Recorder::create(path, Format::Pcapng).map_err(RunError::Told)?),
        None => None,
    };
    let run = lab.run(root, steps, recorder.as_ref(), Clock::Real)?;
    let outcome = run
        .outcomes
        .first()
        .ok_or_else(|| RunError::Failed(format!("no transfer happened: {:?}", run.error)))?;
    if !outcome.ok || outcome.bytes != opts.size {
        return Err(RunError::Failed(format!(
            "RETR moved {} of {} bytes (reply {})",
            outcome.bytes,
            opts.size,
            String::from_utf8_lossy(&outcome.reply.to_bytes()).trim_end()
        )));
    }
    let capture_bytes = capture
        .and_then(|p| fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    // The next run starts with nothing of this one left to write back (untimed): on a disk,
    // the kernel writing back earlier runs' captures took the CPU from later ones.
    if let Some(file) = capture.and_then(|p| fs::File::open(p).ok()) {
        let _ = file.sync_all();
    }
    Ok(Measure {
        elapsed: run.elapsed,
        frames: run.frames,
        capture_bytes,
    })
}

/// Runs the benchmark; returns (capture off, capture on), the best of `runs` each.
pub fn run(opts: &BenchOptions) -> Result<(Measure, Measure), RunError> {
    let scratch = scratch_in(&opts.dir, "bench").map_err(RunError::io(format!(
        "cannot make a scratch directory in {}",
        opts.dir.display()
    )))?;
    let root = scratch.path().join("root");
    fs::create_dir_all(&root).map_err(RunError::Told)?;
    make_file(&root.join("big.bin"), opts.size)
        .map_err(RunError::io("cannot write the test file"))?;
    let capture = opts
        .capture
        .clone()
        .unwrap_or_else(|| scratch.path().join("bench.pcapng"));
    let best = |with: Option<&Path>| -> Result<Measure, RunError> {
        let mut best: Option<Measure> = None;
        for _ in 0..opts.runs {
            let m = once(opts, &root, with)?;
            if best.as_ref().is_none_or(|b| m.elapsed < b.elapsed) {
                best = Some(m);
            }
        }
        best.ok_or_else(|| RunError::Failed("no run".into()))
    };
    let off = best(None)?;
    let on = best(Some(&capture))?;
    Ok((off, on))
}

/// A `/proc/self/status` figure (`VmRSS`, `VmHWM`, ...) in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What [`sessions`] measured.
#[derive(Clone, Debug)]
pub struct SessionsMeasure {
    /// Sessions run at once.
    pub sessions: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Growth of the peak resident set over the run, per session, bytes.
    pub memory_per_session: u64,
}

/// Runs `n` sessions at once on one server host (each: login, LIST, RETR of 1 MiB, QUIT) on
/// the real clock, checks every byte, and measures the memory they took.
pub fn sessions(n: usize, dir: &Path) -> Result<SessionsMeasure, RunError> {
    let scratch = scratch_in(dir, "bench-sessions").map_err(RunError::io(format!(
        "cannot make a scratch directory in {}",
        dir.display()
    )))?;
    let root = scratch.path().join("root");
    let local = scratch.path().join("local");
    fs::create_dir_all(&root).map_err(RunError::Told)?;
    fs::create_dir_all(&local).map_err(RunError::Told)?;
    make_file(&root.join("one.bin"), 1 << 20).map_err(RunError::Told)?;
    let want = fs::read(root.join("one.bin")).map_err(RunError::Told)?;
    let mut lab = LabConfig::default();
    lab.cable.delay = Duration::ZERO;
    lab.server.max_sessions = n;
    let plans = (0..n)
        .map(|i| {
            vec![
                Step::List(None),
                Step::Retr {
                    remote: "one.bin".into(),
                    local: local.join(format!("{i}.bin")),
                },
            ]
        })
        .collect();
    let before = proc_status_bytes("VmRSS:").unwrap_or(0);
    let runs = lab.run_many(&root, plans, None, Clock::Real)?;
    let peak = proc_status_bytes("VmHWM:").unwrap_or(0);
    for (i, (outcomes, error)) in runs.sessions.iter().enumerate() {
        if let Some(e) = error {
            return Err(RunError::Failed(format!("session {i}: {e}")));
        }
        if outcomes.len() != 2 || outcomes.iter().any(|o| !o.ok) {
            return Err(RunError::Failed(format!(
                "session {i} failed: {outcomes:?}"
            )));
        }
        let got = fs::read(local.join(format!("{i}.bin"))).map_err(RunError::Told)?;
        if got != want {
            return Err(RunError::Failed(format!(
                "session {i}: the download differs"
            )));
        }
    }
    Ok(SessionsMeasure {
        sessions: n,
        elapsed: runs.elapsed,
        memory_per_session: peak.saturating_sub(before) / n.max(1) as u64,
    })
}
