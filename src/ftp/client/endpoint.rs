//! The client as an [`Endpoint`]: the inputs (reply bytes, data events, the time) and the
//! outputs the network layer polls.

use super::{Client, Line, State};
use crate::ftp::{DataAction, DataEvent, Endpoint, Event, Now, Read};

impl Endpoint for Client {
    /// Feeds reply bytes; the client needs no time for them (`now` is for its timeout only,
    /// handed in with [`Endpoint::handle_timeout`]).
    fn handle_control(&mut self, bytes: &[u8], _now: Now) {
        if !bytes.is_empty() {
            self.timer.activity();
        }
        self.lines.push(bytes);
        while let Some(line) = self.lines.next_line() {
            let line = match line {
                Line::Complete(l) => l,
                Line::TooLong => {
                    log::warn!("overlong reply line ignored");
                    continue;
                }
            };
            match self.parser.feed_line(&line) {
                Ok(Some(reply)) => self.on_reply(reply),
                Ok(None) => {}
                Err(e) => log::warn!("{e}"),
            }
        }
    }

    /// The server closed the control connection: fatal unless we sent `QUIT`.
    fn handle_control_closed(&mut self, _now: Now) {
        self.control_closed();
    }

    fn handle_data_event(&mut self, event: DataEvent, _now: Now) {
        self.data_event(event);
    }

    fn handle_timeout(&mut self, now: Now) {
        self.fire_timer(now.mono);
    }

    /// Command bytes waiting to be sent on the control connection.
    fn control_out(&self) -> &[u8] {
        self.out.bytes()
    }

    fn control_sent(&mut self, n: usize) {
        self.out.sent(n);
    }

    fn poll_action(&mut self) -> Option<DataAction> {
        self.actions.pop_front()
    }

    /// Each step's outcome as it finishes, then [`Event::Ended`] once `221` came after `QUIT`
    /// or a fatal error ended the session ([`Client::error`]).
    fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        if matches!(self.state, State::Done) && !self.ended_told {
            self.ended_told = true;
            return Some(Event::Ended);
        }
        None
    }

    fn poll_timeout(&self) -> Option<std::time::Duration> {
        self.next_timeout()
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Read {
        self.read_source(buf)
    }

    fn write_data(&mut self, data: &[u8]) {
        self.write_sink_data(data);
    }
}
