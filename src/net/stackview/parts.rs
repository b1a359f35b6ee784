//! # The view's text, kept in parts
//!
//! Layer: network (bookkeeping for captures). The view's text as the capture's writing thread
//! writes it, frame after frame: its head (up to `inflight=`) and tail (from ` rwnd=`) are kept
//! while what they show stays, so a frame costs the bytes in flight and two copies.

use smoltcp::socket::tcp::TcpInfo;

use super::words;
#[cfg(test)]
use super::words::{push_view, reason_words};

/// What the text of a view ([`push_view`]) depends on: equal keys, equal texts. Its head and
/// tail are written apart ([`words::push_head`], [`words::push_tail`]) and kept while their
/// part of the key stays: a sender's segments differ in the bytes in flight alone.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ViewKey {
    head: HeadKey,
    inflight: usize,
    tail: TailKey,
}

/// What the view's head (up to `inflight=`) depends on.
#[derive(Clone, Copy, PartialEq, Eq)]
struct HeadKey {
    cwnd: Option<usize>,
    ssthresh: Option<usize>,
    srtt: Option<smoltcp::time::Duration>,
    rttvar: Option<smoltcp::time::Duration>,
    rto: smoltcp::time::Duration,
}

/// What the view's tail (from ` rwnd=`) depends on.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TailKey {
    rwnd: usize,
    why: Option<smoltcp::socket::tcp::SendReason>,
    /// Only a duplicate ACK's reason names its acknowledgement number.
    ack: Option<u32>,
    /// Only a retransmission by the timer's reason names the timeout.
    rto: Option<smoltcp::time::Duration>,
}

impl ViewKey {
    fn of(info: &TcpInfo, ack: Option<u32>) -> ViewKey {
        use smoltcp::socket::tcp::SendReason as R;
        let dup = matches!(info.last_sent, Some(R::DuplicateAck(_)));
        let timer = matches!(
            info.last_sent,
            Some(R::SynRetransmission(_) | R::SynAckRetransmission(_) | R::RtoRetransmission(_))
        );
        ViewKey {
            head: HeadKey {
                cwnd: info.cwnd,
                ssthresh: info.ssthresh,
                srtt: info.srtt,
                rttvar: info.rttvar,
                rto: info.rto,
            },
            inflight: info.bytes_in_flight,
            tail: TailKey {
                rwnd: info.peer_window,
                why: info.last_sent,
                ack: ack.filter(|_| dup),
                rto: timer.then_some(info.rto),
            },
        }
    }
}

/// The view's head and tail as last written, with what they were written from.
#[derive(Default)]
pub(super) struct Parts {
    head_key: Option<HeadKey>,
    head: String,
    tail_key: Option<TailKey>,
    tail: String,
}

impl Parts {
    /// Appends the view of `info` (as [`push_view`] writes it), writing again only the parts
    /// whose key changed.
    pub(super) fn push(&mut self, comment: &mut String, info: &TcpInfo, ack: Option<u32>) {
        let key = ViewKey::of(info, ack);
        if self.head_key != Some(key.head) {
            self.head.clear();
            words::push_head(&mut self.head, info);
            self.head_key = Some(key.head);
        }
        if self.tail_key != Some(key.tail) {
            self.tail.clear();
            words::push_tail(&mut self.tail, info, ack);
            self.tail_key = Some(key.tail);
        }
        comment.push_str(&self.head);
        words::push_count(comment, key.inflight);
        comment.push_str(&self.tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::socket::tcp::{self, SendReason};
    use smoltcp::time::Duration;

    /// Views of snapshots that differ in what the text does not show: equal keys, equal texts;
    /// and a change in what it shows changes the key.
    #[test]
    fn a_view_is_written_again_only_when_its_key_changes() {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        );
        let base = socket.tcp_info();
        let view = |info: &TcpInfo, ack| {
            let mut text = String::new();
            push_view(&mut text, info, ack);
            text
        };
        for why in [
            None,
            Some(SendReason::AckImmediate),
            Some(SendReason::DuplicateAck(2)),
            Some(SendReason::RtoRetransmission(1)),
        ] {
            let mut a = base;
            a.last_sent = why;
            let mut b = a;
            b.state = tcp::State::CloseWait;
            b.advertised_window += 1460;
            b.dup_acks += 1;
            b.in_fast_recovery = !b.in_fast_recovery;
            b.rto_backoff += 1;
            let dup = matches!(why, Some(SendReason::DuplicateAck(_)));
            for (x, y) in [(Some(1), Some(2)), (None, Some(3)), (Some(4), Some(4))] {
                let same_key = ViewKey::of(&a, x) == ViewKey::of(&b, y);
                assert_eq!(same_key, !dup || x == y, "{why:?} {x:?} {y:?}");
                if same_key {
                    assert_eq!(view(&a, x), view(&b, y));
                }
            }
            let changes: [fn(&mut TcpInfo); 7] = [
                |i| i.cwnd = Some(i.cwnd.unwrap_or(0) + 1),
                |i| i.ssthresh = Some(7),
                |i| i.srtt = Some(Duration::from_millis(3)),
                |i| i.rttvar = Some(Duration::from_millis(3)),
                |i| i.rto += Duration::from_millis(1),
                |i| i.bytes_in_flight += 1,
                |i| i.peer_window += 1,
            ];
            for change in changes {
                let mut c = a;
                change(&mut c);
                assert!(ViewKey::of(&a, None) != ViewKey::of(&c, None));
            }
        }
    }

    /// The view as the formatting machinery writes it (what `push_view` wrote before it laid
    /// its numbers out by hand).
    fn view_by_format(i: &TcpInfo) -> String {
        let opt = |v: Option<usize>, none: &str| v.map_or(none.to_string(), |v| v.to_string());
        let ms = |d: Duration| format!("{:.1}ms", ((d.total_micros() + 50) / 100) as f64 / 10.0);
        let rtt = match (i.srtt, i.rttvar) {
            (Some(s), Some(v)) => format!("srtt={} rttvar={}", ms(s), ms(v)),
            _ => "srtt=- rttvar=-".to_string(),
        };
        let ssthresh = match (i.cwnd, i.ssthresh) {
            (_, Some(s)) => s.to_string(),
            (Some(_), None) => "inf".to_string(),
            (None, None) => "none".to_string(),
        };
        format!(
            "cwnd={} ssthresh={ssthresh} {rtt} rto={}ms inflight={} rwnd={}; why: {}",
            opt(i.cwnd, "none"),
            i.rto.total_millis(),
            i.bytes_in_flight,
            i.peer_window,
            reason_words(i, None)
        )
    }

    #[test]
    fn the_view_is_written_as_the_formatting_machinery_writes_it() {
        let mut i = base();
        i.last_sent = Some(SendReason::NewData);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut text = String::new();
        for round in 0..20_000u64 {
            // Every size of number, from 0 to the largest, and the rounding edges of tenths.
            let size = |r: u64| if r == 0 { 0 } else { r >> (r % 64) };
            i.cwnd = (round % 7 != 0).then(|| size(next()) as usize);
            i.ssthresh = (round % 5 != 0).then(|| size(next()) as usize);
            let micros = |r: u64| match r % 4 {
                0 => (r >> 8) % 100_000 / 100 * 100 + 49 + (r >> 40) % 2,
                // Up to 11 days: a float's tenths are still exact there.
                1 => (r >> (r % 64)) % 1_000_000_000_000,
                _ => (r >> 8) % 10_000_000,
            };
            i.srtt = (round % 3 != 0).then(|| Duration::from_micros(micros(next())));
            i.rttvar = (round % 11 != 0).then(|| Duration::from_micros(micros(next())));
            i.rto = Duration::from_micros(size(next()) >> 1);
            i.bytes_in_flight = size(next()) as usize;
            i.peer_window = size(next()) as usize;
            text.clear();
            push_view(&mut text, &i, None);
            assert_eq!(text, view_by_format(&i), "round {round}");
        }
        let mut last = base();
        last.cwnd = Some(usize::MAX);
        last.ssthresh = Some(usize::MAX);
        last.srtt = Some(Duration::from_micros(u64::MAX - 50));
        last.rttvar = Some(Duration::from_micros(u64::MAX - 50));
        last.rto = Duration::from_micros(u64::MAX);
        last.bytes_in_flight = usize::MAX;
        last.peer_window = usize::MAX;
        text.clear();
        push_view(&mut text, &last, None);
        assert!(text.starts_with("cwnd=18446744073709551615 ssthresh=18446744073709551615"));
        assert!(text.contains(" rwnd=18446744073709551615; why: "));
    }

    /// A fresh socket's snapshot.
    fn base() -> TcpInfo {
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        );
        socket.tcp_info()
    }

    /// Frame after frame, the kept parts give the view `push_view` writes whole, whichever
    /// of its numbers and words change from one frame to the next.
    #[test]
    fn the_kept_parts_give_the_whole_view() {
        let mut parts = Parts::default();
        let mut i = base();
        i.cwnd = Some(2920);
        i.last_sent = Some(SendReason::NewData);
        let mut x: u32 = 12345;
        let reasons = [
            Some(SendReason::NewData),
            Some(SendReason::AckImmediate),
            Some(SendReason::DuplicateAck(1)),
            Some(SendReason::DuplicateAck(2)),
            Some(SendReason::RtoRetransmission(1)),
            None,
        ];
        for round in 0..5_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = x >> 8;
            match r % 10 {
                0 => i.cwnd = i.cwnd.map(|c| c + 1460),
                1 => i.ssthresh = Some((r % 100_000) as usize),
                2 => i.srtt = Some(Duration::from_micros(u64::from(r % 50_000))),
                3 => {
                    i.rttvar =
                        (!r.is_multiple_of(3)).then(|| Duration::from_micros(u64::from(r % 9_000)))
                }
                4 => i.rto = Duration::from_millis(u64::from(r % 4) * 1000 + 200),
                5 => i.peer_window = (r % 70_000) as usize,
                6 => i.last_sent = reasons[(r % 6) as usize],
                _ => i.bytes_in_flight = (r % 1_000_000) as usize,
            }
            let ack = (!r.is_multiple_of(7)).then_some(r % 5);
            let mut whole = String::from("data, 1460 bytes; ");
            push_view(&mut whole, &i, ack);
            let mut kept = String::from("data, 1460 bytes; ");
            parts.push(&mut kept, &i, ack);
            assert_eq!(kept, whole, "round {round}");
        }
    }
}
