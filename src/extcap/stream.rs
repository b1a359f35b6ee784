//! # Feeding a pcapng capture to Wireshark's FIFO at the lab's own pace
//!
//! Layer: command line (binary only). Job: cut a pcapng byte stream into its blocks, and write
//! them to the FIFO Wireshark reads, each packet when its timestamp (relative to the first
//! packet, divided by the speed) has come on the real clock; stop cleanly when Wireshark closes
//! the FIFO or its control pipe, or asks us to stop.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::ExtcapError;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const EPB: u32 = 6;

/// One block of a pcapng stream, with its packet time where it is a packet.
#[derive(Debug, PartialEq)]
pub struct Block<'a> {
    /// The whole block, as written.
    pub bytes: &'a [u8],
    /// For an Enhanced Packet Block: its time in seconds since the epoch.
    pub time: Option<f64>,
}

fn word(bytes: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// The timestamp unit of an Interface Description Block (`if_tsresol`, default microseconds).
fn resolution(block: &[u8], big: bool) -> f64 {
    let mut at = 16;
    while at + 4 <= block.len().saturating_sub(4) {
        let code = word(block, at, big).unwrap_or(0);
        let (code, len) = if big {
            (code >> 16, (code & 0xffff) as usize)
        } else {
            (code & 0xffff, (code >> 16) as usize)
        };
        if code == 0 {
            break;
        }
        if code == 9 && len == 1 {
            let v = block[at + 4];
            return if v & 0x80 == 0 {
                10f64.powi(-i32::from(v))
            } else {
                2f64.powi(-i32::from(v & 0x7f))
            };
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    1e-6
}

/// Cuts a pcapng stream into its blocks; an error names what is wrong.
pub fn blocks(data: &[u8]) -> Result<Vec<Block<'_>>, ExtcapError> {
    let mut out = Vec::new();
    let mut big = false;
    let mut units: Vec<f64> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let kind = word(data, at, big).ok_or(ExtcapError::Cut("block header"))?;
        if kind == SHB {
            let magic = word(data, at + 8, false).ok_or(ExtcapError::Cut("section header"))?;
            big = magic != 0x1A2B_3C4D;
            units.clear();
        }
        let len = word(data, at + 4, big).ok_or(ExtcapError::Cut("block header"))? as usize;
        if len < 12 || !len.is_multiple_of(4) || at + len > data.len() {
            return Err(ExtcapError::BadLength { len, at });
        }
        let bytes = &data[at..at + len];
        let time = match kind {
            IDB => {
                units.push(resolution(bytes, big));
                None
            }
            EPB => {
                let iface = word(bytes, 8, big).unwrap_or(0) as usize;
                let high = word(bytes, 12, big).unwrap_or(0) as u64;
                let low = word(bytes, 16, big).unwrap_or(0) as u64;
                let unit = units.get(iface).copied().unwrap_or(1e-6);
                Some(((high << 32) | low) as f64 * unit)
            }
            _ => None,
        };
        out.push(Block { bytes, time });
        at += len;
    }
    Ok(out)
}

/// How a replay ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// Every block was written.
    Done,
    /// Wireshark closed the FIFO (or its control pipe, or asked us to stop).
    Stopped,
}

/// Writes `blocks` to `out`, each packet `speed` times as fast as the lab's clock spaced them
/// (`speed` 0: no waiting); `stop` set by another thread, or `hung_up` (the reader is gone)
/// true while waiting, ends the replay between packets.
pub fn replay(
    blocks: &[Block<'_>],
    out: &mut dyn Write,
    speed: f64,
    stop: &AtomicBool,
    hung_up: &dyn Fn() -> bool,
) -> Result<End, ExtcapError> {
    let start = Instant::now();
    let first = blocks.iter().find_map(|b| b.time);
    for block in blocks {
        if let (Some(t), Some(t0)) = (block.time, first)
            && speed > 0.0
        {
            let due = Duration::from_secs_f64(((t - t0) / speed).max(0.0));
            // Sleep in short steps, so a stop is heard within 50 ms.
            while let Some(left) = due.checked_sub(start.elapsed()) {
                if left.is_zero() {
                    break;
                }
                if hung_up() {
                    return Ok(End::Stopped);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(left.min(Duration::from_millis(50)));
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(End::Stopped);
        }
        match out.write_all(block.bytes).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(End::Stopped),
            Err(e) => return Err(ExtcapError::WriteFifo(e)),
        }
    }
    Ok(End::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian section: SHB, an IDB with `tsresol` (or none), EPBs at `times` (units).
    fn section(tsresol: Option<u8>, times: &[u64]) -> Vec<u8> {
        let mut v = Vec::new();
        let mut push = |kind: u32, body: &[u8]| {
            let len = (12 + body.len()) as u32;
            v.extend_from_slice(&kind.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(body);
            v.extend_from_slice(&len.to_le_bytes());
        };
        let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        push(SHB, &shb);
        let mut idb = vec![101, 0, 0, 0, 0, 0, 0, 0];
        if let Some(r) = tsresol {
            idb.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0, 0, 0, 0, 0]);
        }
        push(IDB, &idb);
        for t in times {
            let mut epb = vec![0, 0, 0, 0];
            epb.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
            epb.extend_from_slice(&(*t as u32).to_le_bytes());
            epb.extend_from_slice(&[4, 0, 0, 0, 4, 0, 0, 0, 0x45, 0, 0, 4]);
            push(EPB, &epb);
        }
        v
    }

    #[test]
    fn blocks_carry_their_packet_times() {
        let data = section(None, &[1_000_000, 1_500_000]);
        let b = blocks(&data).unwrap();
        assert_eq!(b.len(), 4);
        let times: Vec<Option<f64>> = b.iter().map(|b| b.time).collect();
        assert_eq!(times, vec![None, None, Some(1.0), Some(1.5)]);
        let nanos = section(Some(9), &[2_000_000_000]);
        assert_eq!(blocks(&nanos).unwrap()[2].time, Some(2.0));
        assert_eq!(b.iter().map(|b| b.bytes.len()).sum::<usize>(), data.len());
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let data = section(None, &[1]);
        assert!(blocks(&data[..data.len() - 3]).is_err());
    }

    #[test]
    fn replay_writes_everything_and_paces() {
        let data = section(None, &[0, 100_000]);
        let b = blocks(&data).unwrap();
        let stop = AtomicBool::new(false);
        let mut out = Vec::new();
        let start = Instant::now();
        assert_eq!(
            replay(&b, &mut out, 1.0, &stop, &|| false).unwrap(),
            End::Done
        );
        assert!(start.elapsed() >= Duration::from_millis(100), "paced");
        assert_eq!(out, data);
        stop.store(true, Ordering::Relaxed);
        let mut out = Vec::new();
        assert_eq!(
            replay(&b, &mut out, 0.0, &stop, &|| false).unwrap(),
            End::Stopped
        );
        assert!(out.is_empty());
        stop.store(false, Ordering::Relaxed);
        let mut out = Vec::new();
        let r = replay(&b, &mut out, 0.001, &stop, &|| true).unwrap();
        assert_eq!(r, End::Stopped, "a reader gone ends the wait");
        assert!(out.len() < data.len());
    }
}
