//! A cable end that shows a test every frame its host sends, and the host configuration and
//! the frame injection the injecting cable tests share (tests/reassembly.rs, tests/rfc5961.rs).

use std::rc::Rc;

use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpProtocol, IpRepr, Ipv4Address, Ipv4Cidr, TcpPacket, TcpRepr};

use smolftp::link::wire::WireEnd;
use smolftp::net::host::{Congestion, HostConfig};

/// What a test keeps of the frames a watched host sends.
pub trait Observe {
    /// `frame` (an IP packet) was just built by the host.
    fn sent(&self, frame: &[u8]);
}

/// A cable end that hands each frame its host sends to `seen`, then to the cable.
pub struct Watch<S> {
    pub inner: WireEnd,
    pub seen: Rc<S>,
}

pub struct WatchTx<'a, T, S> {
    inner: T,
    seen: &'a S,
}

impl<T: phy::TxToken, S: Observe> phy::TxToken for WatchTx<'_, T, S> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let seen = self.seen;
        self.inner.consume(len, |buf| {
            let r = f(buf);
            seen.sent(buf);
            r
        })
    }
}

impl<S: Observe> Device for Watch<S> {
    type RxToken<'a>
        = <WireEnd as Device>::RxToken<'a>
    where
        S: 'a;
    type TxToken<'a>
        = WatchTx<'a, <WireEnd as Device>::TxToken<'a>, S>
    where
        S: 'a;

    fn receive(&mut self, t: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(t)?;
        Some((
            rx,
            WatchTx {
                inner: tx,
                seen: &*self.seen,
            },
        ))
    }

    fn transmit(&mut self, t: Instant) -> Option<Self::TxToken<'_>> {
        Some(WatchTx {
            inner: self.inner.transmit(t)?,
            seen: &*self.seen,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// Writes `tcp` from `src` to `dst` (IPv4, checksums filled in) straight onto `device` at
/// `now`, as a sender the hosts never hear of would.
pub fn inject<D: Device>(
    device: &mut D,
    now: Instant,
    src: Ipv4Address,
    dst: Ipv4Address,
    tcp: &TcpRepr,
) {
    let (src, dst) = (IpAddress::from(src), IpAddress::from(dst));
    let ip = IpRepr::new(src, dst, IpProtocol::Tcp, tcp.buffer_len(), 64);
    let caps = ChecksumCapabilities::default();
    let token = device.transmit(now).expect("the cable takes frames");
    token.consume(ip.header_len() + tcp.buffer_len(), |buf| {
        ip.emit(&mut buf[..], &caps);
        let mut p = TcpPacket::new_unchecked(&mut buf[ip.header_len()..]);
        tcp.emit(&mut p, &src, &dst, &caps);
    });
}

/// A Reno host at `addr`/24 on the cable, IPv4 only, no gateway.
pub fn config(name: &str, addr: Ipv4Address, seed: u64) -> HostConfig {
    HostConfig {
        name: name.into(),
        addr: Ipv4Cidr::new(addr, 24),
        addr6: None,
        gateway: None,
        seed,
        congestion: Congestion::Reno,
    }
}
