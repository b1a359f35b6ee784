//! # Capture reading (analysis layer)
//!
//! Layer: analysis, offline. Job: turn a capture file (classic pcap in either byte order,
//! microsecond or nanosecond, or pcapng) into a list of [`Frame`]s with their link type,
//! absolute time and capture comment. It touches only the file system and never panics on
//! bad input: every problem becomes a [`TraceError`] that names the file and what is wrong.
//!
//! The parser is written by hand rather than through `pcap-file`'s readers because those
//! ignore the pcapng `if_tsresol` option (they read every EPB timestamp as nanoseconds) and
//! stop at the first malformed block without saying where; `pcap-file` is still used for
//! link-type names and by the tests to write captures.

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
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_capture(&name, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TraceError {
            file: name,
            kind: ErrorKind::NotFound,
        }),
        Err(e) => Err(TraceError {
            file: name,
            kind: ErrorKind::Io(e.to_string()),
        }),
    }
}

/// Parses capture bytes already in memory; `name` is used in error messages.
pub fn parse_capture(name: &str, bytes: &[u8]) -> Result<Vec<Frame>, TraceError> {
    match parse_capture_partial(name, bytes)? {
        (frames, None) => Ok(frames),
        (_, Some(e)) => Err(e),
    }
}

/// Reads a capture as far as it is whole: the frames before the first truncated or malformed
/// block or record, and the error that stopped the reading (like tshark, which shows the
/// complete frames of a cut file). `Err` only when nothing can be read at all.
pub fn read_capture_partial(path: &Path) -> Result<(Vec<Frame>, Option<TraceError>), TraceError> {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_capture_partial(&name, &bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TraceError {
            file: name,
            kind: ErrorKind::NotFound,
        }),
        Err(e) => Err(TraceError {
            file: name,
            kind: ErrorKind::Io(e.to_string()),
        }),
    }
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
        (0xA1B2_C3D4, _) => parse_pcap(bytes, false, false, &mut frames),
        (0xA1B2_3C4D, _) => parse_pcap(bytes, false, true, &mut frames),
        (_, 0xA1B2_C3D4) => parse_pcap(bytes, true, false, &mut frames),
        (_, 0xA1B2_3C4D) => parse_pcap(bytes, true, true, &mut frames),
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

fn u16_at(b: &[u8], off: usize, big: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

fn u32_at(b: &[u8], off: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
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

fn parse_pcap(b: &[u8], big: bool, nanos: bool, frames: &mut Vec<Frame>) -> Result<(), ErrorKind> {
    let (Some(network), true) = (u32_at(b, 20, big), b.len() >= 24) else {
        return Err(truncated(b.len(), 0, "file header".into()));
    };
    let code = network & 0xFFFF;
    let link = LinkType::from_code(code).ok_or(ErrorKind::UnsupportedLink { code })?;
    let mut off = 24usize;
    while off < b.len() {
        let number = frames.len() as u32 + 1;
        let header = (
            u32_at(b, off, big),
            u32_at(b, off + 4, big),
            u32_at(b, off + 8, big),
        );
        let (Some(sec), Some(frac), Some(incl), true) =
            (header.0, header.1, header.2, b.len() - off >= 16)
        else {
            return Err(truncated(b.len(), off, format!("frame {number}")));
        };
        let start = off + 16;
        let Some(data) = start
            .checked_add(incl as usize)
            .and_then(|end| b.get(start..end))
        else {
            return Err(truncated(b.len(), off, format!("frame {number}")));
        };
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        frames.push(Frame {
            number,
            time: Duration::from_secs(u64::from(sec)) + Duration::from_nanos(frac_ns),
            link,
            data: data.to_vec(),
            comment: None,
        });
        off = start + data.len();
    }
    Ok(())
}

/// Per-interface state of a pcapng section.
struct Interface {
    link: Result<LinkType, u32>,
    tsresol: u8,
    tsoffset: i64,
}

/// Converts a pcapng timestamp in interface units to a duration since the epoch.
fn pcapng_time(units: u64, tsresol: u8, tsoffset: i64) -> Duration {
    let exp = u32::from(tsresol & 0x7F);
    let (secs, nanos) = if tsresol & 0x80 == 0 {
        match 10u128.checked_pow(exp) {
            Some(div) => {
                let units = u128::from(units);
                let frac = units % div;
                let nanos = if exp <= 9 {
                    frac * 10u128.pow(9 - exp)
                } else {
                    frac / 10u128.pow(exp - 9)
                };
                (units / div, nanos)
            }
            None => (0, 0),
        }
    } else if exp >= 64 {
        (0, (u128::from(units) * 1_000_000_000) >> exp.min(127))
    } else {
        let frac = u128::from(units) & ((1u128 << exp) - 1);
        (u128::from(units >> exp), (frac * 1_000_000_000) >> exp)
    };
    let secs = u64::try_from(secs).unwrap_or(u64::MAX);
    let base = Duration::from_secs(secs).saturating_add(Duration::from_nanos(nanos as u64));
    if tsoffset >= 0 {
        base.saturating_add(Duration::from_secs(tsoffset.unsigned_abs()))
    } else {
        base.saturating_sub(Duration::from_secs(tsoffset.unsigned_abs()))
    }
}

/// Iterates pcapng options `(code, value)` until opt_endofopt or the end of `b`.
fn options(b: &[u8], big: bool) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while let (Some(code), Some(len)) = (u16_at(b, off, big), u16_at(b, off + 2, big)) {
        if code == 0 {
            break;
        }
        let start = off + 4;
        let Some(value) = b.get(start..start + len as usize) else {
            break;
        };
        out.push((code, value));
        off = start + (len as usize).div_ceil(4) * 4;
    }
    out
}

/// Collects the `opt_comment` options of a packet block.
fn comments(opts: &[(u16, &[u8])]) -> Option<String> {
    let texts: Vec<String> = opts
        .iter()
        .filter(|(code, _)| *code == 1)
        .map(|(_, v)| {
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string()
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join("; "))
}

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;

fn parse_pcapng(b: &[u8], frames: &mut Vec<Frame>) -> Result<(), ErrorKind> {
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut big = false;
    let mut off = 0usize;
    while off < b.len() {
        let number = frames.len() as u32 + 1;
        let Some(raw_type) = u32_at(b, off, big) else {
            return Err(truncated(b.len(), off, "block header".into()));
        };
        if raw_type == SHB {
            big = match u32_at(b, off + 8, false) {
                Some(0x1A2B_3C4D) => false,
                Some(0x4D3C_2B1A) => true,
                Some(m) => {
                    return Err(ErrorKind::Malformed {
                        at: off as u64,
                        what: format!("section header with byte-order magic 0x{m:08x}"),
                    });
                }
                None => return Err(truncated(b.len(), off, "section header".into())),
            };
            interfaces.clear();
        }
        let is_packet = matches!(raw_type, PB | SPB | EPB);
        let what = if is_packet {
            format!("frame {number}")
        } else {
            format!("block of type 0x{raw_type:08x}")
        };
        let Some(total) = u32_at(b, off + 4, big).map(|t| t as usize) else {
            return Err(truncated(b.len(), off, what));
        };
        if total < 12 || total % 4 != 0 {
            return Err(ErrorKind::Malformed {
                at: off as u64,
                what: format!("{what} has an invalid length {total}"),
            });
        }
        let Some(body) = off
            .checked_add(total)
            .and_then(|end| b.get(off + 8..end - 4))
        else {
            return Err(truncated(b.len(), off, what));
        };
        let bad = |detail: &str| ErrorKind::Malformed {
            at: off as u64,
            what: format!("{what}: {detail}"),
        };
        match raw_type {
            IDB => {
                let (Some(code), Some(opts)) = (u16_at(body, 0, big), body.get(8..)) else {
                    return Err(bad("interface description shorter than 8 bytes"));
                };
                let code = u32::from(code);
                let mut iface = Interface {
                    link: LinkType::from_code(code).ok_or(code),
                    tsresol: 6,
                    tsoffset: 0,
                };
                for (opt, value) in options(opts, big) {
                    match (opt, value) {
                        (9, [r]) => iface.tsresol = *r,
                        (14, v) if v.len() == 8 => {
                            let mut s = [0u8; 8];
                            s.copy_from_slice(v);
                            iface.tsoffset = if big {
                                i64::from_be_bytes(s)
                            } else {
                                i64::from_le_bytes(s)
                            };
                        }
                        _ => {}
                    }
                }
                interfaces.push(iface);
            }
            EPB | PB | SPB => {
                let (if_id, units, data_off, caplen) = if raw_type == SPB {
                    let orig = u32_at(body, 0, big).ok_or_else(|| bad("too short"))?;
                    let cap = (orig as usize).min(body.len().saturating_sub(4));
                    (0u32, None, 4usize, cap)
                } else {
                    let if_id = if raw_type == EPB {
                        u32_at(body, 0, big)
                    } else {
                        u16_at(body, 0, big).map(u32::from)
                    };
                    let fields = (if_id, u32_at(body, 4, big), u32_at(body, 8, big));
                    let (Some(if_id), Some(hi), Some(lo), Some(cap)) =
                        (fields.0, fields.1, fields.2, u32_at(body, 12, big))
                    else {
                        return Err(bad("packet block shorter than 20 bytes"));
                    };
                    let units = (u64::from(hi) << 32) | u64::from(lo);
                    (if_id, Some(units), 20usize, cap as usize)
                };
                let Some(data) = body.get(data_off..data_off.saturating_add(caplen)) else {
                    return Err(bad("captured length exceeds the block"));
                };
                let Some(iface) = interfaces.get(if_id as usize) else {
                    return Err(bad(&format!(
                        "refers to interface {if_id}, but {} are described",
                        interfaces.len()
                    )));
                };
                let link = iface
                    .link
                    .map_err(|code| ErrorKind::UnsupportedLink { code })?;
                let time = match units {
                    Some(u) => pcapng_time(u, iface.tsresol, iface.tsoffset),
                    None => frames.last().map(|f| f.time).unwrap_or_default(),
                };
                let opts_start = data_off + caplen.div_ceil(4) * 4;
                let comment = if raw_type == SPB {
                    None
                } else {
                    comments(&options(body.get(opts_start..).unwrap_or(&[]), big))
                };
                frames.push(Frame {
                    number,
                    time,
                    link,
                    data: data.to_vec(),
                    comment,
                });
            }
            _ => {}
        }
        off += total;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
