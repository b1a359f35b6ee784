//! Helpers shared by the integration tests: running the `smolftp` binary in a scratch directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smolftp::trace::{self, Segment, SegmentKind};

pub mod watch;

/// A scratch directory for one test (a [`tempfile::TempDir`], removed when dropped); `.0` is
/// its path.
pub struct Scratch(pub PathBuf, tempfile::TempDir);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("smolftp-it-{tag}-"))
            .tempdir()
            .expect("scratch dir");
        Scratch(dir.path().to_path_buf(), dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
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

/// A RETR of `down.bin` then a STOR of `up.bin` between a served directory (`root`) and the
/// client's (`local`), both under one scratch directory, with the bytes they must move.
pub struct RoundTrip {
    /// The server's directory.
    pub root: PathBuf,
    /// The client's directory.
    pub local: PathBuf,
    /// What RETR must bring.
    pub down: Vec<u8>,
    /// What STOR must leave on the server.
    pub up: Vec<u8>,
}

impl RoundTrip {
    /// Makes `dir/root/down.bin` and `dir/local/up.bin`.
    pub fn new(dir: &Path, down: Vec<u8>, up: Vec<u8>) -> RoundTrip {
        let (root, local) = (dir.join("root"), dir.join("local"));
        std::fs::create_dir_all(&root).expect("root dir");
        std::fs::create_dir_all(&local).expect("local dir");
        std::fs::write(root.join("down.bin"), &down).expect("down.bin");
        std::fs::write(local.join("up.bin"), &up).expect("up.bin");
        RoundTrip {
            root,
            local,
            down,
            up,
        }
    }

    /// The two steps, with the results of an earlier round removed first.
    pub fn steps(&self) -> Vec<smolftp::ftp::client::Step> {
        use smolftp::ftp::client::Step;
        let _ = std::fs::remove_file(self.root.join("up.bin"));
        let _ = std::fs::remove_file(self.local.join("down.bin"));
        vec![
            Step::Retr {
                remote: "down.bin".into(),
                local: self.local.join("down.bin"),
            },
            Step::Stor {
                local: self.local.join("up.bin"),
                remote: "up.bin".into(),
            },
        ]
    }

    /// What went wrong with `run`, if anything: a failed session or step, or a file that did
    /// not arrive intact.
    pub fn failure(&self, run: &smolftp::lab::LabRun) -> Option<String> {
        if let Some(e) = &run.error {
            Some(format!("the session failed: {e}"))
        } else if let Some(o) = run.outcomes.iter().find(|o| !o.ok) {
            Some(format!("{} -> {}", o.step, o.reply))
        } else if std::fs::read(self.local.join("down.bin")).ok().as_ref() != Some(&self.down) {
            Some("RETR not intact".into())
        } else if std::fs::read(self.root.join("up.bin")).ok().as_ref() != Some(&self.up) {
            Some("STOR not intact".into())
        } else {
            None
        }
    }
}
