//! # The stack's own view of each frame it sends
//!
//! Layer: network (bookkeeping for captures). What only our own TCP knows, taken from the
//! patched smoltcp's per-segment `TcpInfo` snapshots (vendor/patches/0002-tcp-info.patch): the
//! congestion window, slow start threshold, RTT estimate, RTO, bytes in flight, the peer's
//! window, and why the segment was sent. [`StackView`] keeps the snapshots of one poll per
//! socket and hands each to the frame it describes: appended to the frame's comment
//! (`cwnd=5840 ssthresh=inf srtt=2.0ms rttvar=1.0ms rto=1000ms inflight=2920 rwnd=65535; why:
//! new data`) and written as one JSON line to the stack log (`--stack-log`). It also logs the
//! congestion events it sees between snapshots (target `smolftp::tcp`, level info): slow start
//! to congestion avoidance, fast recovery entered and left, RTO with backoff.

mod words;

pub use words::{congestion_events, json_line, push_view, reason_words};

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use smoltcp::socket::tcp;
use smoltcp::socket::tcp::TcpInfo;
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;

use crate::link::PendingFrame;
use crate::net::host::SocketHandle;
use crate::trace::Segment;

/// Where the stack log goes: JSON Lines, one object per frame sent by a stack we own. Cloning
/// gives another handle to the same file (the two hosts of a lab share one).
#[derive(Clone)]
pub struct StackLog {
    inner: Rc<RefCell<LogInner>>,
}

struct LogInner {
    out: BufWriter<Box<dyn Write>>,
    /// Without a capture: the time of the first line, which `t` counts from.
    first: Option<Instant>,
    /// Flush after each poll that wrote (a long-running server's log is read as it runs).
    flush_each: bool,
    /// Something was written since the last flush.
    dirty: bool,
    error: Option<io::Error>,
}

impl StackLog {
    /// A stack log written to `path` (created or truncated).
    pub fn create(path: &Path) -> io::Result<StackLog> {
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write the stack log {}: {e}", path.display()),
            )
        })?;
        Ok(StackLog::to_writer(Box::new(file)))
    }

    /// A stack log written to `out`.
    pub fn to_writer(out: Box<dyn Write>) -> StackLog {
        StackLog {
            inner: Rc::new(RefCell::new(LogInner {
                out: BufWriter::new(out),
                first: None,
                flush_each: false,
                dirty: false,
                error: None,
            })),
        }
    }

    /// Flushes the log after every poll that wrote to it.
    pub fn set_flush_each(&self, on: bool) {
        self.inner.borrow_mut().flush_each = on;
    }

    /// At the end of a poll: flushes if asked to.
    fn end_of_poll(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.flush_each && inner.dirty && inner.error.is_none() {
            inner.dirty = false;
            if let Err(e) = inner.out.flush() {
                inner.error = Some(e);
            }
        }
    }

    /// Writes what is buffered; returns the first error met while writing, if any.
    pub fn flush(&self) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        inner.out.flush()
    }

    fn line(&self, text: &str) {
        let mut inner = self.inner.borrow_mut();
        inner.dirty = true;
        if inner.error.is_none()
            && let Err(e) = inner.out.write_all(text.as_bytes())
        {
            inner.error = Some(e);
        }
    }
}

/// One frame's sender, as the stack log names it.
pub struct Sent<'a> {
    /// Seconds since the capture's first frame.
    pub t: f64,
    /// The frame's number in the capture, if there is one.
    pub frame: Option<u64>,
    /// Source and destination.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// The acknowledgement number, relative to the peer's ISN (named by duplicate ACKs);
    /// `None` when no frame is at hand.
    pub ack: Option<u32>,
    /// The snapshot.
    pub info: &'a TcpInfo,
}

/// What names a segment on the wire: source, destination, sequence and acknowledgement
/// numbers (0 without ACK), payload length.
type Key = (SocketAddr, SocketAddr, u32, u32, usize);

/// Snapshots kept before the frame they describe is recorded at most this many segments ago.
const KEEP: usize = 1 << 16;

/// A multiply-rotate hash (as rustc's FxHash) for the per-frame lookups: the keys are our own
/// segments' headers, not input to defend against, and SipHash cost a few % of a bulk transfer.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
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

/// The snapshots of the segments our stacks sent, waiting for their frames. Shared by the
/// hosts of one capture: a tap may record a frame in another host's poll than its sender's
/// (when it arrives), and find its snapshot by the segment's header.
#[derive(Default)]
pub struct Snapshots {
    /// Per segment, its snapshots (a segment sent twice alike has two), oldest first, each
    /// with its number in `order` and the time it was sent.
    pending: FxMap<Key, VecDeque<(u64, Instant, TcpInfo)>>,
    /// The segments in the order they were sent, to forget those never recorded.
    order: VecDeque<(u64, Key)>,
    /// The number of the next snapshot.
    next: u64,
    /// Per connection (source, destination), the acknowledgement number of the first segment
    /// with ACK: the peer's ISN + 1, from which acknowledgement numbers count as Wireshark
    /// shows them.
    first_ack: FxMap<(SocketAddr, SocketAddr), u32>,
    /// Snapshots that found no frame (a frame lost before the tap).
    unmatched: u64,
    /// The snapshot of the TSO send whose pieces are being told (each piece of the send gets
    /// its view; see [`crate::link::tso`]).
    cut: Option<(Key, TcpInfo)>,
}

impl Snapshots {
    fn push(&mut self, key: Key, sent: Instant, info: TcpInfo) {
        let n = self.next;
        self.next += 1;
        self.pending
            .entry(key)
            .or_default()
            .push_back((n, sent, info));
        self.order.push_back((n, key));
        while self.order.len() > KEEP {
            let Some((n, key)) = self.order.pop_front() else {
                break;
            };
            if let Some(queue) = self.pending.get_mut(&key)
                && queue.front().is_some_and(|(m, _, _)| *m == n)
            {
                queue.pop_front();
                self.unmatched += 1;
                if queue.is_empty() {
                    self.pending.remove(&key);
                }
            }
        }
    }

    /// The snapshot of the segment `key` recorded at `time`: the first of those sent in the
    /// last poll that sent it by then (one poll may send alike segments, e.g. duplicate ACKs).
    /// A segment sent again alike later (a retransmission) has the same header; the copies
    /// sent in earlier polls that no frame took were lost before the tap, and are dropped.
    fn take(&mut self, key: &Key, time: Instant) -> Option<TcpInfo> {
        let queue = self.pending.get_mut(key)?;
        let last = queue.iter().rposition(|(_, sent, _)| *sent <= time)?;
        let when = queue[last].1;
        let i = queue.iter().position(|(_, sent, _)| *sent == when)?;
        let (_, _, info) = queue.remove(i)?;
        self.unmatched += i as u64;
        queue.drain(..i);
        if queue.is_empty() {
            self.pending.remove(key);
        }
        Some(info)
    }

    /// The acknowledgement number `ack` (if ACK is set) of a segment from `src` to `dst`,
    /// relative to the peer's ISN; `syn`: the segment is a SYN (a new connection starts the
    /// count again).
    fn relative_ack(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        syn: bool,
        ack: Option<u32>,
    ) -> Option<u32> {
        if syn {
            self.first_ack.remove(&(src, dst));
        }
        let ack = ack?;
        let first = *self.first_ack.entry((src, dst)).or_insert(ack);
        Some(ack.wrapping_sub(first).wrapping_add(1))
    }
}

/// One host's part of the stack view: its sockets' snapshots go to the shared [`Snapshots`],
/// its congestion events to the log.
#[derive(Default)]
pub struct StackView {
    /// Initial window of new sockets, in segments (`None`: smoltcp's RFC 5681 bound).
    pub initial_window: Option<usize>,
    log: Option<StackLog>,
    shared: Rc<RefCell<Snapshots>>,
    /// Per socket, the last snapshot seen (congestion events are told by comparing).
    last: BTreeMap<SocketHandle, TcpInfo>,
}

impl StackView {
    /// Writes a line per frame sent to `log`.
    pub fn set_log(&mut self, log: StackLog) {
        self.log = Some(log);
    }

    /// The stack log, if there is one.
    pub fn log(&self) -> Option<&StackLog> {
        self.log.as_ref()
    }

    /// The snapshots this view puts its sockets' in (give them to the other hosts of the same
    /// capture with [`StackView::set_shared`]).
    pub fn shared(&self) -> Rc<RefCell<Snapshots>> {
        self.shared.clone()
    }

    /// Puts the snapshots in `shared`, with those of the other hosts of the same capture.
    pub fn set_shared(&mut self, shared: Rc<RefCell<Snapshots>>) {
        self.shared = shared;
    }

    /// Snapshots that found no frame.
    pub fn unmatched(&self) -> u64 {
        self.shared.borrow().unmatched
    }

    /// Makes every TCP socket of `sockets` keep a snapshot per segment sent.
    pub fn keep_snapshots<'a, 'b: 'a>(
        &self,
        sockets: impl Iterator<Item = &'a mut tcp::Socket<'b>>,
    ) {
        for socket in sockets {
            socket.set_sent_info_log(true);
        }
    }

    /// After a poll of host `host` at `now`: takes the snapshots of the segments each socket
    /// sent, to wait for their frames (`recorded`) or, without a capture, to go to the stack
    /// log at once; logs the congestion events between them (`ends` names a socket's
    /// connection).
    pub fn collect<'a, 'b: 'a>(
        &mut self,
        host: &str,
        sockets: impl Iterator<Item = (SocketHandle, &'a mut tcp::Socket<'b>)>,
        ends: impl Fn(SocketHandle) -> (Option<IpEndpoint>, Option<IpEndpoint>),
        recorded: bool,
        now: Instant,
    ) {
        let events = log::log_enabled!(target: "smolftp::tcp", log::Level::Info);
        for (handle, socket) in sockets {
            let (local, remote) = ends(handle);
            for sent in socket.drain_sent_info() {
                if events {
                    self.observe(host, handle, (local, remote), &sent.info);
                }
                let (Some(src), Some(dst)) = (local, remote) else {
                    continue;
                };
                let (src, dst) = (SocketAddr::from(src), SocketAddr::from(dst));
                if recorded {
                    let ack = sent.ack.map_or(0, |a| a.0 as u32);
                    let key = (src, dst, sent.seq.0 as u32, ack, sent.payload_len);
                    self.shared.borrow_mut().push(key, now, sent.info);
                } else if let Some(log) = &self.log {
                    let first = *log.inner.borrow_mut().first.get_or_insert(now);
                    let line = Sent {
                        t: seconds(now, first),
                        frame: None,
                        src,
                        dst,
                        ack: None,
                        info: &sent.info,
                    };
                    write_line(log, &line);
                }
            }
            if events {
                self.observe(host, handle, (local, remote), &socket.tcp_info());
            }
        }
        if let Some(log) = &self.log {
            log.end_of_poll();
        }
    }

    /// Compares `info` with the last snapshot of `handle` and logs the congestion events
    /// between them, naming the connection `local -> remote` of host `host`.
    fn observe(
        &mut self,
        host: &str,
        handle: SocketHandle,
        ends: (Option<IpEndpoint>, Option<IpEndpoint>),
        info: &TcpInfo,
    ) {
        if let Some(before) = self.last.insert(handle, *info) {
            for event in congestion_events(&before, info) {
                match ends {
                    (Some(l), Some(r)) => {
                        log::info!(target: "smolftp::tcp", "{host}: {l} -> {r}: {event}")
                    }
                    _ => log::info!(target: "smolftp::tcp", "{host}: {event}"),
                }
            }
        }
    }

    /// Forgets a socket.
    pub fn forget(&mut self, handle: SocketHandle) {
        self.last.remove(&handle);
    }

    /// If one of our stacks sent `frame`, appends its view to the frame's comment and writes
    /// its stack log line.
    pub fn tell(&self, frame: &PendingFrame, comment: &mut String) {
        let Some(seg) = Segment::borrow_ip(frame.data) else {
            return;
        };
        let ack = if seg.flags.ack { seg.ack } else { 0 };
        let mut shared = self.shared.borrow_mut();
        // A frame cut from one TSO send carries that send's view, found by the send's header.
        let info = match frame.tso.filter(|p| p.count > 1) {
            Some(p) => {
                let key = (seg.src, seg.dst, p.seq, ack, p.payload);
                if p.index == 0 {
                    shared.cut = shared.take(&key, frame.time).map(|info| (key, info));
                }
                shared.cut.filter(|(k, _)| *k == key).map(|(_, info)| info)
            }
            None => {
                let key = (seg.src, seg.dst, seg.seq, ack, seg.payload.len());
                shared.take(&key, frame.time)
            }
        };
        let Some(info) = info else {
            return;
        };
        let ack = shared.relative_ack(
            seg.src,
            seg.dst,
            seg.flags.syn,
            seg.flags.ack.then_some(seg.ack),
        );
        drop(shared);
        let sent = Sent {
            t: seconds(frame.time, frame.first),
            frame: Some(frame.number),
            src: seg.src,
            dst: seg.dst,
            ack,
            info: &info,
        };
        if !comment.is_empty() {
            comment.push_str("; ");
        }
        push_view(comment, sent.info, sent.ack);
        if let Some(log) = &self.log {
            write_line(log, &sent);
        }
    }
}

/// Seconds from `first` to `t`.
pub fn seconds(t: Instant, first: Instant) -> f64 {
    (t - first).total_micros() as f64 / 1e6
}

fn write_line(log: &StackLog, sent: &Sent) {
    log.line(&json_line(sent));
}
