//! # Per-student exercises and their grading
//!
//! Layer: application, above [`crate::lab`] and [`crate::demo`]. Job: turn a lab template
//! (`handshake-and-release`, `rtt`, `fast-retransmit`, `rto-backoff`, `flow-control`,
//! `slow-start`) and a student's ID into a variant of the seed session that differs per
//! student (ISNs, file name and size, MTU, delay, which segment is lost) while teaching the same
//! lesson, deterministically from the ID and the course secret; run it; and write the capture,
//! `worksheet.md` (numbered questions naming their frames) and `key.json` (the answers, computed
//! by [`crate::trace::report`]). [`grade`] checks answers against a key.

mod error;
pub mod grade;
mod questions;

pub use error::ExerciseError;

use std::fs;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::demo::{self, DemoOptions};
use crate::lab::{EPOCH_SECS, LabConfig};
use crate::link::impair::{DropSpec, ImpairPlan};

/// A lab template: the lesson every student's variant teaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// The seed figure: handshakes, ISNs, the FTP data connection, DATA+FIN and the release.
    HandshakeAndRelease,
    /// SampleRTT, EstimatedRTT, DevRTT and TimeoutInterval over a cable with delay and jitter.
    Rtt,
    /// One lost data segment, three duplicate ACKs, one fast retransmission.
    FastRetransmit,
    /// A SYN+ACK lost twice: the SYN is sent again after 1 s, then 2 s later.
    RtoBackoff,
    /// A small receive window: zero windows and window updates.
    FlowControl,
    /// Slow start: cwnd grows by one MSS per ACK, over a slow cable.
    SlowStart,
}

impl Template {
    /// Every template, in the order the README lists them.
    pub const ALL: [Template; 6] = [
        Template::HandshakeAndRelease,
        Template::Rtt,
        Template::FastRetransmit,
        Template::RtoBackoff,
        Template::FlowControl,
        Template::SlowStart,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Template::HandshakeAndRelease => "handshake-and-release",
            Template::Rtt => "rtt",
            Template::FastRetransmit => "fast-retransmit",
            Template::RtoBackoff => "rto-backoff",
            Template::FlowControl => "flow-control",
            Template::SlowStart => "slow-start",
        }
    }

    /// The template called `name`, or an error listing them.
    pub fn parse(name: &str) -> Result<Template, ExerciseError> {
        Template::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| ExerciseError::NoTemplate(name.to_string()))
    }
}

/// What differs between two students' runs of one template.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// The template.
    pub template: Template,
    /// Seed of the hosts' random numbers (their ISNs).
    pub seed: u64,
    /// Name of the downloaded file.
    pub file: String,
    /// Its size, bytes.
    pub size: usize,
    /// IP MTU of the cable.
    pub mtu: u16,
    /// One-way delay, ms.
    pub delay_ms: u32,
    /// Jitter of the delay, ms.
    pub jitter_ms: u32,
    /// Bit rate of the cable (`None`: none).
    pub rate: Option<u64>,
    /// Receive window of data connections, bytes.
    pub window: u32,
    /// Frames the cable drops (`--drop` specs).
    pub drops: Vec<String>,
    /// The client's first data port (the PORT command's port; the download uses the next).
    pub data_port_base: u16,
}

/// FNV-1a over `bytes`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64: a small, stable stream of numbers from one seed.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
}

const NAMES: [&str; 8] = [
    "notes.txt",
    "lab.pdf",
    "photo.jpg",
    "data.csv",
    "report.doc",
    "song.mp3",
    "slides.ppt",
    "backup.tar",
];

impl Variant {
    /// The variant of `template` for `student` under the course `secret`: the same three
    /// always give the same variant; another student gets other numbers.
    pub fn new(template: Template, student: &str, secret: &str) -> Variant {
        let key = format!("smolftp-exercise\0{secret}\0{student}\0{}", template.name());
        let mut m = Mix(fnv(key.as_bytes()));
        let seed = m.next() | 1;
        let file = m.pick(&NAMES).to_string();
        let mut v = Variant {
            template,
            seed,
            file,
            size: m.range(1_000, 6_000) as usize,
            mtu: *m.pick(&[576, 1000, 1280, 1500]),
            delay_ms: m.range(1, 5) as u32,
            jitter_ms: 0,
            rate: None,
            window: 65535,
            drops: Vec::new(),
            data_port_base: m.range(5001, 9000) as u16,
        };
        match template {
            Template::HandshakeAndRelease => {}
            Template::Rtt => {
                v.mtu = 1500;
                v.size = m.range(20_000, 40_000) as usize;
                v.delay_ms = m.range(5, 40) as u32;
                v.jitter_ms = (v.delay_ms / 4).max(1);
            }
            Template::FastRetransmit => {
                v.mtu = 1500;
                v.size = m.range(200_000, 300_000) as usize;
                let port = v.data_port_base + 1;
                v.drops = vec![format!("data:{}@20>{port}", m.range(30, 45))];
            }
            Template::RtoBackoff => {
                let k = m.range(1, 3);
                v.drops = vec![format!("synack:{k}"), format!("synack:{}", k + 1)];
            }
            Template::FlowControl => {
                v.mtu = 1500;
                v.size = m.range(8_000, 20_000) as usize;
                v.window = *m.pick(&[1024, 1536, 2048]);
            }
            Template::SlowStart => {
                v.mtu = 1500;
                v.size = 1460 * m.range(25, 45) as usize;
                v.delay_ms = m.range(5, 20) as u32;
                v.rate = Some(10_000_000);
                v.window = 1 << 20;
            }
        }
        v
    }

    /// The lab that runs this variant.
    pub fn lab(&self) -> Result<LabConfig, ExerciseError> {
        let drops = self
            .drops
            .iter()
            .map(|d| d.parse::<DropSpec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(ExerciseError::Drop)?;
        let mut lab = LabConfig::default();
        lab.stacks.seed = self.seed;
        lab.cable.mtu = self.mtu.into();
        lab.cable.delay = Duration::from_millis(self.delay_ms.into());
        lab.cable.jitter = Duration::from_millis(self.jitter_ms.into());
        lab.cable.rate = self.rate;
        lab.stacks.window = self.window as usize;
        lab.client.data_port_base = self.data_port_base;
        lab.cable.impair = ImpairPlan {
            drops,
            seed: self.seed,
            ..ImpairPlan::default()
        };
        Ok(lab)
    }

    /// The parameters as key.json records them.
    pub fn to_json(&self) -> Value {
        json!({
            "seed": self.seed, "file": self.file, "size": self.size, "mtu": self.mtu,
            "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms, "rate": self.rate,
            "window": self.window, "drops": self.drops,
            "data_port_base": self.data_port_base,
        })
    }
}

/// The file a variant serves: bytes from its seed, mode 0644, dated like the demo's.
fn write_file(dir: &Path, v: &Variant) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut m = Mix(v.seed);
    let body: Vec<u8> = (0..v.size).map(|_| b'a' + (m.next() % 26) as u8).collect();
    let path = dir.join(&v.file);
    fs::write(&path, body)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    fs::File::options()
        .write(true)
        .open(&path)?
        .set_modified(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
}

/// What [`make`] wrote.
#[derive(Debug)]
pub struct Made {
    /// The variant.
    pub variant: Variant,
    /// Questions on the worksheet.
    pub questions: usize,
    /// Frames in the capture.
    pub frames: u64,
}

/// Runs `template`'s variant for `student` and writes `out/capture.pcapng`, `out/worksheet.md`
/// and `out/key.json`.
pub fn make(
    template: Template,
    student: &str,
    secret: &str,
    out: &Path,
) -> Result<Made, ExerciseError> {
    if student.trim().is_empty() {
        return Err(ExerciseError::NoStudent);
    }
    fs::create_dir_all(out).map_err(ExerciseError::io(format!("cannot make {}", out.display())))?;
    let v = Variant::new(template, student, secret);
    let scratch = tempfile::Builder::new()
        .prefix("smolftp-exercise-")
        .tempdir()
        .map_err(ExerciseError::io("cannot make a scratch directory"))?;
    let root = scratch.path().join("root");
    fs::create_dir_all(&root).map_err(ExerciseError::io("cannot make the served directory"))?;
    write_file(&root, &v).map_err(ExerciseError::io("cannot write the served file"))?;
    let capture = out.join("capture.pcapng");
    let log = scratch.path().join("stack.jsonl");
    let mut lab = v.lab()?;
    lab.stacks.stack_log = Some(log.clone());
    let run = demo::run(&DemoOptions {
        out: capture.clone(),
        lab,
        root: Some(root),
        file: v.file.clone(),
        ..DemoOptions::default()
    })?;
    let frames = crate::trace::read_capture(&capture)?;
    let a = crate::trace::analyze(&frames);
    let log_text =
        fs::read_to_string(&log).map_err(ExerciseError::io("cannot read the stack log"))?;
    let records = crate::trace::stacklog::parse_stack_log("stack log", &log_text)?;
    let reports = crate::trace::report::report(&a, Some(&records));
    let report = crate::trace::report::to_json("capture.pcapng", &reports);
    let qs = questions::questions(&v, &a, &report)?;
    let key = json!({
        "student": student,
        "template": template.name(),
        "capture": "capture.pcapng",
        "parameters": v.to_json(),
        "questions": qs.iter().map(|q| q.to_json()).collect::<Vec<_>>(),
        "report": report,
    });
    let key_text = serde_json::to_string_pretty(&key).map_err(ExerciseError::Json)? + "\n";
    let write = |name: &str, text: &str| {
        let p = out.join(name);
        fs::write(&p, text).map_err(ExerciseError::io(format!("cannot write {}", p.display())))
    };
    write("key.json", &key_text)?;
    write("worksheet.md", &questions::worksheet(&v, student, &qs))?;
    Ok(Made {
        variant: v,
        questions: qs.len(),
        frames: run.frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_depend_on_id_secret_and_template_only() {
        for t in Template::ALL {
            assert_eq!(Template::parse(t.name()).ok(), Some(t));
            let a = Variant::new(t, "s1", "k");
            assert_eq!(a, Variant::new(t, "s1", "k"));
            assert_ne!(a.seed, Variant::new(t, "s2", "k").seed);
            assert_ne!(a.seed, Variant::new(t, "s1", "k2").seed);
            assert!(a.lab().is_ok(), "{t:?}: {:?}", a.drops);
        }
        assert!(
            Template::parse("nope")
                .unwrap_err()
                .to_string()
                .contains("flow-control")
        );
        // Stable across builds: the hash is ours, not std's.
        assert_eq!(fnv(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
