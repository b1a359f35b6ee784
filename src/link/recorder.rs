//! # Recorder: frames to pcapng or pcap
//!
//! Layer: device middleware support (phy). A [`Recorder`] is where every [`crate::link::Capture`]
//! of a run puts its frames: pcapng, with one Interface Description Block per recorded interface
//! (raw IP) and one Enhanced Packet Block per frame with its timestamp, its inbound/outbound flag
//! and a one-line comment; or classic pcap. Frames wait until the owner of the stack has polled:
//! it then has them explained ([`Recorder::write_pending`]) from what its stack knew.
//!
//! Recording is on the stacks' hot path, so the run thread does as little as it can: it copies
//! each frame once, straight into its block laid out as it will be in the file (all but the
//! block's end, which holds the comment: room is left for an end as long as the last one the
//! writing thread laid out in that direction), and notes what else the frame needs (interface,
//! direction, time, a fault, a TSO piece) in a batch. Everything else happens on the
//! capture's writing thread ([`crate::link::background`]), in the order the run thread did
//! things: the explanation, by an [`Explain`] the stack's owner handed over
//! ([`Recorder::add_explainer`]) and fed with what its stack said ([`Recorder::note_sent`],
//! [`Recorder::write_pending`]'s context); the relayed frames' matching; fault and TSO text;
//! the block ends (in the room left for them when they fit it, so a transfer's blocks go out
//! in long runs); and the vectored writes. Batches go over a bounded queue (the run thread waits
//! when the writer is behind, never drops a frame) and come back emptied, so a warm run
//! allocates nothing per frame. The section header and interface blocks come from the
//! `pcap-file` crate; the packet blocks are written here by hand, byte for byte as `pcap-file`
//! writes them (the tests check).

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;

use pcap_file::pcap::{PcapHeader, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::{DataLink, PcapError};
use smoltcp::socket::tcp::SentSegment;
use smoltcp::time::Instant;

use crate::link::Direction;
use crate::link::background::Background;
use crate::link::tso::TsoPiece;

pub(crate) mod batch;
pub(crate) mod desk;
mod layout;
mod relay;

use batch::{Batch, Event, Extra, Held};

/// Snapshot length written in the file headers.
const SNAPLEN: u32 = 65_535;
/// A batch goes to the writing thread once it holds this many bytes (at the end of a poll).
/// Each hand-over wakes the writing thread: a futex call on the run thread that, in a VM, sends
/// an interrupt to the other core (some 20 us each, measured on a 2-core VM: 3-4 % of the run
/// thread's time with 512 KiB batches).
pub(crate) const BATCH_BYTES: usize = 2 << 20;

/// Capture file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// pcapng: interfaces, direction flags and per-frame comments.
    #[default]
    Pcapng,
    /// Classic pcap (libpcap): frames and timestamps only.
    Pcap,
}

/// A recorded frame, being explained (on the capture's writing thread).
#[derive(Debug)]
pub struct PendingFrame<'a> {
    /// The interface it was recorded on (see [`Recorder::add_interface`]).
    pub interface: u32,
    /// Inbound or outbound, seen from that interface.
    pub direction: Direction,
    /// When the stack handed it over or took it in.
    pub time: Instant,
    /// The raw IP packet.
    pub data: &'a [u8],
    /// Its number in the capture, from 1 (Wireshark's `frame.number`).
    pub number: u64,
    /// The time of the capture's first frame (this one's, for frame 1); with `number` 0, the
    /// frame's own time.
    pub first: Instant,
    /// A frame that crossed the cable from an unrecorded host: the explanation its sender gave
    /// when it sent it (see `Recorder::relay`); the recorded host only adds to it.
    pub explained: Option<&'a str>,
    /// A frame the capture cut from one TSO send ([`crate::link::Capture::with_wire_segments`]):
    /// which piece, and of what send.
    pub tso: Option<TsoPiece>,
}

/// What a stack said about the segments one socket sent in one poll: their headers and the
/// socket's `tcp_info` just after each, as smoltcp logged them. Handed to an [`Explain`] in
/// order with the frames.
#[derive(Debug)]
pub struct SentNotes {
    /// Source of the segments.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// When they were sent (the time of the poll).
    pub time: Instant,
    /// The segments and the sender's snapshots, oldest first.
    pub segments: Vec<SentSegment>,
}

/// Explains frames on the capture's writing thread: one per stack owner
/// ([`Recorder::add_explainer`]). Calls come in the order the run thread made them: notes of
/// segments sent, then for each [`Recorder::write_pending`] `begin` with its context, `frame`
/// for the frames recorded since the last one (and for relayed frames, see
/// `Recorder::relay`), and `end`.
pub trait Explain: Send {
    /// Segments a socket of the stack sent ([`Recorder::note_sent`]).
    fn sent(&mut self, _notes: &SentNotes) {}
    /// A [`Recorder::write_pending`] call begins, with the context its caller gave.
    fn begin(&mut self, _context: Option<Box<dyn Any + Send>>) {}
    /// Leaves the comment of `frame` in `comment`, which holds the previous frame's comment
    /// (empty at the first frame); a frame left with an empty string gets no comment.
    fn frame(&mut self, frame: &PendingFrame, comment: &mut String);
    /// The frames of that call are explained.
    fn end(&mut self) {}
    /// The capture is being finished ([`Recorder::finish`]): flush what the explainer writes
    /// elsewhere; its error is the capture's.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A closure is an explainer with no context.
impl<F: FnMut(&PendingFrame, &mut String) + Send> Explain for F {
    fn frame(&mut self, frame: &PendingFrame, comment: &mut String) {
        self(frame, comment)
    }
}

/// Which [`Explain`] explains a [`Recorder::write_pending`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExplainerId(u32);

/// How blocks are laid out.
enum Layout {
    /// pcapng; the writer builds the interface blocks.
    PcapNg(PcapNgWriter<Vec<u8>>),
    /// Classic pcap with this header.
    Pcap(PcapHeader),
}

struct Inner {
    layout: Layout,
    batch: Batch,
    /// The event of the frame recorded last, while it waits for its explanation.
    last: Option<usize>,
    /// Frames recorded since the last `write_pending`.
    waiting: usize,
    explainers: u32,
    /// pcapng interfaces declared.
    interfaces: u32,
    /// Room left for each block's end, per direction (see [`Background::rooms`]).
    rooms: [usize; 2],
    writer: Background,
    flush_each: bool,
    /// Hand the frames of every poll over at once (without flushing the output).
    hand_over_each: bool,
    /// An error met on this side (a frame pcap cannot hold, the writing thread gone).
    error: Option<io::Error>,
}

/// Where captured frames go: a pcapng or pcap file shared by every [`crate::link::Capture`] of a
/// run. Cloning gives another handle to the same file.
#[derive(Clone)]
pub struct Recorder {
    inner: Rc<RefCell<Inner>>,
}

fn pcap_err(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Recorder {
    /// Records into `out`, written by a thread of its own. With `flush_each`, the output is
    /// flushed after the frames of every poll (for live viewing through a pipe).
    pub fn new(
        out: Box<dyn Write + Send>,
        format: Format,
        flush_each: bool,
    ) -> io::Result<Recorder> {
        let mut batch = Batch::new();
        let layout = match format {
            Format::Pcapng => {
                let mut blocks = PcapNgWriter::new(Vec::with_capacity(256)).map_err(pcap_err)?;
                batch.push_block(blocks.get_mut(), false);
                blocks.get_mut().clear();
                Layout::PcapNg(blocks)
            }
            Format::Pcap => {
                let header = PcapHeader {
                    datalink: DataLink::RAW,
                    snaplen: SNAPLEN,
                    ..Default::default()
                };
                let w =
                    PcapWriter::with_header(Vec::with_capacity(32), header).map_err(pcap_err)?;
                batch.push_block(&w.into_writer(), false);
                Layout::Pcap(header)
            }
        };
        let pcapng = format == Format::Pcapng;
        let mut inner = Inner {
            layout,
            batch,
            last: None,
            waiting: 0,
            explainers: 0,
            interfaces: 0,
            rooms: [0; 2],
            writer: Background::new(out, desk::Desk::new(pcapng))?,
            flush_each,
            hand_over_each: false,
            error: None,
        };
        inner.flush_header();
        Ok(Recorder {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// Records into the file at `path` (`-` means standard output, flushed per poll).
    pub fn create(path: &Path, format: Format) -> io::Result<Recorder> {
        if path == Path::new("-") {
            return Recorder::new(Box::new(io::stdout()), format, true);
        }
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create capture file {}: {e}", path.display()),
            )
        })?;
        Recorder::new(Box::new(file), format, false)
    }

    /// Declares an interface (pcapng IDB, raw IP, nanosecond timestamps) named `name`; returns
    /// its id for [`crate::link::Capture`]. Classic pcap has a single interface: every call
    /// returns 0. Call it between polls: the block goes before the frames recorded but not
    /// explained yet, as it would if they were still waiting outside the file.
    pub fn add_interface(&self, name: &str) -> io::Result<u32> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        match &mut inner.layout {
            Layout::PcapNg(blocks) => {
                let idb = InterfaceDescriptionBlock {
                    linktype: DataLink::RAW,
                    snaplen: SNAPLEN,
                    options: vec![
                        InterfaceDescriptionOption::IfName(Cow::Owned(name.to_string())),
                        // EPB timestamps are written in nanoseconds: say so.
                        InterfaceDescriptionOption::IfTsResol(9),
                    ],
                };
                blocks.write_pcapng_block(idb).map_err(pcap_err)?;
                let id = inner.interfaces;
                inner.interfaces += 1;
                inner.batch.push_block(blocks.get_mut(), true);
                blocks.get_mut().clear();
                inner.flush_header();
                Ok(id)
            }
            Layout::Pcap(_) => Ok(0),
        }
    }

    /// Hands `explainer` to the writing thread; it explains the frames of the
    /// [`Recorder::write_pending`] calls that name it.
    pub fn add_explainer(&self, explainer: Box<dyn Explain>) -> ExplainerId {
        let mut inner = self.inner.borrow_mut();
        let id = ExplainerId(inner.explainers);
        inner.explainers += 1;
        inner.batch.events.push(Event::Explainer(explainer));
        id
    }

    /// Hands what a socket logged of the segments it sent from `src` to `dst` at `time` to
    /// `explainer`, before the frames recorded from now on are explained: `take` gets an empty
    /// vector (one the writing thread gave back) and returns the socket's log, leaving that
    /// vector in its place (smoltcp's `take_sent_info`), so no snapshot is copied.
    pub fn note_sent(
        &self,
        explainer: ExplainerId,
        (src, dst): (SocketAddr, SocketAddr),
        time: Instant,
        take: impl FnOnce(Vec<SentSegment>) -> Vec<SentSegment>,
    ) {
        let mut inner = self.inner.borrow_mut();
        let batch = &mut inner.batch;
        let segments = take(batch.spare_segments.pop().unwrap_or_default());
        if segments.is_empty() {
            batch.spare_segments.push(segments);
            return;
        }
        batch.notes.push(SentNotes {
            src,
            dst,
            time,
            segments,
        });
        batch.events.push(Event::Sent(explainer.0));
    }

    /// Copies `frame` into its block; it waits there for [`Recorder::write_pending`].
    pub(crate) fn record(&self, interface: u32, direction: Direction, time: Instant, frame: &[u8]) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.error.is_some() {
            return;
        }
        let bytes = &mut inner.batch.bytes;
        let at = bytes.len();
        let mut room = 0;
        match &inner.layout {
            Layout::PcapNg(_) => {
                room = inner.rooms[batch::side(direction)];
                layout::push_epb_head(bytes, interface, time, frame, room);
            }
            Layout::Pcap(header) => match layout::pcap_head(header, time, frame.len()) {
                Ok(head) => {
                    bytes.extend_from_slice(&head);
                    bytes.extend_from_slice(frame);
                }
                Err(e) => {
                    inner.error = Some(pcap_err(e));
                    return;
                }
            },
        }
        inner.last = Some(inner.batch.events.len());
        inner.waiting += 1;
        inner.batch.events.push(Event::Frame(Held {
            time,
            at,
            // A frame is at most 64 KiB (TSO), its block's end some 64 KiB more.
            len: frame.len() as u32,
            room: room as u32,
            interface,
            extra: 0,
            direction,
        }));
    }

    /// Marks the frame recorded last (not explained yet) as cut from a TSO send: the explainer
    /// sees it ([`PendingFrame::tso`]) and its comment says so, at the end of the explanation,
    /// before the stack's view (`; cwnd=`) and any fault.
    pub fn cut_last(&self, piece: TsoPiece) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if let Some(Event::Frame(held)) = inner.last.and_then(|i| inner.batch.events.get_mut(i)) {
            Extra::of(&mut inner.batch.extras, held).tso = Some(piece);
        }
    }

    /// Keeps a copy of `frame`, sent at `time` by a host whose interface is not recorded, to be
    /// explained by that host at its next [`Recorder::write_pending`]; when the same bytes
    /// arrive at the recorded interface, they are written with that explanation.
    pub(crate) fn relay(&self, time: Instant, frame: &[u8]) {
        let mut inner = self.inner.borrow_mut();
        let batch = &mut inner.batch;
        let at = batch.bytes.len();
        batch.bytes.extend_from_slice(frame);
        batch.events.push(Event::Relay {
            time,
            at,
            len: frame.len(),
        });
    }

    /// Tells, in the comment of the frame recorded last (not explained yet), what an impairment
    /// did: the comment ends with `; fault: ` and the notes, joined by `; `.
    pub fn fault_last(&self, note: &str) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let Some(i) = inner.last else {
            return;
        };
        let batch = &mut inner.batch;
        let texts = &mut batch.texts;
        let Event::Frame(held) = &mut batch.events[i] else {
            return;
        };
        let fault = &mut Extra::of(&mut batch.extras, held).fault;
        match fault.clone() {
            // The notes of one frame are back to back, at the end of the texts.
            Some(range) if range.end == texts.len() => {
                texts.push_str("; ");
                texts.push_str(note);
                *fault = Some(range.start..texts.len());
            }
            Some(range) => {
                let start = texts.len();
                texts.extend_from_within(range);
                texts.push_str("; ");
                texts.push_str(note);
                *fault = Some(start..texts.len());
            }
            None => {
                let start = texts.len();
                texts.push_str(note);
                *fault = Some(start..texts.len());
            }
        }
    }

    /// Has the frames recorded since the last call (and relayed frames not explained yet)
    /// explained by `explainer` on the writing thread, which gets `context` first
    /// ([`Explain::begin`]); they are then written. A write error is kept and returned by
    /// [`Recorder::finish`]; recording goes on.
    pub fn write_pending(&self, explainer: ExplainerId, context: Option<Box<dyn Any + Send>>) {
        self.inner.borrow_mut().explain(Some(explainer), context);
    }

    /// Hands the frames of every [`Recorder::write_pending`] to the writing thread at once,
    /// not only once a batch is full: for explainers that write elsewhere what is read as it
    /// runs (a live server's stack log, flushed after every poll).
    pub fn hand_over_each_poll(&self) {
        self.inner.borrow_mut().hand_over_each = true;
    }

    /// Waits until the writing thread has explained and written everything handed to it
    /// (frames not explained yet stay): what explainers write elsewhere, such as a stack log,
    /// is then complete up to the last [`Recorder::write_pending`].
    pub fn sync(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.waiting == 0 && inner.error.is_none() {
            inner.hand_over();
        }
        inner.writer.sync();
    }

    /// Writes what is still pending (without comments), waits until everything is written and
    /// flushed, and returns the number of frames written, or the first error met while
    /// recording.
    pub fn finish(&self) -> io::Result<u64> {
        let mut inner = self.inner.borrow_mut();
        inner.explain(None, None);
        if inner.error.is_none() {
            inner.hand_over();
        }
        let written = inner.writer.finish();
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        written
    }
}

impl Inner {
    /// Ends the frames waiting with an explanation marker; hands the batch over when it is
    /// full (or at every call, for a pipe).
    fn explain(&mut self, explainer: Option<ExplainerId>, context: Option<Box<dyn Any + Send>>) {
        self.batch.events.push(Event::Explain {
            explainer: explainer.map(|e| e.0),
            context,
        });
        self.last = None;
        self.waiting = 0;
        let full = self.batch.bytes.len() >= BATCH_BYTES;
        if self.error.is_none() && (self.flush_each || self.hand_over_each || full) {
            self.hand_over();
        }
    }

    /// A reader at the other end of a pipe sees the file's header blocks before any frame.
    fn flush_header(&mut self) {
        if self.flush_each && self.waiting == 0 && self.error.is_none() {
            self.hand_over();
        }
    }

    /// Sends the batch to the writing thread; no frame in it may wait for its explanation.
    fn hand_over(&mut self) {
        debug_assert_eq!(self.waiting, 0);
        if self.batch.events.is_empty() {
            return;
        }
        if let Err(e) = self.writer.hand_over(&mut self.batch, self.flush_each) {
            self.error = Some(e);
        }
        // How long the block ends were lately.
        let rooms = self.writer.rooms();
        if rooms != [0; 2] {
            self.rooms = rooms;
        }
    }
}

impl Drop for Inner {
    /// The last handle is gone: what was explained so far goes to the file (the writer's drop
    /// then waits for the thread); frames not explained are not written.
    fn drop(&mut self) {
        if self.error.is_none() && !self.batch.events.is_empty() {
            // Nobody is left to be told of an error.
            let _ = self.writer.hand_over(&mut self.batch, self.flush_each);
        }
    }
}

#[cfg(test)]
mod tests;
