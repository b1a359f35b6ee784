//! Helpers shared by the integration tests: running the `smolftp` binary in a scratch directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smolftp::trace::{self, Segment, SegmentKind};

/// A scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "smolftp-it-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `smolftp ARGS` in `dir`.
pub fn smolftp(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smolftp"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run smolftp")
}

/// Runs the demo with extra `args`, writing `out` in `dir`; returns its stdout (the ladder).
pub fn demo(dir: &Path, out: &str, args: &[&str]) -> String {
    let mut all = vec!["demo", "--out", out];
    all.extend_from_slice(args);
    let o = smolftp(dir, &all);
    assert!(
        o.status.success(),
        "smolftp {all:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 ladder")
}

/// The kinds of the segments between port 20 and `port`, in capture order, `>` for those from
/// port 20 (the FTP server), `<` for the others.
pub fn data_sequence(capture: &Path, port: u16) -> Vec<String> {
    let frames = trace::read_capture(capture).expect("read capture");
    frames
        .iter()
        .filter_map(|f| Segment::from_frame(f.link, &f.data))
        .filter(|s| {
            (s.src.port() == 20 && s.dst.port() == port)
                || (s.src.port() == port && s.dst.port() == 20)
        })
        .map(|s| {
            let dir = if s.src.port() == 20 { '>' } else { '<' };
            format!("{dir}{}", SegmentKind::of(&s).label(&s))
        })
        .collect()
}

/// True if tshark can run; panics if it cannot but must (`SMOLFTP_REQUIRE_PEERS`, set by
/// scripts/test.sh in CI and as root), else says why the test skips.
pub fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("SMOLFTP_REQUIRE_PEERS").is_none(),
            "tshark is required here (SMOLFTP_REQUIRE_PEERS is set) but cannot be run: \
             apt-get install -y tshark"
        );
        eprintln!("skipping: tshark is not installed (sudo apt-get install tshark)");
    }
    ok
}

/// `tshark -r FILE OPTIONS... [-Y FILTER] -T fields -E separator=TAB -e F...`: the fields of
/// every frame the filter selects, in order.
pub fn tshark_fields(
    file: &Path,
    options: &[&str],
    filter: Option<&str>,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(file)
        .args(options)
        .args(["-T", "fields", "-E", "separator=\t"]);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed on {filter:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
