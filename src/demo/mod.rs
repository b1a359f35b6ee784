//! # The seed session
//!
//! Layer: application. `smolftp demo` replays the active-mode session of the textbook figure
//! (login, `PORT` 5001 + `LIST`, `PORT` 5002 + `RETR readme.txt`, `QUIT`) in a [`crate::lab`]:
//! FTP server 10.0.0.1 and client 10.0.0.2 on two smoltcp hosts joined by an in-process cable,
//! on the virtual clock, every frame recorded once as a tap on one host's interface sees it
//! (the server's by default), the cable slowed and impaired as the options say. It checks the
//! download and returns the capture's ladder. Same options, byte-identical capture.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, UNIX_EPOCH};

use crate::ftp::client::Step;
use crate::lab::{self, EPOCH_SECS, LabConfig, RunError};
use crate::link::impair::DirStats;
use crate::link::{Format, Recorder};
use crate::trace::{self, LadderOptions};

/// The file the demo serves.
pub const README: &str = include_str!("readme.txt");

/// Everything a lab can change about the demo.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Capture file to write.
    pub out: PathBuf,
    /// Its format.
    pub format: Format,
    /// The lab's knobs (seed, MTU, delay, FIN placement, ...).
    pub lab: LabConfig,
    /// Serve this directory instead of the built-in one holding readme.txt.
    pub root: Option<PathBuf>,
    /// The file to download.
    pub file: String,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            out: PathBuf::from("smolftp-demo.pcapng"),
            format: Format::Pcapng,
            lab: LabConfig::default(),
            root: None,
            file: "readme.txt".into(),
        }
    }
}

/// What a demo run produced.
#[derive(Debug)]
pub struct DemoReport {
    /// The ladder of the capture.
    pub ladder: String,
    /// Frames recorded.
    pub frames: u64,
    /// Simulated duration of the session.
    pub elapsed: StdDuration,
    /// The listing the client received.
    pub listing: String,
    /// Bytes of the downloaded file (identical to the served one: checked).
    pub file_bytes: u64,
    /// Per direction of the cable: what it carried and what went wrong.
    pub link: Vec<(String, DirStats)>,
}

impl DemoReport {
    /// One line per direction of the cable: frames sent, lost, duplicated, ...
    pub fn link_summary(&self) -> String {
        summary(&self.link)
    }
}

/// One line per direction of the cable: frames sent, lost, duplicated, ...
fn summary(link: &[(String, DirStats)]) -> String {
    link.iter()
        .map(|(label, s)| {
            format!(
                "{label}: {} sent, {} lost, {} duplicated, {} reordered, {} corrupted, {} queue drops\n",
                s.sent, s.lost, s.duplicated, s.reordered, s.corrupted, s.queue_drops
            )
        })
        .collect()
}

/// Writes the demo's served directory: `readme.txt`, mode 0644, dated [`EPOCH_SECS`], so that
/// its listing is the same on every machine and every day.
pub fn write_demo_root(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("readme.txt");
    fs::write(&file, README)?;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
    let date = UNIX_EPOCH + StdDuration::from_secs(EPOCH_SECS);
    fs::File::options()
        .write(true)
        .open(&file)?
        .set_modified(date)?;
    Ok(())
}

/// Runs the seed session and writes its capture to `opts.out`.
pub fn run(opts: &DemoOptions) -> Result<DemoReport, RunError> {
    let scratch = tempfile::Builder::new()
        .prefix("smolftp-demo-")
        .tempdir()
        .map_err(RunError::io("cannot make a scratch directory"))?;
    let root = match &opts.root {
        Some(root) => root.clone(),
        None => {
            let root = scratch.path().join("root");
            fs::create_dir_all(&root).map_err(RunError::io("cannot make the served directory"))?;
            write_demo_root(&root).map_err(RunError::io("cannot write readme.txt"))?;
            root
        }
    };
    let local_file = scratch.path().join("download");
    // `-o -`: the capture goes to standard output once the session is over; it is written to
    // a scratch file first, which the ladder is drawn from.
    let to_stdout = opts.out == Path::new("-");
    // A device or a FIFO (`-o /dev/null`, a pipe to Wireshark) cannot be read back for the
    // ladder: it too gets the scratch file's bytes at the end.
    let to_device = !to_stdout
        && fs::metadata(&opts.out).is_ok_and(|m| !m.file_type().is_file() && !m.is_dir());
    let capture = if to_stdout || to_device {
        scratch.path().join("capture")
    } else {
        opts.out.clone()
    };
    let recorder = Recorder::create(&capture, opts.format).map_err(RunError::Told)?;
    let steps = vec![
        Step::List(None),
        Step::Retr {
            remote: opts.file.clone(),
            local: local_file.clone(),
        },
    ];
    let run = opts
        .lab
        .run(&root, steps, Some(&recorder), lab::virtual_start())?;
    if let Some(e) = &run.error {
        let mut msg = format!("the FTP client failed: {e}");
        if opts.lab.cable.is_impaired() {
            msg.push_str("\nthe cable, per direction:\n");
            msg.push_str(&summary(&run.link));
        }
        return Err(RunError::Failed(msg));
    }
    let mut listing = String::new();
    for outcome in &run.outcomes {
        if !outcome.ok {
            return Err(RunError::StepFailed {
                step: outcome.step.to_string(),
                reply: String::from_utf8_lossy(&outcome.reply.to_bytes())
                    .trim_end()
                    .to_string(),
            });
        }
        if let Some(l) = &outcome.listing {
            listing = String::from_utf8_lossy(l).into_owned();
        }
    }
    let served =
        fs::read(root.join(&opts.file)).map_err(RunError::io("cannot read the served file"))?;
    let got = fs::read(&local_file).map_err(RunError::io("cannot read the downloaded file"))?;
    if served != got {
        return Err(RunError::DownloadDiffers {
            file: opts.file.clone(),
            got: got.len(),
            served: served.len(),
        });
    }
    let frames = trace::read_capture(&capture)?;
    if to_device {
        let mut file = fs::File::open(&capture).map_err(RunError::io("cannot read the capture"))?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .open(&opts.out)
            .map_err(RunError::io(format!("cannot open {}", opts.out.display())))?;
        std::io::copy(&mut file, &mut out).map_err(RunError::io(format!(
            "cannot write the capture to {}",
            opts.out.display()
        )))?;
    }
    if to_stdout {
        let mut file = fs::File::open(&capture).map_err(RunError::io("cannot read the capture"))?;
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut file, &mut out)
            .and_then(|_| std::io::Write::flush(&mut out))
            .map_err(RunError::io("cannot write the capture to standard output"))?;
    }
    let ladder = trace::render(&frames, &LadderOptions::default());
    Ok(DemoReport {
        ladder,
        frames: run.frames,
        elapsed: run.elapsed,
        listing,
        file_bytes: got.len() as u64,
        link: run.link,
    })
}
