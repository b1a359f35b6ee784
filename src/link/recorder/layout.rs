//! # Block layouts
//!
//! Layer: device middleware support (phy). The bytes of a pcapng Enhanced Packet Block and of a
//! classic pcap record, exactly as the `pcap-file` crate writes them (native byte order for
//! pcapng, nanosecond timestamps; the pcap header's order and resolution for pcap), written by
//! hand because they are written once per frame. The recorder's tests compare them with
//! `pcap-file`'s output.

use std::borrow::Cow;
use std::time::Duration as StdDuration;

use pcap_file::pcap::PcapHeader;
use pcap_file::{Endianness, PcapError, TsResolution};
use smoltcp::time::Instant;

use super::batch::Bytes;
use crate::link::Direction;

/// pcapng: block type, block length, interface, timestamp (2 words), captured and original
/// length.
pub const EPB_HEAD: usize = 28;
/// Classic pcap: seconds, fraction, captured and original length.
pub const PCAP_HEAD: usize = 16;

/// The timestamp as `pcap-file` takes it: microseconds of the stack's clock, none before 0.
pub fn timestamp(time: Instant) -> StdDuration {
    StdDuration::from_micros(micros(time))
}

/// Microseconds of the stack's clock, none before 0.
fn micros(time: Instant) -> u64 {
    time.total_micros().max(0) as u64
}

/// Padding that brings `len` to a multiple of four.
pub fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn u32_bytes(endianness: Endianness, v: u32) -> [u8; 4] {
    match endianness {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
    }
}

/// Appends the start of an Enhanced Packet Block for `frame`: the head (with a block length of
/// 0, set when the block's end is known), the frame, its padding, and `room` bytes for the
/// block's end, left as they were.
pub fn push_epb_head(out: &mut Bytes, interface: u32, time: Instant, frame: &[u8], room: usize) {
    let ts = micros(time) * 1000;
    let body = EPB_HEAD + frame.len();
    let block = out.take(body + pad(frame.len()) + room);
    for (i, word) in [
        6,
        0,
        interface,
        (ts >> 32) as u32,
        ts as u32,
        frame.len() as u32,
        frame.len() as u32,
    ]
    .into_iter()
    .enumerate()
    {
        block[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
    }
    block[EPB_HEAD..body].copy_from_slice(frame);
    // Set one by one: a copy of a variable few bytes is a call to memcpy.
    for b in &mut block[body..body + pad(frame.len())] {
        *b = 0;
    }
    // A data frame's block ahead (with `smolftp bench`, 1 and 2 KiB did alike, 4 KiB worse).
    out.fetch_ahead(2048);
}

/// The record header of a classic pcap frame of `len` bytes, or the error `pcap-file` gives.
pub fn pcap_head(
    header: &PcapHeader,
    time: Instant,
    len: usize,
) -> Result<[u8; PCAP_HEAD], PcapError> {
    let ts = timestamp(time);
    let secs = u32::try_from(ts.as_secs())
        .map_err(|_| PcapError::InvalidField("PcapPacket: timestamp_secs > u32::MAX"))?;
    if len > header.snaplen as usize {
        return Err(PcapError::InvalidField("PcapPacket: incl_len > snap_len"));
    }
    let frac = match header.ts_resolution {
        TsResolution::MicroSecond => ts.subsec_micros(),
        TsResolution::NanoSecond => ts.subsec_nanos(),
    };
    let mut head = [0u8; PCAP_HEAD];
    for (i, word) in [secs, frac, len as u32, len as u32].into_iter().enumerate() {
        head[i * 4..i * 4 + 4].copy_from_slice(&u32_bytes(header.endianness, word));
    }
    Ok(head)
}

/// The longest comment an option can carry: its length field has 16 bits.
pub const MAX_COMMENT: usize = u16::MAX as usize;
/// How a comment too long for its option ends.
pub const CUT: &str = " [comment cut: longer than pcapng allows]";

/// A frame comment that fits its option's 16-bit length field: a longer one is cut at a
/// character boundary and ends with [`CUT`], instead of a length that wraps and a file that
/// no reader can parse.
pub struct Comment<'a>(Cow<'a, str>);

impl<'a> Comment<'a> {
    /// `text`, cut if it is too long.
    pub fn fit(text: &'a str) -> Comment<'a> {
        if text.len() <= MAX_COMMENT {
            return Comment(Cow::Borrowed(text));
        }
        let mut end = MAX_COMMENT - CUT.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Comment(Cow::Owned(format!("{}{CUT}", &text[..end])))
    }

    /// The text written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its length, as the option's length field holds it.
    fn len16(&self) -> u16 {
        // `fit` keeps it within 16 bits.
        u16::try_from(self.0.len()).unwrap_or(u16::MAX)
    }
}

/// Length of an Enhanced Packet Block's tail (flags, comment, end of options, block length)
/// with `comment`.
pub fn tail_len(comment: &Comment) -> usize {
    match comment.as_str().len() {
        0 => 16,
        n => 20 + n + pad(n),
    }
}

/// Appends the tail of an Enhanced Packet Block of length `block`: flags, the comment if any,
/// end of options, block length.
pub fn push_tail(out: &mut Vec<u8>, direction: Direction, comment: &Comment, block: u32) {
    let opt = |code: u16, len: u16| {
        let mut o = [0u8; 4];
        o[..2].copy_from_slice(&code.to_ne_bytes());
        o[2..].copy_from_slice(&len.to_ne_bytes());
        o
    };
    let mut options = [0u8; 12];
    options[..4].copy_from_slice(&opt(2, 4));
    options[4..8].copy_from_slice(&direction.epb_flags().to_ne_bytes());
    options[8..].copy_from_slice(&opt(1, comment.len16()));
    let mut end = [0u8; 8];
    end[4..].copy_from_slice(&block.to_ne_bytes());
    // Copies of a fixed size are a few moves, of a variable few bytes a call to memcpy: the
    // fixed parts are copied whole and cut back.
    let tail = tail_len(comment);
    let to = out.len() + tail;
    out.reserve(tail + 4);
    out.extend_from_slice(&options);
    if comment.as_str().is_empty() {
        out.truncate(to - 8);
    } else {
        out.extend_from_slice(comment.as_str().as_bytes());
        out.extend_from_slice(&[0; 3]);
        out.truncate(to - 8);
    }
    out.extend_from_slice(&end);
}
