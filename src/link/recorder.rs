//! # Recorder: frames to pcapng or pcap
//!
//! Layer: device middleware support (phy). A [`Recorder`] is where every [`crate::link::Capture`]
//! of a run puts its frames: pcapng, with one Interface Description Block per recorded interface
//! (raw IP) and one Enhanced Packet Block per frame with its timestamp, its inbound/outbound flag
//! and a one-line comment; or classic pcap. Frames wait in the recorder until the owner of the
//! stack has polled: it then explains each one ([`Recorder::write_pending`]) from what its stack
//! knew. The recorder knows nothing of FTP; the explanation is a closure.
//!
//! Recording is on the stacks' hot path, so each frame is copied once: straight into its block,
//! laid out whole as it will be in the file. The comment is known only after the poll, so the
//! block ends with a guess: the comment its direction's frames carried lately (in a transfer
//! nearly every frame says what the one before said). Where the guess was wrong, the real end of
//! the block goes into a second buffer and is spliced in. Full batches go to a writing thread
//! ([`crate::link::background`]) that writes them with vectored writes, mostly long runs of
//! whole blocks, and hands the buffers back. The section header and interface blocks come from
//! the `pcap-file` crate; the packet blocks are written here by hand, byte for byte as
//! `pcap-file` writes them (the tests check).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;

use pcap_file::pcap::{PcapHeader, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::{DataLink, PcapError};
use smoltcp::time::Instant;

use crate::link::Direction;
use crate::link::background::{Background, Batch};
use crate::link::tso::TsoPiece;
use layout::Guess;

mod layout;
mod relay;
mod work;

use relay::Relay;
use work::Work;

/// Snapshot length written in the file headers.
const SNAPLEN: u32 = 65_535;
/// A batch goes to the writing thread once it holds this many bytes (at the end of a poll).
const BATCH_BYTES: usize = 512 << 10;

/// Capture file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// pcapng: interfaces, direction flags and per-frame comments.
    #[default]
    Pcapng,
    /// Classic pcap (libpcap): frames and timestamps only.
    Pcap,
}

/// A frame recorded during a poll, waiting for its explanation.
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
    /// when it sent it (see [`Recorder::relay`]); the recorded host only adds to it.
    pub explained: Option<&'a str>,
    /// A frame the capture cut from one TSO send ([`crate::link::Capture::with_wire_segments`]):
    /// which piece, and of what send.
    pub tso: Option<TsoPiece>,
}

/// A recorded frame: its block starts at `start` in the batch's heads, and ends (in pcapng)
/// with a guessed tail of `guess` bytes.
struct Held {
    interface: u32,
    direction: Direction,
    time: Instant,
    start: usize,
    len: usize,
    guess: usize,
    /// What an impairment did to this frame, or to frames of its connection this interface
    /// never saw (written last in its comment, after `; fault: `).
    fault: Option<String>,
    /// Cut from a TSO send by the capture ([`Recorder::cut_last`]).
    tso: Option<TsoPiece>,
}

/// How the guesses of a direction fared in one `write_pending` call.
#[derive(Clone, Copy, Default)]
struct Tally {
    hits: u32,
    misses: u32,
    /// The comment kept in `latest` came back in a later miss.
    repeats: bool,
}

/// The directions, in the order of the per-direction arrays.
const SIDES: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

/// Where `direction` is in the per-direction arrays.
fn side(direction: Direction) -> usize {
    match direction {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
    }
}

/// How blocks are laid out.
enum Layout {
    /// pcapng; the writer built the section header and builds the interface blocks.
    PcapNg {
        blocks: PcapNgWriter<Vec<u8>>,
        interfaces: u32,
    },
    /// Classic pcap with this header.
    Pcap(PcapHeader),
}

struct Inner {
    layout: Layout,
    batch: Batch,
    pending: Vec<Held>,
    /// The comment being built, reused from frame to frame.
    comment: String,
    /// Per direction (see [`side`]), the comment a frame is recorded with before it is
    /// explained.
    guess: [Guess; 2],
    /// Per direction, the comment that becomes the guess if the guess failed more often than
    /// not (see `write_pending`).
    latest: [String; 2],
    /// Frames of an unrecorded host and their sender's explanations ([`Recorder::relay`]).
    relay: Relay,
    /// Where the recorded host adds to a relayed frame's explanation.
    relayed_text: String,
    /// The comment actually written when it is not `comment` (relayed, or with a fault).
    written_text: String,
    writer: Background,
    flush_each: bool,
    written: u64,
    /// The time of the first frame explained.
    first: Option<Instant>,
    error: Option<io::Error>,
    /// `write_pending` has the frames out while the explanation runs (see [`Work`]).
    busy: bool,
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
        let mut batch = Batch::with_capacity(BATCH_BYTES + (64 << 10));
        let layout = match format {
            Format::Pcapng => {
                let mut blocks = PcapNgWriter::new(Vec::with_capacity(256)).map_err(pcap_err)?;
                let header = blocks.get_mut();
                batch.heads.append(header);
                batch.complete_to(batch.heads.len());
                Layout::PcapNg {
                    blocks,
                    interfaces: 0,
                }
            }
            Format::Pcap => {
                let header = PcapHeader {
                    datalink: DataLink::RAW,
                    snaplen: SNAPLEN,
                    ..Default::default()
                };
                let w =
                    PcapWriter::with_header(Vec::with_capacity(32), header).map_err(pcap_err)?;
                batch.heads.extend_from_slice(&w.into_writer());
                batch.complete_to(batch.heads.len());
                Layout::Pcap(header)
            }
        };
        let mut inner = Inner {
            layout,
            batch,
            pending: Vec::new(),
            comment: String::new(),
            guess: SIDES.map(Guess::new),
            latest: Default::default(),
            relay: Relay::default(),
            relayed_text: String::new(),
            written_text: String::new(),
            writer: Background::new(out)?,
            flush_each,
            written: 0,
            first: None,
            error: None,
            busy: false,
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
    /// returns 0. Call it between polls: the block follows the frames recorded before.
    pub fn add_interface(&self, name: &str) -> io::Result<u32> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.busy {
            inner.reentered();
            return Err(io::Error::other(REENTERED));
        }
        match &mut inner.layout {
            Layout::PcapNg { blocks, interfaces } => {
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
                let id = *interfaces;
                *interfaces += 1;
                // The block goes before frames recorded but not explained yet, as it would
                // if they were still waiting outside the file.
                let batch = &mut inner.batch;
                let waiting = batch.heads.split_off(batch.done());
                let idb = blocks.get_mut();
                for held in &mut inner.pending {
                    held.start += idb.len();
                }
                batch.heads.append(idb);
                batch.complete_to(batch.heads.len());
                batch.heads.extend_from_slice(&waiting);
                inner.flush_header();
                Ok(id)
            }
            Layout::Pcap(_) => Ok(0),
        }
    }

    /// Copies `frame` into its block; it waits there for [`Recorder::write_pending`].
    pub(crate) fn record(&self, interface: u32, direction: Direction, time: Instant, frame: &[u8]) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.busy {
            return inner.reentered();
        }
        if inner.error.is_some() {
            return;
        }
        let heads = &mut inner.batch.heads;
        let start = heads.len();
        let mut guess = 0;
        match &inner.layout {
            Layout::PcapNg { .. } => {
                let tail = &inner.guess[side(direction)].tail;
                guess = tail.len() + 4;
                layout::push_epb(heads, interface, time, frame, tail);
            }
            Layout::Pcap(header) => match layout::pcap_head(header, time, frame.len()) {
                Ok(head) => {
                    heads.extend_from_slice(&head);
                    heads.extend_from_slice(frame);
                }
                Err(e) => {
                    inner.error = Some(pcap_err(e));
                    return;
                }
            },
        }
        inner.pending.push(Held {
            interface,
            direction,
            time,
            start,
            len: frame.len(),
            guess,
            fault: None,
            tso: None,
        });
    }

    /// Marks the frame recorded last (not written yet) as cut from a TSO send: the explainer
    /// sees it ([`PendingFrame::tso`]) and its comment says so, at the end of the explanation,
    /// before the stack's view (`; cwnd=`) and any fault.
    pub fn cut_last(&self, piece: TsoPiece) {
        if let Some(held) = self.inner.borrow_mut().pending.last_mut() {
            held.tso = Some(piece);
        }
    }

    /// Keeps a copy of `frame`, sent at `time` by a host whose interface is not recorded, to be
    /// explained by that host at its next [`Recorder::write_pending`]; when the same bytes
    /// arrive at the recorded interface, they are written with that explanation.
    pub(crate) fn relay(&self, time: Instant, frame: &[u8]) {
        let mut inner = self.inner.borrow_mut();
        if inner.busy {
            return inner.reentered();
        }
        inner.relay.push(time, frame);
    }

    /// Tells, in the comment of the frame recorded last (not written yet), what an impairment
    /// did: the comment ends with `; fault: ` and the notes, joined by `; `.
    pub fn fault_last(&self, note: &str) {
        let mut inner = self.inner.borrow_mut();
        if inner.busy {
            return inner.reentered();
        }
        if let Some(held) = inner.pending.last_mut() {
            match &mut held.fault {
                Some(f) => {
                    f.push_str("; ");
                    f.push_str(note);
                }
                None => held.fault = Some(note.to_string()),
            }
        }
    }

    /// Writes the frames recorded since the last call, each with the comment `explain` leaves in
    /// the string it is given; a frame left with an empty string gets no comment. The string
    /// starts empty and then holds the previous frame's comment, so that a run of frames with
    /// the same comment need not write it again. A write error is kept and returned by
    /// [`Recorder::finish`]; recording goes on.
    pub fn write_pending(&self, explain: &mut dyn FnMut(&PendingFrame, &mut String)) {
        // No borrow is held while `explain` runs: the frames are taken out meanwhile.
        let mut work = {
            let mut inner = self.inner.borrow_mut();
            if inner.busy {
                inner.reentered();
                return;
            }
            Work::take(&mut inner)
        };
        work.explain(explain);
        let mut inner = self.inner.borrow_mut();
        work.put_back(&mut inner);
        if inner.error.is_none() && (inner.flush_each || inner.batch.heads.len() >= BATCH_BYTES) {
            inner.hand_over();
        }
    }

    /// Writes what is still pending (without comments), waits until everything is written and
    /// flushed, and returns the number of frames written, or the first error met while
    /// recording.
    pub fn finish(&self) -> io::Result<u64> {
        {
            let mut inner = self.inner.borrow_mut();
            if inner.busy {
                inner.reentered();
                return Err(io::Error::other(REENTERED));
            }
        }
        self.write_pending(&mut |_, comment| comment.clear());
        let mut inner = self.inner.borrow_mut();
        if inner.error.is_none() {
            inner.hand_over();
        }
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        inner.writer.flush()?;
        Ok(inner.written)
    }
}

/// What a call into the recorder from its own explanation gets.
const REENTERED: &str = "the capture was used from within the explanation of its frames \
     (a frame recorded then would be out of order): nothing more is written";

impl Inner {
    /// A call from within the explanation of the frames: refused, and the capture ends there
    /// with an error (no panic, no block out of order).
    fn reentered(&mut self) {
        if self.error.is_none() {
            self.error = Some(io::Error::other(REENTERED));
        }
    }

    /// A reader at the other end of a pipe sees the file's header blocks before any frame.
    fn flush_header(&mut self) {
        if self.flush_each && self.pending.is_empty() && self.error.is_none() {
            self.hand_over();
        }
    }

    /// Sends the batch to the writing thread; every block in it must be complete.
    fn hand_over(&mut self) {
        debug_assert_eq!(self.batch.heads.len(), self.batch.done());
        if self.batch.is_empty() {
            return;
        }
        if let Err(e) = self
            .writer
            .hand_over(&mut self.batch, self.flush_each, BATCH_BYTES)
        {
            self.error = Some(e);
        }
    }
}

impl Drop for Inner {
    /// The last handle is gone: what was written so far goes to the file (the writer's drop
    /// then waits for the thread).
    fn drop(&mut self) {
        self.batch.truncate_open();
        if self.error.is_none() {
            self.hand_over();
        }
    }
}

#[cfg(test)]
mod tests;
