//! # What the cable did: counts and notes
//!
//! Layer: device middleware support (phy). [`Faults`] is shared by the impairment middleware,
//! the cable's queue and the capture of one run. It counts, per direction, what was sent and
//! what went wrong, and it holds the notes that tell each fault in the capture: a fault on a
//! frame the tapped interface records now goes into that frame's comment; a frame lost before
//! it reached the tapped interface is told in the comment of the next frame of its connection.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::rc::Rc;

use super::spec::Peek;

/// Per direction, what happened to its frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Frames handed to the cable.
    pub sent: u64,
    /// Lost on the cable (`--loss`, `--drop`).
    pub lost: u64,
    /// Delivered twice.
    pub duplicated: u64,
    /// Held back behind a later frame.
    pub reordered: u64,
    /// Delivered with a flipped bit.
    pub corrupted: u64,
    /// Dropped because the link's queue was full (`--queue`).
    pub queue_drops: u64,
}

/// What happened to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Lost on the cable.
    Lost,
    /// Dropped by the link's full queue.
    QueueDrop,
    /// Delivered twice.
    Duplicated,
    /// Held back behind a later frame.
    Reordered,
    /// A bit flipped.
    Corrupted,
    /// Not a fault of this frame (counted nowhere): it overtakes a frame held back.
    Overtakes,
}

struct Dir {
    label: String,
    sender_tapped: bool,
    stats: DirStats,
}

#[derive(Default)]
struct Board {
    dirs: Vec<Dir>,
    telling: bool,
    /// The frames being sent now are copies made by the cable, not frames the tap saw.
    flushing: bool,
    now: Option<String>,
    carry: Vec<(Peek, String)>,
}

/// Notes kept for frames lost before the tap: beyond this many the oldest are forgotten.
const CARRY_LIMIT: usize = 1024;

/// Directions whose frames are counted in cells (the hot path takes no borrow); more are not
/// counted as sent.
const CELLS: usize = 4;

#[derive(Default)]
struct Book {
    board: RefCell<Board>,
    /// Frames sent per direction.
    sent: [Cell<u64>; CELLS],
    /// Frames the tapped interface has seen.
    seen: Cell<u64>,
    /// True while the board holds a note (`now` or `carry`).
    notes: Cell<bool>,
}

/// The fault book of one run; clones share it.
#[derive(Clone, Default)]
pub struct Faults(Rc<Book>);

impl Faults {
    /// An empty book; with `telling`, notes are kept for a capture (without one, only counts).
    pub fn new(telling: bool) -> Faults {
        let f = Faults::default();
        f.0.board.borrow_mut().telling = telling;
        f
    }

    /// Declares a direction, e.g. `server->client`; `sender_tapped`: the capture is taken at
    /// the interface that sends its frames (so they are recorded before any fault). Returns
    /// its index.
    pub fn add_direction(&self, label: &str, sender_tapped: bool) -> usize {
        let mut b = self.0.board.borrow_mut();
        b.dirs.push(Dir {
            label: label.to_string(),
            sender_tapped,
            stats: DirStats::default(),
        });
        b.dirs.len() - 1
    }

    /// Counts a frame handed to direction `dir`.
    #[inline]
    pub(crate) fn sent(&self, dir: usize) {
        if let Some(c) = self.0.sent.get(dir) {
            c.set(c.get() + 1);
        }
    }

    /// Counts `fault` on `frame` in direction `dir`, and tells it: on the frame the tap records
    /// now (a frame its interface sent, or one it receives now), or, for a frame the
    /// interface never saw, on the next frame of the same connection. `why` names the flag.
    pub(crate) fn tell(&self, dir: usize, fault: Fault, frame: &[u8], why: &str) {
        let mut b = self.0.board.borrow_mut();
        let flushing = b.flushing;
        let Some(d) = b.dirs.get_mut(dir) else {
            return;
        };
        let s = &mut d.stats;
        match fault {
            Fault::Lost => s.lost += 1,
            Fault::QueueDrop => {
                s.queue_drops += 1;
                // Frames the tapped host receives are counted as sent where they are impaired,
                // past the queue.
                if !d.sender_tapped {
                    s.sent += 1;
                }
            }
            Fault::Duplicated => s.duplicated += 1,
            Fault::Reordered => s.reordered += 1,
            Fault::Corrupted => s.corrupted += 1,
            Fault::Overtakes => {}
        }
        let (label, tapped) = (d.label.clone(), d.sender_tapped);
        if !b.telling {
            return;
        }
        let lost = matches!(fault, Fault::Lost | Fault::QueueDrop);
        let place = if lost && fault == Fault::QueueDrop {
            "dropped by the link's full queue"
        } else {
            "lost on the cable"
        };
        if lost && (!tapped || flushing) {
            let Some(peek) = Peek::of(frame) else {
                return;
            };
            let copy = if flushing {
                "a copy made by the cable of "
            } else {
                ""
            };
            let note = format!(
                "{copy}{} {place} before this interface saw it ({why}, {label})",
                peek.describe()
            );
            if b.carry.len() >= CARRY_LIMIT {
                b.carry.remove(0);
            }
            b.carry.push((peek, note));
            self.0.notes.set(true);
            return;
        }
        let note = match (fault, tapped) {
            (Fault::Lost | Fault::QueueDrop, _) => {
                format!("{place} after this tap ({why}, {label})")
            }
            (Fault::Duplicated, true) => format!(
                "duplicated on the cable after this tap: the receiver gets it twice ({why}, {label})"
            ),
            (Fault::Duplicated, false) => {
                format!("a second copy of the frame before, made by the cable ({why}, {label})")
            }
            (Fault::Reordered, true) => format!(
                "held back on the cable after this tap: it arrives after the next frame ({why}, {label})"
            ),
            (Fault::Reordered, false) => format!(
                "arrives late: held back on the cable behind a later frame ({why}, {label})"
            ),
            (Fault::Corrupted, true) => format!(
                "corrupted on the cable after this tap: {why}; the receiver's checksum check drops it ({label})"
            ),
            (Fault::Overtakes, _) => format!("overtakes {why}, held back on the cable ({label})"),
            (Fault::Corrupted, false) => format!(
                "corrupted on the cable: {why}; the checksum is wrong, so this stack drops it ({label})"
            ),
        };
        match &mut b.now {
            Some(n) => {
                n.push_str("; ");
                n.push_str(&note);
            }
            None => b.now = Some(note),
        }
        self.0.notes.set(true);
    }

    /// While `on`, frames handed to the cable are its own copies (duplicates, held frames).
    pub(crate) fn set_flushing(&self, on: bool) {
        self.0.board.borrow_mut().flushing = on;
    }

    /// The note for the frame the tap just recorded, if any.
    #[inline]
    pub(crate) fn take_now(&self) -> Option<String> {
        if !self.0.notes.get() {
            return None;
        }
        let mut b = self.0.board.borrow_mut();
        let now = b.now.take();
        self.0.notes.set(!b.carry.is_empty());
        now
    }

    /// Notes of frames lost before the tap on the connection of `frame`, if any.
    #[inline]
    pub(crate) fn take_carried(&self, frame: &[u8]) -> Option<String> {
        if !self.0.notes.get() {
            return None;
        }
        let mut b = self.0.board.borrow_mut();
        if b.carry.is_empty() {
            return None;
        }
        let peek = Peek::of(frame)?;
        let mut notes: Option<String> = None;
        b.carry.retain(|(p, note)| {
            if !p.same_connection(&peek) {
                return true;
            }
            match &mut notes {
                Some(n) => {
                    n.push_str("; ");
                    n.push_str(note);
                }
                None => notes = Some(note.clone()),
            }
            false
        });
        self.0.notes.set(b.now.is_some() || !b.carry.is_empty());
        notes
    }

    /// Frames the tapped interface has seen (sent, or received) so far: the next one is
    /// number `seen() + 1` in its capture.
    pub(crate) fn seen(&self) -> u64 {
        self.0.seen.get()
    }

    /// Counts a frame the tapped interface sees.
    #[inline]
    pub(crate) fn see(&self) {
        self.0.seen.set(self.0.seen.get() + 1);
    }

    /// Per direction: its label and counts.
    pub fn stats(&self) -> Vec<(String, DirStats)> {
        let b = self.0.board.borrow();
        b.dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut stats = d.stats;
                stats.sent += self.0.sent.get(i).map_or(0, Cell::get);
                (d.label.clone(), stats)
            })
            .collect()
    }

    /// One line per direction: `server->client: 120 sent, 3 lost, ...`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (label, s) in self.stats() {
            let _ = writeln!(
                out,
                "{label}: {} sent, {} lost, {} duplicated, {} reordered, {} corrupted, {} queue drops",
                s.sent, s.lost, s.duplicated, s.reordered, s.corrupted, s.queue_drops
            );
        }
        out
    }
}
