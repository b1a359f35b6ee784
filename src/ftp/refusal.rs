//! # Refusal: the session over the limit
//!
//! Layer: application protocol (sans-IO). When a server already serves as many sessions as it
//! may, the next control connection is still accepted, told `421` and closed, so the client
//! learns why instead of seeing a reset.

use crate::ftp::reply::Reply;
use crate::ftp::{DataAction, DataEvent, Endpoint, Outbox};

/// An endpoint that says `421` and asks for the connection to be closed.
#[derive(Debug)]
pub struct Refusal {
    out: Outbox,
}

impl Refusal {
    /// Queues `421 <text>`.
    pub fn new(text: &str) -> Self {
        let mut out = Outbox::default();
        out.push(&Reply::new(421, text).to_bytes());
        Refusal { out }
    }
}

impl Endpoint for Refusal {
    fn handle_control(&mut self, _bytes: &[u8]) {}
    fn control_out(&self) -> &[u8] {
        self.out.bytes()
    }
    fn control_sent(&mut self, n: usize) {
        self.out.sent(n);
    }
    fn poll_action(&mut self) -> Option<DataAction> {
        None
    }
    fn handle_data_event(&mut self, _event: DataEvent) {}
    fn read_data(&mut self, _buf: &mut [u8]) -> usize {
        0
    }
    fn write_data(&mut self, _data: &[u8]) {}
    fn wants_close(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_421_then_wants_to_close() {
        let mut r = Refusal::new("Too many sessions, try again later.");
        assert_eq!(
            r.control_out(),
            b"421 Too many sessions, try again later.\r\n"
        );
        assert!(r.wants_close());
        r.control_sent(4);
        assert_eq!(r.control_out(), b"Too many sessions, try again later.\r\n");
        assert_eq!(r.poll_action(), None);
    }
}
