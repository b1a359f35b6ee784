//! # TUN device
//!
//! Layer: device (phy). A smoltcp [`Device`] over an existing Linux TUN interface, attached with
//! its own `TUNSETIFF` (as the `tun-tap` crate did, plus the flags that crate cannot ask for):
//! raw IP frames, non-blocking reads into a buffer owned by the device, frames built in place
//! and written by a thread of their own (`tun/writer.rs`: the kernel runs the receiving TCP inside
//! each `write(2)`, so the stack builds the next segments meanwhile; no copy, no allocation per
//! frame once warm), and [`Tun::wait`] to sleep on the file descriptor until a frame arrives or
//! a timer is due. Failing to attach says which of the usual causes it is and how to fix it; an
//! I/O error while running drops the frame, as a wire would, and is counted, never a panic
//! (smoltcp's own `TunTapInterface` panics). Repeating errors are logged once and then counted
//! ([`RateLog`]); an error that means the device is gone (the interface deleted: `EBADFD`,
//! `ENODEV`, `ENXIO`, `EIO`) makes it [`Tun::broken`], stops all further I/O on it, and the poll
//! loop ends the program with that message.
//!
//! With offload on ([`Tun::open_offload`]), the device is opened with virtio-net headers
//! (`IFF_VNET_HDR`) and tells smoltcp it may hand over TCP segments of up to 64 KiB: the kernel
//! cuts them to the MSS (TSO), as it does for its own sockets. Far fewer system calls per byte;
//! the capture then shows those large segments, as tcpdump does on a sender with TSO, unless it
//! cuts them itself ([`crate::link::Capture::with_wire_segments`]). With GRO
//! ([`Tun::open_gro`]) the kernel takes our frames in on a NAPI thread and merges them.
//!
//! Coalescing ([`TunMode::coalesce`], the default of `server` and `client` on a plain device)
//! opens the device with virtio-net headers too, but leaves the segments to smoltcp: the writer
//! thread hands each run of consecutive segments of one flow to the kernel as one GSO frame
//! (`tun/coalesce.rs`), as a NIC's GRO would have merged them off a wire. The capture still
//! records every segment smoltcp sends, once; a capture the kernel takes on the interface
//! (tcpdump) shows the merged frames, as on a NIC with GRO.

use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium, PacketMeta};
use smoltcp::time::{Duration, Instant};

mod coalesce;
mod health;
mod vnet;
mod writer;
use health::{Health, describe_fatal};
use vnet::{VNET_HDR, vnet_header};
use writer::Writer;

/// Largest frame handed over or received with offload on.
const OFFLOAD_MAX: usize = 65_535;

/// Why a TUN device could not be used, with the command that fixes it.
#[derive(Debug)]
pub enum TunError {
    /// `/dev/net/tun` is missing (no TUN support, or a container without it).
    NoTunSupport,
    /// No network interface of that name.
    Missing(String),
    /// `/dev/net/tun` cannot be opened by this user.
    DeviceNodePermission,
    /// The interface exists but this user may not attach to it.
    Permission(String),
    /// The interface exists but is not a TUN device (or is busy).
    Other(String, io::Error),
    /// Its NAPI could not be given a kernel thread (`--gro` without `CAP_NET_ADMIN`).
    Gro(String, io::Error),
}

impl std::fmt::Display for TunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TunError::NoTunSupport => write!(
                f,
                "/dev/net/tun is missing: this system has no TUN support (try: sudo modprobe tun)"
            ),
            TunError::DeviceNodePermission => write!(
                f,
                "no permission to open /dev/net/tun (run as root, or ask root to make it usable: \
                 sudo chmod 0666 /dev/net/tun)"
            ),
            TunError::Missing(name) => write!(
                f,
                "there is no TUN device named {name} (try: sudo scripts/tun-up.sh {name} 10.7.0.1/24 $USER)"
            ),
            TunError::Permission(name) => write!(
                f,
                "no permission to attach to the TUN device {name}: it belongs to another user \
                 (try: sudo scripts/tun-down.sh {name} && sudo scripts/tun-up.sh {name} 10.7.0.1/24 $USER)"
            ),
            TunError::Gro(name, e) => write!(
                f,
                "cannot give {name} a NAPI thread for GRO ({e}): that needs root or \
                 CAP_NET_ADMIN (try without --gro)"
            ),
            TunError::Other(name, e) => {
                write!(
                    f,
                    "cannot attach to the TUN device {name}: {e} (is it a TUN device, and free?)"
                )
            }
        }
    }
}

impl std::error::Error for TunError {}

/// A TUN interface as a smoltcp device.
pub struct Tun {
    file: Arc<File>,
    name: String,
    mtu: usize,
    /// Frames carry a virtio-net header (offload or coalescing on).
    vnet: bool,
    /// Segmentation and checksums offloaded to the kernel.
    offload: bool,
    /// Runs of segments are merged on the writer thread.
    coalesce: bool,
    rx: Vec<u8>,
    /// The buffer the next frame is built in.
    tx: Vec<u8>,
    /// Read errors (the writer thread keeps its own).
    health: Health,
    /// Writes frames on a thread of its own ([`writer`]).
    writer: Writer,
}

/// How a [`Tun`] is attached ([`Tun::open_with`]); all off is [`Tun::open`]'s plain device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunMode {
    /// TCP segmentation and checksums offloaded to the kernel ([`Tun::open_offload`]).
    pub offload: bool,
    /// The kernel takes our frames in on a NAPI thread, with GRO ([`Tun::open_gro`]).
    pub gro: bool,
    /// Runs of segments are written as one GSO frame each (see the module doc). Without
    /// `offload` only: with it smoltcp hands over large segments already.
    pub coalesce: bool,
}

impl Tun {
    /// Attaches to the existing TUN interface `name`. `mtu` overrides the interface's own MTU.
    pub fn open(name: &str, mtu: Option<usize>) -> Result<Tun, TunError> {
        Tun::open_with(name, mtu, TunMode::default())
    }

    /// Like [`Tun::open`], with TCP segmentation and checksums offloaded to the kernel.
    pub fn open_offload(name: &str, mtu: Option<usize>) -> Result<Tun, TunError> {
        let offload = TunMode {
            offload: true,
            ..TunMode::default()
        };
        Tun::open_with(name, mtu, offload)
    }

    /// Like [`Tun::open`] (with `offload`, [`Tun::open_offload`]), attached with `IFF_NAPI`, the
    /// interface's NAPI then moved to a kernel thread of its own (`threaded` in sysfs, which
    /// needs `CAP_NET_ADMIN`): the kernel takes our frames in on another core and merges runs
    /// of them (GRO) before its TCP sees them. Our capture still records every segment; a
    /// capture the kernel takes on the interface shows the merged ones, as on a NIC with GRO.
    pub fn open_gro(name: &str, mtu: Option<usize>, offload: bool) -> Result<Tun, TunError> {
        let gro = TunMode {
            offload,
            gro: true,
            coalesce: false,
        };
        Tun::open_with(name, mtu, gro)
    }

    /// Attaches to `name` as `mode` says (see [`TunMode`]).
    pub fn open_with(name: &str, mtu: Option<usize>, mode: TunMode) -> Result<Tun, TunError> {
        let tun = Tun::attach(name, mtu, mode)?;
        if !mode.gro {
            return Ok(tun);
        }
        let threaded = Path::new("/sys/class/net").join(name).join("threaded");
        let on = std::fs::read_to_string(&threaded).is_ok_and(|s| s.trim() == "1");
        if !on {
            std::fs::write(&threaded, "1").map_err(|e| TunError::Gro(name.to_string(), e))?;
        }
        Ok(tun)
    }

    fn attach(name: &str, mtu: Option<usize>, mode: TunMode) -> Result<Tun, TunError> {
        if !Path::new("/dev/net/tun").exists() {
            return Err(TunError::NoTunSupport);
        }
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            && e.kind() == io::ErrorKind::PermissionDenied
        {
            return Err(TunError::DeviceNodePermission);
        }
        let sys = Path::new("/sys/class/net").join(name);
        if name.is_empty() || name.contains('/') || !sys.exists() {
            return Err(TunError::Missing(name.to_string()));
        }
        let failed = |e: io::Error| match e.kind() {
            io::ErrorKind::PermissionDenied => TunError::Permission(name.to_string()),
            _ => TunError::Other(name.to_string(), e),
        };
        let napi = if mode.gro { NAPI } else { 0 };
        let offload = mode.offload;
        let coalesce = mode.coalesce && !offload;
        let vnet = offload || coalesce;
        let file = if offload {
            open_raw(name, libc::IFF_VNET_HDR | napi, offloads_on()).map_err(failed)?
        } else {
            // A persistent device keeps the offloads an earlier `--offload` run turned on; with
            // them the kernel would hand over unfinished checksums and 64 KiB segments: off.
            // (What the kernel takes from us is not governed by them: it takes a GSO frame
            // whenever the device has virtio-net headers.)
            let vnet = if coalesce { libc::IFF_VNET_HDR } else { 0 };
            open_raw(name, vnet | napi, 0).map_err(failed)?
        };
        let mtu = mtu.unwrap_or_else(|| {
            std::fs::read_to_string(sys.join("mtu"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(1500)
        });
        let room = if offload {
            VNET_HDR + OFFLOAD_MAX
        } else {
            VNET_HDR + mtu.max(1500) + 64
        };
        let file = Arc::new(file);
        let writer = Writer::start(file.clone(), name, coalesce).map_err(failed)?;
        Ok(Tun {
            file,
            name: name.to_string(),
            mtu,
            vnet,
            offload,
            coalesce,
            rx: vec![0; room],
            tx: Vec::with_capacity(room),
            health: Health::new(name),
            writer,
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames dropped because of I/O errors.
    pub fn errors(&self) -> u64 {
        self.health.errors + self.writer.health().0
    }

    /// Why the device can no longer be used (its interface was deleted), if it cannot.
    pub fn broken(&self) -> Option<String> {
        let why = match &self.health.fatal {
            Some(e) => describe_fatal(e),
            None if self.writer.is_gone() => self.writer.health().1?,
            None => return None,
        };
        Some(format!("{}: {why}", self.name))
    }

    /// Whether reads or writes found the interface gone.
    fn gone(&self) -> bool {
        self.health.fatal.is_some() || self.writer.is_gone()
    }

    /// Sleeps until a frame can be read or `timeout` has passed (`None`: no limit). A signal
    /// ends the sleep early. A broken device only sleeps (its descriptor would wake at once).
    pub fn wait(&self, timeout: Option<Duration>) {
        if self.gone() {
            let d = timeout.map_or(200, |d| d.total_millis().min(200));
            std::thread::sleep(std::time::Duration::from_millis(d));
            return;
        }
        self.writer.flush();
        wait_readable(self.file.as_raw_fd(), timeout);
    }
}

/// poll(2) on one descriptor for reading.
pub fn wait_readable(fd: RawFd, timeout: Option<Duration>) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = match timeout {
        Some(d) => d.total_millis().min(i32::MAX as u64) as i32,
        None => -1,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
}

impl Device for Tun {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if self.gone() {
            return None;
        }
        if self.coalesce {
            // Like a NIC's transmit ring: what is queued goes on while the kernel's answers are
            // read (frames under 256 bytes, handshakes among them, are written at once anyway).
            self.writer.flush();
        } else {
            self.writer.wait_written();
        }
        let n = match (&*self.file).read(&mut self.rx) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.health.failed(e, false);
                }
                return None;
            }
        };
        let skip = if self.vnet { VNET_HDR.min(n) } else { 0 };
        Some((
            RxToken {
                frame: &self.rx[skip..n],
            },
            TxToken {
                writer: &self.writer,
                buf: &mut self.tx,
                vnet: self.vnet,
                offload: self.offload,
                gso: None,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        if self.gone() {
            return None;
        }
        Some(TxToken {
            writer: &self.writer,
            buf: &mut self.tx,
            vnet: self.vnet,
            offload: self.offload,
            gso: None,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        if self.offload {
            // The device fills TCP checksums in (or has the kernel do it); received ones may be
            // partial (the kernel did not compute them), and were checked by the kernel if at all.
            caps.checksum.tcp = Checksum::None;
            // IPv4 only: smoltcp 0.14 drops an outgoing IPv6 packet above the MTU even when it
            // carries segmentation metadata ("IPv6 fragmentation support is unimplemented"),
            // so IPv6 goes out per MSS, with its checksum still filled in here. Large IPv6
            // segments from the kernel are taken all the same.
            caps.segmentation.tcpv4 = NonZeroUsize::new(OFFLOAD_MAX);
        }
        caps
    }
}

/// Receive token of a [`Tun`]: the frame just read.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Transmit token of a [`Tun`]: builds the frame in the device's buffer and queues it for the
/// writer thread.
pub struct TxToken<'a> {
    writer: &'a Writer,
    buf: &'a mut Vec<u8>,
    /// The frame starts after a virtio-net header.
    vnet: bool,
    /// Checksums and segmentation are the kernel's (else the header stays all zero).
    offload: bool,
    /// The MSS to cut this frame into, when smoltcp asks for segmentation.
    gso: Option<u16>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let head = if self.vnet { VNET_HDR } else { 0 };
        self.buf.resize(head + len, 0);
        let result = f(&mut self.buf[head..head + len]);
        if self.offload {
            let (hdr, frame) = self.buf.split_at_mut(VNET_HDR);
            vnet_header(hdr, frame, self.gso);
        } else if self.vnet {
            // An ordinary frame, its checksums smoltcp's (the writer may merge it with others).
            self.buf[..VNET_HDR].fill(0);
        }
        if len < writer::DIRECT_BELOW {
            self.writer.write_now(&self.buf[..head + len]);
        } else {
            let frame = std::mem::take(self.buf);
            *self.buf = self.writer.push(frame);
        }
        result
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.gso = meta.segmentation_offload_size.map(|mss| mss.get());
    }
}

/// `IFF_NAPI` (not in the libc crate): frames we write are taken in by the kernel's NAPI poll,
/// with GRO, instead of one by one inside our `write(2)` (see [`Tun::open_gro`]).
const NAPI: libc::c_int = 0x0010;

/// The offloads of `--offload`: checksums and TSO for IPv4 and IPv6.
fn offloads_on() -> libc::c_ulong {
    (libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6) as libc::c_ulong
}

/// Opens `/dev/net/tun` on `name` as a TUN device without packet information, with the extra
/// `flags` (`IFF_VNET_HDR`, [`NAPI`]) and the `offloads` (`TUNSETOFFLOAD`), non-blocking.
fn open_raw(name: &str, flags: libc::c_int, offloads: libc::c_ulong) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | flags) as libc::c_short;
    let fd = file.as_raw_fd();
    // SAFETY: valid descriptor and a valid, initialised ifreq for the duration of each call.
    unsafe {
        if libc::ioctl(fd, libc::TUNSETIFF, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::ioctl(fd, libc::TUNSETOFFLOAD, offloads) < 0 {
            return Err(io::Error::last_os_error());
        }
        // A persistent device keeps the header size another program set: ours is 10 bytes.
        let size = VNET_HDR as libc::c_int;
        if flags & libc::IFF_VNET_HDR != 0
            && libc::ioctl(fd, libc::TUNSETVNETHDRSZ, &size as *const libc::c_int) < 0
        {
            return Err(io::Error::last_os_error());
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// The device's descriptor, for waiting on several devices at once (a relay).
impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl crate::link::NextArrival for Tun {
    fn next_arrival(&self) -> Option<Instant> {
        None
    }
}
