//! The snapshots of the segments our stacks sent, waiting for their frames: found by the
//! segment's header when its frame is recorded. This runs twice per frame of a capture (a push
//! after the sender's poll, a take when the frame is explained), so it is built to cost no
//! allocation and one hash lookup per step in a transfer, where each segment is sent once and
//! recorded in the order it was sent: the snapshots wait in the send order, and the map from a
//! header holds only their numbers.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use smoltcp::socket::tcp::TcpInfo;
use smoltcp::time::Instant;

/// What names a segment on the wire: source, destination, sequence and acknowledgement
/// numbers (0 without ACK), payload length. Laid out as plain numbers, so comparing and hashing
/// one (twice per frame) is a few integer operations, not a match on each address's family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Key {
    /// The source and destination addresses (an IPv4 address in the low 32 bits).
    ips: [u128; 2],
    /// The sequence number (high half) and the acknowledgement number (low half).
    numbers: u64,
    /// The payload length.
    len: u64,
    /// The source port (bits 32..48), the destination port (16..32), and which of the two
    /// addresses are IPv6 (bits 1 and 0).
    ends: u64,
    /// An IPv6 address's flow label and scope (zero for IPv4): part of what tells ends apart.
    v6: u128,
}

/// An address as the key holds it: its bits, whether it is IPv6, and its IPv6 flow label and
/// scope.
fn parts(addr: SocketAddr) -> (u128, u64, u64) {
    match addr {
        SocketAddr::V4(a) => (u128::from(a.ip().to_bits()), 0, 0),
        SocketAddr::V6(a) => (
            a.ip().to_bits(),
            1,
            u64::from(a.flowinfo()) << 32 | u64::from(a.scope_id()),
        ),
    }
}

impl Key {
    /// The key of a segment from `src` to `dst`.
    pub(super) fn new(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, len: usize) -> Key {
        let (src_ip, src_v6, src_more) = parts(src);
        let (dst_ip, dst_v6, dst_more) = parts(dst);
        Key {
            ips: [src_ip, dst_ip],
            numbers: u64::from(seq) << 32 | u64::from(ack),
            len: len as u64,
            ends: u64::from(src.port()) << 32 | u64::from(dst.port()) << 16 | src_v6 << 1 | dst_v6,
            v6: u128::from(src_more) << 64 | u128::from(dst_more),
        }
    }
}

/// Hashed as three words: the numbers, the length and ports, and the addresses' low halves
/// (where hosts of one network differ); equal keys hash alike, as the rest is left out.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.numbers);
        state.write_u64(self.len << 48 ^ self.ends);
        state.write_u64(self.ips[0] as u64 ^ (self.ips[1] as u64).rotate_left(32));
    }
}

/// Snapshots kept before the frame they describe is recorded at most this many segments ago.
const KEEP: usize = 1 << 16;

/// A multiply-rotate hash (as rustc's FxHash) for the per-frame lookups: the keys are our own
/// segments' headers, not input to defend against, and SipHash cost a few % of a bulk transfer.
#[derive(Default, Clone, Copy)]
pub(super) struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(n.into());
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(n.into());
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// A segment sent, in the send order: its header, when it was sent, and its snapshot until a
/// frame takes it (or it is dropped: then `None`, settled).
struct Sent {
    key: Key,
    sent: Instant,
    info: Option<TcpInfo>,
}

/// The numbers (in the send order) of the snapshots waiting under one header, oldest first:
/// nearly always one, more when a segment was sent again alike.
struct Numbers {
    first: u64,
    more: Vec<u64>,
}

/// The snapshots of the segments our stacks sent, waiting for their frames. Shared by the
/// hosts of one capture: a tap may record a frame in another host's poll than its sender's
/// (when it arrives), and find its snapshot by the segment's header.
#[derive(Default)]
pub struct Snapshots {
    /// Per segment header, the numbers of its snapshots waiting.
    pending: FxMap<Key, Numbers>,
    /// The segments in the order they were sent, from number `first` on.
    order: VecDeque<Sent>,
    /// The number of `order`'s front.
    first: u64,
    /// The number of the next snapshot.
    next: u64,
    /// Per connection (source, destination), the acknowledgement number of the first segment
    /// with ACK: the peer's ISN + 1, from which acknowledgement numbers count as Wireshark
    /// shows them.
    first_ack: FxMap<(SocketAddr, SocketAddr), u32>,
    /// The last two answers of `first_ack` (a transfer asks for its two directions in turn).
    recent_ack: [Option<((SocketAddr, SocketAddr), u32)>; 2],
    /// Snapshots that found no frame (a frame lost before the tap).
    pub(super) unmatched: u64,
    /// The snapshot of the TSO send whose pieces are being told (each piece of the send gets
    /// its view; see [`crate::link::tso`]).
    pub(super) cut: Option<(Key, TcpInfo)>,
}

impl Snapshots {
    /// Keeps the snapshot `info` of the segment `key`, sent at `sent`.
    pub(super) fn push(&mut self, key: Key, sent: Instant, info: TcpInfo) {
        let n = self.next;
        self.next += 1;
        self.order.push_back(Sent {
            key,
            sent,
            info: Some(info),
        });
        match self.pending.entry(key) {
            Entry::Occupied(mut e) => e.get_mut().more.push(n),
            Entry::Vacant(e) => {
                e.insert(Numbers {
                    first: n,
                    more: Vec::new(),
                });
            }
        }
        self.forget_settled();
        while self.order.len() > KEEP {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            let n = self.first;
            self.first += 1;
            if oldest.info.is_none() {
                continue;
            }
            self.unmatched += 1;
            // The oldest of all is the oldest of its header.
            if let Some(numbers) = self.pending.get_mut(&oldest.key)
                && numbers.first == n
            {
                if numbers.more.is_empty() {
                    self.pending.remove(&oldest.key);
                } else {
                    numbers.first = numbers.more.remove(0);
                }
            }
        }
    }

    /// Drops the front of `order` while its snapshots are settled.
    fn forget_settled(&mut self) {
        while self.order.front().is_some_and(|s| s.info.is_none()) {
            self.order.pop_front();
            self.first += 1;
        }
    }

    /// The entry of snapshot `n` in `order`.
    fn sent(&mut self, n: u64) -> Option<&mut Sent> {
        let i = n.checked_sub(self.first)?;
        self.order.get_mut(usize::try_from(i).ok()?)
    }

    /// The snapshot of the segment `key` recorded at `time`: the first of those sent in the
    /// last poll that sent it by then (one poll may send alike segments, e.g. duplicate ACKs).
    /// A segment sent again alike later (a retransmission) has the same header; the copies
    /// sent in earlier polls that no frame took were lost before the tap, and are dropped.
    pub(super) fn take(&mut self, key: &Key, time: Instant) -> Option<TcpInfo> {
        let numbers = self.pending.remove(key)?;
        if numbers.more.is_empty() {
            // One snapshot under this header (nearly always).
            let n = numbers.first;
            let sent = self.sent(n).filter(|s| s.sent <= time);
            let Some(sent) = sent else {
                self.pending.insert(*key, numbers);
                return None;
            };
            let info = sent.info.take();
            self.forget_settled();
            return info;
        }
        let all: Vec<u64> = std::iter::once(numbers.first)
            .chain(numbers.more.iter().copied())
            .collect();
        let times: Vec<Option<Instant>> =
            all.iter().map(|&n| self.sent(n).map(|s| s.sent)).collect();
        let found = times
            .iter()
            .rposition(|t| t.is_some_and(|t| t <= time))
            .and_then(|last| times.iter().position(|t| *t == times[last]));
        let Some(i) = found else {
            self.pending.insert(*key, numbers);
            return None;
        };
        self.unmatched += i as u64;
        let mut info = None;
        for &n in &all[..=i] {
            info = self.sent(n).and_then(|s| s.info.take());
        }
        if let Some((&first, more)) = all[i + 1..].split_first() {
            let numbers = Numbers {
                first,
                more: more.to_vec(),
            };
            self.pending.insert(*key, numbers);
        }
        self.forget_settled();
        info
    }

    /// The acknowledgement number `ack` (if ACK is set) of a segment from `src` to `dst`,
    /// relative to the peer's ISN; `syn`: the segment is a SYN (a new connection starts the
    /// count again).
    pub(super) fn relative_ack(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        syn: bool,
        ack: Option<u32>,
    ) -> Option<u32> {
        let ends = (src, dst);
        if syn {
            self.first_ack.remove(&ends);
            self.recent_ack = [None, None];
        }
        let ack = ack?;
        let first = match self.recent_ack.iter().flatten().find(|(e, _)| *e == ends) {
            Some((_, first)) => *first,
            None => {
                let first = *self.first_ack.entry(ends).or_insert(ack);
                self.recent_ack = [Some((ends, first)), self.recent_ack[0]];
                first
            }
        };
        Some(ack.wrapping_sub(first).wrapping_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "10.0.0.1:20";
    const DST: &str = "10.0.0.2:5001";

    fn key(seq: u32) -> Key {
        Key::new(
            SRC.parse().expect("addr"),
            DST.parse().expect("addr"),
            seq,
            1,
            1460,
        )
    }

    /// A fresh socket's snapshot, told apart by its cwnd.
    fn info(cwnd: usize) -> TcpInfo {
        use smoltcp::socket::tcp;
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        );
        let mut info = socket.tcp_info();
        info.cwnd = Some(cwnd);
        info
    }

    fn at(ms: i64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn each_frame_takes_its_own_snapshot_in_order() {
        let mut s = Snapshots::default();
        for i in 0..10 {
            s.push(key(i), at(1), info(i as usize));
        }
        for i in 0..10 {
            assert_eq!(
                s.take(&key(i), at(1)).and_then(|x| x.cwnd),
                Some(i as usize)
            );
        }
        assert_eq!(s.take(&key(0), at(1)), None);
        assert_eq!((s.unmatched, s.order.len(), s.pending.len()), (0, 0, 0));
    }

    #[test]
    fn a_retransmission_takes_the_copy_of_its_poll_and_drops_the_lost_one() {
        let mut s = Snapshots::default();
        s.push(key(7), at(1), info(1));
        s.push(key(8), at(1), info(2));
        // Sent again alike at 5 (the first copy never reached the tap).
        s.push(key(7), at(5), info(3));
        // Not sent by 0: nothing to take.
        assert_eq!(s.take(&key(7), at(0)), None);
        assert_eq!(s.take(&key(8), at(1)).and_then(|x| x.cwnd), Some(2));
        assert_eq!(s.take(&key(7), at(5)).and_then(|x| x.cwnd), Some(3));
        assert_eq!(s.unmatched, 1);
        assert!(s.order.is_empty() && s.pending.is_empty());
    }

    #[test]
    fn alike_segments_of_one_poll_go_to_their_frames_in_turn() {
        let mut s = Snapshots::default();
        s.push(key(3), at(2), info(10));
        s.push(key(3), at(2), info(11));
        assert_eq!(s.take(&key(3), at(2)).and_then(|x| x.cwnd), Some(10));
        assert_eq!(s.take(&key(3), at(2)).and_then(|x| x.cwnd), Some(11));
        assert_eq!(s.unmatched, 0);
    }

    #[test]
    fn snapshots_never_recorded_are_forgotten_past_the_bound() {
        let mut s = Snapshots::default();
        s.push(key(0), at(1), info(0));
        for i in 1..=KEEP as u32 + 10 {
            s.push(key(i), at(1), info(1));
            assert!(s.take(&key(i), at(1)).is_some());
        }
        assert_eq!(s.unmatched, 1);
        assert!(s.pending.is_empty());
        assert!(s.order.len() <= KEEP);
    }

    /// Two keys are equal exactly when their segments' addresses (family, flow label and
    /// scope included), ports, numbers and lengths are.
    #[test]
    fn keys_are_equal_when_their_headers_are() {
        let addrs: Vec<SocketAddr> = [
            "10.0.0.1:20",
            "10.0.0.1:21",
            "10.0.0.2:20",
            "[::a00:1]:20",
            "[::ffff:10.0.0.1]:20",
            "[fd00::1]:20",
            "[fd00::1%3]:20",
            "[fd00::2]:20",
        ]
        .iter()
        .map(|a| a.parse().expect("addr"))
        .chain([SocketAddr::V6(std::net::SocketAddrV6::new(
            "fd00::1".parse().expect("ip"),
            20,
            7,
            0,
        ))])
        .collect();
        let numbers = [
            (0, 0, 0),
            (1, 0, 0),
            (0, 1, 0),
            (0, 0, 1),
            (1 << 31, 5, 1460),
        ];
        let mut headers = Vec::new();
        for &src in &addrs {
            for &dst in &addrs[..3] {
                for &(seq, ack, len) in &numbers {
                    headers.push((src, dst, seq, ack, len));
                    headers.push((dst, src, seq, ack, len));
                }
            }
        }
        for a in &headers {
            for b in &headers {
                let (ka, kb) = (
                    Key::new(a.0, a.1, a.2, a.3, a.4),
                    Key::new(b.0, b.1, b.2, b.3, b.4),
                );
                assert_eq!(ka == kb, a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn acknowledgement_numbers_count_from_the_first() {
        let mut s = Snapshots::default();
        let (a, b) = (SRC.parse().expect("addr"), DST.parse().expect("addr"));
        assert_eq!(s.relative_ack(a, b, true, None), None);
        assert_eq!(s.relative_ack(a, b, false, Some(1000)), Some(1));
        assert_eq!(s.relative_ack(b, a, false, Some(50)), Some(1));
        assert_eq!(s.relative_ack(a, b, false, Some(2460)), Some(1461));
        assert_eq!(s.relative_ack(b, a, false, Some(51)), Some(2));
        // A new connection on the same ends starts again.
        assert_eq!(s.relative_ack(a, b, true, Some(7)), Some(1));
    }
}
