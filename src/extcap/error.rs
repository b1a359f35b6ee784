//! # Why an extcap request failed
//!
//! Layer: command line (binary only). Job: [`ExtcapError`], what `smolftp extcap` tells
//! Wireshark (on standard error, after `smolftp: `) when a request cannot be served.

use std::io;
use std::path::PathBuf;

use super::INTERFACE;
use super::config::SPEED_MAX;

/// Why `smolftp extcap` could not do what Wireshark asked.
#[derive(Debug, thiserror::Error)]
pub enum ExtcapError {
    /// An extcap flag that takes a value came last, without one.
    #[error("{0} needs a value")]
    NeedsValue(String),
    /// `--extcap-interface` names an interface that is not ours.
    #[error("no extcap interface {0}: smolftp offers only {INTERFACE}")]
    NoInterface(String),
    /// `--extcap-interface` was not given.
    #[error("--extcap-interface is missing")]
    InterfaceMissing,
    /// `--speed` is not a number from 0 to [`SPEED_MAX`].
    #[error("--speed {0}: give a factor from 0 (as fast as possible) to {SPEED_MAX}")]
    Speed(String),
    /// No request at all.
    #[error(
        "nothing asked: give --extcap-interfaces, --extcap-dlts, --extcap-config or --capture \
         (smolftp extcap is meant to be run by Wireshark: see scripts/install-wireshark.sh)"
    )]
    NothingAsked,
    /// `--capture` without `--fifo`.
    #[error("--capture needs --fifo PATH")]
    NeedsFifo,
    /// Our own executable (to run the demo) cannot be found.
    #[error("cannot find our own binary: {0}")]
    OwnBinary(#[source] io::Error),
    /// The demo could not be started.
    #[error("cannot run the demo: {0}")]
    RunDemo(#[source] io::Error),
    /// The demo ran and failed.
    #[error("the demo failed with the options {options:?}: {stderr}")]
    DemoFailed {
        /// The demo flags Wireshark passed, joined by spaces.
        options: String,
        /// What the demo said on standard error.
        stderr: String,
    },
    /// Wireshark's FIFO cannot be opened.
    #[error("cannot open the FIFO {}: {source}", .path.display())]
    OpenFifo {
        /// The FIFO.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing to Wireshark's FIFO failed (other than Wireshark closing it).
    #[error("cannot write to Wireshark's FIFO: {0}")]
    WriteFifo(#[source] io::Error),
    /// The options dialog names a demo flag that no longer exists.
    #[error("the demo has no flag {0} any more")]
    NoDemoFlag(String),
    /// The options dialog names a demo flag without a long name.
    #[error("the demo flag {0} has no long name")]
    NoLongName(String),
    /// The demo's pcapng ends inside a block (`what`: "block header", "section header").
    #[error("pcapng cut inside a {0}")]
    Cut(&'static str),
    /// A pcapng block's length is impossible.
    #[error("pcapng block of bad length {len} at byte {at}")]
    BadLength {
        /// The length the block claims.
        len: usize,
        /// Where the block starts.
        at: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words Wireshark showed before the type existed.
    #[test]
    fn messages_keep_their_words() {
        let cases = [
            (
                ExtcapError::NeedsValue("--fifo".into()),
                "--fifo needs a value",
            ),
            (
                ExtcapError::NoInterface("eth0".into()),
                "no extcap interface eth0: smolftp offers only smolftp-demo",
            ),
            (
                ExtcapError::Cut("block header"),
                "pcapng cut inside a block header",
            ),
            (
                ExtcapError::BadLength { len: 7, at: 28 },
                "pcapng block of bad length 7 at byte 28",
            ),
            (
                ExtcapError::DemoFailed {
                    options: "--mtu 9".into(),
                    stderr: "smolftp: bad".into(),
                },
                "the demo failed with the options \"--mtu 9\": smolftp: bad",
            ),
            (
                ExtcapError::OpenFifo {
                    path: "/tmp/f".into(),
                    source: io::Error::from(io::ErrorKind::NotFound),
                },
                "cannot open the FIFO /tmp/f: entity not found",
            ),
        ];
        for (e, words) in cases {
            assert_eq!(e.to_string(), words);
        }
        assert_eq!(
            ExtcapError::Speed("-1".into()).to_string(),
            format!("--speed -1: give a factor from 0 (as fast as possible) to {SPEED_MAX}")
        );
    }
}
