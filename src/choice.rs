//! # Command-line choices
//!
//! Layer: command line (binary only). The `--fin`, `--format` and `--cc` values as clap sees
//! them, each mapped onto the library's own type, so that `ftp`, `link` and `net` know nothing
//! of clap. The doc comments are the help text of each value.

use smolftp::ftp::FinPolicy;
use smolftp::lab::TapSide;
use smolftp::link::Format;
use smolftp::net::host::Congestion;

/// `--fin`: how every data connection of a session is released ([`FinPolicy`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Fin {
    /// As in the textbook figure: listings end with a FIN alone, files with DATA+FIN.
    Seed,
    /// Every transfer piggybacks its FIN on the last data segment.
    Piggyback,
    /// Every transfer sends its FIN alone after the data is acknowledged.
    Separate,
}

impl From<Fin> for FinPolicy {
    fn from(f: Fin) -> Self {
        match f {
            Fin::Seed => FinPolicy::Seed,
            Fin::Piggyback => FinPolicy::Piggyback,
            Fin::Separate => FinPolicy::Separate,
        }
    }
}

/// `--format`: the capture file's format ([`Format`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CaptureFormat {
    /// pcapng: interfaces, direction flags and per-frame comments.
    Pcapng,
    /// Classic pcap (libpcap): frames and timestamps only.
    Pcap,
}

impl From<CaptureFormat> for Format {
    fn from(f: CaptureFormat) -> Self {
        match f {
            CaptureFormat::Pcapng => Format::Pcapng,
            CaptureFormat::Pcap => Format::Pcap,
        }
    }
}

/// `--cc`: TCP congestion control of the stack ([`Congestion`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Cc {
    /// No congestion control: send whatever the peer's window allows.
    None,
    /// Reno: slow start from a two-segment window, as a textbook TCP.
    Reno,
    /// CUBIC.
    Cubic,
}

impl From<Cc> for Congestion {
    fn from(c: Cc) -> Self {
        match c {
            Cc::None => Congestion::None,
            Cc::Reno => Congestion::Reno,
            Cc::Cubic => Congestion::Cubic,
        }
    }
}

/// `--tap`: whose interface the demo's capture is taken at ([`TapSide`]).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Tap {
    /// The FTP server's interface (10.0.0.1).
    Server,
    /// The FTP client's interface (10.0.0.2).
    Client,
}

impl From<Tap> for TapSide {
    fn from(t: Tap) -> Self {
        match t {
            Tap::Server => TapSide::Server,
            Tap::Client => TapSide::Client,
        }
    }
}

/// `--capture-segments`: how a TSO send of `--offload` is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CaptureSegments {
    /// As the stack handed it to the kernel: one frame of up to 64 KiB (tcpdump's view on a
    /// sender with TSO).
    Sent,
    /// As the wire carries it: the MSS-sized frames the kernel cuts it into, each commented so.
    Mss,
}
