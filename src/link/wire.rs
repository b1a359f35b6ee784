//! # In-process wire
//!
//! Layer: device (phy). Two smoltcp [`Device`]s joined by an in-process cable: what one end
//! transmits, the other receives, after an optional one-way delay. Frames are raw IPv4 (smoltcp's
//! `Medium::Ip`), checksums are really computed and verified by the stacks, and frame buffers are
//! recycled so the hot path does not allocate. Both ends live in one thread (`Rc<RefCell<_>>`);
//! the cable knows nothing of FTP.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};

/// How many frames may wait on the cable in one direction before more are dropped (a bound, not
/// a feature: smoltcp's windows keep real runs far below it).
const QUEUE_LIMIT: usize = 16 * 1024;

/// The cable's properties.
#[derive(Clone, Copy, Debug)]
pub struct WireConfig {
    /// IP MTU of both ends, in bytes (default 1500).
    pub mtu: usize,
    /// One-way delay of every frame (default zero).
    pub delay: Duration,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            mtu: 1500,
            delay: Duration::ZERO,
        }
    }
}

struct Frame {
    deliver_at: Instant,
    data: Vec<u8>,
}

#[derive(Default)]
struct Cable {
    /// `queues[i]` holds the frames travelling towards end `i`.
    queues: [VecDeque<Frame>; 2],
    spare: Vec<Vec<u8>>,
    dropped: u64,
}

/// One end of the in-process cable: a smoltcp [`Device`] of medium IP.
pub struct WireEnd {
    cable: Rc<RefCell<Cable>>,
    side: usize,
    config: WireConfig,
}

/// Makes a cable and returns its two ends.
pub fn pair(config: WireConfig) -> (WireEnd, WireEnd) {
    let cable = Rc::new(RefCell::new(Cable::default()));
    let end = |side| WireEnd {
        cable: cable.clone(),
        side,
        config,
    };
    (end(0), end(1))
}

impl WireEnd {
    /// When the next frame towards this end becomes receivable, if any is on the cable.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.cable.borrow().queues[self.side]
            .front()
            .map(|f| f.deliver_at)
    }

    /// Frames dropped because a direction's queue was full.
    pub fn dropped(&self) -> u64 {
        self.cable.borrow().dropped
    }
}

impl Device for WireEnd {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    #[inline]
    fn receive(&mut self, timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let frame = {
            let mut cable = self.cable.borrow_mut();
            let queue = &mut cable.queues[self.side];
            if queue.front()?.deliver_at > timestamp {
                return None;
            }
            queue.pop_front()?
        };
        Some((
            RxToken {
                cable: &self.cable,
                data: frame.data,
            },
            self.tx_token(timestamp),
        ))
    }

    #[inline]
    fn transmit(&mut self, timestamp: Instant) -> Option<TxToken<'_>> {
        Some(self.tx_token(timestamp))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.config.mtu;
        caps
    }
}

impl WireEnd {
    #[inline]
    fn tx_token(&self, timestamp: Instant) -> TxToken<'_> {
        TxToken {
            cable: &self.cable,
            towards: 1 - self.side,
            deliver_at: timestamp + self.config.delay,
        }
    }
}

/// Receive token of a [`WireEnd`]: owns the frame until consumed, then recycles its buffer.
pub struct RxToken<'a> {
    cable: &'a RefCell<Cable>,
    data: Vec<u8>,
}

impl phy::RxToken for RxToken<'_> {
    #[inline]
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(&self.data);
        self.cable.borrow_mut().spare.push(self.data);
        result
    }
}

/// Transmit token of a [`WireEnd`]: puts the frame on the cable towards the other end.
pub struct TxToken<'a> {
    cable: &'a RefCell<Cable>,
    towards: usize,
    deliver_at: Instant,
}

impl phy::TxToken for TxToken<'_> {
    #[inline]
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut data = self.cable.borrow_mut().spare.pop().unwrap_or_default();
        // The stack writes all `len` bytes; resizing a recycled buffer without clearing it
        // first spares a memset of every frame.
        data.resize(len, 0);
        let result = f(&mut data);
        let mut cable = self.cable.borrow_mut();
        if cable.queues[self.towards].len() >= QUEUE_LIMIT {
            cable.dropped += 1;
            cable.spare.push(data);
        } else {
            cable.queues[self.towards].push_back(Frame {
                deliver_at: self.deliver_at,
                data,
            });
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{RxToken as _, TxToken as _};

    #[test]
    fn frames_cross_in_order_after_the_delay() {
        let config = WireConfig {
            mtu: 1500,
            delay: Duration::from_millis(5),
        };
        let (mut a, mut b) = pair(config);
        let t0 = Instant::from_millis(100);
        for byte in [1u8, 2] {
            a.transmit(t0).unwrap().consume(3, |buf| buf.fill(byte));
        }
        assert!(b.receive(t0).is_none(), "delivered before the delay");
        assert_eq!(b.next_arrival(), Some(Instant::from_millis(105)));
        let t1 = Instant::from_millis(105);
        for byte in [1u8, 2] {
            let (rx, _) = b.receive(t1).unwrap();
            rx.consume(|buf| assert_eq!(buf, &[byte; 3]));
        }
        assert!(b.receive(t1).is_none());
        assert!(a.receive(t1).is_none(), "a frame came back to its sender");
        assert_eq!(b.capabilities().max_transmission_unit, 1500);
    }
}
