//! # Link layer
//!
//! Layer: devices and device middleware (smoltcp's phy layer). Devices move raw IP frames
//! ([`wire`]: an in-process cable; [`tun`]: a Linux TUN interface); middleware wraps any device
//! ([`capture`]: records every frame to pcapng or pcap through a [`recorder`], written by a
//! [`background`] thread; [`impair`]: loses, duplicates, reorders and corrupts frames, seeded;
//! [`relay`]: joins two devices through it; [`tso`]: a TSO send cut into the frames of the
//! wire, for the capture). What a loop needs to know of a device: when its next frame comes
//! ([`NextArrival`], for a virtual clock) or how to sleep on it ([`Wait`], on the real clock).
//! Nothing here knows about FTP or about sockets.

pub mod background;
pub mod cable;
pub mod capture;
pub mod impair;
pub mod ratelog;
pub mod recorder;
pub mod relay;
pub(crate) mod rng;
#[cfg(test)]
pub(crate) mod test_frames;
pub mod tso;
pub mod tun;
pub mod wire;

pub use cable::CableConfig;
pub use capture::{Capture, Direction};
pub use recorder::{Format, PendingFrame, Recorder};
pub use wire::{WireConfig, WireEnd};

/// `d` as smoltcp's duration, in whole microseconds (rounded down); a duration beyond
/// `u64::MAX` microseconds (585 000 years) saturates there instead of wrapping.
pub fn smol_duration(d: std::time::Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

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

/// A device can no longer carry frames (its interface was deleted): the device's name and why,
/// as [`Wait::broken`] says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeviceGone(pub String);

/// A device a loop on the real clock can sleep on (a TUN device and middleware over it; the
/// in-process cable has [`NextArrival`] instead).
pub trait Wait {
    /// Sleeps until a frame can be received or `timeout` has passed.
    fn wait(&self, timeout: Option<smoltcp::time::Duration>);
    /// Why the device can no longer carry frames (e.g. its interface was deleted), if so.
    /// Middleware must ask the device it wraps.
    fn broken(&self) -> Option<String>;
}

impl Wait for tun::Tun {
    fn wait(&self, timeout: Option<smoltcp::time::Duration>) {
        tun::Tun::wait(self, timeout)
    }

    fn broken(&self) -> Option<String> {
        tun::Tun::broken(self)
    }
}

impl<D: smoltcp::phy::Device + Wait> Wait for Capture<D> {
    fn wait(&self, timeout: Option<smoltcp::time::Duration>) {
        self.get_ref().wait(timeout)
    }

    fn broken(&self) -> Option<String> {
        self.get_ref().broken()
    }
}

impl<D: smoltcp::phy::Device + Wait> Wait for impair::Impair<D> {
    /// Copies the impairments hold (duplicates, frames held back) are due within a
    /// millisecond: wake up for them.
    fn wait(&self, timeout: Option<smoltcp::time::Duration>) {
        let cap = self
            .holds_frames()
            .then_some(smoltcp::time::Duration::from_millis(1));
        let timeout = match (timeout, cap) {
            (Some(t), Some(c)) => Some(t.min(c)),
            (t, c) => t.or(c),
        };
        self.get_ref().wait(timeout)
    }

    fn broken(&self) -> Option<String> {
        self.get_ref().broken()
    }
}
