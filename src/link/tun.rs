//! # TUN device
//!
//! Layer: device (phy). A smoltcp [`Device`] over an existing Linux TUN interface (the `tun-tap`
//! crate, without its tokio front end): raw IP frames, non-blocking reads and writes into two
//! buffers owned by the device (no allocation per frame), and [`Tun::wait`] to sleep on the file
//! descriptor until a frame arrives or a timer is due. Failing to attach says which of the usual
//! causes it is and how to fix it; an I/O error while running drops the frame, as a wire would,
//! and is counted, never a panic (smoltcp's own `TunTapInterface` panics).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::{Duration, Instant};
use tun_tap::{Iface, Mode};

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
    iface: Iface,
    mtu: usize,
    rx: Vec<u8>,
    tx: Vec<u8>,
    errors: u64,
}

impl Tun {
    /// Attaches to the existing TUN interface `name`. `mtu` overrides the interface's own MTU.
    pub fn open(name: &str, mtu: Option<usize>) -> Result<Tun, TunError> {
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
        let iface = Iface::without_packet_info(name, Mode::Tun).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => TunError::Permission(name.to_string()),
            _ => TunError::Other(name.to_string(), e),
        })?;
        iface
            .set_non_blocking()
            .map_err(|e| TunError::Other(name.to_string(), e))?;
        let mtu = mtu.unwrap_or_else(|| {
            std::fs::read_to_string(sys.join("mtu"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(1500)
        });
        Ok(Tun {
            iface,
            mtu,
            rx: vec![0; mtu.max(1500) + 64],
            tx: Vec::with_capacity(mtu.max(1500) + 64),
            errors: 0,
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        self.iface.name()
    }

    /// Frames dropped because of I/O errors.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Sleeps until a frame can be read or `timeout` has passed (`None`: no limit). A signal
    /// ends the sleep early.
    pub fn wait(&self, timeout: Option<Duration>) {
        wait_readable(self.iface.as_raw_fd(), timeout);
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
        let n = match self.iface.recv(&mut self.rx) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.errors += 1;
                    log::warn!("{}: read error: {e}", self.iface.name());
                }
                return None;
            }
        };
        Some((
            RxToken {
                frame: &self.rx[..n],
            },
            TxToken {
                iface: &self.iface,
                buf: &mut self.tx,
                errors: &mut self.errors,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            iface: &self.iface,
            buf: &mut self.tx,
            errors: &mut self.errors,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
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

/// Transmit token of a [`Tun`]: builds the frame in the device's buffer and writes it.
pub struct TxToken<'a> {
    iface: &'a Iface,
    buf: &'a mut Vec<u8>,
    errors: &'a mut u64,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.buf.resize(len, 0);
        let result = f(&mut self.buf[..len]);
        match self.iface.send(&self.buf[..len]) {
            Ok(_) => {}
            // The kernel's queue is full: the frame is lost, as on a busy wire; TCP resends it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => *self.errors += 1,
            Err(e) => {
                *self.errors += 1;
                log::warn!("{}: write error: {e}", self.iface.name());
            }
        }
        result
    }
}

impl crate::link::NextArrival for Tun {
    fn next_arrival(&self) -> Option<Instant> {
        None
    }
}
