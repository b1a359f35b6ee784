//! # The tokens of [`Impair`]
//!
//! Layer: device middleware (phy). The receive token hands over the wrapped device's frame or
//! one the middleware took in and impaired; the transmit token lets the stack write the frame,
//! then decides its fate (lost, corrupted, held back, duplicated) before it reaches the device.

use std::cell::RefCell;

use smoltcp::phy;
use smoltcp::time::Instant;

use super::{DUPLICATE_GAP, Fault, OUT, Shared};

/// Receive token of an [`Impair`]: the wrapped device's, or a frame the middleware holds.
pub struct RxToken<'a, R>(pub(super) Rx<'a, R>);

pub(super) enum Rx<'a, R> {
    /// Straight from the wrapped device.
    Pass(R),
    /// A frame taken in and impaired by the middleware.
    Owned(Vec<u8>, &'a RefCell<Shared>),
}

impl<R: phy::RxToken> phy::RxToken for RxToken<'_, R> {
    #[inline]
    fn consume<T, F: FnOnce(&[u8]) -> T>(self, f: F) -> T {
        match self.0 {
            Rx::Pass(rx) => rx.consume(f),
            Rx::Owned(frame, shared) => {
                let result = f(&frame);
                shared.borrow_mut().spare.push(frame);
                result
            }
        }
    }

    fn meta(&self) -> phy::PacketMeta {
        match &self.0 {
            Rx::Pass(rx) => rx.meta(),
            Rx::Owned(..) => phy::PacketMeta::default(),
        }
    }
}

/// Transmit token of an [`Impair`].
pub struct TxToken<'a, T> {
    pub(super) inner: T,
    pub(super) shared: &'a RefCell<Shared>,
    pub(super) now: Instant,
}

impl<T: phy::TxToken> phy::TxToken for TxToken<'_, T> {
    #[inline]
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let TxToken { inner, shared, now } = self;
        let mut sh = shared.borrow_mut();
        let dir = sh.sides[OUT].side.dir;
        sh.faults.sent(dir);
        sh.faults.see();
        if !sh.active[OUT] {
            drop(sh);
            return inner.consume(len, f);
        }
        let mut buf = sh.spare.pop().unwrap_or_default();
        drop(sh);
        buf.clear();
        buf.resize(len, 0);
        let result = f(&mut buf);
        let mut sh = shared.borrow_mut();
        let number = sh.faults.seen();
        let fate = sh.decide(OUT, &buf, number);
        let rates = sh.sides[OUT].side.rates;
        if let Some(why) = fate.lost {
            sh.faults.tell(dir, Fault::Lost, &buf, &why);
            sh.spare.push(buf);
            return result;
        }
        if let Some(bit) = fate.corrupt_bit {
            let why = format!("bit {bit} flipped (--corrupt {}%)", rates.corrupt);
            sh.faults.tell(dir, Fault::Corrupted, &buf, &why);
            buf[bit / 8] ^= 1 << (bit % 8);
        }
        if fate.reorder && sh.held_out.is_none() {
            let why = format!("--reorder {}%", rates.reorder);
            sh.faults.tell(dir, Fault::Reordered, &buf, &why);
            sh.held_out = Some((now, buf));
            return result;
        }
        if fate.duplicate {
            let why = format!("--duplicate {}%", rates.duplicate);
            sh.faults.tell(dir, Fault::Duplicated, &buf, &why);
        }
        drop(sh);
        inner.consume(len, |b| b.copy_from_slice(&buf));
        let mut sh = shared.borrow_mut();
        if let Some((_, held)) = sh.held_out.take() {
            sh.outbox.push_back((now, held));
        }
        if fate.duplicate {
            sh.outbox.push_back((now + DUPLICATE_GAP, buf));
        } else {
            sh.spare.push(buf);
        }
        result
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.inner.set_meta(meta)
    }
}
