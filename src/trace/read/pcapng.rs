//! pcapng reading (analysis layer): the blocks of each section, decoded by `pcap-parser`
//! once their framing (type and length) has been checked here, so that a cut or malformed
//! block is reported with its frame number and byte offset (see the parent module).

use std::time::Duration;

use pcap_parser::nom::error::Error as NomError;
use pcap_parser::{OptionCode, PcapNGOption};

use super::{ErrorKind, Frame, LinkType, next_number, truncated, u32_at};

/// Section header block.
pub(super) const SHB: u32 = pcap_parser::SHB_MAGIC;
/// Interface description block.
pub(super) const IDB: u32 = pcap_parser::IDB_MAGIC;
/// Obsolete packet block (pcapng 1.0), still read by Wireshark.
pub(super) const PB: u32 = 2;
/// Simple packet block.
pub(super) const SPB: u32 = pcap_parser::SPB_MAGIC;
/// Enhanced packet block.
pub(super) const EPB: u32 = pcap_parser::EPB_MAGIC;

/// Per-interface state of a pcapng section.
struct Interface {
    link: Result<LinkType, u32>,
    tsresol: u8,
    tsoffset: i64,
}

/// Converts a pcapng timestamp in interface units to a duration since the epoch.
pub(super) fn pcapng_time(units: u64, tsresol: u8, tsoffset: i64) -> Duration {
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
    // Below one second's worth of nanoseconds in every branch above.
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
    let base = Duration::from_secs(secs).saturating_add(Duration::from_nanos(nanos));
    if tsoffset >= 0 {
        base.saturating_add(Duration::from_secs(tsoffset.unsigned_abs()))
    } else {
        base.saturating_sub(Duration::from_secs(tsoffset.unsigned_abs()))
    }
}

/// The options up to opt_endofopt.
fn until_end<'a, 'o>(
    options: &'o [PcapNGOption<'a>],
) -> impl Iterator<Item = &'o PcapNGOption<'a>> {
    options
        .iter()
        .take_while(|o| o.code != OptionCode::EndOfOpt)
}

/// Joins the `opt_comment` options of a packet block with "; ".
fn comments(options: &[PcapNGOption]) -> Option<String> {
    let mut joined: Option<String> = None;
    let texts = until_end(options)
        .filter(|o| o.code == OptionCode::Comment)
        .filter_map(|o| o.as_bytes().ok());
    for text in texts {
        let text = String::from_utf8_lossy(text);
        let text = text.trim_end_matches('\0');
        match &mut joined {
            Some(all) => {
                all.push_str("; ");
                all.push_str(text);
            }
            None => joined = Some(text.to_string()),
        }
    }
    joined
}

/// The interface an IDB describes; `if_tsoffset` is read here, in the section's byte order.
fn interface(idb: &pcap_parser::InterfaceDescriptionBlock, big: bool) -> Interface {
    let code = idb.linktype.0.cast_unsigned();
    let tsoffset = until_end(&idb.options)
        .filter(|o| o.code == OptionCode::IfTsoffset)
        .filter_map(|o| <[u8; 8]>::try_from(o.as_bytes().ok()?).ok())
        .last()
        .map_or(0, |b| {
            if big {
                i64::from_be_bytes(b)
            } else {
                i64::from_le_bytes(b)
            }
        });
    Interface {
        link: LinkType::from_code(code).ok_or(code),
        // A one-octet option, else the default: microseconds.
        tsresol: idb.if_tsresol().and_then(Result::ok).unwrap_or(6),
        tsoffset,
    }
}

/// The options of an obsolete packet block, `b` being the bytes after its packet data.
fn pb_options(mut b: &[u8], big: bool) -> Vec<PcapNGOption<'_>> {
    use pcap_parser::{parse_option_be, parse_option_le};
    let mut out = Vec::new();
    // Each option takes at least four bytes: the loop ends within b.len() / 4 rounds.
    while !b.is_empty() {
        let parsed = if big {
            parse_option_be::<NomError<&[u8]>>(b)
        } else {
            parse_option_le::<NomError<&[u8]>>(b)
        };
        let Ok((rest, option)) = parsed else { break };
        out.push(option);
        b = rest;
    }
    out
}

/// What a `pcap-parser` block parser returns.
type Parsed<'a, T> = pcap_parser::nom::IResult<&'a [u8], T, pcap_parser::PcapError<&'a [u8]>>;

/// The whole `block` decoded by `le` or `be`, as the section's byte order says.
fn decode<'a, T>(
    block: &'a [u8],
    big: bool,
    le: fn(&'a [u8]) -> Parsed<'a, T>,
    be: fn(&'a [u8]) -> Parsed<'a, T>,
) -> Option<T> {
    let parsed = if big { be(block) } else { le(block) };
    parsed.ok().map(|(_, t)| t)
}

/// A packet as its block gives it: interface, time in interface units (none in an SPB),
/// captured bytes, comment.
struct Packet<'a> {
    if_id: u32,
    units: Option<u64>,
    data: &'a [u8],
    comment: Option<String>,
}

/// What is wrong with a packet block (it becomes [`ErrorKind::Malformed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
enum BadPacket {
    /// An enhanced or obsolete packet block too short for its fixed fields.
    #[error("packet block shorter than 20 bytes")]
    Short,
    /// The captured length reaches past the block's end.
    #[error("captured length exceeds the block")]
    CaptureExceedsBlock,
    /// A simple packet block too short for its original length.
    #[error("too short")]
    SimpleTooShort,
}

/// Decodes the packet block `block` (whole and framed: type, matching lengths, body) of type
/// `kind`; `Err` says what is wrong with it.
fn packet(kind: u32, block: &[u8], big: bool) -> Result<Packet<'_>, BadPacket> {
    let body = &block[8..block.len() - 4];
    match kind {
        EPB => {
            if body.len() < 20 {
                return Err(BadPacket::Short);
            }
            let (le, be) = (
                pcap_parser::parse_enhancedpacketblock_le,
                pcap_parser::parse_enhancedpacketblock_be,
            );
            let Some(epb) = decode(block, big, le, be) else {
                return Err(BadPacket::CaptureExceedsBlock);
            };
            Ok(Packet {
                if_id: epb.if_id,
                units: Some((u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low)),
                // `data` is padded to 32 bits; the captured length is within it.
                data: epb.data.get(..epb.caplen as usize).unwrap_or(epb.data),
                comment: comments(&epb.options),
            })
        }
        SPB => {
            let (le, be) = (
                pcap_parser::parse_simplepacketblock_le,
                pcap_parser::parse_simplepacketblock_be,
            );
            let Some(spb) = decode(block, big, le, be) else {
                return Err(BadPacket::SimpleTooShort);
            };
            Ok(Packet {
                if_id: 0,
                units: None,
                // Padded too; no captured length: the original, or all there is.
                data: spb.data.get(..spb.origlen as usize).unwrap_or(spb.data),
                comment: None,
            })
        }
        // PB: interface (16 bits), drops (16 bits), then the EPB's layout.
        _ => {
            let field = |off| u32_at(body, off, big);
            let (Some(head), Some(hi), Some(lo), Some(caplen)) =
                (field(0), field(4), field(8), field(12))
            else {
                return Err(BadPacket::Short);
            };
            let if_id = if big { head >> 16 } else { head & 0xFFFF };
            let caplen = caplen as usize;
            let Some(data) = body.get(20..20usize.saturating_add(caplen)) else {
                return Err(BadPacket::CaptureExceedsBlock);
            };
            let options = body.get(20 + caplen.div_ceil(4) * 4..).unwrap_or(&[]);
            Ok(Packet {
                if_id,
                units: Some((u64::from(hi) << 32) | u64::from(lo)),
                data,
                comment: comments(&pb_options(options, big)),
            })
        }
    }
}

/// Reads the pcapng file `b`, pushing its frames onto `frames`.
pub(super) fn parse_pcapng(b: &[u8], frames: &mut Vec<Frame>) -> Result<(), ErrorKind> {
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut big = false;
    let mut off = 0usize;
    while off < b.len() {
        let number = next_number(frames);
        let Some(kind) = u32_at(b, off, big) else {
            return Err(truncated(b.len(), off, "block header".into()));
        };
        if kind == SHB {
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
        let is_packet = matches!(kind, PB | SPB | EPB);
        let what = if is_packet {
            format!("frame {number}")
        } else {
            format!("block of type 0x{kind:08x}")
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
        let Some(block) = off.checked_add(total).and_then(|end| b.get(off..end)) else {
            return Err(truncated(b.len(), off, what));
        };
        let bad = |detail: &str| ErrorKind::Malformed {
            at: off as u64,
            what: format!("{what}: {detail}"),
        };
        // As Wireshark, which refuses a block whose two lengths disagree.
        let trailer = u32_at(block, total - 4, big).unwrap_or_default();
        if trailer as usize != total {
            return Err(bad(&format!(
                "its trailing length {trailer} differs from its length {total}"
            )));
        }
        match kind {
            SHB => {
                // Its byte order is known; its options (hardware, OS, application) are not used.
            }
            IDB => {
                let (le, be) = (
                    pcap_parser::parse_interfacedescriptionblock_le,
                    pcap_parser::parse_interfacedescriptionblock_be,
                );
                let Some(idb) = decode(block, big, le, be) else {
                    return Err(bad("interface description shorter than 8 bytes"));
                };
                interfaces.push(interface(&idb, big));
            }
            PB | SPB | EPB => {
                let p = packet(kind, block, big).map_err(|e| bad(&e.to_string()))?;
                let Some(iface) = interfaces.get(p.if_id as usize) else {
                    return Err(bad(&format!(
                        "refers to interface {}, but {} are described",
                        p.if_id,
                        interfaces.len()
                    )));
                };
                let link = iface
                    .link
                    .map_err(|code| ErrorKind::UnsupportedLink { code })?;
                let time = match p.units {
                    Some(u) => pcapng_time(u, iface.tsresol, iface.tsoffset),
                    None => frames.last().map(|f| f.time).unwrap_or_default(),
                };
                frames.push(Frame {
                    number,
                    time,
                    link,
                    data: p.data.to_vec(),
                    comment: p.comment,
                });
            }
            // Name resolution, statistics, custom and unknown blocks say nothing we draw.
            _ => {}
        }
        off += total;
    }
    Ok(())
}
