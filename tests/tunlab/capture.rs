//! What the TUN tests read back from captures, with smolftp's own trace layer: the segment
//! kinds on a data connection, the figure's sequences, each direction's segments.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use smolftp::trace::{self, Segment, SegmentKind};

pub use crate::common::data_sequence;

/// Panics unless the capture shows the figure's sequences: LIST on 5001 (FIN alone), RETR on
/// 5002 (FIN on the last data, the client's ACKs between the data).
pub fn assert_seed_sequences(capture: &Path, who: &str) {
    let listing = data_sequence(capture, 5001);
    assert_eq!(
        listing,
        [
            ">SYN", "<SYN+ACK", ">ACK", ">DATA", "<ACK", ">FIN+ACK", "<ACK", "<FIN+ACK", ">ACK"
        ],
        "{who}: LIST data connection 20 <-> 5001"
    );
    let file = data_sequence(capture, 5002);
    assert!(file.len() >= 8, "{who}: RETR on 5002: {file:?}");
    let n = file.len();
    assert_eq!(&file[..3], [">SYN", "<SYN+ACK", ">ACK"], "{who}: {file:?}");
    assert_eq!(
        &file[n - 4..],
        [">DATA+FIN", "<ACK", "<FIN+ACK", ">ACK"],
        "{who}: {file:?}"
    );
    let middle = &file[3..n - 4];
    assert!(
        middle.iter().all(|k| k == ">DATA" || k == "<ACK"),
        "{who}: {file:?}"
    );
    assert!(
        middle.contains(&">DATA".to_string()) && middle.contains(&"<ACK".to_string()),
        "{who}: no ACK between the data segments: {file:?}"
    );
}

/// Each direction's TCP segments (kind, seq, ack, length), in order.
pub type Directions = BTreeMap<(SocketAddr, SocketAddr), Vec<(&'static str, u32, u32, usize)>>;

/// Reads `capture` into [`Directions`].
pub fn tcp_by_direction(capture: &Path) -> Directions {
    let mut out = Directions::new();
    for f in trace::read_capture(capture).expect("read capture") {
        if let Some(s) = Segment::from_frame(f.link, &f.data) {
            let kind = SegmentKind::of(&s).label(&s);
            out.entry((s.src, s.dst))
                .or_default()
                .push((kind, s.seq, s.ack, s.len()));
        }
    }
    out
}

/// One TCP segment of a direction with its payload: kind, seq, ack, payload bytes.
pub type SegmentBytes = (&'static str, u32, u32, Vec<u8>);

/// Reads `capture` into each direction's TCP segments with their payloads, in order.
pub fn tcp_payloads_by_direction(
    capture: &Path,
) -> BTreeMap<(SocketAddr, SocketAddr), Vec<SegmentBytes>> {
    let mut out = BTreeMap::<_, Vec<SegmentBytes>>::new();
    for f in trace::read_capture(capture).expect("read capture") {
        if let Some(s) = Segment::from_frame(f.link, &f.data) {
            let kind = SegmentKind::of(&s).label(&s);
            out.entry((s.src, s.dst))
                .or_default()
                .push((kind, s.seq, s.ack, s.payload));
        }
    }
    out
}
