//! # Frames explained by their sender, written where they arrive
//!
//! Layer: device middleware support (phy). A capture taken at one host's interface records the
//! other host's frames when they arrive; their explanation, though, is their sender's, made
//! when it sent them (its sockets, its state transitions). [`Relay`] keeps each frame the
//! unrecorded host sent until that host has explained it, then the explanation until the same
//! bytes arrive at the recorded interface.

use std::collections::VecDeque;

use smoltcp::time::Instant;

use super::PendingFrame;
use crate::link::Direction;

/// Explanations kept for frames that never arrive (lost on the cable) are dropped beyond this
/// many.
const RELAYED_LIMIT: usize = 4096;

/// Relayed frames and explanations (see the module's doc).
#[derive(Default)]
pub(super) struct Relay {
    /// Frames sent, waiting for their sender's explanation.
    sent: Vec<(Instant, Vec<u8>)>,
    /// Explained frames, oldest first, waiting to arrive.
    explained: VecDeque<(Vec<u8>, String)>,
    /// The sender's own comment buffer (its explanations are not the recorded host's).
    text: String,
    /// Buffers of frames that arrived, for the next ones.
    spare_bytes: Vec<Vec<u8>>,
    /// Buffers of their explanations.
    spare_text: Vec<String>,
}

impl Relay {
    /// Keeps a copy of `frame`, sent at `time`.
    pub(super) fn push(&mut self, time: Instant, frame: &[u8]) {
        let mut data = self.spare_bytes.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(frame);
        self.sent.push((time, data));
    }

    /// Has the frames sent explained by their sender (the host polling now).
    pub(super) fn explain(&mut self, explain: &mut dyn FnMut(&PendingFrame, &mut String)) {
        for (time, data) in std::mem::take(&mut self.sent) {
            let frame = PendingFrame {
                interface: 0,
                direction: Direction::Inbound,
                time,
                data: &data,
                // Numbered only when it arrives at the recorded host.
                number: 0,
                first: time,
                explained: None,
                tso: None,
            };
            explain(&frame, &mut self.text);
            if self.explained.len() >= RELAYED_LIMIT {
                self.explained.pop_front();
            }
            let mut text = self.spare_text.pop().unwrap_or_default();
            text.clone_from(&self.text);
            self.explained.push_back((data, text));
        }
    }

    /// The oldest explained frame with exactly these bytes, if any: (its bytes, explanation).
    #[inline]
    pub(super) fn take(&mut self, data: &[u8]) -> Option<(Vec<u8>, String)> {
        if self.explained.is_empty() {
            return None;
        }
        let i = self
            .explained
            .iter()
            .position(|(b, _)| b.as_slice() == data)?;
        self.explained.remove(i)
    }

    /// Returns the buffers of an arrived frame for reuse.
    pub(super) fn give_back(&mut self, bytes: Vec<u8>, text: String) {
        self.spare_bytes.push(bytes);
        self.spare_text.push(text);
    }
}
