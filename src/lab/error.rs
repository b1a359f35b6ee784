//! # Why a run failed
//!
//! Layer: application. [`RunError`] is the one error of `lab`, `demo`, `live` and `bench`, and
//! of every `run_*` of the binary: the lower layers' errors ([`ConnectError`], [`SimError`],
//! [`TunError`], [`DeviceGone`], [`TraceError`], [`ShellError`], the `trace` analyses' errors,
//! I/O errors) with what was being done when they happened, and the application's own. Its
//! `Display` is the message `smolftp` prints after `smolftp: `, worded as before the type
//! existed (tests check the words).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::ftp::shell::ShellError;
use crate::link::DeviceGone;
use crate::link::tun::TunError;
use crate::net::host::ConnectError;
use crate::net::sim::SimError;
use crate::trace::PickError;
use crate::trace::graph::GraphError;
use crate::trace::read::TraceError;
use crate::trace::report::ReportError;
use crate::trace::stacklog::StackLogError;

/// Why a lab, the demo, a live server or client, or a benchmark failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file or directory could not be made, read or written; `what` says which and what for
    /// (`cannot make a scratch directory`, `cannot write the stack log`, ...).
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `cannot read the downloaded file`.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// An I/O error whose own message already says what failed (e.g. "cannot create capture
    /// file x.pcapng: Permission denied").
    #[error(transparent)]
    Told(io::Error),
    /// The capture file could not be written.
    #[error("cannot write the capture: {0}")]
    Capture(#[source] io::Error),
    /// The directory to serve cannot be opened.
    #[error("cannot serve {}: {source}", .root.display())]
    Serve {
        /// The directory.
        root: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A lab's client could not open its control connection.
    #[error("cannot open the control connection: {0}")]
    ControlConnection(#[source] ConnectError),
    /// `smolftp client` could not open a connection to the server.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// The server's control address.
        server: SocketAddr,
        /// Why.
        #[source]
        source: ConnectError,
    },
    /// A lab's session did not come to its end.
    #[error("the session failed: {0}")]
    Session(#[source] SimError),
    /// A capture could not be read back.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A client command line is not a command.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// `--conn` picks nothing.
    #[error(transparent)]
    Pick(#[from] PickError),
    /// A graph cannot be drawn.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A stack log cannot be read.
    #[error(transparent)]
    StackLog(#[from] StackLogError),
    /// `smolftp report` failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The TUN device could not be opened.
    #[error(transparent)]
    Tun(#[from] TunError),
    /// SIGINT or SIGTERM ended a client run.
    #[error("interrupted")]
    Interrupted,
    /// The client's run outlasted its bound.
    #[error("timed out")]
    TimedOut,
    /// Some of `smolftp client`'s commands failed (each was reported as it ended).
    #[error("{0} command(s) failed")]
    CommandsFailed(usize),
    /// Standard output could not be written (a closed pipe is not an error).
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] io::Error),
    /// A signal handler (SIGINT, SIGTERM) could not be installed.
    #[error("cannot handle signal {signal}: {source}")]
    Signal {
        /// The signal's number.
        signal: i32,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `--svg` was given with the capture going to standard output.
    #[error("--svg needs the capture in a file: give -o FILE instead of -o -")]
    SvgNeedsFile,
    /// `--ipv6` with an MTU below IPv6's minimum link MTU.
    #[error(
        "--mtu {0} is too small for IPv6, which needs at least 1280 bytes (RFC 8200): \
         use --mtu 1280 or more, or drop --ipv6"
    )]
    MtuTooSmallForIpv6(u16),
    /// `--queue` without `--rate`.
    #[error("--queue needs --rate: without a bit rate no frame ever waits")]
    QueueNeedsRate,
    /// The capture ends inside a frame; the frames before the cut were still drawn.
    #[error("capture cut: {cut}; the {frames} complete frames before the cut are drawn")]
    CaptureCut {
        /// Where and how the capture was cut.
        #[source]
        cut: TraceError,
        /// How many complete frames were drawn.
        frames: usize,
    },
    /// The live server's device went away while it served.
    #[error("server stopped after {served} session(s): {source}")]
    ServerStopped {
        /// How many sessions it had served.
        served: u64,
        /// Which device, and why.
        #[source]
        source: DeviceGone,
    },
    /// A device went away (a relay's, a live client's).
    #[error(transparent)]
    DeviceGone(#[from] DeviceGone),
    /// `smolftp relay` was given the same device twice.
    #[error("--a and --b are both {0}: the relay needs two TUN devices")]
    SameDevice(String),
    /// The SIGUSR1 handler (restart the relay's random numbers) could not be installed.
    #[error("cannot handle SIGUSR1: {0}")]
    Usr1(#[source] io::Error),
    /// An FTP step of a lab's client failed; `reply` is the server's reply that said so.
    #[error("{step} failed: {reply}")]
    StepFailed {
        /// The step, as the client shows it (e.g. `RETR readme.txt`).
        step: String,
        /// The reply, without its line end.
        reply: String,
    },
    /// The downloaded file is not the served one.
    #[error("the downloaded {file} differs from the served one ({got} vs {served} bytes)")]
    DownloadDiffers {
        /// The file's name.
        file: String,
        /// Bytes downloaded.
        got: usize,
        /// Bytes served.
        served: usize,
    },
    /// `smolftp client` was given, as a command, one that only the interactive shell runs.
    #[error("{line}: {command} only works in the interactive shell")]
    ShellOnly {
        /// The command line as given.
        line: String,
        /// What it parsed to (its `Debug` form, e.g. `Passive`).
        command: String,
    },
    /// An IPv6 server, and this host has no IPv6 address.
    #[error("cannot connect to {0}: this host has no IPv6 address (try --ip6 fd00:7::3/64)")]
    NoIpv6(SocketAddr),
    /// The shell's `open` was given a host that is not an IP address.
    #[error("open: {0} is not an IP address")]
    NotAnIp(String),
    /// The interactive shell's line editor could not start.
    #[error("cannot start the shell: {0}")]
    Editor(#[source] rustyline::error::ReadlineError),
    /// An error of the binary's own (e.g. `smolftp extcap`'s), printed as it is.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else, in words: a failed FTP step with its reply, a download that differs, a
    /// shell command that cannot run here, the FTP client's own fatal error.
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    /// An I/O failure while doing `what` (`cannot write readme.txt`, ...).
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
        let what = what.into();
        move |source| RunError::Io { what, source }
    }
}

/// An exercise's error as `smolftp exercise` and `grade` print it (kept whole, as the
/// source: an exercise's error may itself hold a [`RunError`] of its lab run).
impl From<crate::exercise::ExerciseError> for RunError {
    fn from(e: crate::exercise::ExerciseError) -> RunError {
        RunError::Other(Box::new(e))
    }
}

impl From<String> for RunError {
    fn from(message: String) -> RunError {
        RunError::Failed(message)
    }
}

impl From<&str> for RunError {
    fn from(message: &str) -> RunError {
        RunError::Failed(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    use smoltcp::time::{Duration, Instant};

    /// The words `smolftp` printed before `RunError` existed, variant by variant, and the lower
    /// layer's error kept as the source.
    #[test]
    fn messages_keep_their_words_and_their_sources() {
        let disk = || io::Error::other("No space left on device");
        let cases: Vec<(RunError, &str, bool)> = vec![
            (
                RunError::io("cannot write readme.txt")(disk()),
                "cannot write readme.txt: No space left on device",
                true,
            ),
            (
                RunError::Capture(disk()),
                "cannot write the capture: No space left on device",
                true,
            ),
            (
                RunError::Serve {
                    root: PathBuf::from("/srv/ftp"),
                    source: io::Error::from(io::ErrorKind::NotFound),
                },
                "cannot serve /srv/ftp: entity not found",
                true,
            ),
            (
                RunError::ControlConnection(ConnectError::Refused("unaddressable".into())),
                "cannot open the control connection: cannot connect: unaddressable",
                true,
            ),
            (
                RunError::Connect {
                    server: "10.7.0.1:21".parse().unwrap(),
                    source: ConnectError::Refused("unaddressable".into()),
                },
                "cannot connect to 10.7.0.1:21: cannot connect: unaddressable",
                true,
            ),
            (
                RunError::Session(SimError::TimeLimit(Duration::from_secs(600))),
                "the session failed: the session did not end within 600.000s",
                true,
            ),
            (
                RunError::Session(SimError::Stalled(Instant::from_secs(3))),
                "the session failed: the session stalled at t=3.000s: nothing left to send and the \
                 client is not done",
                true,
            ),
            (
                RunError::Stdout(io::Error::from(io::ErrorKind::WriteZero)),
                "cannot write to standard output: write zero",
                true,
            ),
            (
                RunError::Signal {
                    signal: 15,
                    source: io::Error::other("no"),
                },
                "cannot handle signal 15: no",
                true,
            ),
            (
                RunError::SvgNeedsFile,
                "--svg needs the capture in a file: give -o FILE instead of -o -",
                false,
            ),
            (
                RunError::MtuTooSmallForIpv6(1000),
                "--mtu 1000 is too small for IPv6, which needs at least 1280 bytes (RFC 8200): \
                 use --mtu 1280 or more, or drop --ipv6",
                false,
            ),
            (
                RunError::QueueNeedsRate,
                "--queue needs --rate: without a bit rate no frame ever waits",
                false,
            ),
            (
                RunError::ServerStopped {
                    served: 3,
                    source: DeviceGone("tun7: the interface was deleted".into()),
                },
                "server stopped after 3 session(s): tun7: the interface was deleted",
                true,
            ),
            (
                RunError::from(DeviceGone("tun7: gone".into())),
                "tun7: gone",
                false,
            ),
            (
                RunError::SameDevice("tun0".into()),
                "--a and --b are both tun0: the relay needs two TUN devices",
                false,
            ),
            (
                RunError::Usr1(io::Error::other("no")),
                "cannot handle SIGUSR1: no",
                true,
            ),
            (
                RunError::ShellOnly {
                    line: "passive".into(),
                    command: "Passive".into(),
                },
                "passive: Passive only works in the interactive shell",
                false,
            ),
            (
                RunError::NoIpv6("[fd00:7::2]:21".parse().unwrap()),
                "cannot connect to [fd00:7::2]:21: this host has no IPv6 address (try --ip6 \
                 fd00:7::3/64)",
                false,
            ),
            (
                RunError::NotAnIp("ftp.example".into()),
                "open: ftp.example is not an IP address",
                false,
            ),
            (
                RunError::StepFailed {
                    step: "RETR x".into(),
                    reply: "550 No such file.".into(),
                },
                "RETR x failed: 550 No such file.",
                false,
            ),
            (
                RunError::DownloadDiffers {
                    file: "x".into(),
                    got: 3,
                    served: 4,
                },
                "the downloaded x differs from the served one (3 vs 4 bytes)",
                false,
            ),
            (RunError::Interrupted, "interrupted", false),
            (RunError::TimedOut, "timed out", false),
            (RunError::CommandsFailed(2), "2 command(s) failed", false),
            (
                RunError::from("retr x failed: 550 No such file.".to_string()),
                "retr x failed: 550 No such file.",
                false,
            ),
        ];
        for (e, words, has_source) in cases {
            assert_eq!(e.to_string(), words);
            assert_eq!(e.source().is_some(), has_source, "{e:?}");
        }
    }

    /// An I/O error that names its own file is printed as it is, with nothing added.
    #[test]
    fn told_errors_are_printed_as_they_are() {
        let e = RunError::Told(io::Error::other(
            "cannot create capture file x.pcapng: denied",
        ));
        assert_eq!(e.to_string(), "cannot create capture file x.pcapng: denied");
    }
}
