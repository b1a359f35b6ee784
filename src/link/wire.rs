//! # In-process wire
//!
//! Layer: device (phy). Two smoltcp [`Device`]s joined by an in-process cable: what one end
//! transmits, the other receives. Each direction is a link of its own: an optional bit rate (a
//! frame occupies the link for its size / rate, so back-to-back frames arrive spaced out), a
//! drop-tail queue in front of it (`queue` frames may wait; more are dropped and told in the
//! run's [`Faults`]), a one-way delay and a seeded jitter (which never reorders: frames leave in
//! order). Frames are raw IP (smoltcp's `Medium::Ip`), checksums are really computed and verified
//! by the stacks, and frame buffers are recycled so the hot path does not allocate. Both ends
//! live in one thread (`Rc<RefCell<_>>`); the cable knows nothing of FTP.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};

use crate::link::impair::{Fault, Faults};
use crate::link::rng::Rng;

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
    /// Bit rate of each direction, bit/s (`None`: frames take no time to send).
    pub rate: Option<u64>,
    /// Frames that may wait for the link in each direction (`None`: no limit but a bound far
    /// above what smoltcp's windows reach). Without a rate no frame ever waits.
    pub queue: Option<usize>,
    /// Each frame's delay varies by up to this much either way, seeded (frames stay in order).
    pub jitter: Duration,
    /// Seed of the jitter.
    pub seed: u64,
}

impl Default for WireConfig {
    fn default() -> Self {
        WireConfig {
            mtu: 1500,
            delay: Duration::ZERO,
            rate: None,
            queue: None,
            jitter: Duration::ZERO,
            seed: 0,
        }
    }
}

struct Frame {
    deliver_at: Instant,
    data: Vec<u8>,
}

/// One direction's link: when it is free again, the frames it has not finished sending, and
/// the latest delivery time (jitter never overtakes it).
#[derive(Default)]
struct Link {
    /// In nanoseconds since the epoch of smoltcp's clock.
    free_at_ns: i128,
    /// Serialization end of every frame still being sent or waiting, in nanoseconds.
    busy: VecDeque<i128>,
    last_delivery: Option<Instant>,
    rng: Option<Rng>,
}

#[derive(Default)]
struct Cable {
    /// `queues[i]` holds the frames travelling towards end `i`.
    queues: [VecDeque<Frame>; 2],
    links: [Link; 2],
    spare: Vec<Vec<u8>>,
    dropped: u64,
    /// The fault book and, per direction (towards end `i`), its index there.
    faults: Option<(Faults, [usize; 2])>,
}

/// One end of the in-process cable: a smoltcp [`Device`] of medium IP.
pub struct WireEnd {
    cable: Rc<RefCell<Cable>>,
    side: usize,
    config: WireConfig,
}

/// Makes a cable and returns its two ends.
pub fn pair(config: WireConfig) -> (WireEnd, WireEnd) {
    pair_told(config, None)
}

/// Makes a cable whose queue drops are counted and told in `faults`, at the direction index
/// `dirs[i]` for frames travelling towards end `i`.
pub fn pair_told(config: WireConfig, faults: Option<(Faults, [usize; 2])>) -> (WireEnd, WireEnd) {
    let mut cable = Cable {
        faults,
        ..Cable::default()
    };
    for (i, link) in cable.links.iter_mut().enumerate() {
        link.rng =
            (config.jitter > Duration::ZERO).then(|| Rng::new(config.seed, 0x717 + i as u64));
    }
    let cable = Rc::new(RefCell::new(cable));
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

    /// Frames dropped because a direction's queue was full (both directions).
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
            now: timestamp,
            config: &self.config,
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
    now: Instant,
    config: &'a WireConfig,
}

impl Link {
    /// When a frame of `len` bytes handed over at `now` arrives, or `None` if the queue is full.
    #[inline]
    fn schedule(&mut self, config: &WireConfig, now: Instant, len: usize) -> Option<Instant> {
        let mut leaves = now;
        if let Some(rate) = config.rate {
            let now_ns = now.total_micros() as i128 * 1000;
            while self.busy.front().is_some_and(|end| *end <= now_ns) {
                self.busy.pop_front();
            }
            // One frame is on the link; the others wait in the queue.
            let waiting = self.busy.len().saturating_sub(1);
            if config
                .queue
                .is_some_and(|q| !self.busy.is_empty() && waiting >= q)
            {
                return None;
            }
            let start = self.free_at_ns.max(now_ns);
            let end = start + (len as i128 * 8 * 1_000_000_000) / rate.max(1) as i128;
            self.free_at_ns = end;
            self.busy.push_back(end);
            // smoltcp's clock counts microseconds: round up, never arrive early.
            leaves = Instant::from_micros(((end + 999) / 1000) as i64);
        }
        let mut at = leaves + config.delay;
        if let Some(rng) = &mut self.rng {
            let j = config.jitter.total_micros();
            let shift = rng.below(2 * j + 1) as i64 - j as i64;
            at = Instant::from_micros((at.total_micros() + shift).max(leaves.total_micros()));
        }
        if let Some(last) = self.last_delivery {
            at = at.max(last);
        }
        self.last_delivery = Some(at);
        Some(at)
    }
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
        let cable = &mut *cable;
        let deliver_at = if cable.queues[self.towards].len() >= QUEUE_LIMIT {
            None
        } else {
            cable.links[self.towards].schedule(self.config, self.now, len)
        };
        match deliver_at {
            Some(deliver_at) => cable.queues[self.towards].push_back(Frame { deliver_at, data }),
            None => {
                cable.dropped += 1;
                if let Some((faults, dirs)) = &cable.faults {
                    let why = match self.config.queue {
                        Some(q) => format!("--queue {q} full"),
                        None => format!("the cable's bound of {QUEUE_LIMIT} frames"),
                    };
                    faults.tell(dirs[self.towards], Fault::QueueDrop, &data, &why);
                }
                cable.spare.push(data);
            }
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
            ..WireConfig::default()
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

    #[test]
    fn a_bit_rate_spaces_frames_and_a_full_queue_drops() {
        let config = WireConfig {
            delay: Duration::from_millis(5),
            rate: Some(10_000_000),
            queue: Some(1),
            ..WireConfig::default()
        };
        let (mut a, b) = pair(config);
        let t0 = Instant::from_millis(100);
        // 1250 bytes take 1 ms at 10 Mbit/s: one on the link, one waits, the third is dropped.
        for byte in [1u8, 2, 3] {
            a.transmit(t0).unwrap().consume(1250, |buf| buf.fill(byte));
        }
        assert_eq!(b.next_arrival(), Some(Instant::from_millis(106)));
        assert_eq!(a.dropped(), 1);
        let cable = b.cable.borrow();
        let times: Vec<i64> = cable.queues[1]
            .iter()
            .map(|f| f.deliver_at.total_millis())
            .collect();
        assert_eq!(times, [106, 107]);
    }
}
