//! # Command-line flags of the cable: its link model and its impairments
//!
//! Layer: command line (binary only). The demo cable's `--rate`, `--queue`, `--jitter`, and the
//! impairment flags shared by `demo` (on the in-process cable) and by `server` and `client`
//! (between smoltcp and the TUN device), turned into the library's [`ImpairPlan`]. The doc
//! comments are the help text.

use smolftp::link::impair::{DropSpec, ImpairDir, ImpairPlan, Rates, parse_percent};

/// The link model of the demo's cable, each direction on its own.
#[derive(clap::Args, Debug, Clone)]
pub struct LinkArgs {
    /// Bit rate of each direction of the cable, bit/s with k, M or G (e.g. 10M): a frame takes
    /// size/rate to send, so back-to-back segments arrive spaced out (default: no limit).
    #[arg(long, value_parser = smolftp::link::impair::parse_rate)]
    pub rate: Option<u64>,
    /// Frames that may wait for the link in each direction (drop-tail; needs --rate).
    #[arg(long, value_name = "PACKETS", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub queue: Option<u32>,
    /// Vary each frame's delay by up to this either way, milliseconds (seeded; no reordering).
    #[arg(long, value_name = "MS", default_value = "0", value_parser = parse_delay_ms)]
    pub jitter: f64,
}

/// Parses a delay in milliseconds, 0 to 10000, fractions allowed.
pub fn parse_delay_ms(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|ms| (0.0..=10_000.0).contains(ms))
        .ok_or(format!(
            "{s} is not a delay from 0 to 10000 ms (e.g. 20 or 0.5)"
        ))
}

/// A seed from the clock, for runs given no --seed.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        // The low 64 bits of the nanoseconds: a seed, truncated on purpose.
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// `--impair-dir`: which way the random faults act.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Dir {
    /// Both ways.
    Both,
    /// Only frames travelling to the FTP server.
    ToServer,
    /// Only frames travelling to the FTP client.
    ToClient,
}

/// Impairment flags (seeded: the same flags give the same faults).
#[derive(clap::Args, Debug, Clone)]
pub struct ImpairArgs {
    /// Lose this percentage of frames (0-100, e.g. 5 or 0.5).
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = parse_percent)]
    pub loss: f64,
    /// Deliver this percentage of frames twice.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = parse_percent)]
    pub duplicate: f64,
    /// Hold this percentage of frames back behind the next frame.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = parse_percent)]
    pub reorder: f64,
    /// Flip one bit in this percentage of frames (the receiver's checksum check drops them).
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = parse_percent)]
    pub corrupt: f64,
    /// Drop one chosen frame: KIND[:N][@SRCPORT>DSTPORT], KIND one of syn, synack, ack, data,
    /// fin, rst, any (the Nth such TCP segment, default the 1st) or frame (frame N of the
    /// capture); e.g. data:3@20>5002, synack:1, frame:17. Repeat for more. Acts both ways.
    #[arg(long, value_name = "SPEC")]
    pub drop: Vec<DropSpec>,
    /// Which way --loss, --duplicate, --reorder and --corrupt act.
    #[arg(long, value_enum, default_value_t = Dir::Both)]
    pub impair_dir: Dir,
}

impl ImpairArgs {
    /// The plan, its random numbers seeded by `seed`.
    pub fn plan(&self, seed: u64) -> ImpairPlan {
        ImpairPlan {
            rates: Rates {
                loss: self.loss,
                duplicate: self.duplicate,
                reorder: self.reorder,
                corrupt: self.corrupt,
            },
            dir: match self.impair_dir {
                Dir::Both => ImpairDir::Both,
                Dir::ToServer => ImpairDir::ToServer,
                Dir::ToClient => ImpairDir::ToClient,
            },
            drops: self.drop.clone(),
            seed,
        }
    }
}
