//! # Capture middleware
//!
//! Layer: device middleware (phy). [`Capture`] wraps any smoltcp [`Device`] and copies every frame
//! it passes, in and out, into a shared [`Recorder`], in the style of smoltcp's `PcapWriter` but
//! writing pcapng (see [`crate::link::recorder`]). Frames wait in the recorder until the owner of
//! the stack has polled: it then explains each one ([`Recorder::write_pending`]) from what its
//! stack knew, and the frames are written. The capture knows nothing of FTP; the explanation is
//! a closure.

use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

use crate::link::impair::Faults;
use crate::link::{Recorder, tso};

/// Which way a frame went, seen from the recorded interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received by the interface.
    Inbound,
    /// Sent by the interface.
    Outbound,
}

impl Direction {
    /// The pcapng EPB flags word: bits 0-1 hold the direction (01 inbound, 10 outbound).
    pub(crate) fn epb_flags(self) -> u32 {
        match self {
            Direction::Inbound => 0b01,
            Direction::Outbound => 0b10,
        }
    }
}

/// Which frames a [`Capture`] records.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Both directions, flagged as seen by the wrapped device.
    Both,
    /// Only what the device transmits, flagged with this direction: a tap on a cable records
    /// each frame once, at the end that sends it.
    TransmitOnly(Direction),
    /// Nothing is written: what the device transmits is explained by its own host and the
    /// explanation waits for the frame to be recorded where it arrives (see [`Capture::relay`]).
    Relay,
}

/// Middleware device that records the frames of the device it wraps.
pub struct Capture<D> {
    inner: D,
    recorder: Recorder,
    interface: u32,
    mode: Mode,
    faults: Option<Faults>,
    /// Record each TSO send as the MSS-sized frames the kernel cuts it into ([`crate::link::tso`]).
    wire_segments: Option<Box<WireSegments>>,
}

/// What [`Capture::with_wire_segments`] needs: buffers to cut sends and complete checksums in.
#[derive(Default)]
struct WireSegments {
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl<D: Device> Capture<D> {
    /// Records every frame `inner` sends or receives on `interface`.
    pub fn new(inner: D, recorder: Recorder, interface: u32) -> Self {
        Capture {
            inner,
            recorder,
            interface,
            mode: Mode::Both,
            faults: None,
            wire_segments: None,
        }
    }

    /// Records each large segment the stack hands over for segmentation offload (TSO) as the
    /// MSS-sized frames the kernel or a NIC cuts it into, each with correct sequence number,
    /// lengths, IP id and checksums, and a note that it was cut from one send; and completes
    /// the TCP checksum of every other frame sent (offload leaves it to the kernel) and of every
    /// frame received with a partial one (the kernel hands them over unfinished; a wrong one,
    /// say corrupted by an impairment, stays wrong). The capture then shows what a wire would
    /// carry, not what the stack and the kernel handed each other. Large segments the kernel
    /// hands over are recorded as they come.
    pub fn with_wire_segments(mut self) -> Self {
        self.wire_segments = Some(Box::default());
        self
    }

    /// Tells in each recorded frame's comment what the cable did to it, or to frames of its
    /// connection this interface never saw, as written in `faults` by the impairments inside
    /// this capture ([`crate::link::impair`]).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Records only the frames `inner` transmits, flagged `direction` on `interface`. Put one
    /// on each end of a cable, and each frame is recorded once, as by a tap on the cable.
    pub fn tap(inner: D, recorder: Recorder, interface: u32, direction: Direction) -> Self {
        Capture {
            inner,
            recorder,
            interface,
            mode: Mode::TransmitOnly(direction),
            faults: None,
            wire_segments: None,
        }
    }

    /// Records nothing, but has the frames `inner` transmits explained by the host that sends
    /// them; a [`Capture`] on the receiving host's interface then writes them, when they
    /// arrive, with that explanation. The capture of one interface thus tells each frame from
    /// its sender's mind and stamps it as the interface saw it.
    pub fn relay(inner: D, recorder: Recorder) -> Self {
        Capture {
            inner,
            recorder,
            interface: 0,
            mode: Mode::Relay,
            faults: None,
            wire_segments: None,
        }
    }

    /// The wrapped device.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    /// The recorder this capture writes to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl<D: Device> Device for Capture<D> {
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
        let rx_dir = match self.mode {
            Mode::Both => Some(Direction::Inbound),
            Mode::TransmitOnly(_) | Mode::Relay => None,
        };
        let tx_dir = self.tx_direction();
        let (rx, tx) = self.inner.receive(timestamp)?;
        let (fill, cut) = match self.wire_segments.as_deref_mut() {
            Some(w) => (Some(&mut w.rx), Some(&mut w.tx)),
            None => (None, None),
        };
        let tap = Tap {
            recorder: &self.recorder,
            interface: self.interface,
            time: timestamp,
            relay: matches!(self.mode, Mode::Relay),
            faults: self.faults.as_ref(),
        };
        Some((
            RxToken {
                inner: rx,
                tap: rx_dir.map(|d| (tap.clone(), d)),
                fill,
            },
            TxToken {
                inner: tx,
                tap: (tap, tx_dir),
                cut,
                mss: None,
            },
        ))
    }

    #[inline]
    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let tx_dir = self.tx_direction();
        let tx = self.inner.transmit(timestamp)?;
        Some(TxToken {
            cut: self.wire_segments.as_deref_mut().map(|w| &mut w.tx),
            mss: None,
            inner: tx,
            tap: (
                Tap {
                    recorder: &self.recorder,
                    interface: self.interface,
                    time: timestamp,
                    relay: matches!(self.mode, Mode::Relay),
                    faults: self.faults.as_ref(),
                },
                tx_dir,
            ),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl<D> Capture<D> {
    fn tx_direction(&self) -> Direction {
        match self.mode {
            Mode::Both => Direction::Outbound,
            Mode::TransmitOnly(d) => d,
            Mode::Relay => Direction::Inbound,
        }
    }
}

#[derive(Clone)]
struct Tap<'a> {
    recorder: &'a Recorder,
    interface: u32,
    time: Instant,
    relay: bool,
    faults: Option<&'a Faults>,
}

impl Tap<'_> {
    #[inline]
    fn record(&self, dir: Direction, frame: &[u8]) {
        if self.relay {
            self.recorder.relay(self.time, frame);
        } else {
            self.recorder.record(self.interface, dir, self.time, frame);
            if let Some(note) = self.faults.and_then(|f| f.take_carried(frame)) {
                self.recorder.fault_last(&note);
            }
        }
    }

    /// Tells on the frame just recorded what the cable did to it.
    #[inline]
    fn tell_fate(&self) {
        if let Some(note) = self.faults.and_then(Faults::take_now) {
            self.recorder.fault_last(&note);
        }
    }
}

/// Receive token of a [`Capture`].
pub struct RxToken<'a, R> {
    inner: R,
    tap: Option<(Tap<'a>, Direction)>,
    /// Complete the frame's checksums in the record ([`Capture::with_wire_segments`]).
    fill: Option<&'a mut Vec<u8>>,
}

impl<R: phy::RxToken> phy::RxToken for RxToken<'_, R> {
    #[inline]
    fn consume<T, F: FnOnce(&[u8]) -> T>(self, f: F) -> T {
        let (tap, fill) = (self.tap, self.fill);
        self.inner.consume(|frame| {
            if let Some((tap, dir)) = tap {
                match fill {
                    Some(buf) => {
                        buf.clear();
                        buf.extend_from_slice(frame);
                        tso::fill_partial_checksum(buf);
                        tap.record(dir, buf);
                    }
                    None => tap.record(dir, frame),
                }
                tap.tell_fate();
            }
            f(frame)
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.inner.meta()
    }
}

/// Transmit token of a [`Capture`].
pub struct TxToken<'a, T> {
    inner: T,
    tap: (Tap<'a>, Direction),
    /// Cut TSO sends for the record, in this buffer ([`Capture::with_wire_segments`]).
    cut: Option<&'a mut Vec<u8>>,
    /// The MSS smoltcp asked the device to cut this frame to.
    mss: Option<u16>,
}

impl<T: phy::TxToken> phy::TxToken for TxToken<'_, T> {
    #[inline]
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (tap, dir) = self.tap;
        let (cut, mss) = (self.cut, self.mss);
        let result = self.inner.consume(len, |frame| {
            let result = f(frame);
            match cut {
                Some(cut) if !tap.relay => record_cut(&tap, dir, frame, mss, cut),
                _ => tap.record(dir, frame),
            }
            result
        });
        if !tap.relay {
            tap.tell_fate();
        }
        result
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.mss = meta.segmentation_offload_size.map(|m| m.get());
        self.inner.set_meta(meta)
    }
}

/// Records `frame` as the wire carries it: cut to `mss` if it is a larger TSO send, its
/// checksums complete either way.
fn record_cut(tap: &Tap, dir: Direction, frame: &[u8], mss: Option<u16>, scratch: &mut Vec<u8>) {
    let mss = mss.map_or(0, usize::from);
    let n = tso::pieces(frame, mss);
    if n == 1 {
        scratch.clear();
        scratch.extend_from_slice(frame);
        tso::fill_checksum(scratch);
        tap.record(dir, scratch);
        return;
    }
    tso::cut(frame, mss, scratch, |piece, bytes| {
        tap.record(dir, bytes);
        tap.recorder.cut_last(piece);
    });
}
