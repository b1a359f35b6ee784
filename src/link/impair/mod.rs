//! # Impairments: a cable that loses, duplicates, reorders and corrupts
//!
//! Layer: device middleware (phy), like smoltcp's `FaultInjector`. [`Impair`] wraps any smoltcp
//! [`Device`] (the in-process cable's end, a TUN device) and impairs the frames it sends
//! (outbound) and receives (inbound), each direction with its own [`Rates`] and its own seeded
//! random numbers, plus targeted drops ([`DropSpec`]). Put a capture outside it
//! (`Capture<Impair<D>>`): outbound frames are recorded before their fate (lost, corrupted "after
//! the tap"), inbound ones after it (a lost one never reaches the tapped interface). Every fault
//! is counted and told through the run's [`Faults`] book. Knows nothing of FTP.
//!
//! A duplicate follows the original after [`DUPLICATE_GAP`]; a reordered frame is held
//! back until the next frame of its direction has passed (or [`HOLD_LIMIT`] has gone by); a
//! corrupted frame has one bit of its TCP header or payload flipped, so the receiving stack's
//! checksum check drops it.

mod faults;
mod plan;
mod spec;
mod tokens;

use std::cell::RefCell;
use std::collections::VecDeque;

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::{Duration, Instant};

pub use faults::{DirStats, Fault, Faults};
pub use plan::{ImpairDir, ImpairPlan, parse_percent, parse_rate};
pub use spec::{DropKind, DropSpec, Peek};
use tokens::Rx;
pub use tokens::{RxToken, TxToken};

use crate::link::NextArrival;
use crate::link::rng::Rng;

/// How long a reordered frame waits for a later frame to overtake it before it goes anyway.
pub const HOLD_LIMIT: Duration = Duration::from_millis(1);
/// How long after the original a duplicate follows it (so that the receiver has taken the
/// original in, and answers the copy as the old segment it is).
pub const DUPLICATE_GAP: Duration = Duration::from_micros(100);

/// The chances, in percent, of each random fault in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    /// A frame is lost.
    pub loss: f64,
    /// A frame is delivered twice.
    pub duplicate: f64,
    /// A frame is held back behind the next one.
    pub reorder: f64,
    /// A frame has one bit flipped.
    pub corrupt: f64,
}

impl Rates {
    /// No random fault at all.
    pub fn is_none(&self) -> bool {
        self.loss <= 0.0 && self.duplicate <= 0.0 && self.reorder <= 0.0 && self.corrupt <= 0.0
    }
}

/// One direction of an [`Impair`]: its rates and where it is counted in the [`Faults`] book.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    /// Chances of the random faults.
    pub rates: Rates,
    /// Its index in the book ([`Faults::add_direction`]); also its random stream.
    pub dir: usize,
}

struct SideState {
    side: Side,
    rng: Rng,
}

/// What happens to one frame.
#[derive(Default)]
struct Fate {
    lost: Option<String>,
    corrupt_bit: Option<usize>,
    duplicate: bool,
    reorder: bool,
}

type Notes = Vec<(Fault, String)>;

struct Shared {
    faults: Faults,
    sides: [SideState; 2],
    active: [bool; 2],
    drops: Vec<(DropSpec, u64)>,
    /// Outbound copies (duplicates, released held frames) and when they go.
    outbox: VecDeque<(Instant, Vec<u8>)>,
    held_out: Option<(Instant, Vec<u8>)>,
    inbox: VecDeque<(Vec<u8>, Notes)>,
    /// Inbound duplicates and when they are delivered.
    dups_in: VecDeque<(Instant, Vec<u8>, Notes)>,
    held_in: Option<(Instant, Vec<u8>, Notes)>,
    spare: Vec<Vec<u8>>,
    last: Instant,
}

/// Middleware device that impairs the frames of the device it wraps (see the module's doc).
pub struct Impair<D> {
    inner: D,
    shared: RefCell<Shared>,
}

const OUT: usize = 0;
const IN: usize = 1;

impl<D: Device> Impair<D> {
    /// Impairs `inner`'s outbound frames as `out` says and its inbound ones as `inbound` says,
    /// drops the frames `drops` name (either way), seeded by `seed`, told in `faults`.
    pub fn new(
        inner: D,
        out: Side,
        inbound: Side,
        drops: Vec<DropSpec>,
        seed: u64,
        faults: Faults,
    ) -> Self {
        let state = |side: Side| SideState {
            side,
            rng: Rng::new(seed, 0x1AB0 + side.dir as u64),
        };
        let has_drops = !drops.is_empty();
        Impair {
            inner,
            shared: RefCell::new(Shared {
                faults,
                active: [
                    has_drops || !out.rates.is_none(),
                    has_drops || !inbound.rates.is_none(),
                ],
                sides: [state(out), state(inbound)],
                drops: drops.into_iter().map(|d| (d, 0)).collect(),
                outbox: VecDeque::new(),
                held_out: None,
                inbox: VecDeque::new(),
                dups_in: VecDeque::new(),
                held_in: None,
                spare: Vec::new(),
                last: Instant::ZERO,
            }),
        }
    }

    /// The wrapped device.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    /// True if the middleware holds frames to deliver or send later (a device that sleeps
    /// until a frame comes must wake up for them).
    pub fn holds_frames(&self) -> bool {
        let sh = self.shared.borrow();
        !sh.outbox.is_empty()
            || !sh.inbox.is_empty()
            || !sh.dups_in.is_empty()
            || sh.held_out.is_some()
            || sh.held_in.is_some()
    }

    /// Starts the random numbers over from `seed` (and the `--drop` counts from zero): from
    /// here on the Nth frame of each direction meets the fate the Nth frame met after
    /// [`Impair::new`] with that seed. A relay does this between runs, so that two servers
    /// measured one after the other lose the same frames.
    pub fn reseed(&mut self, seed: u64) {
        let sh = self.shared.get_mut();
        for st in &mut sh.sides {
            st.rng = Rng::new(seed, 0x1AB0 + st.side.dir as u64);
        }
        for (_, count) in &mut sh.drops {
            *count = 0;
        }
    }

    /// The fault book.
    pub fn faults(&self) -> Faults {
        self.shared.borrow().faults.clone()
    }

    /// Sends the cable's own copies (duplicates, held frames) whose time has come.
    fn flush(&mut self, now: Instant) {
        let sh = self.shared.get_mut();
        sh.last = now;
        if let Some((at, _)) = &sh.held_out
            && now >= *at + HOLD_LIMIT
            && let Some((_, frame)) = sh.held_out.take()
        {
            sh.outbox.push_back((now, frame));
        }
        if !sh.outbox.iter().any(|(at, _)| *at <= now) {
            return;
        }
        sh.faults.set_flushing(true);
        let mut later = VecDeque::new();
        while let Some((at, frame)) = sh.outbox.pop_front() {
            if at > now {
                later.push_back((at, frame));
                continue;
            }
            if let Some(token) = self.inner.transmit(now) {
                phy::TxToken::consume(token, frame.len(), |b| b.copy_from_slice(&frame));
            }
            sh.spare.push(frame);
        }
        sh.outbox = later;
        sh.faults.set_flushing(false);
    }

    /// Takes inbound frames from the wrapped device until one can be delivered.
    fn pull(&mut self, now: Instant) {
        let sh = self.shared.get_mut();
        for _ in 0..256 {
            if !sh.inbox.is_empty() {
                return;
            }
            let Some((rx, _)) = self.inner.receive(now) else {
                if let Some((at, ..)) = &sh.held_in
                    && now >= *at + HOLD_LIMIT
                    && let Some((_, frame, notes)) = sh.held_in.take()
                {
                    sh.inbox.push_back((frame, notes));
                }
                return;
            };
            let mut buf = sh.spare.pop().unwrap_or_default();
            phy::RxToken::consume(rx, |b| {
                buf.clear();
                buf.extend_from_slice(b);
            });
            let dir = sh.sides[IN].side.dir;
            sh.faults.sent(dir);
            let number = sh.faults.seen() + 1;
            let fate = sh.decide(IN, &buf, number);
            if let Some(why) = fate.lost {
                sh.faults.tell(dir, Fault::Lost, &buf, &why);
                sh.spare.push(buf);
                continue;
            }
            let mut notes = Notes::new();
            if let Some(bit) = fate.corrupt_bit {
                buf[bit / 8] ^= 1 << (bit % 8);
                let why = format!(
                    "bit {bit} flipped (--corrupt {}%)",
                    sh.sides[IN].side.rates.corrupt
                );
                notes.push((Fault::Corrupted, why));
            }
            if fate.reorder && sh.held_in.is_none() {
                let why = format!("--reorder {}%", sh.sides[IN].side.rates.reorder);
                notes.push((Fault::Reordered, why));
                sh.held_in = Some((now, buf, notes));
                continue;
            }
            if let Some((_, held, _)) = &sh.held_in
                && let Some(p) = Peek::of(held)
            {
                let why = format!(
                    "{} (--reorder {}%)",
                    p.describe(),
                    sh.sides[IN].side.rates.reorder
                );
                notes.push((Fault::Overtakes, why));
            }
            if fate.duplicate {
                let why = format!("--duplicate {}%", sh.sides[IN].side.rates.duplicate);
                let mut copy = notes.clone();
                copy.retain(|(f, _)| *f != Fault::Overtakes);
                copy.push((Fault::Duplicated, why));
                sh.dups_in
                    .push_back((now + DUPLICATE_GAP, buf.clone(), copy));
            }
            sh.inbox.push_back((buf, notes));
            if let Some((_, frame, notes)) = sh.held_in.take() {
                sh.inbox.push_back((frame, notes));
            }
        }
    }
}

impl Shared {
    /// Decides the fate of `frame` on side `s`; `number` is its frame number at the tapped
    /// interface. The random numbers drawn do not depend on earlier fates.
    fn decide(&mut self, s: usize, frame: &[u8], number: u64) -> Fate {
        let mut fate = Fate::default();
        if !self.drops.is_empty() {
            let peek = Peek::of(frame);
            for (spec, count) in &mut self.drops {
                let hit = if spec.kind == DropKind::Frame {
                    // Once: a frame lost before the tap leaves its number to the next one.
                    let hit = *count == 0 && number == spec.nth && spec.counts(peek.as_ref());
                    *count += u64::from(hit);
                    hit
                } else if spec.counts(peek.as_ref()) {
                    *count += 1;
                    *count == spec.nth
                } else {
                    false
                };
                if hit && fate.lost.is_none() {
                    fate.lost = Some(format!("--drop {spec}"));
                }
            }
        }
        let st = &mut self.sides[s];
        let rates = st.side.rates;
        if rates.is_none() {
            return fate;
        }
        let rng = &mut st.rng;
        let (lost, corrupt, dup, reorder) = (
            rng.chance(rates.loss),
            rng.chance(rates.corrupt),
            rng.chance(rates.duplicate),
            rng.chance(rates.reorder),
        );
        let start = Peek::of(frame).map_or(0, |p| p.tcp_offset) * 8;
        let bits = (frame.len() * 8).saturating_sub(start).max(1) as u64;
        let bit = start + rng.below(bits) as usize;
        if lost && fate.lost.is_none() {
            fate.lost = Some(format!("--loss {}%", rates.loss));
        }
        fate.corrupt_bit = (corrupt && bit < frame.len() * 8).then_some(bit);
        fate.duplicate = dup;
        fate.reorder = reorder;
        fate
    }
}

impl<D: Device> Device for Impair<D> {
    type RxToken<'a>
        = RxToken<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, D::TxToken<'a>>
    where
        Self: 'a;

    #[inline]
    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.flush(timestamp);
        if !self.shared.get_mut().active[IN] {
            let (rx, tx) = self.inner.receive(timestamp)?;
            let sh = self.shared.get_mut();
            sh.faults.sent(sh.sides[IN].side.dir);
            sh.faults.see();
            return Some((
                RxToken(Rx::Pass(rx)),
                TxToken {
                    inner: tx,
                    shared: &self.shared,
                    now: timestamp,
                },
            ));
        }
        if self
            .shared
            .get_mut()
            .dups_in
            .front()
            .is_none_or(|(at, ..)| *at > timestamp)
        {
            self.pull(timestamp);
        }
        let sh = self.shared.get_mut();
        let due = sh.dups_in.front().is_some_and(|(at, ..)| *at <= timestamp);
        let (frame, notes) = match due {
            true => sh.dups_in.pop_front().map(|(_, f, n)| (f, n))?,
            false => sh.inbox.pop_front()?,
        };
        let dir = sh.sides[IN].side.dir;
        for (fault, why) in notes {
            sh.faults.tell(dir, fault, &frame, &why);
        }
        sh.faults.see();
        let tx = self.inner.transmit(timestamp)?;
        Some((
            RxToken(Rx::Owned(frame, &self.shared)),
            TxToken {
                inner: tx,
                shared: &self.shared,
                now: timestamp,
            },
        ))
    }

    #[inline]
    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        self.flush(timestamp);
        let inner = self.inner.transmit(timestamp)?;
        Some(TxToken {
            inner,
            shared: &self.shared,
            now: timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl<D: NextArrival> NextArrival for Impair<D> {
    fn next_arrival(&self) -> Option<Instant> {
        let sh = self.shared.borrow();
        let copies = (!sh.inbox.is_empty()).then_some(sh.last);
        [
            self.inner.next_arrival(),
            copies,
            sh.outbox.iter().map(|(at, _)| *at).min(),
            sh.dups_in.front().map(|(at, ..)| *at),
            sh.held_out.as_ref().map(|(at, _)| *at + HOLD_LIMIT),
            sh.held_in.as_ref().map(|(at, ..)| *at + HOLD_LIMIT),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
mod tests;
