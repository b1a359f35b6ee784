//! tshark as the oracle: the fields of each frame, and the frames a display filter selects.

use std::collections::BTreeSet;
use std::path::Path;

pub use crate::common::have_tshark;

const FIELDS: [&str; 14] = [
    "frame.number",
    "frame.time_relative",
    "ip.src",
    "ip.len",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq",
    "tcp.len",
    "tcp.analysis.acks_frame",
    "tcp.analysis.ack_rtt",
    "tcp.analysis.initial_rtt",
    "tcp.stream",
    "tcp.checksum.status",
    "frame.comment",
];

/// One frame as tshark reads it.
#[derive(Clone, Debug)]
pub struct Row {
    pub number: u64,
    pub time: f64,
    pub src: String,
    pub ip_len: u64,
    pub sport: u16,
    pub dport: u16,
    pub seq: u64,
    pub tcp_len: u64,
    pub acks_frame: Option<u64>,
    pub ack_rtt: Option<f64>,
    pub irtt: Option<f64>,
    pub stream: u64,
    pub checksum_bad: bool,
    pub comment: String,
}

impl Row {
    /// On a data connection (not port 21).
    pub fn data_conn(&self) -> bool {
        self.sport != 21 && self.dport != 21
    }
}

fn tshark(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    let options = [
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "tcp.relative_sequence_numbers:TRUE",
        "-E",
        "occurrence=f",
    ];
    crate::common::tshark_fields(file, &options, filter, fields)
}

/// The frames of `file` that `filter` selects (all without), with [`FIELDS`].
pub fn rows(file: &Path, filter: Option<&str>) -> Vec<Row> {
    tshark(file, filter, &FIELDS)
        .into_iter()
        .map(|f| {
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
            let float = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
            Row {
                number: num(0).expect("frame number"),
                time: float(1).expect("time"),
                src: f.get(2).cloned().unwrap_or_default(),
                ip_len: num(3).unwrap_or(0),
                sport: num(4).unwrap_or(0) as u16,
                dport: num(5).unwrap_or(0) as u16,
                seq: num(6).unwrap_or(0),
                tcp_len: num(7).unwrap_or(0),
                acks_frame: num(8),
                ack_rtt: float(9),
                irtt: float(10),
                stream: num(11).unwrap_or(u64::MAX),
                checksum_bad: f.get(12).is_some_and(|s| s == "0"),
                comment: f.get(13).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// The numbers of the frames `filter` selects.
pub fn where_(file: &Path, filter: &str) -> BTreeSet<u64> {
    tshark(file, Some(filter), &["frame.number"])
        .into_iter()
        .filter_map(|f| f.first().and_then(|s| s.parse().ok()))
        .collect()
}
