//! # Link layer
//!
//! Layer: devices and device middleware (smoltcp's phy layer). Devices move raw IP frames
//! ([`wire`]: an in-process cable; [`tun`]: a Linux TUN interface); middleware wraps any device
//! ([`capture`]: records every frame to pcapng or pcap through a [`recorder`], written by a
//! [`background`] thread; [`impair`]: loses, duplicates, reorders and corrupts frames, seeded; [`relay`]: joins two
//! devices through it). Nothing here knows about FTP or about sockets.

pub mod background;
pub mod capture;
pub mod impair;
pub mod ratelog;
pub mod recorder;
pub mod relay;
pub(crate) mod rng;
pub mod tun;
pub mod wire;

pub use capture::{Capture, Direction};
pub use recorder::{Format, PendingFrame, Recorder};
pub use wire::{WireConfig, WireEnd};

/// A device that can tell when its next frame arrives (an in-process cable can; a TUN device
/// cannot and says `None`). A virtual clock jumps to that moment when nothing else is due.
pub trait NextArrival {
    /// When the next frame becomes receivable, if one is on its way.
    fn next_arrival(&self) -> Option<smoltcp::time::Instant>;
}

impl NextArrival for WireEnd {
    fn next_arrival(&self) -> Option<smoltcp::time::Instant> {
        WireEnd::next_arrival(self)
    }
}

impl<D: NextArrival + smoltcp::phy::Device> NextArrival for Capture<D> {
    fn next_arrival(&self) -> Option<smoltcp::time::Instant> {
        self.get_ref().next_arrival()
    }
}
