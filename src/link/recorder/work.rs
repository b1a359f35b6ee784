//! The frames of one [`super::Recorder::write_pending`] call: taken out of the recorder, so
//! that no borrow of it is held while the owner's explanation runs, explained one by one, laid
//! out (a wrong guess of a block's end replaced by a splice), and put back.

use std::io;

use pcap_file::PcapError;
use smoltcp::time::Instant;

use super::layout::{Comment, EPB_HEAD, Guess, PCAP_HEAD, pad, push_tail, tail_len};
use super::relay::Relay;
use super::{Held, Inner, Layout, PendingFrame, SIDES, Tally, pcap_err, side};
use crate::link::Direction;
use crate::link::background::Batch;

/// What `write_pending` works on, out of the recorder's cell.
pub(super) struct Work {
    batch: Batch,
    pending: Vec<Held>,
    comment: String,
    guess: [Guess; 2],
    latest: [String; 2],
    relay: Relay,
    relayed_text: String,
    written_text: String,
    written: u64,
    first: Option<Instant>,
    /// The recorder had failed before: frames are explained and counted, not written.
    failed: bool,
    /// The first error met now.
    error: Option<io::Error>,
    /// pcapng: the interfaces declared; classic pcap: `None`.
    interfaces: Option<u32>,
}

impl Work {
    /// Takes the frames waiting in `inner` and what explaining them needs; `inner` is left
    /// busy until [`Work::put_back`].
    pub(super) fn take(inner: &mut Inner) -> Work {
        inner.busy = true;
        Work {
            batch: std::mem::take(&mut inner.batch),
            pending: std::mem::take(&mut inner.pending),
            comment: std::mem::take(&mut inner.comment),
            guess: std::mem::replace(&mut inner.guess, [Guess::empty(), Guess::empty()]),
            latest: std::mem::take(&mut inner.latest),
            relay: std::mem::take(&mut inner.relay),
            relayed_text: std::mem::take(&mut inner.relayed_text),
            written_text: std::mem::take(&mut inner.written_text),
            written: inner.written,
            first: inner.first,
            failed: inner.error.is_some(),
            error: None,
            interfaces: match &inner.layout {
                Layout::PcapNg { interfaces, .. } => Some(*interfaces),
                Layout::Pcap(_) => None,
            },
        }
    }

    /// Puts everything back into `inner`, which is no longer busy.
    pub(super) fn put_back(self, inner: &mut Inner) {
        inner.batch = self.batch;
        inner.pending = self.pending;
        inner.comment = self.comment;
        inner.guess = self.guess;
        inner.latest = self.latest;
        inner.relay = self.relay;
        inner.relayed_text = self.relayed_text;
        inner.written_text = self.written_text;
        inner.written = self.written;
        inner.first = self.first;
        if inner.error.is_none() {
            inner.error = self.error;
        }
        inner.busy = false;
    }

    /// Explains and lays out every frame waiting (see [`super::Recorder::write_pending`]).
    pub(super) fn explain(&mut self, explain: &mut dyn FnMut(&PendingFrame, &mut String)) {
        self.relay.explain(explain);
        if self.pending.is_empty() {
            return;
        }
        self.comment.clear();
        let head = match self.interfaces {
            Some(_) => EPB_HEAD,
            None => PCAP_HEAD,
        };
        // A guess that fails more often than not is replaced by the comment of the first run of
        // misses with one same comment (or the last miss): a transfer's frames say "data, 1460
        // bytes" but for the short segment that ends a burst.
        let mut tally = [Tally::default(); 2];
        for held in &self.pending {
            let data = head + held.start;
            let first = *self.first.get_or_insert(held.time);
            let frame = PendingFrame {
                interface: held.interface,
                direction: held.direction,
                time: held.time,
                data: &self.batch.heads[data..data + held.len],
                number: self.written + 1,
                first,
                explained: None,
                tso: held.tso,
            };
            // A frame that crossed the cable from an unrecorded host carries its sender's
            // explanation; the recorded host explains its own frames and any other.
            let relayed = match held.direction {
                Direction::Inbound => self.relay.take(frame.data),
                Direction::Outbound => None,
            };
            let comment = match (relayed, &held.fault) {
                (None, None) if held.tso.is_none() => {
                    explain(&frame, &mut self.comment);
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
                            explain(&frame, scratch);
                            text.push_str(scratch);
                            self.relay.give_back(bytes, explained);
                        }
                        None => {
                            explain(&frame, &mut self.comment);
                            text.push_str(&self.comment);
                        }
                    }
                    if let Some(piece) = &held.tso {
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
            if self.failed || self.error.is_some() {
                continue;
            }
            let mut end = data + held.len;
            if let Some(interfaces) = self.interfaces {
                if held.interface >= interfaces {
                    // This block and those after it are not written (see `Recorder`).
                    self.error = Some(pcap_err(PcapError::InvalidInterfaceId(held.interface)));
                    continue;
                }
                end += pad(held.len);
                let d = side(held.direction);
                let tally = &mut tally[d];
                // A comment too long for its option's length field is cut, visibly.
                let comment = Comment::fit(comment);
                if comment.as_str() == self.guess[d].comment {
                    tally.hits += 1;
                } else {
                    // The guess was wrong: the real tail goes in its place.
                    let block = (end - held.start + tail_len(&comment)) as u32;
                    let batch = &mut self.batch;
                    batch.heads[held.start + 4..held.start + 8]
                        .copy_from_slice(&block.to_ne_bytes());
                    push_tail(&mut batch.tails, held.direction, &comment, block);
                    batch.splice(end, end + held.guess);
                    tally.misses += 1;
                    if self.latest[d] == comment.as_str() {
                        tally.repeats = true;
                    } else if !tally.repeats {
                        self.latest[d].clear();
                        self.latest[d].push_str(comment.as_str());
                    }
                }
                end += held.guess;
            }
            self.batch.complete_to(end);
        }
        self.pending.clear();
        for (d, tally) in tally.into_iter().enumerate() {
            if tally.misses > tally.hits {
                let guess = &mut self.guess[d];
                std::mem::swap(&mut guess.comment, &mut self.latest[d]);
                guess.update(SIDES[d]);
            }
        }
        if self.failed || self.error.is_some() {
            // After an error nothing more is written.
            self.batch.truncate_open();
        }
    }
}
