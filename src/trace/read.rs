//! # Capture reading (analysis layer)
//!
//! Layer: analysis, offline. Job: turn a capture file (classic pcap in either byte order,
//! microsecond or nanosecond, or pcapng) into a list of [`Frame`]s with their link type,
//! absolute time and capture comment. It touches only the file system and never panics on
//! bad input: every problem becomes a [`TraceError`] that names the file and what is wrong.
//!
//! Records and blocks are decoded by the `pcap-parser` crate (rusticata): the pcap file and
//! record headers, and the pcapng section header, interface description (with `if_tsresol`),
//! enhanced and simple packet blocks and their options. `pcap-file`'s readers were not used
//! because they read every pcapng timestamp as nanoseconds whatever the interface's
//! `if_tsresol` says, and refuse pcap records whose original length exceeds the snapshot
//! length, which every capture taken with `-s` has. What stays here, and why:
//! - the framing of each block (type, length) is read before the block is handed over,
//!   because the crate's errors carry neither an offset nor a kind, and a user is told which
//!   frame at which byte is cut or malformed (in [`pcapng`]);
//! - timestamps are converted by [`pcapng_time`]: the crate's `build_ts` keeps 32-bit seconds,
//!   takes the offset unsigned and can overflow, and its `if_tsoffset` is read little-endian
//!   even in a big-endian section;
//! - the obsolete Packet Block (type 2), which the crate does not know, is read by hand, as
//!   Wireshark still reads it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

/// One captured frame, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Frame number, 1-based, as Wireshark's `frame.number`.
    pub number: u32,
    /// Capture time since the Unix epoch.
    pub time: Duration,
    /// Link-layer header type of `data`.
    pub link: LinkType,
    /// The captured bytes, link-layer header included.
    pub data: Vec<u8>,
    /// The pcapng packet comment (`opt_comment`), if any; several are joined with "; ".
    pub comment: Option<String>,
}

/// Link-layer header types smolftp can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkType {
    /// No link header: the frame starts with the IP header (LINKTYPE_RAW 101, DLT_RAW 12/14,
    /// LINKTYPE_IPV4 228).
    RawIp,
    /// Ethernet II, possibly with one 802.1Q tag (LINKTYPE_ETHERNET 1).
    Ethernet,
    /// Linux cooked capture v1, 16-byte header (LINKTYPE_LINUX_SLL 113).
    LinuxSll,
    /// Linux cooked capture v2, 20-byte header (LINKTYPE_LINUX_SLL2 276).
    LinuxSll2,
    /// BSD loopback, 4-byte address family in host byte order (LINKTYPE_NULL 0).
    Null,
    /// OpenBSD loopback, 4-byte address family in network byte order (LINKTYPE_LOOP 108).
    Loop,
}

impl LinkType {
    /// Maps a pcap/pcapng link-type code to a supported [`LinkType`], or `None`.
    pub fn from_code(code: u32) -> Option<LinkType> {
        match code {
            101 | 12 | 14 | 228 => Some(LinkType::RawIp),
            1 => Some(LinkType::Ethernet),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            0 => Some(LinkType::Null),
            108 => Some(LinkType::Loop),
            _ => None,
        }
    }

    /// The canonical LINKTYPE_ code of this link type.
    pub fn code(self) -> u32 {
        match self {
            LinkType::RawIp => 101,
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Null => 0,
            LinkType::Loop => 108,
        }
    }
}

/// A human name for a link-type code, for error messages.
fn link_name(code: u32) -> String {
    let known = match code {
        9 => "PPP",
        50 => "PPP in HDLC framing",
        105 => "IEEE 802.11",
        119 => "IEEE 802.11 Prism",
        127 => "IEEE 802.11 radiotap",
        147..=162 => "user-defined",
        229 => "IPv6",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    match pcap_file::DataLink::from(code) {
        pcap_file::DataLink::Unknown(_) => "unknown".to_string(),
        other => format!("{other:?}"),
    }
}

/// What went wrong while reading a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file does not exist.
    NotFound,
    /// Another I/O error, as text.
    Io(String),
    /// The file is empty.
    Empty,
    /// The first bytes are neither a pcap nor a pcapng magic number.
    NotCapture {
        /// Up to the first four bytes of the file.
        magic: Vec<u8>,
    },
    /// The file ends in the middle of a header, block or record.
    Truncated {
        /// File length: where the data stops.
        at: u64,
        /// Offset where the incomplete part starts.
        from: u64,
        /// What is incomplete, e.g. "frame 5" or "file header".
        what: String,
    },
    /// A link type smolftp cannot decode.
    UnsupportedLink {
        /// The LINKTYPE_ code.
        code: u32,
    },
    /// A structurally invalid block or record.
    Malformed {
        /// Offset of the offending block or record.
        at: u64,
        /// What is wrong.
        what: String,
    },
}

/// An error reading a capture; its `Display` always starts with the file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// The file as the user named it.
    pub file: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        match &self.kind {
            ErrorKind::NotFound => write!(f, "file not found"),
            ErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            ErrorKind::Empty => write!(f, "empty file (0 bytes), not a pcap or pcapng file"),
            ErrorKind::NotCapture { magic } => {
                write!(f, "not a pcap or pcapng file (magic 0x")?;
                for b in magic {
                    write!(f, "{b:02x}")?;
                }
                write!(f, ")")
            }
            ErrorKind::Truncated { at, from, what } => write!(
                f,
                "truncated at byte {at}: {what} (from byte {from}) is incomplete"
            ),
            ErrorKind::UnsupportedLink { code } => write!(
                f,
                "link type {code} ({}) is not supported; smolftp reads raw IP, Ethernet, BSD loopback and \
                 Linux cooked captures",
                link_name(*code)
            ),
            ErrorKind::Malformed { at, what } => write!(f, "malformed at byte {at}: {what}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// Reads a pcap or pcapng capture file, detecting the format from its magic number.
pub fn read_capture(path: &Path) -> Result<Vec<Frame>, TraceError> {
    whole(read_capture_partial(path)?)
}

/// Parses capture bytes already in memory; `name` is used in error messages.
pub fn parse_capture(name: &str, bytes: &[u8]) -> Result<Vec<Frame>, TraceError> {
    whole(parse_capture_partial(name, bytes)?)
}

/// The frames of a capture read to its end, or the error that stopped the reading.
fn whole(read: (Vec<Frame>, Option<TraceError>)) -> Result<Vec<Frame>, TraceError> {
    match read {
        (frames, None) => Ok(frames),
        (_, Some(e)) => Err(e),
    }
}

/// Reads a capture as far as it is whole: the frames before the first truncated or malformed
/// block or record, and the error that stopped the reading (like tshark, which shows the
/// complete frames of a cut file). `Err` only when nothing can be read at all.
pub fn read_capture_partial(path: &Path) -> Result<(Vec<Frame>, Option<TraceError>), TraceError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TraceError {
        file: name.clone(),
        kind: match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io(e.to_string()),
        },
    })?;
    parse_capture_partial(&name, &bytes)
}

/// [`read_capture_partial`] on bytes already in memory.
pub fn parse_capture_partial(
    name: &str,
    bytes: &[u8],
) -> Result<(Vec<Frame>, Option<TraceError>), TraceError> {
    let err = |kind| TraceError {
        file: name.to_string(),
        kind,
    };
    if bytes.is_empty() {
        return Err(err(ErrorKind::Empty));
    }
    let Some(le) = u32_at(bytes, 0, false) else {
        return Err(err(ErrorKind::NotCapture {
            magic: bytes.to_vec(),
        }));
    };
    let be = le.swap_bytes();
    let mut frames = Vec::new();
    let result = match (le, be) {
        (0x0A0D_0D0A, _) => parse_pcapng(bytes, &mut frames),
        (0xA1B2_C3D4 | 0xA1B2_3C4D, _) | (_, 0xA1B2_C3D4 | 0xA1B2_3C4D) => {
            parse_pcap(bytes, &mut frames)
        }
        _ => Err(ErrorKind::NotCapture {
            magic: bytes[..4].to_vec(),
        }),
    };
    match result {
        Ok(()) => Ok((frames, None)),
        // A file that is not a capture at all, or whose link type cannot be read, has nothing
        // to draw.
        Err(kind @ (ErrorKind::NotCapture { .. } | ErrorKind::UnsupportedLink { .. })) => {
            Err(err(kind))
        }
        Err(kind) if frames.is_empty() => Err(err(kind)),
        Err(kind) => Ok((frames, Some(err(kind)))),
    }
}

fn u32_at(b: &[u8], off: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = *b.get(off..)?.first_chunk()?;
    Some(if big {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

/// The error for data that stops in the middle of `what`, which starts at `from`.
fn truncated(len: usize, from: usize, what: String) -> ErrorKind {
    ErrorKind::Truncated {
        at: len as u64,
        from: from as u64,
        what,
    }
}

/// The number the next frame of `frames` gets (1-based, as Wireshark's `frame.number`).
fn next_number(frames: &[Frame]) -> u32 {
    u32::try_from(frames.len()).map_or(u32::MAX, |n| n.saturating_add(1))
}

/// Reads a classic pcap file (its byte order and resolution from its magic number).
fn parse_pcap(b: &[u8], frames: &mut Vec<Frame>) -> Result<(), ErrorKind> {
    use pcap_parser::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
    let Ok((mut rest, header)) = parse_pcap_header(b) else {
        return Err(truncated(b.len(), 0, "file header".into()));
    };
    // The upper 16 bits of the link-type field may carry FCS information.
    let code = header.network.0.cast_unsigned() & 0xFFFF;
    let link = LinkType::from_code(code).ok_or(ErrorKind::UnsupportedLink { code })?;
    let (big, nanos) = (header.is_bigendian(), header.is_nanosecond_precision());
    while !rest.is_empty() {
        let off = b.len() - rest.len();
        let number = next_number(frames);
        let parsed = if big {
            parse_pcap_frame_be(rest)
        } else {
            parse_pcap_frame(rest)
        };
        // A record header and its captured bytes are all a record has: only a cut can fail.
        let Ok((after, record)) = parsed else {
            return Err(truncated(b.len(), off, format!("frame {number}")));
        };
        let frac_ns = u64::from(record.ts_usec) * if nanos { 1 } else { 1000 };
        frames.push(Frame {
            number,
            time: Duration::from_secs(u64::from(record.ts_sec)) + Duration::from_nanos(frac_ns),
            link,
            data: record.data.to_vec(),
            comment: None,
        });
        rest = after;
    }
    Ok(())
}

mod pcapng;
use pcapng::parse_pcapng;
#[cfg(test)]
use pcapng::{EPB, IDB, PB, SHB, SPB, pcapng_time};

#[cfg(test)]
mod tests;
