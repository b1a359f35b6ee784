//! # Refusal: the session over the limit
//!
//! Layer: application protocol (sans-IO). When a server already serves as many sessions as it
//! may, the next control connection is still accepted, told `421` and closed, so the client
//! learns why instead of seeing a reset.

use crate::ftp::reply::Reply;
use std::time::Duration;

use crate::ftp::{DataAction, DataEvent, Endpoint, Event, Now, Outbox, Read};

/// An endpoint that says `421` and asks for the connection to be closed.
#[derive(Debug)]
pub struct Refusal {
    out: Outbox,
    ended_told: bool,
}

impl Refusal {
    /// Queues `421 <text>`.
    pub fn new(text: &str) -> Self {
        let mut out = Outbox::default();
        out.push(&Reply::new(421, text).to_bytes());
        Refusal {
            out,
            ended_told: false,
        }
    }
}

impl Endpoint for Refusal {
    fn handle_control(&mut self, _bytes: &[u8], _now: Now) {}
    fn handle_control_closed(&mut self, _now: Now) {}
    fn handle_data_event(&mut self, _event: DataEvent, _now: Now) {}
    fn handle_timeout(&mut self, _now: Now) {}
    fn control_out(&self) -> &[u8] {
        self.out.bytes()
    }
    fn control_sent(&mut self, n: usize) {
        self.out.sent(n);
    }
    fn poll_action(&mut self) -> Option<DataAction> {
        None
    }
    /// [`Event::Ended`] at once: the connection closes after the `421`.
    fn poll_event(&mut self) -> Option<Event> {
        (!std::mem::replace(&mut self.ended_told, true)).then_some(Event::Ended)
    }
    fn poll_timeout(&self) -> Option<Duration> {
        None
    }
    fn read_data(&mut self, _buf: &mut [u8]) -> Read {
        Read::last(0)
    }
    fn write_data(&mut self, _data: &[u8]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ftp::Endpoint;

    #[test]
    fn says_421_then_wants_to_close() {
        let mut r = Refusal::new("Too many sessions, try again later.");
        assert_eq!(
            r.control_out(),
            b"421 Too many sessions, try again later.\r\n"
        );
        assert_eq!(r.poll_event(), Some(Event::Ended));
        assert_eq!(r.poll_event(), None);
        r.control_sent(4);
        assert_eq!(r.control_out(), b"Too many sessions, try again later.\r\n");
        assert_eq!(r.poll_action(), None);
    }
}
