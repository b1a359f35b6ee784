//! The TCP knobs that `demo`, `server` and `client` share (one definition of each flag).

use std::path::PathBuf;
use std::time::Duration;

/// How the stacks' TCP behaves: initial window, RTO floor, tail loss probes, RACK, stack log.
#[derive(clap::Args, Debug)]
pub struct StackArgs {
    /// Initial congestion window of every connection, 1 to 10 segments of its MSS (RFC 5681
    /// 3.1 allows 2 to 4).
    #[arg(long, value_name = "SEGMENTS", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub initial_window: u8,
    /// Write the stack's view of every frame it sends to FILE, one JSON object per line
    /// (cwnd, ssthresh, srtt, rto, bytes in flight, windows, why it was sent).
    #[arg(long, value_name = "FILE")]
    pub stack_log: Option<PathBuf>,
    /// Lower bound of the retransmission timeout, in ms (RFC 6298 2.4 asks for 1000; Linux
    /// uses 200). The timer still starts at 1 s and doubles on each expiry.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub min_rto: u32,
    /// Send tail loss probes (RFC 8985): after about two round trips without an ACK, one
    /// segment to draw an ACK before the retransmission timer fires.
    #[arg(long)]
    pub tlp: bool,
    /// RACK (RFC 8985): resend a lost retransmission as soon as data sent after it is
    /// SACKed, not at the retransmission timeout. Turns on --tlp too.
    #[arg(long)]
    pub rack: bool,
    /// Grow the congestion window in congestion avoidance by one MSS per window of bytes
    /// acknowledged (RFC 5681 3.1's recommended way), not by MSS*MSS/cwnd per ACK, which is
    /// slower when the receiver acknowledges several segments at once.
    #[arg(long)]
    pub byte_counting: bool,
}

impl StackArgs {
    /// The initial window, in segments.
    pub fn initial_window(&self) -> Option<usize> {
        Some(self.initial_window.into())
    }

    /// The RTO's lower bound.
    pub fn min_rto(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.min_rto.into()))
    }

    /// Tail loss probes: asked for, or implied by RACK.
    pub fn tail_loss_probe(&self) -> bool {
        self.tlp || self.rack
    }
}
