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

mod parts;
mod snapshots;
mod words;

use parts::Parts;
use snapshots::Key;
pub use snapshots::Snapshots;

pub use words::{congestion_events, json_line, push_view, reason_words};

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use smoltcp::socket::tcp;
use smoltcp::socket::tcp::TcpInfo;
use smoltcp::time::Instant;
use smoltcp::wire::IpEndpoint;

use crate::link::PendingFrame;
use crate::link::Recorder;
use crate::link::recorder::{ExplainerId, SentNotes};
use crate::net::host::SocketHandle;
use crate::trace::Segment;

/// Where the stack log goes: JSON Lines, one object per frame sent by a stack we own. Cloning
/// gives another handle to the same file (the two hosts of a lab share one, and with a capture
/// its lines are written on the capture's writing thread).
#[derive(Clone)]
pub struct StackLog {
    inner: Arc<Mutex<LogInner>>,
}

struct LogInner {
    out: BufWriter<Box<dyn Write + Send>>,
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
    pub fn to_writer(out: Box<dyn Write + Send>) -> StackLog {
        StackLog {
            inner: Arc::new(Mutex::new(LogInner {
                out: BufWriter::new(out),
                first: None,
                flush_each: false,
                dirty: false,
                error: None,
            })),
        }
    }

    /// The log, locked (a panic elsewhere while it was held leaves it as it was).
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes the log after every poll that wrote to it.
    pub fn set_flush_each(&self, on: bool) {
        self.lock().flush_each = on;
    }

    /// Whether it is flushed after every poll that wrote to it (it is read as it is written).
    pub fn flushes_each(&self) -> bool {
        self.lock().flush_each
    }

    /// At the end of a poll: flushes if asked to.
    fn end_of_poll(&self) {
        let mut inner = self.lock();
        if inner.flush_each && inner.dirty && inner.error.is_none() {
            inner.dirty = false;
            if let Err(e) = inner.out.flush() {
                inner.error = Some(e);
            }
        }
    }

    /// Writes what is buffered; returns the first error met while writing, if any.
    pub fn flush(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        inner.out.flush()
    }

    fn line(&self, text: &str) {
        let mut inner = self.lock();
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

/// One host's part of the stack view: its sockets' snapshots go to the shared [`Snapshots`],
/// its congestion events to the log.
#[derive(Default)]
pub struct StackView {
    /// Initial window of new sockets, in segments (`None`: smoltcp's RFC 5681 bound).
    pub initial_window: Option<usize>,
    log: Option<StackLog>,
    shared: Arc<Mutex<Snapshots>>,
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
    pub fn shared(&self) -> Arc<Mutex<Snapshots>> {
        self.shared.clone()
    }

    /// Puts the snapshots in `shared`, with those of the other hosts of the same capture.
    pub fn set_shared(&mut self, shared: Arc<Mutex<Snapshots>>) {
        self.shared = shared;
    }

    /// Snapshots that found no frame.
    pub fn unmatched(&self) -> u64 {
        lock(&self.shared).unmatched
    }

    /// What tells each recorded frame its view, on the capture's writing thread.
    pub fn teller(&self) -> ViewTeller {
        ViewTeller {
            shared: self.shared.clone(),
            log: self.log.clone(),
            parts: Parts::default(),
        }
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
    /// sent, to wait for their frames (`recorded`: handed to the capture's writing thread, for
    /// that explainer) or, without a capture, to go to the stack log at once; logs the
    /// congestion events between them (`ends` names a socket's connection).
    pub fn collect<'a, 'b: 'a>(
        &mut self,
        host: &str,
        sockets: impl Iterator<Item = (SocketHandle, &'a mut tcp::Socket<'b>)>,
        ends: impl Fn(SocketHandle) -> (Option<IpEndpoint>, Option<IpEndpoint>),
        recorded: Option<(&Recorder, ExplainerId)>,
        now: Instant,
    ) {
        let events = log::log_enabled!(target: "smolftp::tcp", log::Level::Info);
        for (handle, socket) in sockets {
            let (local, remote) = ends(handle);
            let addrs = local
                .zip(remote)
                .map(|(l, r)| (SocketAddr::from(l), SocketAddr::from(r)));
            match (recorded, addrs) {
                // The socket's log goes to the capture's writing thread as it is.
                (Some((recorder, explainer)), Some(addrs)) => {
                    recorder.note_sent(explainer, addrs, now, |spare| {
                        let sent = socket.take_sent_info(spare);
                        if events {
                            for s in &sent {
                                self.observe(host, handle, (local, remote), &s.info);
                            }
                        }
                        sent
                    });
                }
                _ => {
                    for sent in socket.drain_sent_info() {
                        if events {
                            self.observe(host, handle, (local, remote), &sent.info);
                        }
                        if let (None, Some((src, dst)), Some(log)) = (recorded, addrs, &self.log) {
                            let first = *log.lock().first.get_or_insert(now);
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
}

/// Locks the snapshots (a panic elsewhere while they were held leaves them as they were).
fn lock(shared: &Mutex<Snapshots>) -> MutexGuard<'_, Snapshots> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// The view's side on the capture's writing thread: the snapshots of the segments sent wait
/// there for their frames, which it tells their view and writes to the stack log.
pub struct ViewTeller {
    shared: Arc<Mutex<Snapshots>>,
    log: Option<StackLog>,
    /// The parts of the last view written ([`ViewKey`]): a receiver's ACKs say the same frame
    /// after frame, a sender's segments differ in the bytes in flight alone.
    parts: Parts,
}

impl ViewTeller {
    /// Keeps the snapshots of the segments a socket sent, for their frames.
    pub fn push(&self, notes: &SentNotes) {
        let mut shared = lock(&self.shared);
        for sent in &notes.segments {
            let ack = sent.ack.map_or(0, |a| a.0 as u32);
            let key = Key::new(
                notes.src,
                notes.dst,
                sent.seq.0 as u32,
                ack,
                sent.payload_len,
            );
            shared.push(key, notes.time, sent.info);
        }
    }

    /// At the end of a poll's frames: flushes the log if asked to.
    pub fn end_of_poll(&self) {
        if let Some(log) = &self.log {
            log.end_of_poll();
        }
    }

    /// If one of our stacks sent `frame`, appends its view to the frame's comment and writes
    /// its stack log line.
    pub fn tell(&mut self, frame: &PendingFrame, comment: &mut String) {
        if let Some(seg) = Segment::borrow_ip(frame.data) {
            self.tell_parsed(frame, &seg, comment);
        }
    }

    /// [`ViewTeller::tell`] for a frame its caller parsed already.
    pub fn tell_parsed(
        &mut self,
        frame: &PendingFrame,
        seg: &Segment<&[u8]>,
        comment: &mut String,
    ) {
        let ack = if seg.flags.ack { seg.ack } else { 0 };
        let key = |seq, len| Key::new(seg.src, seg.dst, seq, ack, len);
        let mut shared = lock(&self.shared);
        // A frame cut from one TSO send carries that send's view, found by the send's header.
        let info = match frame.tso.filter(|p| p.count > 1) {
            Some(p) => {
                let key = key(p.seq, p.payload);
                if p.index == 0 {
                    shared.cut = shared.take(&key, frame.time).map(|info| (key, info));
                }
                shared.cut.filter(|(k, _)| *k == key).map(|(_, info)| info)
            }
            None => shared.take(&key(seg.seq, seg.payload.len()), frame.time),
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
        self.parts.push(comment, sent.info, sent.ack);
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
