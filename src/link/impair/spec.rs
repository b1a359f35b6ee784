//! # Targeted drops: `--drop SPEC`
//!
//! Layer: device middleware support (phy). A [`DropSpec`] names one frame to lose, for exact lab
//! scenarios, with Wireshark's words for TCP segments:
//!
//! ```text
//! SPEC := KIND [":" N] ["@" [SRCPORT] ">" [DSTPORT]]
//! KIND := syn | synack | ack | data | fin | rst | any      (the Nth such segment, default 1st)
//!       | frame                                           (frame number N of the capture)
//! ```
//!
//! `syn` is a SYN without ACK, `synack` a SYN+ACK, `ack` a segment with no data and no
//! SYN/FIN/RST, `data` one with payload (a DATA+FIN too), `fin` any FIN, `rst` any RST. Examples:
//! `data:3@20>5002` (the 3rd data segment from port 20 to port 5002), `synack:1` (the first
//! SYN+ACK), `ack:2@>21`, `frame:17` (the frame the tapped interface numbers 17: lost after the
//! tap if this host sent it, or never received if it came towards it). Each spec drops one frame;
//! repeat `--drop` for more. A retransmission is a segment like any other: it is counted.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

/// What kind of frame a [`DropSpec`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropKind {
    /// SYN without ACK.
    Syn,
    /// SYN+ACK.
    SynAck,
    /// A segment without payload, SYN, FIN or RST.
    Ack,
    /// A segment with payload.
    Data,
    /// A segment with FIN.
    Fin,
    /// A segment with RST.
    Rst,
    /// Any TCP segment.
    Any,
    /// The frame numbered N at the tapped interface.
    Frame,
}

/// One frame to drop: the `nth` frame of `kind`, optionally between these ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropSpec {
    /// What to count.
    pub kind: DropKind,
    /// Which one (1-based).
    pub nth: u64,
    /// Source port it must have.
    pub src_port: Option<u16>,
    /// Destination port it must have.
    pub dst_port: Option<u16>,
    text: String,
}

impl fmt::Display for DropSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for DropSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "expected KIND[:N][@SRCPORT>DSTPORT] with KIND one of syn, synack, ack, \
                     data, fin, rst, any, frame; e.g. data:3@20>5002, synack:1, frame:17";
        let (head, ports) = match s.split_once('@') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let (kind, nth) = match head.split_once(':') {
            Some((k, n)) => (
                k,
                n.parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(format!("{n} is not a count from 1 in --drop {s}: {usage}"))?,
            ),
            None => (head, 1),
        };
        let kind = match kind.to_ascii_lowercase().as_str() {
            "syn" => DropKind::Syn,
            "synack" | "syn+ack" => DropKind::SynAck,
            "ack" => DropKind::Ack,
            "data" => DropKind::Data,
            "fin" => DropKind::Fin,
            "rst" => DropKind::Rst,
            "any" => DropKind::Any,
            "frame" => DropKind::Frame,
            other => return Err(format!("unknown kind {other:?} in --drop {s}: {usage}")),
        };
        let (mut src_port, mut dst_port) = (None, None);
        if let Some(p) = ports {
            let (src, dst) = p
                .split_once('>')
                .ok_or(format!("ports in --drop {s} need a '>': {usage}"))?;
            let port = |t: &str| -> Result<Option<u16>, String> {
                if t.is_empty() {
                    return Ok(None);
                }
                t.parse()
                    .map(Some)
                    .map_err(|_| format!("{t} is not a port in --drop {s}: {usage}"))
            };
            src_port = port(src)?;
            dst_port = port(dst)?;
        }
        Ok(DropSpec {
            kind,
            nth,
            src_port,
            dst_port,
            text: s.to_string(),
        })
    }
}

/// What a TCP/IP frame's headers say, as far as the cable cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peek {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// SYN flag.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Payload bytes.
    pub payload: usize,
    /// Raw sequence number.
    pub seq: u32,
    /// Offset of the TCP header in the frame.
    pub tcp_offset: usize,
}

impl Peek {
    /// Reads the IPv4 or IPv6 and TCP headers of `frame`; `None` if it is not TCP.
    pub fn of(frame: &[u8]) -> Option<Peek> {
        let (src, dst, offset) = match frame.first()? >> 4 {
            4 => {
                let ip = Ipv4Packet::new_checked(frame).ok()?;
                if ip.next_header() != IpProtocol::Tcp {
                    return None;
                }
                (
                    IpAddr::V4(ip.src_addr()),
                    IpAddr::V4(ip.dst_addr()),
                    ip.header_len() as usize,
                )
            }
            6 => {
                let ip = Ipv6Packet::new_checked(frame).ok()?;
                if ip.next_header() != IpProtocol::Tcp {
                    return None;
                }
                (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()), 40)
            }
            _ => return None,
        };
        let tcp = TcpPacket::new_checked(frame.get(offset..)?).ok()?;
        Some(Peek {
            src: SocketAddr::new(src, tcp.src_port()),
            dst: SocketAddr::new(dst, tcp.dst_port()),
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            payload: tcp.payload().len(),
            seq: tcp.seq_number().0 as u32,
            tcp_offset: offset,
        })
    }

    /// True if both frames belong to one connection (either way round).
    pub fn same_connection(&self, other: &Peek) -> bool {
        (self.src == other.src && self.dst == other.dst)
            || (self.src == other.dst && self.dst == other.src)
    }

    /// A short description: `SYN+ACK 10.0.0.2:5001 -> 10.0.0.1:20 seq=123 len=0`.
    pub fn describe(&self) -> String {
        let mut flags = Vec::new();
        for (on, name) in [
            (self.syn, "SYN"),
            (self.fin, "FIN"),
            (self.rst, "RST"),
            (self.ack, "ACK"),
        ] {
            if on {
                flags.push(name);
            }
        }
        let kind = if self.payload > 0 {
            format!("data+{}", flags.join("+"))
        } else {
            flags.join("+")
        };
        format!(
            "{kind} {} -> {} seq={} len={}",
            self.src, self.dst, self.seq, self.payload
        )
    }
}

impl DropSpec {
    /// True if a frame of this kind and ports (`peek`; `None` for a non-TCP frame) counts.
    pub fn counts(&self, peek: Option<&Peek>) -> bool {
        let Some(p) = peek else {
            return matches!(self.kind, DropKind::Frame)
                && self.src_port.is_none()
                && self.dst_port.is_none();
        };
        if self.src_port.is_some_and(|port| port != p.src.port())
            || self.dst_port.is_some_and(|port| port != p.dst.port())
        {
            return false;
        }
        match self.kind {
            DropKind::Syn => p.syn && !p.ack,
            DropKind::SynAck => p.syn && p.ack,
            DropKind::Ack => p.payload == 0 && !p.syn && !p.fin && !p.rst,
            DropKind::Data => p.payload > 0,
            DropKind::Fin => p.fin,
            DropKind::Rst => p.rst,
            DropKind::Any | DropKind::Frame => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_mistakes_are_explained() {
        let d: DropSpec = "data:3@20>5002".parse().unwrap();
        assert_eq!(
            (d.kind, d.nth, d.src_port, d.dst_port),
            (DropKind::Data, 3, Some(20), Some(5002))
        );
        let s: DropSpec = "synack".parse().unwrap();
        assert_eq!((s.kind, s.nth, s.src_port), (DropKind::SynAck, 1, None));
        let a: DropSpec = "ack:2@>21".parse().unwrap();
        assert_eq!((a.src_port, a.dst_port), (None, Some(21)));
        assert_eq!("frame:17".parse::<DropSpec>().unwrap().nth, 17);
        for bad in ["dat:1", "data:0", "data:x", "data@20", "data@x>1"] {
            let e = bad.parse::<DropSpec>().unwrap_err();
            assert!(e.contains("KIND[:N]"), "{bad}: {e}");
        }
    }
}
