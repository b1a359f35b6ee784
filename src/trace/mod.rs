//! # Trace layer (offline analysis)
//!
//! Layer: analysis. Reads capture files (pcap, pcapng), parses their TCP segments (over IPv4
//! or IPv6), classifies them and draws the ladder diagram (text, SVG, HTML) and the graphs.
//! Depends on neither `net` nor `ftp`.
//!
//! Pipeline: [`read`] (file -> frames) -> [`segment`] (frame -> TCP segment, IPv4 or IPv6) ->
//! [`classify`] (kinds, connections, phases, relative numbers) and [`expert`] (Wireshark's
//! TCP analysis) -> [`filter`] (Wireshark display filters) and [`ftptext`] (FTP lines on the
//! control connection) -> [`ladder`] (text, `ladder::svg`); [`graph`] (time-sequence and,
//! with a [`stacklog`], cwnd) on [`plot`] axes.

pub mod classify;
pub mod expert;
pub mod filter;
pub mod ftptext;
pub mod graph;
pub mod ladder;
pub mod plot;
pub mod read;
pub mod report;
pub mod segment;
pub mod stacklog;
#[cfg(test)]
mod testutil;

pub use classify::{Analysis, Phase, SegmentKind, analyze};
pub use expert::TcpAnalysis;
pub use filter::wireshark_filter;
pub use ladder::{ConnPick, LadderOptions, PickError, render};
pub use read::{Frame, LinkType, TraceError, read_capture, read_capture_partial};
pub use segment::Segment;
