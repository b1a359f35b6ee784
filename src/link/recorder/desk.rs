//! # The writing thread's side of the recorder
//!
//! Layer: device middleware support (phy). [`Desk`] takes the batches the run thread recorded
//! and goes through their events in order: it hands notes and contexts to the explainers, has
//! each frame explained (relayed frames with their sender's explanation), adds the TSO piece and
//! fault text, lays out each block's end (flags, comment, block length) and writes the batch
//! with vectored writes: the blocks where the run thread laid them out, their ends from a
//! buffer of its own.

use std::io::{self, IoSlice, Write};

use pcap_file::PcapError;
use smoltcp::time::Instant;

use super::batch::{Batch, Event, Extra, Held, side};
use super::layout::{Comment, EPB_HEAD, PCAP_HEAD, pad, push_tail, tail_len};
use super::relay::Relay;
use super::{Explain, PendingFrame, pcap_err};
use crate::link::Direction;

/// Slices per vectored write (Linux's `IOV_MAX`).
const MAX_SLICES: usize = 1024;
/// Bytes per vectored write at most. A batch is a few MiB; written in one call, ext4 copied it
/// into its page cache at a third of the speed (measured on a 2-core VM, kernel 6.18: the
/// capture to a file on ext4 at 3.5-5.2 Gbit/s with 1-2 MiB writes, 9-11 with 64-256 KiB; the
/// writing thread's time went to `copy_folio_from_iter_atomic`).
const WRITE_BYTES: usize = 256 << 10;

/// A piece of the output: `bytes[range]` of the batch (`false`) or of the block ends (`true`).
type Piece = (bool, usize, usize);

/// The writing thread's state (see the module's doc).
pub(crate) struct Desk {
    pcapng: bool,
    /// pcapng interfaces declared so far.
    interfaces: u32,
    explainers: Vec<Box<dyn Explain>>,
    relay: Relay,
    /// Frames of the batch (event numbers) waiting for their explanation.
    pending: Vec<usize>,
    /// The comment being built, reused from frame to frame.
    comment: String,
    /// Where the recorded host adds to a relayed frame's explanation.
    relayed_text: String,
    /// The comment actually written when it is not `comment` (relayed, cut, or with a fault).
    written_text: String,
    /// Block ends that did not fit their room, back to back.
    ends: Vec<u8>,
    /// The block end being laid out.
    tail: Vec<u8>,
    /// Per direction, the length of the last block end (see
    /// [`crate::link::background::Background::rooms`]).
    rooms: [usize; 2],
    pieces: Vec<Piece>,
    written: u64,
    /// The time of the first frame explained.
    first: Option<Instant>,
    /// The first error; nothing more is written after it.
    error: Option<io::Error>,
    /// `error` was returned by [`Desk::finish`] and is not returned again.
    told: bool,
}

impl Desk {
    /// A desk for pcapng (or classic pcap).
    pub fn new(pcapng: bool) -> Desk {
        Desk {
            pcapng,
            interfaces: 0,
            explainers: Vec::new(),
            relay: Relay::default(),
            pending: Vec::new(),
            comment: String::new(),
            relayed_text: String::new(),
            written_text: String::new(),
            ends: Vec::new(),
            tail: Vec::new(),
            rooms: [0; 2],
            pieces: Vec::new(),
            written: 0,
            first: None,
            error: None,
            told: false,
        }
    }

    /// Explains and writes `batch` to `out`; frames it holds that no marker explained are
    /// dropped (the recorder was dropped before they were).
    pub fn process(&mut self, batch: &mut Batch, out: &mut dyn Write) {
        self.pending.clear();
        self.pieces.clear();
        self.ends.clear();
        let mut events = std::mem::take(&mut batch.events);
        let mut notes = 0;
        for i in 0..events.len() {
            let (id, context) = match &mut events[i] {
                Event::Explain { explainer, context } => (*explainer, context.take()),
                Event::Block { at, len, interface } => {
                    self.interfaces += u32::from(*interface);
                    if self.error.is_none() {
                        self.pieces.push((false, *at, *at + *len));
                    }
                    continue;
                }
                Event::Frame(_) => {
                    self.pending.push(i);
                    continue;
                }
                Event::Relay { time, at, len } => {
                    self.relay.push(*time, &batch.bytes[*at..*at + *len]);
                    continue;
                }
                Event::Explainer(explainer) => {
                    let placeholder: Box<dyn Explain> =
                        Box::new(|_: &PendingFrame, _: &mut String| {});
                    self.explainers
                        .push(std::mem::replace(explainer, placeholder));
                    continue;
                }
                Event::Sent(id) => {
                    let note = batch.notes.get(notes);
                    notes += 1;
                    if let (Some(note), Some(e)) = (note, self.explainers.get_mut(*id as usize)) {
                        e.sent(note);
                    }
                    continue;
                }
            };
            // The frames since the last marker are explained.
            let mut explainers = std::mem::take(&mut self.explainers);
            let mut none = |_: &PendingFrame, c: &mut String| c.clear();
            let explainer: &mut dyn Explain =
                match id.and_then(|id| explainers.get_mut(id as usize)) {
                    Some(e) => e.as_mut(),
                    None => &mut none,
                };
            explainer.begin(context);
            let pending = std::mem::take(&mut self.pending);
            self.explain(explainer, &events, &pending, batch);
            explainer.end();
            self.pending = pending;
            self.pending.clear();
            self.explainers = explainers;
        }
        events.clear();
        batch.events = events;
        if self.error.is_none()
            && let Err(e) = self.write(batch, out)
        {
            self.error = Some(e);
        }
    }

    /// Explains the frames `pending` (events of `events`) with `explainer` and lays them out.
    fn explain(
        &mut self,
        explainer: &mut dyn Explain,
        events: &[Event],
        pending: &[usize],
        batch: &mut Batch,
    ) {
        self.relay
            .explain(&mut |frame, text| explainer.frame(frame, text));
        if pending.is_empty() {
            return;
        }
        self.comment.clear();
        let head = if self.pcapng { EPB_HEAD } else { PCAP_HEAD };
        for &i in pending {
            let Event::Frame(held) = &events[i] else {
                continue;
            };
            let data = held.data(head);
            let extra = Extra::get(&batch.extras, held);
            let tso = extra.and_then(|e| e.tso);
            let first = *self.first.get_or_insert(held.time);
            let frame = PendingFrame {
                interface: held.interface,
                direction: held.direction,
                time: held.time,
                data: &batch.bytes[data.clone()],
                number: self.written + 1,
                first,
                explained: None,
                tso,
            };
            // A frame that crossed the cable from an unrecorded host carries its sender's
            // explanation; the recorded host explains its own frames and any other.
            let relayed = match held.direction {
                Direction::Inbound => self.relay.take(frame.data),
                Direction::Outbound => None,
            };
            let fault = extra.and_then(|e| e.fault.clone()).map(|r| &batch.texts[r]);
            let comment = match (relayed, fault) {
                (None, None) if tso.is_none() => {
                    explainer.frame(&frame, &mut self.comment);
                    &self.comment
                }
                (relayed, fault) => {
                    let text = &mut self.written_text;
                    text.clear();
                    match relayed {
                        Some((bytes, explained)) => {
                            let frame = PendingFrame {
                                explained: Some(&explained),
                                ..frame
                            };
                            let scratch = &mut self.relayed_text;
                            explainer.frame(&frame, scratch);
                            text.push_str(scratch);
                            self.relay.give_back(bytes, explained);
                        }
                        None => {
                            explainer.frame(&frame, &mut self.comment);
                            text.push_str(&self.comment);
                        }
                    }
                    if let Some(piece) = &tso {
                        let at = text.find("; cwnd=").unwrap_or(text.len());
                        let sep = if at == 0 { "" } else { "; " };
                        text.insert_str(at, &format!("{sep}{piece}"));
                    }
                    if let Some(fault) = fault {
                        if !text.is_empty() {
                            text.push_str("; ");
                        }
                        text.push_str("fault: ");
                        text.push_str(fault);
                    }
                    &self.written_text
                }
            };
            self.written += 1;
            if self.error.is_some() {
                continue;
            }
            if !self.pcapng {
                push_piece(&mut self.pieces, false, held.at, data.end);
                continue;
            }
            if held.interface >= self.interfaces {
                // This block and those after it are not written.
                self.error = Some(pcap_err(PcapError::InvalidInterfaceId(held.interface)));
                continue;
            }
            let ends = Ends {
                tail: &mut self.tail,
                ends: &mut self.ends,
                pieces: &mut self.pieces,
            };
            self.rooms[side(held.direction)] = lay_out_end(held, comment, &mut batch.bytes, ends);
        }
    }

    /// Writes the pieces laid out for `batch`, [`WRITE_BYTES`] at a time.
    fn write(&mut self, batch: &Batch, out: &mut dyn Write) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_SLICES);
        let mut queued = 0;
        for &(end, from, to) in &self.pieces {
            let buf: &[u8] = if end { &self.ends } else { &batch.bytes };
            let mut from = from;
            while from < to {
                let n = (to - from).min(WRITE_BYTES - queued);
                slices.push(IoSlice::new(&buf[from..from + n]));
                from += n;
                queued += n;
                if queued == WRITE_BYTES || slices.len() == MAX_SLICES {
                    write_all_vectored(out, &mut slices)?;
                    slices.clear();
                    queued = 0;
                }
            }
        }
        write_all_vectored(out, &mut slices)
    }

    /// Tells the explainers the capture is being finished; returns the number of frames
    /// written, or the first error met (once).
    pub fn finish(&mut self) -> io::Result<u64> {
        let mut result = Ok(self.written);
        for e in &mut self.explainers {
            if let Err(err) = e.finish()
                && result.is_ok()
            {
                result = Err(err);
            }
        }
        if !self.told
            && let Some(e) = self.error.take()
        {
            self.told = true;
            // Kept, so that nothing more is written.
            self.error = Some(io::Error::new(e.kind(), e.to_string()));
            return Err(e);
        }
        result
    }

    /// Per direction, the length of the last block end laid out.
    pub fn rooms(&self) -> [usize; 2] {
        self.rooms
    }

    /// Whether an error stopped the writing.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// Where block ends go.
struct Ends<'a> {
    /// Scratch for one end.
    tail: &'a mut Vec<u8>,
    /// Ends that did not fit their room.
    ends: &'a mut Vec<u8>,
    pieces: &'a mut Vec<Piece>,
}

/// Sets the length of `held`'s block, whose end carries `comment`, and appends the pieces that
/// write it: the block as the run thread laid it out with its end in the room left for it, or,
/// when it does not fit exactly, the block and then its end. Returns the end's length.
fn lay_out_end(held: &Held, comment: &str, bytes: &mut [u8], out: Ends) -> usize {
    let len = held.len as usize;
    let body = EPB_HEAD + len + pad(len);
    // A comment too long for its option's length field is cut, visibly.
    let comment = Comment::fit(comment);
    let end = tail_len(&comment);
    let block = (body + end) as u32;
    bytes[held.at + 4..held.at + 8].copy_from_slice(&block.to_ne_bytes());
    let room = held.at + body..held.at + body + held.room as usize;
    if end == room.len() {
        out.tail.clear();
        push_tail(out.tail, held.direction, &comment, block);
        bytes[room.clone()].copy_from_slice(out.tail);
        push_piece(out.pieces, false, held.at, room.end);
    } else {
        push_piece(out.pieces, false, held.at, room.start);
        let from = out.ends.len();
        push_tail(out.ends, held.direction, &comment, block);
        push_piece(out.pieces, true, from, out.ends.len());
    }
    end
}

/// Appends a piece, joined to the last one when it goes on where that one ends.
fn push_piece(pieces: &mut Vec<Piece>, end: bool, from: usize, to: usize) {
    if let Some(last) = pieces.last_mut()
        && last.0 == end
        && last.2 == from
    {
        last.2 = to;
        return;
    }
    pieces.push((end, from, to));
}

/// `Write::write_all_vectored`, which std has not stabilised.
fn write_all_vectored(out: &mut dyn Write, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
