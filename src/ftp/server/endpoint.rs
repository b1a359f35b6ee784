//! The server session as an [`Endpoint`]: the inputs (control bytes, data events, the time)
//! and the outputs the network layer polls.

use super::{MAX_QUEUED_LINES, MAX_UNSENT, Session};
use crate::ftp::{DataAction, DataEvent, Endpoint, Event, Now, Read};

impl Endpoint for Session {
    /// Feeds bytes received on the control connection.
    fn handle_control(&mut self, bytes: &[u8], now: Now) {
        self.now = now.wall;
        if self.closing {
            return;
        }
        if self.lines.push(bytes) > 0 {
            self.timers.activity();
        }
        self.process();
    }

    /// Nothing to do: the session ends when the network layer has closed its side too.
    fn handle_control_closed(&mut self, now: Now) {
        self.now = now.wall;
    }

    fn handle_data_event(&mut self, event: DataEvent, now: Now) {
        self.now = now.wall;
        self.data_event(event);
    }

    fn handle_timeout(&mut self, now: Now) {
        self.now = now.wall;
        self.fire_timers(now.mono);
    }

    /// Reply bytes waiting to be sent on the control connection.
    fn control_out(&self) -> &[u8] {
        self.out.bytes()
    }

    fn control_sent(&mut self, n: usize) {
        let full = self.out.bytes().len() >= MAX_UNSENT;
        self.out.sent(n);
        if full {
            // Lines left waiting for room in the outbox go on.
            self.process();
        }
    }

    fn poll_action(&mut self) -> Option<DataAction> {
        self.actions.pop_front()
    }

    /// [`Event::Ended`] once `QUIT` was answered (or the session gave up with `421`).
    fn poll_event(&mut self) -> Option<Event> {
        if self.closing && !self.ended_told {
            self.ended_told = true;
            return Some(Event::Ended);
        }
        None
    }

    fn poll_timeout(&self) -> Option<std::time::Duration> {
        self.next_timeout()
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Read {
        self.read_payload(buf)
    }

    fn write_data(&mut self, data: &[u8]) {
        self.write_payload(data);
    }

    /// False while the replies not yet taken exceed [`MAX_UNSENT`] or [`MAX_QUEUED_LINES`]
    /// lines wait. The session still accepts bytes fed meanwhile; this is what keeps its
    /// memory bounded (the peer's TCP window closes instead).
    fn wants_control(&self) -> bool {
        self.closing
            || (self.out.bytes().len() < MAX_UNSENT
                && self.held.len() + self.lines.pending() < MAX_QUEUED_LINES)
    }
}
