//! A hand-made capture that holds every kind of Wireshark's TCP analysis, checked against
//! tshark frame by frame, and the time-sequence graph's marks on it.

use std::time::Duration;

use super::common::{self, Scratch};
use super::{FLAGS, Frame, LinkType, assert_same_analysis, have_tshark};

/// A hand-made raw-IP capture of one connection that shows every kind: data lost on the way
/// (a hole), three duplicate ACKs, a fast retransmission, an RTO retransmission, an
/// out-of-order segment, a zero window, a zero-window probe, a window update and a keep-alive.
pub fn every_kind() -> Vec<Frame> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    let (c, s) = (0x0a00_0002u32, 0x0a00_0001u32);
    let mut frames = Vec::new();
    let mut at =
        |ms: u64, from_client: bool, seq: u32, ack: u32, flags: u8, win: u16, len: usize| {
            let (src, dst, sp, dp) = if from_client {
                (c, s, 40000u16, 21u16)
            } else {
                (s, c, 21, 40000)
            };
            let mut p = vec![0x45, 0];
            p.extend_from_slice(&((40 + len) as u16).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0, 64, 6, 0, 0]);
            p.extend_from_slice(&src.to_be_bytes());
            p.extend_from_slice(&dst.to_be_bytes());
            p.extend_from_slice(&sp.to_be_bytes());
            p.extend_from_slice(&dp.to_be_bytes());
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&ack.to_be_bytes());
            p.extend_from_slice(&[0x50, flags]);
            p.extend_from_slice(&win.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 0]);
            p.extend(std::iter::repeat_n(b'x', len));
            let n = frames.len() as u32 + 1;
            frames.push(Frame {
                number: n,
                time: Duration::from_secs(1_000) + Duration::from_millis(ms),
                link: LinkType::RawIp,
                data: p,
                comment: None,
            });
        };
    let (ci, si) = (1000u32, 5000u32);
    at(0, true, ci, 0, SYN, 8192, 0);
    at(10, false, si, ci + 1, SYN | ACK, 8192, 0);
    at(20, true, ci + 1, si + 1, ACK, 8192, 0);
    // the server sends 4 x 100 bytes; the first is lost before the tap
    let d = si + 1;
    at(30, false, d + 100, ci + 1, ACK, 8192, 100); // hole before it
    at(31, false, d + 200, ci + 1, ACK, 8192, 100);
    at(32, false, d + 300, ci + 1, ACK, 8192, 100);
    at(40, true, ci + 1, d, ACK, 8192, 0); // ACK (not a dup yet)
    at(41, true, ci + 1, d, ACK, 8192, 0); // dup #1
    at(42, true, ci + 1, d, ACK, 8192, 0); // dup #2
    at(43, false, d, ci + 1, ACK, 8192, 100); // fast retransmission
    at(500, false, d + 100, ci + 1, ACK, 8192, 100); // retransmission by timeout
    at(50, true, ci + 1, d + 400, ACK, 8192, 0);
    at(2000, false, d + 300, ci + 1, ACK, 8192, 100); // RTO retransmission (spurious: acked)
    at(2010, false, d + 400, ci + 1, ACK, 8192, 100);
    at(2011, false, d + 600, ci + 1, ACK, 8192, 100); // hole
    at(2012, false, d + 500, ci + 1, ACK, 8192, 100); // out of order (fills it)
    at(2020, true, ci + 1, d + 700, ACK, 0, 0); // zero window
    at(2500, false, d + 700, ci + 1, ACK, 8192, 1); // zero-window probe
    at(2510, true, ci + 1, d + 700, ACK, 0, 0); // probe ACK
    at(2600, true, ci + 1, d + 700, ACK, 4096, 0); // window update
    at(9000, true, ci, d + 700, ACK, 4096, 0); // keep-alive (seq one below next)
    at(9010, false, d + 700, ci + 1, ACK, 8192, 0);
    at(9100, false, d + 700, ci + 1, FIN | ACK, 8192, 0);
    at(9110, true, ci + 1, d + 701, FIN | ACK, 4096, 0);
    at(9120, false, d + 701, ci + 2, ACK, 8192, 0);
    frames
}

/// A classic pcap (raw IP, microseconds) of `frames`.
pub fn raw_pcap(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, 65_535, 101] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for f in frames {
        let len = f.data.len() as u32;
        for word in [f.time.as_secs() as u32, f.time.subsec_micros(), len, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&f.data);
    }
    out
}

#[test]
fn every_kind_is_called_what_tshark_calls_it() {
    if !have_tshark() {
        return;
    }
    let dir = Scratch::new("analysis-kinds");
    let file = dir.path("kinds.pcap");
    std::fs::write(&file, raw_pcap(&every_kind())).unwrap();
    let rows = assert_same_analysis(&file, "hand-made capture");
    // Every compared verdict occurs at least once, so the comparison cannot pass vacuously.
    for (k, name) in FLAGS.iter().enumerate() {
        if *name == "tcp.analysis.window_full" {
            continue;
        }
        assert!(
            rows.iter().any(|r| !r[5 + k].is_empty()),
            "the hand-made capture has no {name}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r[5] == "1" && r[6].is_empty() && r[7].is_empty()),
        "no plain retransmission"
    );
    // The time-sequence graph marks them: each data bar's title says what tshark says.
    let o = common::smolftp(
        &dir.0,
        &["graph", "kinds.pcap", "--time-sequence", "ts.svg"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(dir.path("ts.svg")).unwrap();
    for (frame, says) in [
        (4, "after a hole"),
        (10, "fast retransmission"),
        (11, "retransmission"),
        (13, "spurious retransmission"),
        (16, "out of order"),
    ] {
        let title = svg
            .split(&format!("<title>#{frame} "))
            .nth(1)
            .and_then(|t| t.split("</title>").next())
            .unwrap_or_else(|| panic!("no bar for #{frame}: {svg}"));
        assert!(title.ends_with(says), "#{frame}: {title}");
    }
    assert_eq!(svg.matches("class=\"dupack\"").count(), 3);
    assert_eq!(svg.matches(">R</text>").count(), 3);
}
