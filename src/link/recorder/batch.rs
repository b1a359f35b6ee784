//! What the run thread hands the capture's writing thread: the frames of some polls, each laid
//! out in its block but for the block's end, and the events around them, in order.

use std::any::Any;
use std::ops::Range;

use smoltcp::time::Instant;

use smoltcp::socket::tcp::SentSegment;

use super::{Explain, SentNotes};
use crate::link::Direction;
use crate::link::tso::TsoPiece;

/// A recorded frame: its block starts at `at` in the batch's bytes (the pcapng head, the frame
/// and its padding, or the pcap record). Kept small, as there is one per frame: what only some
/// frames have is in the batch's [`Extra`]s.
#[derive(Debug)]
pub(crate) struct Held {
    pub time: Instant,
    pub at: usize,
    /// The frame's length.
    pub len: u32,
    /// Bytes left after the frame's padding for the block's end, if it turns out this long
    /// (see [`crate::link::background::Background::rooms`]).
    pub room: u32,
    pub interface: u32,
    /// Its [`Extra`] in the batch, numbered from 1 (0: none).
    pub extra: u32,
    pub direction: Direction,
}

impl Held {
    /// Where the frame's data is, given the length of its block's head.
    pub fn data(&self, head: usize) -> std::ops::Range<usize> {
        self.at + head..self.at + head + self.len as usize
    }
}

/// What is told of a frame besides its explanation.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// What an impairment did to this frame, or to frames of its connection this interface
    /// never saw (written last in its comment, after `; fault: `), in the batch's texts.
    pub fault: Option<Range<usize>>,
    /// Cut from a TSO send by the capture ([`super::Recorder::cut_last`]).
    pub tso: Option<TsoPiece>,
}

impl Extra {
    /// The extra of `held` among a batch's `extras`, made if it has none.
    pub fn of<'a>(extras: &'a mut Vec<Extra>, held: &mut Held) -> &'a mut Extra {
        if held.extra == 0 {
            extras.push(Extra::default());
            held.extra = extras.len() as u32;
        }
        &mut extras[held.extra as usize - 1]
    }

    /// The extra of `held` among `extras`, if it has one.
    pub fn get<'a>(extras: &'a [Extra], held: &Held) -> Option<&'a Extra> {
        extras.get((held.extra as usize).checked_sub(1)?)
    }
}

/// One thing the run thread did, in order.
pub(crate) enum Event {
    /// Bytes written as they are (the section header, an interface block when `interface`).
    Block {
        at: usize,
        len: usize,
        interface: bool,
    },
    /// A frame recorded.
    Frame(Held),
    /// A frame sent by an unrecorded host ([`super::Recorder::relay`]), at `at` in the bytes.
    Relay {
        time: Instant,
        at: usize,
        len: usize,
    },
    /// A new explainer; its id is its place among them.
    Explainer(Box<dyn Explain>),
    /// The next of the batch's notes, for this explainer.
    Sent(u32),
    /// The frames since the last marker are explained by this explainer (none: no comments).
    Explain {
        explainer: Option<u32>,
        context: Option<Box<dyn Any + Send>>,
    },
}

/// The bytes of a batch: a buffer that is only ever grown with zeros and reused, so every byte
/// of it is initialized and what a batch leaves as room need not be written (the room left
/// for a block's end is skipped, and written once, by the writing thread, when the end fits).
pub(crate) struct Bytes {
    buf: Vec<u8>,
    len: usize,
    /// The end of the bytes asked for ahead ([`Bytes::fetch_ahead`]).
    ahead: usize,
}

impl Bytes {
    /// Empty, with `capacity` bytes ready: written (zeros), so that the thread that makes it,
    /// not the one that fills it, takes the page faults.
    #[allow(clippy::slow_vector_initialization)]
    pub fn with_capacity(capacity: usize) -> Bytes {
        let mut buf = Vec::with_capacity(capacity);
        // Not `vec![0; capacity]`: zeroed memory from the allocator is not touched yet.
        buf.resize(capacity, 0);
        Bytes {
            buf,
            len: 0,
            ahead: 0,
        }
    }

    /// Bytes in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Takes the next `n` bytes into use and returns them, as an earlier batch left them.
    pub fn take(&mut self, n: usize) -> &mut [u8] {
        let at = self.len;
        let end = at + n;
        if end > self.buf.len() {
            self.buf.resize(end.max(self.buf.len() * 2), 0);
        }
        self.len = end;
        &mut self.buf[at..end]
    }

    /// Asks the CPU to fetch, for writing, the `n` bytes after those in use, where not asked
    /// already: the next frame's block is then in the cache when it is copied in. The batch
    /// was last read by the writing thread on the other core; a copy into lines that are not
    /// in this core's cache waits for each (measured with perf: the stores of the copy stalled),
    /// and a prefetch a frame ahead hides that wait.
    pub fn fetch_ahead(&mut self, n: usize) {
        let end = (self.len + n).min(self.buf.len());
        let mut at = self.ahead.max(self.len);
        while at < end {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `at` is within the buffer, and a prefetch neither reads nor writes it.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_ET0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_ET0>(self.buf.as_ptr().add(at).cast());
            }
            at += 64;
        }
        self.ahead = end;
    }

    /// Appends `bytes`.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.take(bytes.len()).copy_from_slice(bytes);
    }

    /// Puts every byte out of use (keeping them).
    pub fn clear(&mut self) {
        self.len = 0;
        self.ahead = 0;
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::ops::DerefMut for Bytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

/// Frames and events of a few polls; handed back emptied, its buffers kept.
pub(crate) struct Batch {
    /// Blocks (but for their ends) and relayed frames, back to back.
    pub bytes: Bytes,
    /// What happened, in order.
    pub events: Vec<Event>,
    /// Fault notes.
    pub texts: String,
    /// What is told of some frames besides their explanation ([`Held::extra`]).
    pub extras: Vec<Extra>,
    /// The notes of [`Event::Sent`], in order.
    pub notes: Vec<SentNotes>,
    /// Emptied vectors of notes, for the sockets' next logs.
    pub spare_segments: Vec<Vec<SentSegment>>,
}

impl Batch {
    /// An empty batch of the recorder's size: it is handed over once it holds
    /// [`super::BATCH_BYTES`], and holds that much again (a poll's frames) without growing.
    pub fn new() -> Batch {
        let bytes = 2 * super::BATCH_BYTES;
        Batch {
            bytes: Bytes::with_capacity(bytes),
            events: Vec::with_capacity(bytes / 512),
            texts: String::new(),
            extras: Vec::new(),
            notes: Vec::with_capacity(bytes / 8192),
            spare_segments: Vec::new(),
        }
    }

    /// Appends `block`, written as it is.
    pub fn push_block(&mut self, block: &[u8], interface: bool) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(block);
        self.events.push(Event::Block {
            at,
            len: block.len(),
            interface,
        });
    }

    /// Empties it, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.events.clear();
        self.texts.clear();
        self.extras.clear();
        for mut notes in self.notes.drain(..) {
            notes.segments.clear();
            self.spare_segments.push(notes.segments);
        }
    }
}

/// Where `direction` is in the per-direction arrays.
pub(crate) fn side(direction: Direction) -> usize {
    match direction {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
    }
}
