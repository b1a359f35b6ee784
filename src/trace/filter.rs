//! # Wireshark display filters (analysis layer)
//!
//! Layer: analysis, offline. Job: build, for one segment of an [`Analysis`], a Wireshark
//! display filter that selects exactly that segment, in the style of the textbook figure
//! (`tcp.srcport == 20 && tcp.dstport == 5001 && tcp.flags.syn == 1 && ...`), and evaluate
//! such filters (conjunctions of `field op value`) over the capture to prove uniqueness.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::classify::{Analysis, Entry, SegmentKind};

/// Comparison operators of the supported filter subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// Why a display filter cannot be evaluated; each names the term or field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The value of a term is neither an IPv4 or IPv6 address nor a number.
    #[error("bad value {value:?} in {term:?}")]
    BadValue {
        /// The value as written.
        value: String,
        /// The whole term.
        term: String,
    },
    /// A term without `== != > >= < <=`.
    #[error("no operator in {0:?}")]
    NoOperator(String),
    /// A field this subset does not know.
    #[error("unknown field {0}")]
    UnknownField(String),
}

/// One parsed `field op value` term.
#[derive(Clone, Debug)]
struct Term {
    field: String,
    op: Op,
    value: u128,
}

/// An IPv4 address as a number, for `ip.src`/`ip.dst`; `None` for IPv6.
fn ipv4_number(ip: IpAddr) -> Option<u128> {
    match ip {
        IpAddr::V4(v4) => Some(u32::from(v4).into()),
        IpAddr::V6(_) => None,
    }
}

/// An IPv6 address as a number, for `ipv6.src`/`ipv6.dst`; `None` for IPv4.
fn ipv6_number(ip: IpAddr) -> Option<u128> {
    match ip {
        IpAddr::V6(v6) => Some(u128::from(v6)),
        IpAddr::V4(_) => None,
    }
}

/// The address fields Wireshark has for `ip`'s family: `ip.*` or `ipv6.*`.
fn address_fields(ip: IpAddr) -> (&'static str, &'static str) {
    match ip {
        IpAddr::V4(_) => ("ip.src", "ip.dst"),
        IpAddr::V6(_) => ("ipv6.src", "ipv6.dst"),
    }
}

/// A field's value on an entry: a number, or an address turned into a number; `None` for a
/// field this subset does not know, `Some(None)` for an address field of the other family,
/// which the segment does not have (as in Wireshark, any term on it is then false).
fn field_value(field: &str, e: &Entry) -> Option<Option<u128>> {
    let s = &e.segment;
    let f = s.flags;
    let v = match field {
        "ip.src" => return Some(ipv4_number(s.src.ip())),
        "ip.dst" => return Some(ipv4_number(s.dst.ip())),
        "ipv6.src" => return Some(ipv6_number(s.src.ip())),
        "ipv6.dst" => return Some(ipv6_number(s.dst.ip())),
        "frame.number" => u64::from(e.frame),
        "tcp.srcport" => u64::from(s.src.port()),
        "tcp.dstport" => u64::from(s.dst.port()),
        "tcp.seq" => u64::from(e.rel_seq),
        "tcp.ack" => u64::from(e.rel_ack),
        "tcp.seq_raw" => u64::from(s.seq),
        "tcp.ack_raw" => u64::from(s.ack),
        "tcp.len" => s.len() as u64,
        "tcp.window_size_value" => u64::from(s.window),
        "tcp.flags.syn" => u64::from(f.syn),
        "tcp.flags.ack" => u64::from(f.ack),
        "tcp.flags.fin" => u64::from(f.fin),
        "tcp.flags.reset" => u64::from(f.rst),
        "tcp.flags.push" => u64::from(f.psh),
        "tcp.flags.urg" => u64::from(f.urg),
        _ => return None,
    };
    Some(Some(v.into()))
}

fn parse_term(text: &str) -> Result<Term, FilterError> {
    let ops = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("<=", Op::Le),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    for (sym, op) in ops {
        if let Some((field, value)) = text.split_once(sym) {
            let (field, value) = (field.trim(), value.trim());
            let value = if let Ok(ip) = value.parse::<Ipv4Addr>() {
                u32::from(ip).into()
            } else if let Ok(ip) = value.parse::<Ipv6Addr>() {
                u128::from(ip)
            } else {
                value
                    .parse::<u64>()
                    .map_err(|_| FilterError::BadValue {
                        value: value.to_string(),
                        term: text.to_string(),
                    })?
                    .into()
            };
            return Ok(Term {
                field: field.to_string(),
                op,
                value,
            });
        }
    }
    Err(FilterError::NoOperator(text.to_string()))
}

fn parse(filter: &str) -> Result<Vec<Term>, FilterError> {
    filter.split("&&").map(parse_term).collect()
}

fn eval(terms: &[Term], e: &Entry) -> Result<bool, FilterError> {
    for t in terms {
        let v =
            field_value(&t.field, e).ok_or_else(|| FilterError::UnknownField(t.field.clone()))?;
        let Some(v) = v else {
            return Ok(false);
        };
        let ok = match t.op {
            Op::Eq => v == t.value,
            Op::Ne => v != t.value,
            Op::Gt => v > t.value,
            Op::Ge => v >= t.value,
            Op::Lt => v < t.value,
            Op::Le => v <= t.value,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Evaluates a filter (terms joined by `&&`; fields `frame.number`, `ip.src`, `ip.dst`,
/// `ipv6.src`, `ipv6.dst`,
/// `tcp.srcport`, `tcp.dstport`, `tcp.seq`, `tcp.ack`, `tcp.seq_raw`, `tcp.ack_raw`,
/// `tcp.len`, `tcp.window_size_value`, `tcp.flags.{syn,ack,fin,reset,push,urg}`; operators
/// `== != > >= < <=`) on one segment. Errors name the term it cannot understand.
pub fn filter_matches(filter: &str, entry: &Entry) -> Result<bool, FilterError> {
    eval(&parse(filter)?, entry)
}

/// The frame numbers of the capture's TCP segments that `filter` selects.
pub fn matching_frames(filter: &str, analysis: &Analysis) -> Result<Vec<u32>, FilterError> {
    let terms = parse(filter)?;
    let mut out = Vec::new();
    for e in &analysis.entries {
        if eval(&terms, e)? {
            out.push(e.frame);
        }
    }
    Ok(out)
}

/// The flag terms that describe a segment kind, as on the textbook figure.
fn flag_terms(kind: SegmentKind) -> &'static [&'static str] {
    match kind {
        SegmentKind::Syn => &["tcp.flags.syn == 1", "tcp.flags.ack == 0"],
        SegmentKind::SynAck => &["tcp.flags.syn == 1", "tcp.flags.ack == 1"],
        SegmentKind::DataFin => &["tcp.flags.fin == 1", "tcp.len > 0"],
        SegmentKind::Fin => &["tcp.flags.fin == 1", "tcp.len == 0"],
        SegmentKind::Rst => &["tcp.flags.reset == 1"],
        SegmentKind::Ack => &["tcp.flags.syn == 0", "tcp.flags.fin == 0", "tcp.len == 0"],
        SegmentKind::Data => &["tcp.len > 0", "tcp.flags.fin == 0"],
        SegmentKind::KeepAlive => &["tcp.len <= 1", "tcp.flags.syn == 0", "tcp.flags.fin == 0"],
        SegmentKind::Other => &[],
    }
}

/// Builds a display filter selecting exactly the segment `analysis.entries[index]`: ports and
/// flag terms first, then (only as needed to be unique) IP addresses when the same ports are
/// used between other hosts, the sequence number, the acknowledgment number (only when the
/// ACK bit is set), the length, and
/// last `frame.number`. Relative numbers (`tcp.seq`, `tcp.ack`) unless `absolute`, which uses
/// `tcp.seq_raw` and `tcp.ack_raw`. Returns an empty string for an index out of range.
pub fn wireshark_filter(analysis: &Analysis, index: usize, absolute: bool) -> String {
    let Some(e) = analysis.entries.get(index) else {
        return String::new();
    };
    let s = &e.segment;
    let mut terms: Vec<String> = vec![
        format!("tcp.srcport == {}", s.src.port()),
        format!("tcp.dstport == {}", s.dst.port()),
    ];
    terms.extend(flag_terms(e.kind).iter().map(|t| t.to_string()));
    let matches = |terms: &[String]| -> Vec<&Entry> {
        match parse(&terms.join(" && ")) {
            Ok(parsed) => analysis
                .entries
                .iter()
                .filter(|x| eval(&parsed, x).unwrap_or(false))
                .collect(),
            Err(_) => Vec::new(),
        }
    };
    let found = matches(&terms);
    if found.len() <= 1 {
        return terms.join(" && ");
    }
    if found
        .iter()
        .any(|x| x.segment.src.ip() != s.src.ip() || x.segment.dst.ip() != s.dst.ip())
    {
        let (src, dst) = address_fields(s.src.ip());
        terms.push(format!("{src} == {}", s.src.ip()));
        terms.push(format!("{dst} == {}", s.dst.ip()));
    }
    let (seq_field, ack_field, seq, ack) = if absolute {
        ("tcp.seq_raw", "tcp.ack_raw", s.seq, s.ack)
    } else {
        ("tcp.seq", "tcp.ack", e.rel_seq, e.rel_ack)
    };
    let extra = [
        format!("{seq_field} == {seq}"),
        format!("{ack_field} == {ack}"),
        format!("tcp.len == {}", s.len()),
    ];
    for (n, term) in extra.into_iter().enumerate() {
        if matches(&terms).len() <= 1 {
            break;
        }
        // Wireshark flags an acknowledgment number without the ACK bit; do not filter on it
        if n == 1 && !s.flags.ack {
            continue;
        }
        terms.push(term);
    }
    if matches(&terms).len() > 1 {
        terms.push(format!("frame.number == {}", e.frame));
    }
    terms.join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::classify::analyze;
    use crate::trace::read::Frame;
    use crate::trace::testutil::*;
    use std::time::Duration;

    fn analysis(pkts: Vec<Vec<u8>>) -> Analysis {
        let frames: Vec<Frame> = pkts
            .into_iter()
            .enumerate()
            .map(|(i, data)| raw_frame(i, Duration::from_millis(i as u64), data))
            .collect();
        analyze(&frames)
    }

    #[test]
    fn every_filter_selects_exactly_its_segment() {
        let a = analysis(ftp_session().into_iter().map(|p| p.data).collect());
        for absolute in [false, true] {
            for (i, e) in a.entries.iter().enumerate() {
                let f = wireshark_filter(&a, i, absolute);
                assert_eq!(matching_frames(&f, &a), Ok(vec![e.frame]), "{f}");
                assert!(!f.contains("frame.number"), "{f}");
                assert_eq!(f.contains("_raw"), absolute && f.contains("tcp.seq"), "{f}");
            }
        }
        let syn = a.entries.iter().position(|e| e.segment.src.port() == 20);
        let f = wireshark_filter(&a, syn.unwrap_or(0), false);
        assert_eq!(
            f,
            "tcp.srcport == 20 && tcp.dstport == 5001 && tcp.flags.syn == 1 && tcp.flags.ack == 0"
        );
    }

    /// An IPv6/TCP SYN (no checksum: the analysis does not check it).
    fn syn6(src: &str, dst: &str) -> Vec<u8> {
        let (src, dst): (std::net::SocketAddrV6, std::net::SocketAddrV6) =
            (src.parse().unwrap(), dst.parse().unwrap());
        let mut p = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        p.extend_from_slice(&src.ip().octets());
        p.extend_from_slice(&dst.ip().octets());
        p.extend_from_slice(&src.port().to_be_bytes());
        p.extend_from_slice(&dst.port().to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 0, 0x50, SYN, 0xFF, 0xFF, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn ipv6_hosts_are_told_apart_with_ipv6_fields() {
        let a = analysis(vec![
            syn6("[fd00::1]:20", "[fd00::2]:5001"),
            syn6("[fd00::3]:20", "[fd00::4]:5001"),
            tcp_packet(sa("10.0.0.1:20"), sa("10.0.0.2:5001"), 10, 0, SYN, b""),
        ]);
        let f = wireshark_filter(&a, 1, false);
        assert!(
            f.contains("ipv6.src == fd00::3 && ipv6.dst == fd00::4"),
            "{f}"
        );
        assert_eq!(matching_frames(&f, &a), Ok(vec![2]));
        // An IPv4 term never matches an IPv6 segment, and the other way round.
        assert_eq!(matching_frames("ip.src == 10.0.0.1", &a), Ok(vec![3]));
        assert_eq!(matching_frames("ip.src != 10.0.0.9", &a), Ok(vec![3]));
        assert_eq!(matching_frames("ipv6.dst == fd00::2", &a), Ok(vec![1]));
        assert!(matching_frames("ipv6.dst == nonsense", &a).is_err());
    }

    #[test]
    fn ambiguity_adds_ips_then_numbers_then_frame() {
        // same ports between two host pairs, and an exact duplicate (retransmission)
        let mut x = Conn::new("10.0.0.1:20", "10.0.0.2:5001", 10, 20);
        let mut y = Conn::new("10.0.0.3:20", "10.0.0.4:5001", 10, 20);
        let dup = x.seg(true, SYN, b"");
        let pkts = vec![dup.clone(), y.seg(true, SYN, b""), dup];
        let a = analysis(pkts);
        let f = wireshark_filter(&a, 1, false);
        assert!(
            f.contains("ip.src == 10.0.0.3 && ip.dst == 10.0.0.4"),
            "{f}"
        );
        assert_eq!(matching_frames(&f, &a), Ok(vec![2]));
        let f = wireshark_filter(&a, 0, false);
        assert!(f.ends_with("&& tcp.len == 0 && frame.number == 1"), "{f}");
        assert_eq!(matching_frames(&f, &a), Ok(vec![1]));
    }

    #[test]
    fn evaluator_rejects_unknown_fields() {
        let a = analysis(vec![tcp_packet(
            sa("1.2.3.4:1"),
            sa("5.6.7.8:2"),
            1,
            0,
            SYN,
            b"",
        )]);
        assert_eq!(
            filter_matches("tcp.bogus == 1", &a.entries[0]),
            Err(FilterError::UnknownField("tcp.bogus".into()))
        );
        assert_eq!(
            filter_matches("tcp.srcport", &a.entries[0])
                .unwrap_err()
                .to_string(),
            "no operator in \"tcp.srcport\""
        );
        assert_eq!(
            filter_matches("tcp.srcport == x", &a.entries[0])
                .unwrap_err()
                .to_string(),
            "bad value \"x\" in \"tcp.srcport == x\""
        );
        assert_eq!(filter_matches("tcp.srcport != 2", &a.entries[0]), Ok(true));
        assert_eq!(filter_matches("ip.dst == 5.6.7.8", &a.entries[0]), Ok(true));
    }
}
