//! # The TCP/IP stacks of a lab
//!
//! Layer: network. What both hosts of a lab share about their smoltcp stacks: random seed,
//! congestion control, IPv6, data connections' buffers, how long a silent peer is waited for,
//! the initial window, the RTO floor, tail loss probes and the stack log. Each default is
//! written once, in [`StackConfig::default`]; [`StackConfig::apply`] gives them to a host.

use std::path::PathBuf;
use std::time::Duration;

use smoltcp::phy::Device;

use crate::net::host::{Congestion, Host};

/// Both stacks of a lab.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Seed of the hosts' random numbers (the server gets this one, the client one derived).
    pub seed: u64,
    /// Congestion control of both stacks (Reno).
    pub congestion: Congestion,
    /// Both hosts get an IPv6 address too (`fd00::1`, `fd00::2`, /64) and the client connects
    /// to `[fd00::1]:21`: control and data over IPv6 (`EPRT`, `EPSV`).
    pub ipv6: bool,
    /// Receive window (buffer) of data connections, bytes (65535).
    pub window: usize,
    /// Send buffer of data connections, bytes (64 KiB).
    pub send_buffer: usize,
    /// The stacks give a connection up when its peer stays silent this long (60 s; a heavily
    /// impaired cable backs retransmissions off beyond it).
    pub timeout: Duration,
    /// Initial congestion window of every TCP connection, in segments of its MSS (RFC 5681
    /// 3.1); `None`: RFC 5681's bound. Two by default: the seed figure's look, the client's
    /// ACKs falling between the file's data segments.
    pub initial_window: Option<usize>,
    /// The lower bound of every TCP connection's retransmission timeout (RFC 6298 2.4);
    /// `None`: 1 s as the RFC asks.
    pub min_rto: Option<Duration>,
    /// Tail loss probes (RFC 8985 7) on every TCP connection.
    pub tail_loss_probe: bool,
    /// RACK's lost-retransmission rule (RFC 8985 6.2) on every TCP connection.
    pub rack: bool,
    /// Congestion avoidance counts bytes acknowledged (RFC 5681 3.1) on every TCP connection.
    pub byte_counting: bool,
    /// Write the stack log (JSON Lines, one object per frame a host sent) to this file; needs
    /// a capture for frame numbers.
    pub stack_log: Option<PathBuf>,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            seed: 1,
            congestion: Congestion::Reno,
            ipv6: false,
            window: 65535,
            send_buffer: 64 * 1024,
            timeout: Duration::from_secs(60),
            initial_window: Some(2),
            min_rto: None,
            tail_loss_probe: false,
            rack: false,
            byte_counting: false,
            stack_log: None,
        }
    }
}

impl StackConfig {
    /// The client host's seed, derived from [`StackConfig::seed`] so the two hosts pick
    /// different initial sequence numbers.
    pub fn client_seed(&self) -> u64 {
        self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED
    }

    /// Gives `host`'s TCP sockets added from now on the initial window, RTO floor, tail
    /// loss probes, RACK and byte counting of this configuration (the stack log is the caller's: one file for both).
    pub fn apply<D: Device>(&self, host: &mut Host<D>) {
        host.set_initial_window(self.initial_window);
        host.set_min_rto(self.min_rto);
        host.set_tail_loss_probe(self.tail_loss_probe);
        host.set_rack(self.rack);
        host.set_byte_counting(self.byte_counting);
    }
}
