//! # TUN device
//!
//! Layer: device (phy). A smoltcp [`Device`] over an existing Linux TUN interface (the `tun-tap`
//! crate, without its tokio front end): raw IP frames, non-blocking reads and writes into two
//! buffers owned by the device (no allocation per frame), and [`Tun::wait`] to sleep on the file
//! descriptor until a frame arrives or a timer is due. Failing to attach says which of the usual
//! causes it is and how to fix it; an I/O error while running drops the frame, as a wire would,
//! and is counted, never a panic (smoltcp's own `TunTapInterface` panics). Repeating errors are
//! logged once and then counted ([`RateLog`]); an error that means the device is gone (the
//! interface deleted: `EBADFD`, `ENODEV`, `ENXIO`, `EIO`) makes it [`Tun::broken`], stops all
//! further I/O on it, and the poll loop ends the program with that message.
//!
//! With offload on ([`Tun::open_offload`]), the device is opened with virtio-net headers
//! (`IFF_VNET_HDR`, which the tun-tap crate cannot ask for, hence the raw ioctls) and tells
//! smoltcp it may hand over TCP segments of up to 64 KiB: the kernel cuts them to the MSS
//! (TSO), as it does for its own sockets. Far fewer system calls per byte; the capture then
//! shows those large segments, as tcpdump does on a sender with TSO.

use std::fs::File;
use std::io::{self, Read, Write};
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::path::Path;

use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium, PacketMeta};
use smoltcp::time::{Duration, Instant};
use tun_tap::{Iface, Mode};

mod health;
use health::{Health, describe_fatal};

/// Size of `struct virtio_net_hdr` (without `num_buffers`), the kernel's default.
const VNET_HDR: usize = 10;
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
    file: File,
    name: String,
    mtu: usize,
    /// Frames carry a virtio-net header (offload on).
    vnet: bool,
    rx: Vec<u8>,
    tx: Vec<u8>,
    health: Health,
}

impl Tun {
    /// Attaches to the existing TUN interface `name`. `mtu` overrides the interface's own MTU.
    pub fn open(name: &str, mtu: Option<usize>) -> Result<Tun, TunError> {
        Tun::attach(name, mtu, false)
    }

    /// Like [`Tun::open`], with TCP segmentation and checksums offloaded to the kernel.
    pub fn open_offload(name: &str, mtu: Option<usize>) -> Result<Tun, TunError> {
        Tun::attach(name, mtu, true)
    }

    fn attach(name: &str, mtu: Option<usize>, vnet: bool) -> Result<Tun, TunError> {
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
        let file = if vnet {
            open_vnet(name).map_err(failed)?
        } else {
            let iface = Iface::without_packet_info(name, Mode::Tun).map_err(failed)?;
            iface.set_non_blocking().map_err(failed)?;
            // A persistent device keeps the offloads an earlier `--offload` run turned on; with
            // them the kernel would hand over unfinished checksums and 64 KiB segments.
            // SAFETY: a valid descriptor; TUNSETOFFLOAD takes its argument by value.
            if unsafe { libc::ioctl(iface.as_raw_fd(), libc::TUNSETOFFLOAD, 0 as libc::c_ulong) }
                < 0
            {
                return Err(failed(io::Error::last_os_error()));
            }
            // SAFETY: the descriptor comes from `into_raw_fd`, so this File is its only owner.
            unsafe { File::from_raw_fd(iface.into_raw_fd()) }
        };
        let mtu = mtu.unwrap_or_else(|| {
            std::fs::read_to_string(sys.join("mtu"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(1500)
        });
        let room = if vnet {
            VNET_HDR + OFFLOAD_MAX
        } else {
            mtu.max(1500) + 64
        };
        Ok(Tun {
            file,
            name: name.to_string(),
            mtu,
            vnet,
            rx: vec![0; room],
            tx: Vec::with_capacity(room),
            health: Health::new(name),
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames dropped because of I/O errors.
    pub fn errors(&self) -> u64 {
        self.health.errors
    }

    /// Why the device can no longer be used (its interface was deleted), if it cannot.
    pub fn broken(&self) -> Option<String> {
        let e = self.health.fatal.as_ref()?;
        Some(format!("{}: {}", self.name, describe_fatal(e)))
    }

    /// Sleeps until a frame can be read or `timeout` has passed (`None`: no limit). A signal
    /// ends the sleep early. A broken device only sleeps (its descriptor would wake at once).
    pub fn wait(&self, timeout: Option<Duration>) {
        if self.health.fatal.is_some() {
            let d = timeout.map_or(200, |d| d.total_millis().min(200));
            std::thread::sleep(std::time::Duration::from_millis(d));
            return;
        }
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
        if self.health.fatal.is_some() {
            return None;
        }
        let n = match (&self.file).read(&mut self.rx) {
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
                file: &self.file,
                buf: &mut self.tx,
                health: &mut self.health,
                vnet: self.vnet,
                gso: None,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        if self.health.fatal.is_some() {
            return None;
        }
        Some(TxToken {
            file: &self.file,
            buf: &mut self.tx,
            health: &mut self.health,
            vnet: self.vnet,
            gso: None,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        if self.vnet {
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

/// Transmit token of a [`Tun`]: builds the frame in the device's buffer and writes it.
pub struct TxToken<'a> {
    file: &'a File,
    buf: &'a mut Vec<u8>,
    health: &'a mut Health,
    vnet: bool,
    /// The MSS to cut this frame into, when smoltcp asks for segmentation.
    gso: Option<u16>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let head = if self.vnet { VNET_HDR } else { 0 };
        self.buf.resize(head + len, 0);
        let result = f(&mut self.buf[head..head + len]);
        if self.vnet {
            let (hdr, frame) = self.buf.split_at_mut(VNET_HDR);
            vnet_header(hdr, frame, self.gso);
        }
        let mut file = self.file;
        if self.health.fatal.is_none() {
            match file.write(&self.buf[..head + len]) {
                Ok(_) => {}
                // The kernel's queue is full: the frame is lost, as on a busy wire; TCP resends.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.health.errors += 1,
                Err(e) => self.health.failed(e, true),
            }
        }
        result
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.gso = meta.segmentation_offload_size.map(|mss| mss.get());
    }
}

/// Opens `/dev/net/tun` on `name` with virtio-net headers and TCP offloads, non-blocking.
fn open_vnet(name: &str) -> io::Result<File> {
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
    req.ifr_ifru.ifru_flags =
        (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
    let fd = file.as_raw_fd();
    // SAFETY: valid descriptor and a valid, initialised ifreq for the duration of each call.
    unsafe {
        if libc::ioctl(fd, libc::TUNSETIFF, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
        let offloads = (libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6) as libc::c_ulong;
        if libc::ioctl(fd, libc::TUNSETOFFLOAD, offloads) < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// Ones'-complement sum of 16-bit big-endian words (RFC 1071), not complemented.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Writes the virtio-net header for an IPv4 or IPv6 `frame` and completes its TCP checksum:
/// the full checksum for an ordinary segment; for one the kernel is to cut (`gso` = the MSS),
/// the pseudo-header sum the kernel completes per segment, as for its own TSO sockets. (smoltcp
/// sends IPv6 without extension headers, so TCP follows the 40-byte header.)
fn vnet_header(hdr: &mut [u8], frame: &mut [u8], gso: Option<u16>) {
    hdr.fill(0);
    // IP header length, the pseudo-header's addresses, and the GSO type of the version.
    let (ip_len, addresses, gso_type) = match frame.first().map(|b| b >> 4) {
        Some(4) => {
            let ihl = usize::from(frame[0] & 0x0f) * 4;
            if ihl < 20 || frame.len() < ihl + 20 || frame[9] != 6 {
                return;
            }
            (ihl, 12..20, 1) // VIRTIO_NET_HDR_GSO_TCPV4
        }
        Some(6) if frame.len() >= 60 && frame[6] == 6 => (40, 8..40, 4), // ..._GSO_TCPV6
        _ => return,
    };
    let tcp_len = frame.len() - ip_len;
    let mut pseudo = sum16(&frame[addresses], 6);
    pseudo += tcp_len as u32;
    let check_at = ip_len + 16;
    match gso {
        Some(mss) if tcp_len - 20 > usize::from(mss) => {
            let tcp_hdr = usize::from(frame[ip_len + 12] >> 4) * 4;
            frame[check_at..check_at + 2].copy_from_slice(&fold(pseudo).to_be_bytes());
            hdr[0] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
            hdr[1] = gso_type;
            hdr[2..4].copy_from_slice(&((ip_len + tcp_hdr) as u16).to_le_bytes());
            hdr[4..6].copy_from_slice(&mss.to_le_bytes());
            hdr[6..8].copy_from_slice(&(ip_len as u16).to_le_bytes());
            hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        }
        _ => {
            frame[check_at..check_at + 2].fill(0);
            let sum = fold(sum16(&frame[ip_len..], pseudo));
            frame[check_at..check_at + 2].copy_from_slice(&(!sum).to_be_bytes());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        IpAddress, IpProtocol, IpRepr, Ipv4Address, Ipv6Address, TcpControl, TcpPacket, TcpRepr,
        TcpSeqNumber,
    };

    /// A PSH+ACK segment from port 20 to 5001 carrying `payload`.
    fn tcp_repr(payload: &[u8]) -> TcpRepr<'_> {
        TcpRepr {
            src_port: 20,
            dst_port: 5001,
            control: TcpControl::Psh,
            seq_number: TcpSeqNumber(1000),
            ack_number: Some(TcpSeqNumber(7)),
            window_len: 512,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        }
    }

    /// An IPv4 or IPv6 TCP packet from `src` to `dst` with `payload` and correct checksums,
    /// as smoltcp emits it.
    fn packet_between(src: IpAddress, dst: IpAddress, payload: &[u8]) -> Vec<u8> {
        let tcp = tcp_repr(payload);
        let ip = IpRepr::new(src, dst, IpProtocol::Tcp, tcp.buffer_len(), 64);
        let mut buf = vec![0; ip.header_len() + tcp.buffer_len()];
        let caps = ChecksumCapabilities::default();
        ip.emit(&mut buf[..], &caps);
        let mut tcpp = TcpPacket::new_unchecked(&mut buf[ip.header_len()..]);
        tcp.emit(&mut tcpp, &src, &dst, &caps);
        buf
    }

    /// An IPv4/TCP packet with `payload` bytes and correct checksums.
    fn packet(payload: &[u8]) -> Vec<u8> {
        let (src, dst) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
        packet_between(src.into(), dst.into(), payload)
    }

    #[test]
    fn an_ordinary_segment_gets_its_full_checksum_and_no_gso() {
        let good = packet(b"hello, odd length");
        let mut frame = good.clone();
        frame[20 + 16] = 0;
        frame[20 + 17] = 0;
        let mut hdr = [0xffu8; VNET_HDR];
        vnet_header(&mut hdr, &mut frame, Some(1460));
        assert_eq!(frame, good, "checksum recomputed as smoltcp computes it");
        assert_eq!(
            hdr, [0; VNET_HDR],
            "no offload for a segment within the MSS"
        );
    }

    #[test]
    fn a_large_segment_is_marked_for_the_kernel_to_cut() {
        let payload = vec![7u8; 4000];
        let mut frame = packet(&payload);
        let mut hdr = [0u8; VNET_HDR];
        vnet_header(&mut hdr, &mut frame, Some(1460));
        assert_eq!(hdr[0], 1, "NEEDS_CSUM");
        assert_eq!(hdr[1], 1, "GSO_TCPV4");
        assert_eq!(u16::from_le_bytes([hdr[2], hdr[3]]), 40, "headers");
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), 1460, "gso_size");
        assert_eq!(u16::from_le_bytes([hdr[6], hdr[7]]), 20, "csum_start");
        assert_eq!(u16::from_le_bytes([hdr[8], hdr[9]]), 16, "csum_offset");
        // The kernel completes the checksum from the pseudo-header sum left in the field:
        // summing the whole segment with it in place gives the full checksum.
        let pseudo = u16::from_be_bytes([frame[36], frame[37]]);
        frame[36] = 0;
        frame[37] = 0;
        let full = !fold(sum16(&frame[20..], u32::from(pseudo)));
        let good = packet(&payload);
        assert_eq!(full.to_be_bytes(), [good[36], good[37]]);
    }

    #[test]
    fn an_ipv6_segment_gets_its_full_checksum_and_a_large_one_gso_tcpv6() {
        let (src, dst) = (
            Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 2),
            Ipv6Address::new(0xfd00, 7, 0, 0, 0, 0, 0, 1),
        );
        let v6 = |payload: &[u8]| packet_between(src.into(), dst.into(), payload);
        let good = v6(b"over IPv6, odd");
        let mut frame = good.clone();
        frame[40 + 16..40 + 18].fill(0);
        let mut hdr = [0xffu8; VNET_HDR];
        vnet_header(&mut hdr, &mut frame, Some(1440));
        assert_eq!(frame, good, "checksum recomputed as smoltcp computes it");
        assert_eq!(hdr, [0; VNET_HDR]);

        let payload = vec![9u8; 3000];
        let mut frame = v6(&payload);
        vnet_header(&mut hdr, &mut frame, Some(1440));
        assert_eq!(&hdr[..2], &[1, 4], "NEEDS_CSUM, GSO_TCPV6");
        assert_eq!(u16::from_le_bytes([hdr[6], hdr[7]]), 40, "csum_start");
        let pseudo = u16::from_be_bytes([frame[56], frame[57]]);
        frame[56..58].fill(0);
        let full = !fold(sum16(&frame[40..], u32::from(pseudo)));
        let good = v6(&payload);
        assert_eq!(full.to_be_bytes(), [good[56], good[57]]);
    }
}
