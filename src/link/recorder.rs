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
//! laid out as it will be in the file. Its comment, known only after the poll, goes into a
//! second buffer (the block's tail); full batches go to a writing thread
//! ([`crate::link::background`]) that writes heads and tails with vectored writes and hands the
//! buffers back. The section header and interface blocks come from the `pcap-file` crate; the
//! packet blocks are written here by hand, byte for byte as `pcap-file` writes them (the tests
//! check).

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration as StdDuration;

use pcap_file::pcap::{PcapHeader, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use smoltcp::time::Instant;

use crate::link::Direction;
use crate::link::background::{Background, Batch};

/// Snapshot length written in the file headers.
const SNAPLEN: u32 = 65_535;
/// A batch goes to the writing thread once it holds this many bytes (at the end of a poll).
const BATCH_BYTES: usize = 512 << 10;
/// pcapng: block type, block length, interface, timestamp (2 words), captured and original
/// length.
const EPB_HEAD: usize = 28;
/// Classic pcap: seconds, fraction, captured and original length.
const PCAP_HEAD: usize = 16;

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
}

/// A recorded frame: its block starts at `start` in the batch's heads.
struct Held {
    interface: u32,
    direction: Direction,
    time: Instant,
    start: usize,
    len: usize,
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
    writer: Background,
    flush_each: bool,
    written: u64,
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

/// The timestamp as `pcap-file` takes it: microseconds of the stack's clock, none before 0.
fn timestamp(time: Instant) -> StdDuration {
    StdDuration::from_micros(micros(time))
}

/// Microseconds of the stack's clock, none before 0.
fn micros(time: Instant) -> u64 {
    time.total_micros().max(0) as u64
}

/// Padding that brings `len` to a multiple of four.
fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn u32_bytes(endianness: Endianness, v: u32) -> [u8; 4] {
    match endianness {
        Endianness::Big => v.to_be_bytes(),
        Endianness::Little => v.to_le_bytes(),
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
                batch.close_piece();
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
                batch.close_piece();
                Layout::Pcap(header)
            }
        };
        Ok(Recorder {
            inner: Rc::new(RefCell::new(Inner {
                layout,
                batch,
                pending: Vec::new(),
                comment: String::new(),
                writer: Background::new(out)?,
                flush_each,
                written: 0,
                error: None,
            })),
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
                let waiting = batch.heads.split_off(batch.closed().0);
                let idb = blocks.get_mut();
                for held in &mut inner.pending {
                    held.start += idb.len();
                }
                batch.heads.append(idb);
                batch.close_piece();
                batch.heads.extend_from_slice(&waiting);
                Ok(id)
            }
            Layout::Pcap(_) => Ok(0),
        }
    }

    /// Copies `frame` into its block; it waits there for [`Recorder::write_pending`].
    pub(crate) fn record(&self, interface: u32, direction: Direction, time: Instant, frame: &[u8]) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.error.is_some() {
            return;
        }
        let heads = &mut inner.batch.heads;
        let start = heads.len();
        match &inner.layout {
            Layout::PcapNg { .. } => {
                let ts = micros(time) * 1000;
                let mut head = [0u8; EPB_HEAD];
                // The block length waits for the comment.
                for (i, word) in [
                    6,
                    0,
                    interface,
                    (ts >> 32) as u32,
                    ts as u32,
                    frame.len() as u32,
                    frame.len() as u32,
                ]
                .into_iter()
                .enumerate()
                {
                    head[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
                }
                heads.reserve(EPB_HEAD + frame.len() + 3);
                heads.extend_from_slice(&head);
                heads.extend_from_slice(frame);
                // Pushed one by one: a copy of a variable few bytes is a call to memcpy.
                for _ in 0..pad(frame.len()) {
                    heads.push(0);
                }
            }
            Layout::Pcap(header) => {
                let ts = timestamp(time);
                let Ok(secs) = u32::try_from(ts.as_secs()) else {
                    inner.error = Some(pcap_err(PcapError::InvalidField(
                        "PcapPacket: timestamp_secs > u32::MAX",
                    )));
                    return;
                };
                if frame.len() > header.snaplen as usize {
                    inner.error = Some(pcap_err(PcapError::InvalidField(
                        "PcapPacket: incl_len > snap_len",
                    )));
                    return;
                }
                let frac = match header.ts_resolution {
                    TsResolution::MicroSecond => ts.subsec_micros(),
                    TsResolution::NanoSecond => ts.subsec_nanos(),
                };
                let e = header.endianness;
                for word in [secs, frac, frame.len() as u32, frame.len() as u32] {
                    heads.extend_from_slice(&u32_bytes(e, word));
                }
                heads.extend_from_slice(frame);
            }
        }
        inner.pending.push(Held {
            interface,
            direction,
            time,
            start,
            len: frame.len(),
        });
    }

    /// Writes the frames recorded since the last call, each with the comment `explain` leaves in
    /// the string it is given; a frame left with an empty string gets no comment. The string
    /// starts empty and then holds the previous frame's comment, so that a run of frames with
    /// the same comment need not write it again. A write error is kept and returned by
    /// [`Recorder::finish`]; recording goes on.
    pub fn write_pending(&self, explain: &mut dyn FnMut(&PendingFrame, &mut String)) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.pending.is_empty() {
            return;
        }
        inner.comment.clear();
        for held in inner.pending.drain(..) {
            let (head, interfaces) = match &inner.layout {
                Layout::PcapNg { interfaces, .. } => (EPB_HEAD, Some(*interfaces)),
                Layout::Pcap(_) => (PCAP_HEAD, None),
            };
            let data = head + held.start;
            let frame = PendingFrame {
                interface: held.interface,
                direction: held.direction,
                time: held.time,
                data: &inner.batch.heads[data..data + held.len],
            };
            let comment = &mut inner.comment;
            explain(&frame, comment);
            inner.written += 1;
            if inner.error.is_some() {
                continue;
            }
            let mut head_end = data + held.len;
            if let Some(interfaces) = interfaces {
                if held.interface >= interfaces {
                    // This block and those after it are not written (see below).
                    inner.error = Some(pcap_err(PcapError::InvalidInterfaceId(held.interface)));
                    continue;
                }
                head_end += pad(held.len);
                let block = close_epb(&mut inner.batch, &held, held.direction, comment);
                inner.batch.heads[held.start + 4..held.start + 8]
                    .copy_from_slice(&block.to_ne_bytes());
            }
            inner.batch.close_piece_at(head_end);
        }
        if inner.error.is_some() {
            // After an error nothing more is written.
            inner.batch.truncate_open();
        } else if inner.flush_each || inner.batch.heads.len() >= BATCH_BYTES {
            inner.hand_over();
        }
    }

    /// Writes what is still pending (without comments), waits until everything is written and
    /// flushed, and returns the number of frames written, or the first error met while
    /// recording.
    pub fn finish(&self) -> io::Result<u64> {
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

impl Inner {
    /// Sends the closed pieces to the writing thread.
    fn hand_over(&mut self) {
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

/// Appends the tail of a frame's Enhanced Packet Block (flags, comment, end of options, block
/// length) and returns the block's length.
fn close_epb(batch: &mut Batch, held: &Held, direction: Direction, comment: &str) -> u32 {
    let opt = |code: u16, len: u16| {
        let mut o = [0u8; 4];
        o[..2].copy_from_slice(&code.to_ne_bytes());
        o[2..].copy_from_slice(&len.to_ne_bytes());
        o
    };
    let mut options = [0u8; 12];
    options[..4].copy_from_slice(&opt(2, 4));
    options[4..8].copy_from_slice(&direction.epb_flags().to_ne_bytes());
    // As pcap-file writes it, a length beyond 16 bits included.
    options[8..].copy_from_slice(&opt(1, comment.len() as u16));
    let (options_len, padding) = match comment.len() {
        0 => (8, 0),
        n => (12, pad(n)),
    };
    let tail = options_len + comment.len() + padding + 8;
    let block = (EPB_HEAD + held.len + pad(held.len) + tail) as u32;
    let mut end = [0u8; 8];
    end[4..].copy_from_slice(&block.to_ne_bytes());
    // Copies of a fixed size are a few moves, of a variable few bytes a call to memcpy: the
    // fixed parts are copied whole and cut back.
    let tails = &mut batch.tails;
    let to = tails.len() + tail;
    tails.reserve(tail + 4);
    tails.extend_from_slice(&options);
    tails.truncate(to - tail + options_len);
    tails.extend_from_slice(comment.as_bytes());
    tails.extend_from_slice(&[0; 3]);
    tails.truncate(to - 8);
    tails.extend_from_slice(&end);
    block
}

#[cfg(test)]
mod tests;
