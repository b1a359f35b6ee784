//! Shared by the stack-view tests: tshark as the oracle, and the stack view read back from a
//! frame's comment (`cwnd=... rwnd=...; why: ...`, the COMMON.md contract).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::common::have_tshark;

/// `tshark -r FILE [-Y FILTER] -T fields -e F...`: one map of field -> value per frame.
pub fn tshark(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<BTreeMap<String, String>> {
    crate::common::tshark_fields(file, &["-E", "occurrence=f"], filter, fields)
        .into_iter()
        .map(|row| fields.iter().map(|f| f.to_string()).zip(row).collect())
        .collect()
}

/// The stack view of one frame, as its comment tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// `None`: no congestion control.
    pub cwnd: Option<u64>,
    /// `None`: infinite (or no congestion control).
    pub ssthresh: Option<u64>,
    /// Milliseconds; `None` before the first sample.
    pub srtt: Option<f64>,
    pub rttvar: Option<f64>,
    pub rto: u64,
    pub inflight: u64,
    pub rwnd: u64,
    pub why: String,
}

/// The stack view in `comment`, if it has one.
pub fn view(comment: &str) -> Option<View> {
    let start = comment.find("cwnd=")?;
    let rest = &comment[start..];
    let (values, why) = rest.split_once("; why: ")?;
    let why = why.split("; fault: ").next().unwrap_or(why).to_string();
    let map: BTreeMap<&str, &str> = values
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let num = |k: &str| map.get(k).and_then(|v| v.parse::<u64>().ok());
    let ms = |k: &str| {
        map.get(k)
            .and_then(|v| v.strip_suffix("ms"))
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some(View {
        cwnd: num("cwnd"),
        ssthresh: num("ssthresh"),
        srtt: ms("srtt"),
        rttvar: ms("rttvar"),
        rto: ms("rto")? as u64,
        inflight: num("inflight")?,
        rwnd: num("rwnd")?,
        why,
    })
}
