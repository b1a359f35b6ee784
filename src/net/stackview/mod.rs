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
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::Socket;
use smoltcp::socket::tcp::{SendReason, TcpInfo};
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;

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

/// The snapshots of one host's sockets, waiting for the frames they describe.
#[derive(Default)]
pub struct StackView {
    /// Initial window of new sockets, in segments (`None`: smoltcp's RFC 5681 bound).
    pub initial_window: Option<usize>,
    log: Option<StackLog>,
    /// Per socket, the snapshots of the segments it sent in this poll, oldest first.
    sent: BTreeMap<SocketHandle, VecDeque<TcpInfo>>,
    /// Per socket, the last snapshot seen (congestion events are told by comparing).
    last: BTreeMap<SocketHandle, TcpInfo>,
    /// Snapshots that found no frame (a device that dropped a frame before the capture).
    pub unmatched: u64,
    /// Per socket, the acknowledgement number of the first segment it sent with ACK set: the
    /// peer's ISN + 1, from which acknowledgement numbers count as Wireshark shows them.
    first_ack: BTreeMap<SocketHandle, u32>,
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

    /// Keeps `info`, the snapshot of a segment `handle` just sent.
    pub fn push(&mut self, handle: SocketHandle, info: TcpInfo) {
        self.sent.entry(handle).or_default().push_back(info);
    }

    /// Makes every TCP socket of `sockets` keep a snapshot per segment sent.
    pub fn keep_snapshots(&self, sockets: &mut SocketSet<'_>) {
        for (_, socket) in sockets.iter_mut() {
            #[allow(irrefutable_let_patterns)]
            if let Socket::Tcp(socket) = socket {
                socket.set_sent_info_log(true);
            }
        }
    }

    /// After a poll of host `host`: takes the snapshots of the segments each socket sent, and
    /// logs the congestion events between them (`ends` names a socket's connection).
    pub fn collect(
        &mut self,
        host: &str,
        sockets: &mut SocketSet<'_>,
        ends: impl Fn(SocketHandle) -> (Option<IpEndpoint>, Option<IpEndpoint>),
    ) {
        let events = log::log_enabled!(target: "smolftp::tcp", log::Level::Info);
        for (handle, socket) in sockets.iter_mut() {
            #[allow(irrefutable_let_patterns)]
            let Socket::Tcp(socket) = socket else {
                continue;
            };
            for info in socket.drain_sent_info() {
                if events {
                    self.observe(host, handle, ends(handle), &info);
                }
                self.push(handle, info);
            }
            if events {
                self.observe(host, handle, ends(handle), &socket.tcp_info());
            }
        }
    }

    /// Compares `info` with the last snapshot of `handle` and logs the congestion events
    /// between them, naming the connection `local -> remote` of host `host`.
    pub fn observe(
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
        self.sent.remove(&handle);
        self.last.remove(&handle);
        self.first_ack.remove(&handle);
    }

    /// The acknowledgement number `ack` of a segment `handle` sent, relative to the peer's ISN
    /// as Wireshark shows it (1 acknowledges the SYN). `syn`: the segment is a SYN (a new
    /// connection on this socket starts the count again).
    pub fn relative_ack(&mut self, handle: SocketHandle, syn: bool, ack: Option<u32>) -> u32 {
        let Some(ack) = ack else {
            if syn {
                self.first_ack.remove(&handle);
            }
            return 0;
        };
        if syn {
            self.first_ack.insert(handle, ack);
        }
        let first = *self.first_ack.entry(handle).or_insert(ack);
        ack.wrapping_sub(first).wrapping_add(1)
    }

    /// The snapshot for a frame `handle` sent, whose RST flag is `rst`: the oldest kept, unless
    /// it cannot be this frame's (smoltcp answers some bad segments with a RST of its own that
    /// no snapshot describes).
    pub fn take(&mut self, handle: SocketHandle, rst: bool) -> Option<TcpInfo> {
        let queue = self.sent.get_mut(&handle)?;
        let front = queue.front()?;
        if (front.last_sent == Some(SendReason::Rst)) != rst {
            return None;
        }
        queue.pop_front()
    }

    /// Drops the snapshots no frame took (end of a poll); with `log` and no capture, each
    /// becomes a line without a frame number.
    pub fn finish_poll(&mut self, now: Instant, ends: impl Fn(SocketHandle) -> Option<Ends>) {
        if let Some(log) = &self.log {
            log.end_of_poll();
        }
        for (handle, queue) in &mut self.sent {
            if queue.is_empty() {
                continue;
            }
            match (&self.log, ends(*handle)) {
                (Some(log), Some((src, dst))) => {
                    let first = *log.inner.borrow_mut().first.get_or_insert(now);
                    for info in queue.drain(..) {
                        write_line(
                            log,
                            &Sent {
                                t: seconds(now, first),
                                frame: None,
                                src,
                                dst,
                                ack: None,
                                info: &info,
                            },
                        );
                    }
                }
                _ => {
                    self.unmatched += queue.len() as u64;
                    queue.clear();
                }
            }
        }
    }

    /// Appends the view of `sent` to a frame's comment and writes its stack log line.
    pub fn tell(&self, sent: &Sent, comment: &mut String) {
        if !comment.is_empty() {
            comment.push_str("; ");
        }
        push_view(comment, sent.info, sent.ack);
        if let Some(log) = &self.log {
            write_line(log, sent);
        }
    }
}

/// A connection's source and destination, as the stack log writes them.
pub type Ends = (SocketAddr, SocketAddr);

/// Seconds from `first` to `t`.
pub fn seconds(t: Instant, first: Instant) -> f64 {
    (t - first).total_micros() as f64 / 1e6
}

fn write_line(log: &StackLog, sent: &Sent) {
    log.line(&json_line(sent));
}
