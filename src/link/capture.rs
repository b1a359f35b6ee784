//! # Capture middleware
//!
//! Layer: device middleware (phy). [`Capture`] wraps any smoltcp [`Device`] and copies every frame
//! it passes, in and out, into a shared [`Recorder`], in the style of smoltcp's `PcapWriter` but
//! writing pcapng: one Interface Description Block per recorded interface (raw IP), and one
//! Enhanced Packet Block per frame with its timestamp, its inbound/outbound flag and a one-line
//! comment. Frames wait in the recorder until the owner of the stack has polled: it then
//! explains each one ([`Recorder::write_pending`]) from what its stack knew, and the frames are
//! written. The capture knows nothing of FTP; the explanation is a closure.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration as StdDuration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

use crate::link::background::BackgroundWriter;

/// Snapshot length written in the file headers.
const SNAPLEN: u32 = 65_535;

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
    fn epb_flags(self) -> u32 {
        match self {
            Direction::Inbound => 0b01,
            Direction::Outbound => 0b10,
        }
    }
}

/// Capture file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// pcapng: interfaces, direction flags and per-frame comments.
    #[default]
    Pcapng,
    /// Classic pcap (libpcap): frames and timestamps only.
    Pcap,
}

/// A frame recorded during a poll, waiting for its explanation.
#[derive(Debug)]
pub struct PendingFrame<'a> {
    /// The interface it was recorded on (see [`Recorder::add_interface`]).
    pub interface: u32,
    /// Inbound or outbound, seen from that interface.
    pub direction: Direction,
    /// When the stack handed it over or took it in.
    pub time: Instant,
    /// The raw IP packet.
    pub data: &'a [u8],
}

/// A recorded frame, in a buffer of the recorder's own.
struct Held {
    interface: u32,
    direction: Direction,
    time: Instant,
    data: Vec<u8>,
}

/// The output file, shared between the pcap writer and the recorder (which flushes it).
#[derive(Clone)]
struct Out(Rc<RefCell<Box<dyn Write>>>);

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

enum Sink {
    /// Blocks are built in the writer's own `Vec` and then moved to the file in one write.
    PcapNg(PcapNgWriter<Vec<u8>>),
    Pcap(PcapWriter<Out>),
}

struct Inner {
    sink: Sink,
    out: Out,
    flush_each: bool,
    pending: Vec<Held>,
    spare: Vec<Vec<u8>>,
    /// The comment being built, reused from frame to frame.
    comment: String,
    written: u64,
    error: Option<io::Error>,
}

/// Where captured frames go: a pcapng or pcap writer shared by every [`Capture`] of a run.
/// Cloning gives another handle to the same file.
#[derive(Clone)]
pub struct Recorder {
    inner: Rc<RefCell<Inner>>,
}

fn pcap_err(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Recorder {
    /// Records into `out`. With `flush_each`, the writer is flushed after every frame (for live
    /// viewing through a pipe).
    pub fn new(out: Box<dyn Write>, format: Format, flush_each: bool) -> io::Result<Recorder> {
        let out = Out(Rc::new(RefCell::new(out)));
        let sink = match format {
            Format::Pcapng => {
                let mut w = PcapNgWriter::new(Vec::with_capacity(4096)).map_err(pcap_err)?;
                drain(&mut w, &mut out.clone())?;
                Sink::PcapNg(w)
            }
            Format::Pcap => {
                let header = PcapHeader {
                    datalink: DataLink::RAW,
                    snaplen: SNAPLEN,
                    ..Default::default()
                };
                Sink::Pcap(PcapWriter::with_header(out.clone(), header).map_err(pcap_err)?)
            }
        };
        Ok(Recorder {
            inner: Rc::new(RefCell::new(Inner {
                sink,
                out,
                flush_each,
                pending: Vec::new(),
                spare: Vec::new(),
                comment: String::new(),
                written: 0,
                error: None,
            })),
        })
    }

    /// Records into the file at `path` (`-` means standard output, flushed per frame).
    pub fn create(path: &Path, format: Format) -> io::Result<Recorder> {
        if path == Path::new("-") {
            return Recorder::new(Box::new(io::stdout()), format, true);
        }
        let file = File::create(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create capture file {}: {e}", path.display()),
            )
        })?;
        Recorder::new(Box::new(BackgroundWriter::new(file)?), format, false)
    }

    /// Declares an interface (pcapng IDB, raw IP, nanosecond timestamps) named `name`; returns
    /// its id for [`Capture`]. Classic pcap has a single interface: every call returns 0.
    pub fn add_interface(&self, name: &str) -> io::Result<u32> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        match &mut inner.sink {
            Sink::PcapNg(w) => {
                let id = w.interfaces().len() as u32;
                let idb = InterfaceDescriptionBlock {
                    linktype: DataLink::RAW,
                    snaplen: SNAPLEN,
                    options: vec![
                        InterfaceDescriptionOption::IfName(Cow::Owned(name.to_string())),
                        // pcap-file writes EPB timestamps in nanoseconds: say so.
                        InterfaceDescriptionOption::IfTsResol(9),
                    ],
                };
                w.write_pcapng_block(idb).map_err(pcap_err)?;
                drain(w, &mut inner.out)?;
                Ok(id)
            }
            Sink::Pcap(_) => Ok(0),
        }
    }

    fn record(&self, interface: u32, direction: Direction, time: Instant, frame: &[u8]) {
        let mut inner = self.inner.borrow_mut();
        let mut data = inner.spare.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(frame);
        inner.pending.push(Held {
            interface,
            direction,
            time,
            data,
        });
    }

    /// Writes the frames recorded since the last call, each with the comment `explain` writes
    /// into the (empty) string it is given; a frame left with an empty string gets no comment.
    /// A write error is kept and returned by [`Recorder::finish`]; recording goes on.
    pub fn write_pending(&self, explain: &mut dyn FnMut(&PendingFrame, &mut String)) {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut inner.pending);
        for held in pending.drain(..) {
            let frame = PendingFrame {
                interface: held.interface,
                direction: held.direction,
                time: held.time,
                data: &held.data,
            };
            inner.comment.clear();
            explain(&frame, &mut inner.comment);
            let comment = Some(inner.comment.as_str()).filter(|c| !c.is_empty());
            if inner.error.is_none()
                && let Err(e) = write_frame(&mut inner.sink, &mut inner.out, &frame, comment)
            {
                inner.error = Some(e);
            }
            inner.written += 1;
            inner.spare.push(held.data);
        }
        inner.pending = pending;
        if inner.flush_each
            && inner.error.is_none()
            && let Err(e) = inner.out.flush()
        {
            inner.error = Some(e);
        }
    }

    /// Writes what is still pending (without comments), flushes, and returns the number of
    /// frames written, or the first error met while recording.
    pub fn finish(&self) -> io::Result<u64> {
        self.write_pending(&mut |_, _| {});
        let mut inner = self.inner.borrow_mut();
        if let Some(e) = inner.error.take() {
            return Err(e);
        }
        inner.out.flush()?;
        Ok(inner.written)
    }
}

/// Moves what the pcapng writer has built to the output.
fn drain(w: &mut PcapNgWriter<Vec<u8>>, out: &mut Out) -> io::Result<()> {
    let built = w.get_mut();
    out.write_all(built)?;
    built.clear();
    Ok(())
}

fn write_frame(
    sink: &mut Sink,
    out: &mut Out,
    frame: &PendingFrame,
    comment: Option<&str>,
) -> io::Result<()> {
    let timestamp = StdDuration::from_micros(frame.time.total_micros().max(0) as u64);
    match sink {
        Sink::PcapNg(w) => {
            let mut options = vec![EnhancedPacketOption::Flags(frame.direction.epb_flags())];
            if let Some(text) = comment {
                options.push(EnhancedPacketOption::Comment(Cow::Borrowed(text)));
            }
            let epb = EnhancedPacketBlock {
                interface_id: frame.interface,
                timestamp,
                original_len: frame.data.len() as u32,
                data: Cow::Borrowed(frame.data),
                options,
            };
            w.write_pcapng_block(epb).map_err(pcap_err)?;
            drain(w, out)?;
        }
        Sink::Pcap(w) => {
            let packet = PcapPacket::new(timestamp, frame.data.len() as u32, frame.data);
            w.write_packet(&packet).map_err(pcap_err)?;
        }
    }
    Ok(())
}

/// Which frames a [`Capture`] records.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Both directions, flagged as seen by the wrapped device.
    Both,
    /// Only what the device transmits, flagged with this direction: a tap on a cable records
    /// each frame once, at the end that sends it.
    TransmitOnly(Direction),
}

/// Middleware device that records the frames of the device it wraps.
pub struct Capture<D> {
    inner: D,
    recorder: Recorder,
    interface: u32,
    mode: Mode,
}

impl<D: Device> Capture<D> {
    /// Records every frame `inner` sends or receives on `interface`.
    pub fn new(inner: D, recorder: Recorder, interface: u32) -> Self {
        Capture {
            inner,
            recorder,
            interface,
            mode: Mode::Both,
        }
    }

    /// Records only the frames `inner` transmits, flagged `direction` on `interface`. Put one
    /// on each end of a cable, and each frame is recorded once, as by a tap on the cable.
    pub fn tap(inner: D, recorder: Recorder, interface: u32, direction: Direction) -> Self {
        Capture {
            inner,
            recorder,
            interface,
            mode: Mode::TransmitOnly(direction),
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

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let rx_dir = match self.mode {
            Mode::Both => Some(Direction::Inbound),
            Mode::TransmitOnly(_) => None,
        };
        let tx_dir = self.tx_direction();
        let (rx, tx) = self.inner.receive(timestamp)?;
        let tap = Tap {
            recorder: &self.recorder,
            interface: self.interface,
            time: timestamp,
        };
        Some((
            RxToken {
                inner: rx,
                tap: rx_dir.map(|d| (tap.clone(), d)),
            },
            TxToken {
                inner: tx,
                tap: (tap, tx_dir),
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let tx_dir = self.tx_direction();
        let tx = self.inner.transmit(timestamp)?;
        Some(TxToken {
            inner: tx,
            tap: (
                Tap {
                    recorder: &self.recorder,
                    interface: self.interface,
                    time: timestamp,
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
        }
    }
}

#[derive(Clone)]
struct Tap<'a> {
    recorder: &'a Recorder,
    interface: u32,
    time: Instant,
}

/// Receive token of a [`Capture`].
pub struct RxToken<'a, R> {
    inner: R,
    tap: Option<(Tap<'a>, Direction)>,
}

impl<R: phy::RxToken> phy::RxToken for RxToken<'_, R> {
    fn consume<T, F: FnOnce(&[u8]) -> T>(self, f: F) -> T {
        let tap = self.tap;
        self.inner.consume(|frame| {
            if let Some((tap, dir)) = tap {
                tap.recorder.record(tap.interface, dir, tap.time, frame);
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
}

impl<T: phy::TxToken> phy::TxToken for TxToken<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (tap, dir) = self.tap;
        self.inner.consume(len, |frame| {
            let result = f(frame);
            tap.recorder.record(tap.interface, dir, tap.time, frame);
            result
        })
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.inner.set_meta(meta)
    }
}
